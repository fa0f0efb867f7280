package emulator

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestDeployAllProgressesWithTheClock(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	start := h.clock.Now()
	op := h.deployAll(tPlMain, map[string]any{"sourceStageOrder": 0, "note": "release 1", "options": allowAll})

	assert.Regexp(t, uuidRE, op.ID)
	assert.Equal(t, "Deploy", op.Type)
	assert.Equal(t, "NotStarted", op.Status)
	assert.Equal(t, start.Format("2006-01-02T15:04:05.000"), op.LastUpdatedTime, "no Z, like the service")
	assert.Equal(t, 0, op.SourceStageOrder)
	assert.Equal(t, 1, op.TargetStageOrder)
	assert.Equal(t, "App", op.PerformedBy.PrincipalType)
	assert.Equal(t, tAppOID, op.PerformedBy.PrincipalObjectID)
	require.NotNil(t, op.Note)
	assert.Equal(t, "release 1", op.Note.Content)
	assert.False(t, op.Note.IsTruncated)
	assert.Nil(t, op.ExecutionPlan)
	assert.Equal(t, 6, op.PreDeploymentDiffInformation.New)

	got := h.operation(tPlMain, op.ID)
	assert.Equal(t, "NotStarted", got.Status)
	require.NotNil(t, got.ExecutionPlan)
	var order []string
	for i, st := range got.ExecutionPlan.Steps {
		assert.Equal(t, i, st.Index)
		assert.Equal(t, "NotStarted", st.Status)
		assert.Equal(t, "New", st.PreDeploymentDiffState)
		order = append(order, st.Type+":"+st.SourceAndTarget.SourceDisplayName+":"+st.SourceAndTarget.Type)
		assert.Empty(t, st.SourceAndTarget.Target)
	}
	assert.Equal(t, []string{"DataflowDeployment:Ingest:dataflow", "DatasetDeployment:Sales:dataset", "DatasetDeployment:Stock:dataset",
		"ReportDeployment:Sales:report", "ReportDeployment:Stock:report", "DashboardDeployment:Executive:dashboard"}, order,
		"items others depend on go first")

	h.clock.Advance(tDeployTime / 20)
	assert.Equal(t, "NotStarted", h.operation(tPlMain, op.ID).Status, "NotStarted for the first tenth")

	h.clock.Advance(tDeployTime / 2)
	got = h.operation(tPlMain, op.ID)
	assert.Equal(t, "Executing", got.Status)
	assert.Equal(t, start.Add(tDeployTime / 10).Format(time.RFC3339Nano)[:19], got.ExecutionStartTime[:19])
	assert.Empty(t, got.ExecutionEndTime)
	statuses := map[string]int{}
	for _, st := range got.ExecutionPlan.Steps {
		statuses[st.Status]++
	}
	assert.Equal(t, 1, statuses["Executing"], "one step at a time: %v", statuses)
	assert.Positive(t, statuses["Succeeded"])
	assert.Positive(t, statuses["NotStarted"])
	assert.Empty(t, h.workspace(tWsTest).Datasets, "nothing is copied before the deployment completes")

	h.finish()
	got = h.operation(tPlMain, op.ID)
	assert.Equal(t, "Succeeded", got.Status)
	assert.NotEmpty(t, got.ExecutionEndTime)
	assert.NotContains(t, got.LastUpdatedTime, "Z")
	for _, st := range got.ExecutionPlan.Steps {
		assert.Equal(t, "Succeeded", st.Status)
		assert.Nil(t, st.Error)
	}
	test := h.workspace(tWsTest)
	assert.Len(t, test.Datasets, 2)
	assert.Len(t, test.Reports, 2)
	assert.Len(t, test.Dashboards, 1)
	assert.Len(t, test.Dataflows, 1)
	for _, r := range test.Reports {
		found := false
		for _, d := range test.Datasets {
			found = found || d.ID == r.DatasetID
		}
		assert.True(t, found, "report %s is rebound to the target's dataset", r.Name)
	}

	// Deploying the same content again overwrites the paired items: no differences, no new ids.
	again := h.deployAll(tPlMain, map[string]any{"sourceStageOrder": 0, "options": allowAll})
	assert.Equal(t, 6, again.PreDeploymentDiffInformation.NoDifference)
	h.finish()
	got = h.operation(tPlMain, again.ID)
	assert.Equal(t, "Succeeded", got.Status)
	for _, st := range got.ExecutionPlan.Steps {
		assert.NotEmpty(t, st.SourceAndTarget.Target)
		assert.Equal(t, st.SourceAndTarget.SourceDisplayName, st.SourceAndTarget.TargetDisplayName)
	}
	assert.Equal(t, test.Datasets, h.workspace(tWsTest).Datasets)
}

func TestAUserDeploys(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.call("app", "POST", "pipelines/"+tPlMain+"/users", map[string]any{"identifier": tAlice, "principalType": "User", "accessRight": "Admin"}).ok(t, http.StatusOK, nil)
	// Alice is Admin of Dev but has no role in Test: she cannot deploy into it.
	h.call(tAlice, "POST", "pipelines/"+tPlMain+"/deployAll", map[string]any{"sourceStageOrder": 0, "options": allowAll}).
		fails(t, http.StatusForbidden, "Alm_InvalidRequest_InsufficientWorkspacePermissions")
	h.call("app", "POST", "groups/"+tWsTest+"/users", map[string]any{"identifier": tAlice, "principalType": "User", "groupUserAccessRight": "Contributor"}).ok(t, http.StatusOK, nil)
	var op tOperation
	h.call(tAlice, "POST", "pipelines/"+tPlMain+"/deployAll", map[string]any{"sourceStageOrder": 0, "options": allowAll}).ok(t, http.StatusAccepted, &op)
	assert.Equal(t, "User", op.PerformedBy.PrincipalType)
	assert.Equal(t, tAlice, op.PerformedBy.UserPrincipalName)
}

func TestNothingChangesWhileADeploymentRuns(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.deployAll(tPlMain, map[string]any{"sourceStageOrder": 0, "options": allowAll})
	for _, at := range []time.Duration{0, tDeployTime / 2} { // NotStarted, then Executing
		h.clock.Advance(at)
		busy := []struct {
			method, path string
			body         any
		}{
			{"POST", "pipelines/" + tPlMain + "/deployAll", map[string]any{"sourceStageOrder": 0, "options": allowAll}},
			{"POST", "pipelines/" + tPlMain + "/deploy", map[string]any{"sourceStageOrder": 0, "datasets": []any{map[string]any{"sourceId": tDsSales}}}},
			{"POST", "pipelines/" + tPlMain + "/stages/2/assignWorkspace", map[string]any{"workspaceId": tWsProd}},
			{"POST", "pipelines/" + tPlMain + "/stages/1/unassignWorkspace", nil},
			{"DELETE", "pipelines/" + tPlMain, nil},
			{"DELETE", "groups/" + tWsTest, nil},
		}
		for _, b := range busy {
			h.call("app", b.method, b.path, b.body).fails(t, http.StatusBadRequest, "WorkspaceMigrationOperationInProgress")
		}
	}
	// Other pipelines are not affected.
	h.call("app", "POST", "pipelines/"+tPlOther+"/stages/0/assignWorkspace", map[string]any{"workspaceId": tWsProd}).ok(t, http.StatusOK, nil)
	h.finish()
	h.call("app", "POST", "pipelines/"+tPlMain+"/stages/1/unassignWorkspace", nil).ok(t, http.StatusOK, nil)
	h.call("app", "DELETE", "pipelines/"+tPlMain, nil).ok(t, http.StatusOK, nil)
}

func TestDeployRequestRules(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		path     string // deployAll or deploy
		body     map[string]any
		setup    func(h *harness)
		code     string
		contains string
	}{
		{name: "no stage after Production", path: "deployAll", body: map[string]any{"sourceStageOrder": 2}, code: "InvalidRequest"},
		{name: "no stage before Development", path: "deployAll", body: map[string]any{"sourceStageOrder": 0, "isBackwardDeployment": true}, code: "InvalidRequest"},
		{name: "source stage out of range", path: "deployAll", body: map[string]any{"sourceStageOrder": 5}, code: "InvalidRequest"},
		{name: "source stage unassigned", path: "deployAll", body: map[string]any{"sourceStageOrder": 1, "isBackwardDeployment": true},
			setup: func(h *harness) {
				h.call("app", "POST", "pipelines/"+tPlMain+"/stages/1/unassignWorkspace", nil).ok(h.t, http.StatusOK, nil)
			}, code: "Alm_InvalidRequest_StageNotAssigned"},
		{name: "target unassigned without newWorkspace", path: "deployAll", body: map[string]any{"sourceStageOrder": 1}, code: "Alm_InvalidRequest_TargetStageNotAssigned"},
		{name: "selective without items", path: "deploy", body: map[string]any{"sourceStageOrder": 0, "datasets": []any{}}, code: "Alm_InvalidRequest_NoArtifactsToDeploy"},
		{name: "selective item not in the source", path: "deploy", body: map[string]any{"sourceStageOrder": 0, "reports": []any{map[string]any{"sourceId": tUnknownID}}},
			code: "Alm_InvalidRequest_ArtifactNotFound", contains: tUnknownID},
		{name: "selective item of another type", path: "deploy", body: map[string]any{"sourceStageOrder": 0, "reports": []any{map[string]any{"sourceId": tDsSales}}},
			code: "Alm_InvalidRequest_ArtifactNotFound", contains: tDsSales},
		{name: "update app without an app", path: "deployAll", body: map[string]any{"sourceStageOrder": 0, "updateAppSettings": map[string]any{"updateAppInTargetWorkspace": true}},
			code: "Alm_InvalidRequest_TargetWorkspaceHasNoApp"},
		{name: "new workspace name taken", path: "deployAll", body: map[string]any{"sourceStageOrder": 1, "newWorkspace": map[string]any{"name": "shared"}},
			code: "PowerBIEntityAlreadyExists"},
		{name: "new workspace on a capacity the caller cannot use", path: "deployAll",
			body: map[string]any{"sourceStageOrder": 1, "newWorkspace": map[string]any{"name": "P", "capacityId": tCapAlice}}, code: "InvalidRequest"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t)
			if tt.setup != nil {
				tt.setup(h)
			}
			msg := h.call("app", "POST", "pipelines/"+tPlMain+"/"+tt.path, tt.body).fails(t, http.StatusBadRequest, tt.code)
			assert.Contains(t, msg, tt.contains)
		})
	}
}

func TestDeployWithoutSourceStageOrder(t *testing.T) {
	t.Parallel()
	h := newHarness(t, noValidation) // the swagger requires sourceStageOrder
	h.call("app", "POST", "pipelines/"+tPlMain+"/deployAll", map[string]any{}).fails(t, http.StatusBadRequest, "InvalidRequest")
}

func TestDeployUpdatesTheApp(t *testing.T) {
	t.Parallel()
	seed := testSeed()
	seed.Workspaces[1].HasApp = true
	h := newHarness(t, withSeed(seed))
	h.deployAll(tPlMain, map[string]any{"sourceStageOrder": 0, "options": allowAll, "updateAppSettings": map[string]any{"updateAppInTargetWorkspace": true}})
}

func TestDeployItemLimit(t *testing.T) {
	t.Parallel()
	seed := testSeed()
	var listed []any
	for i := range 301 {
		id := fmt.Sprintf("d5000000-0000-4000-8000-%012d", 1000+i)
		seed.Workspaces[0].Datasets = append(seed.Workspaces[0].Datasets, Item{ID: id, Name: fmt.Sprintf("ds %d", i)})
		listed = append(listed, map[string]any{"sourceId": id})
	}
	h := newHarness(t, withSeed(seed))
	h.call("app", "POST", "pipelines/"+tPlMain+"/deployAll", map[string]any{"sourceStageOrder": 0, "options": allowAll}).
		fails(t, http.StatusBadRequest, "Alm_InvalidRequest_TooManyArtifactsToDeploy")
	h.call("app", "POST", "pipelines/"+tPlMain+"/deploy", map[string]any{"sourceStageOrder": 0, "options": allowAll, "datasets": listed}).
		fails(t, http.StatusBadRequest, "Alm_InvalidRequest_TooManyArtifactsToDeploy")
	var op tOperation
	h.call("app", "POST", "pipelines/"+tPlMain+"/deploy", map[string]any{"sourceStageOrder": 0, "options": allowAll, "datasets": listed[:300]}).
		ok(t, http.StatusAccepted, &op)
	assert.Equal(t, 300, op.PreDeploymentDiffInformation.New)
	h.finish()
	assert.Len(t, h.workspace(tWsTest).Datasets, 300)
}

// stepErrors maps each failed step's source name to its error code.
func stepErrors(op tOperation) map[string]string {
	out := map[string]string{}
	for _, st := range op.ExecutionPlan.Steps {
		if st.Error != nil {
			out[st.SourceAndTarget.SourceDisplayName+"/"+st.SourceAndTarget.Type] = st.Error.ErrorCode
		}
	}
	return out
}

func TestFailedSteps(t *testing.T) {
	t.Parallel()
	one := func(id string, opts map[string]any) map[string]any {
		e := map[string]any{"sourceId": id}
		if opts != nil {
			e["options"] = opts
		}
		return e
	}
	tests := []struct {
		name    string
		seed    func(*Seed)
		first   map[string]any // a deployment that completes before the one under test
		body    map[string]any
		path    string
		status  string
		errs    map[string]string
		created []string // dataset names in Test afterwards
	}{
		{
			name:   "seeded deployment error",
			seed:   func(s *Seed) { s.Workspaces[0].Reports[1].DeployError = "Alm_InvalidRequest_PurgeRequired" },
			path:   "deployAll",
			body:   map[string]any{"sourceStageOrder": 0, "options": allowAll},
			status: "Failed",
			errs:   map[string]string{"Stock/report": "Alm_InvalidRequest_PurgeRequired"},
		},
		{
			name:   "creating not allowed",
			path:   "deployAll",
			body:   map[string]any{"sourceStageOrder": 0},
			status: "Failed",
			errs: map[string]string{"Ingest/dataflow": "Alm_InvalidRequest_CreateNotAllowed", "Sales/dataset": "Alm_InvalidRequest_CreateNotAllowed",
				"Stock/dataset": "Alm_InvalidRequest_CreateNotAllowed", "Sales/report": "Alm_InvalidRequest_CreateNotAllowed",
				"Stock/report": "Alm_InvalidRequest_CreateNotAllowed", "Executive/dashboard": "Alm_InvalidRequest_CreateNotAllowed"},
		},
		{
			name:    "overwriting not allowed",
			first:   map[string]any{"sourceStageOrder": 0, "datasets": []any{one(tDsSales, nil)}, "options": allowAll},
			path:    "deploy",
			body:    map[string]any{"sourceStageOrder": 0, "datasets": []any{one(tDsSales, nil), one(tDsStock, nil)}, "options": map[string]any{"allowCreateArtifact": true}},
			status:  "Failed",
			errs:    map[string]string{"Sales/dataset": "Alm_InvalidRequest_OverwriteNotAllowed"},
			created: []string{"Sales"},
		},
		{
			name: "an item with the same name in the target counts as existing",
			seed: func(s *Seed) {
				s.Workspaces[1].Datasets = []Item{{ID: "d5000000-0000-4000-8000-00000000aaaa", Name: "SALES"}}
			},
			path:    "deploy",
			body:    map[string]any{"sourceStageOrder": 0, "datasets": []any{one(tDsSales, nil)}, "options": map[string]any{"allowCreateArtifact": true}},
			status:  "Failed",
			errs:    map[string]string{"Sales/dataset": "Alm_InvalidRequest_OverwriteNotAllowed"},
			created: []string{"SALES"},
		},
		{
			name: "per-item options win over deployment-wide ones",
			path: "deploy",
			body: map[string]any{"sourceStageOrder": 0, "options": map[string]any{"allowCreateArtifact": false},
				"datasets": []any{one(tDsSales, map[string]any{"allowCreateArtifact": true})}},
			status:  "Succeeded",
			errs:    map[string]string{},
			created: []string{"Sales"},
		},
		{
			name: "per-item options replace the deployment-wide ones entirely",
			path: "deploy",
			body: map[string]any{"sourceStageOrder": 0, "options": allowAll,
				"datasets": []any{one(tDsSales, map[string]any{"allowOverwriteArtifact": true})}},
			status: "Failed",
			errs:   map[string]string{"Sales/dataset": "Alm_InvalidRequest_CreateNotAllowed"},
		},
		{
			name:    "backward deployment of an item the target has",
			first:   map[string]any{"sourceStageOrder": 0, "datasets": []any{one(tDsSales, nil)}, "options": allowAll},
			path:    "deployAll",
			body:    map[string]any{"sourceStageOrder": 1, "isBackwardDeployment": true, "options": allowAll},
			status:  "Failed",
			errs:    map[string]string{"Sales/dataset": "Alm_InvalidRequest_BackwardDeploymentItemExists"},
			created: []string{"Sales"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			seed := testSeed()
			if tt.seed != nil {
				tt.seed(seed)
			}
			h := newHarness(t, withSeed(seed))
			if tt.first != nil {
				h.call("app", "POST", "pipelines/"+tPlMain+"/deploy", tt.first).ok(t, http.StatusAccepted, nil)
				h.finish()
			}
			before := h.workspace(tWsTest)
			var op tOperation
			h.call("app", "POST", "pipelines/"+tPlMain+"/"+tt.path, tt.body).ok(t, http.StatusAccepted, &op)
			h.clock.Advance(tDeployTime / 2)
			assert.Equal(t, "Executing", h.operation(tPlMain, op.ID).Status, "failure shows only at the end")
			h.finish()
			got := h.operation(tPlMain, op.ID)
			assert.Equal(t, tt.status, got.Status)
			assert.Equal(t, tt.errs, stepErrors(got))
			for _, st := range got.ExecutionPlan.Steps {
				if st.Error != nil {
					assert.Equal(t, "Failed", st.Status)
					assert.NotEmpty(t, st.Error.ErrorDetails)
				} else if tt.status == "Failed" {
					assert.Equal(t, "NotStarted", st.Status, "a failed deployment applies nothing")
				}
			}
			var names []string
			target := tWsTest
			if got.TargetStageOrder == 0 {
				target = tWsDev
			}
			for _, d := range h.workspace(target).Datasets {
				names = append(names, d.Name)
			}
			if target == tWsTest {
				assert.Equal(t, tt.created, names)
				if tt.status == "Failed" {
					assert.Equal(t, before, h.workspace(tWsTest), "nothing is copied")
				}
			}
		})
	}
}

func TestBackwardDeployCreatesMissingItems(t *testing.T) {
	t.Parallel()
	seed := testSeed()
	seed.Workspaces[1].Datasets = []Item{{ID: "d5000000-0000-4000-8000-00000000bbbb", Name: "Hotfix"}}
	h := newHarness(t, withSeed(seed))
	op := h.deployAll(tPlMain, map[string]any{"sourceStageOrder": 1, "isBackwardDeployment": true, "options": allowAll})
	assert.Equal(t, 0, op.TargetStageOrder)
	h.finish()
	assert.Equal(t, "Succeeded", h.operation(tPlMain, op.ID).Status)
	var dev tArtifacts
	h.call("app", "GET", "pipelines/"+tPlMain+"/stages/0/artifacts", nil).ok(t, http.StatusOK, &dev)
	require.Len(t, dev.Datasets, 3)
	assert.Equal(t, "Hotfix", dev.Datasets[2].ArtifactDisplayName)
	assert.Equal(t, "d5000000-0000-4000-8000-00000000bbbb", dev.Datasets[2].TargetArtifactID, "paired with the item it came from")
}

func TestDeployIntoANewWorkspace(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.call("app", "POST", "pipelines/"+tPlMain+"/stages/1/unassignWorkspace", nil).ok(t, http.StatusOK, nil)
	var op tOperation
	h.call("app", "POST", "pipelines/"+tPlMain+"/deploy", map[string]any{
		"sourceStageOrder": 0, "newWorkspace": map[string]any{"name": "Sales [QA]"}, "options": allowAll,
		"datasets": []any{map[string]any{"sourceId": tDsSales}}, "reports": []any{map[string]any{"sourceId": tRpSales}},
	}).ok(t, http.StatusAccepted, &op)

	var stages tList[wireStage]
	h.call("app", "GET", "pipelines/"+tPlMain+"/stages", nil).ok(t, http.StatusOK, &stages)
	assert.Empty(t, stages.Value[1].WorkspaceID, "the workspace is created when the deployment runs")

	h.clock.Advance(tDeployTime / 2)
	h.call("app", "GET", "pipelines/"+tPlMain+"/stages", nil).ok(t, http.StatusOK, &stages)
	require.NotEmpty(t, stages.Value[1].WorkspaceID)
	assert.Equal(t, "Sales [QA]", stages.Value[1].WorkspaceName)
	ws := h.workspace(stages.Value[1].WorkspaceID)
	assert.Equal(t, tCapOpen, ws.CapacityID, "the source's capacity")
	assert.Equal(t, []WorkspaceUser{admin(tAppOID, "App")}, ws.Users)
	assert.Empty(t, ws.Datasets)

	h.finish()
	ws = h.workspace(stages.Value[1].WorkspaceID)
	require.Len(t, ws.Datasets, 1)
	require.Len(t, ws.Reports, 1)
	assert.Equal(t, ws.Datasets[0].ID, ws.Reports[0].DatasetID)

	// Without a name the service names it after the source and the stage.
	op = h.deployAll(tPlMain, map[string]any{"sourceStageOrder": 1, "newWorkspace": map[string]any{"capacityId": tCapOpen}, "options": allowAll})
	h.finish()
	h.call("app", "GET", "pipelines/"+tPlMain+"/stages", nil).ok(t, http.StatusOK, &stages)
	assert.Equal(t, "Sales [QA] [Production]", stages.Value[2].WorkspaceName)
	assert.Equal(t, "Succeeded", h.operation(tPlMain, op.ID).Status)
}

func TestOperationsListKeepsTheLatest20(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	var ids []string
	for i := range 21 {
		op := h.deployAll(tPlMain, map[string]any{"sourceStageOrder": 0, "options": allowAll, "note": fmt.Sprint("deploy ", i)})
		ids = append(ids, op.ID)
		h.finish()
	}
	var list tList[tOperation]
	h.call("app", "GET", "pipelines/"+tPlMain+"/operations", nil).ok(t, http.StatusOK, &list)
	require.Len(t, list.Value, 20)
	assert.Equal(t, ids[20], list.Value[0].ID, "newest first")
	assert.Equal(t, ids[1], list.Value[19].ID)
	for _, op := range list.Value {
		assert.Nil(t, op.ExecutionPlan, "the list has no execution plans")
		assert.Equal(t, "Succeeded", op.Status)
	}
	assert.NotNil(t, h.operation(tPlMain, ids[20]).ExecutionPlan)

	var other tList[tOperation]
	h.call("app", "GET", "pipelines/"+tPlOther+"/operations", nil).ok(t, http.StatusOK, &other)
	assert.Empty(t, other.Value)
	assert.NotNil(t, other.Value)
}

func TestLongNotesAreTruncated(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	op := h.deployAll(tPlMain, map[string]any{"sourceStageOrder": 0, "options": allowAll, "note": strings.Repeat("é", 1500)})
	require.NotNil(t, op.Note)
	assert.True(t, op.Note.IsTruncated)
	assert.Equal(t, 1024, len([]rune(op.Note.Content)))
}
