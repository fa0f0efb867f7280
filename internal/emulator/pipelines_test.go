package emulator

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestPipelineLifecycle(t *testing.T) {
	t.Parallel()
	h := newHarness(t)

	var created tPipeline
	h.call("app", "POST", "pipelines", map[string]any{"displayName": "Finance", "description": "quarterly"}).ok(t, http.StatusCreated, &created)
	assert.Regexp(t, uuidRE, created.ID)
	assert.Equal(t, "Finance", created.DisplayName)
	require.Len(t, created.Stages, 3)
	for i, st := range created.Stages {
		assert.Equal(t, i, st.Order)
		assert.Empty(t, st.WorkspaceID)
	}

	var users tList[wirePipeUser]
	h.call("app", "GET", "pipelines/"+created.ID+"/users", nil).ok(t, http.StatusOK, &users)
	assert.Equal(t, []wirePipeUser{{Identifier: tAppOID, PrincipalType: "App", AccessRight: "Admin"}}, users.Value, "the creator is the admin")

	var got tPipeline
	h.call("app", "GET", "pipelines/"+created.ID, nil).ok(t, http.StatusOK, &got)
	assert.Nil(t, got.Stages, "no stages without $expand")
	assert.Equal(t, "quarterly", got.Description)

	h.call("app", "GET", "pipelines/"+tPlMain+"?$expand=stages", nil).ok(t, http.StatusOK, &got)
	require.Len(t, got.Stages, 3)
	assert.Equal(t, tWsTest, got.Stages[1].WorkspaceID)
	assert.Equal(t, "Sales [Test]", got.Stages[1].WorkspaceName)

	var updated tPipeline
	h.call("app", "PATCH", "pipelines/"+created.ID, map[string]any{"description": "yearly"}).ok(t, http.StatusOK, &updated)
	assert.Equal(t, "Finance", updated.DisplayName)
	assert.Equal(t, "yearly", updated.Description)
	h.call("app", "PATCH", "pipelines/"+created.ID, map[string]any{}).fails(t, http.StatusBadRequest, "InvalidRequest")

	// Deleting keeps the workspaces, unassigned.
	h.call("app", "DELETE", "pipelines/"+tPlMain, nil).ok(t, http.StatusOK, nil)
	h.call("app", "GET", "pipelines/"+tPlMain, nil).fails(t, http.StatusNotFound, "PowerBIEntityNotFound")
	require.NotNil(t, h.workspace(tWsDev))
	h.call("app", "POST", "pipelines/"+created.ID+"/stages/0/assignWorkspace", map[string]any{"workspaceId": tWsDev}).ok(t, http.StatusOK, nil)
}

func TestCreatePipelineValidation(t *testing.T) {
	t.Parallel()
	h := newHarness(t, noValidation) // some of these bodies break the swagger on purpose
	tests := []struct {
		name string
		body string
	}{
		{"no body", ``},
		{"no displayName", `{"description":"x"}`},
		{"blank displayName", `{"displayName":"  "}`},
		{"displayName too long", `{"displayName":"` + strings.Repeat("n", 257) + `"}`},
		{"description too long", `{"displayName":"ok","description":"` + strings.Repeat("d", 1025) + `"}`},
		{"not JSON", `{`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h.call("app", "POST", "pipelines", tt.body).fails(t, http.StatusBadRequest, "InvalidRequest")
		})
	}
	h.call("app", "POST", "pipelines", `{"displayName":"`+strings.Repeat("n", 256)+`"}`).ok(t, http.StatusCreated, nil)
}

func TestPipelinesAreVisibleOnlyToTheirAdmins(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	for _, path := range []string{
		"pipelines/" + tPlBob, "pipelines/" + tUnknownID, "pipelines/" + tPlBob + "/stages",
		"pipelines/" + tPlBob + "/users", "pipelines/" + tPlBob + "/operations",
		"pipelines/" + tPlMain + "/operations/" + tUnknownID,
	} {
		h.call("app", "GET", path, nil).fails(t, http.StatusNotFound, "PowerBIEntityNotFound")
	}
	h.call("app", "POST", "pipelines/"+tPlBob+"/deployAll", map[string]any{"sourceStageOrder": 0}).fails(t, http.StatusNotFound, "PowerBIEntityNotFound")
	h.call("app", "DELETE", "pipelines/"+tPlBob, nil).fails(t, http.StatusNotFound, "PowerBIEntityNotFound")
	h.call(tBob, "GET", "pipelines/"+tPlBob, nil).ok(t, http.StatusOK, nil)
}

func TestPipelineUsers(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	add := func(id, typ string) response {
		return h.call("app", "POST", "pipelines/"+tPlMain+"/users", map[string]any{"identifier": id, "principalType": typ, "accessRight": "Admin"})
	}
	h.call(tAlice, "GET", "pipelines/"+tPlMain, nil).fails(t, http.StatusNotFound, "PowerBIEntityNotFound")
	add(strings.ToUpper(tAlice), "User").ok(t, http.StatusOK, nil)
	add(tAlice, "User").ok(t, http.StatusOK, nil) // idempotent
	add(tGroupOID, "Group").ok(t, http.StatusOK, nil)
	add(tOtherOID, "App").ok(t, http.StatusOK, nil)
	add("nobody@contoso.com", "User").fails(t, http.StatusBadRequest, "PrincipalNotFound")
	add(tAlice, "App").fails(t, http.StatusBadRequest, "PrincipalNotFound")
	add(tAlice, "None").fails(t, http.StatusBadRequest, "InvalidRequest")

	var users tList[wirePipeUser]
	h.call("app", "GET", "pipelines/"+tPlMain+"/users", nil).ok(t, http.StatusOK, &users)
	assert.Equal(t, []wirePipeUser{
		{Identifier: tAppOID, PrincipalType: "App", AccessRight: "Admin"},
		{Identifier: tAlice, PrincipalType: "User", AccessRight: "Admin"},
		{Identifier: tGroupOID, PrincipalType: "Group", AccessRight: "Admin"},
		{Identifier: tOtherOID, PrincipalType: "App", AccessRight: "Admin"},
	}, users.Value)
	h.call(tAlice, "GET", "pipelines/"+tPlMain, nil).ok(t, http.StatusOK, nil)

	h.call("app", "DELETE", "pipelines/"+tPlMain+"/users/"+tAlice, nil).ok(t, http.StatusOK, nil)
	h.call("app", "DELETE", "pipelines/"+tPlMain+"/users/"+tAlice, nil).fails(t, http.StatusNotFound, "PowerBIEntityNotFound")
	h.call(tAlice, "GET", "pipelines/"+tPlMain, nil).fails(t, http.StatusNotFound, "PowerBIEntityNotFound")
}

func TestPipelineUserAccessRightIsAdminOnly(t *testing.T) {
	t.Parallel()
	h := newHarness(t, noValidation) // the swagger's enum forbids it already
	h.call("app", "POST", "pipelines/"+tPlMain+"/users", map[string]any{"identifier": tAlice, "principalType": "User", "accessRight": "Member"}).
		fails(t, http.StatusBadRequest, "InvalidRequest")
}

func TestAssignAndUnassignWorkspace(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		who       string
		stage     string
		workspace string
		status    int
		code      string
	}{
		{"happy path", "app", "2", tWsProd, http.StatusOK, ""},
		{"stage out of range", "app", "3", tWsProd, http.StatusBadRequest, "InvalidRequest"},
		{"stage already assigned", "app", "1", tWsProd, http.StatusBadRequest, "Alm_InvalidRequest_StageAlreadyAssigned"},
		{"workspace in another pipeline", "app", "2", tWsOther, http.StatusBadRequest, "Alm_InvalidRequest_WorkspaceAlreadyAssignedToPipeline"},
		{"workspace already in this pipeline", "app", "2", tWsDev, http.StatusBadRequest, "Alm_InvalidRequest_WorkspaceAlreadyAssignedToPipeline"},
		{"workspace without capacity", "app", "2", tWsNoCap, http.StatusBadRequest, "Alm_InvalidRequest_WorkspaceHasNoCapacity"},
		{"caller not workspace admin", "app", "2", tWsViewer, http.StatusForbidden, "Alm_InvalidRequest_InsufficientWorkspacePermissions"},
		{"workspace invisible", "app", "2", tWsBob, http.StatusNotFound, "PowerBIEntityNotFound"},
		{"workspace unknown", "app", "2", tUnknownID, http.StatusNotFound, "PowerBIEntityNotFound"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t)
			r := h.call(tt.who, "POST", "pipelines/"+tPlMain+"/stages/"+tt.stage+"/assignWorkspace", map[string]any{"workspaceId": tt.workspace})
			if tt.code != "" {
				r.fails(t, tt.status, tt.code)
				return
			}
			r.ok(t, tt.status, nil)
			var stages tList[wireStage]
			h.call("app", "GET", "pipelines/"+tPlMain+"/stages", nil).ok(t, http.StatusOK, &stages)
			assert.Equal(t, wireStage{Order: 2, WorkspaceID: tt.workspace, WorkspaceName: "Sales [Prod]"}, stages.Value[2])
		})
	}

	t.Run("unassign", func(t *testing.T) {
		t.Parallel()
		h := newHarness(t)
		msg := h.call("app", "POST", "pipelines/"+tPlMain+"/stages/2/unassignWorkspace", nil).fails(t, http.StatusBadRequest, "Alm_InvalidRequest_StageNotAssigned")
		assert.Contains(t, msg, "nothing to unassign")
		h.call("app", "POST", "pipelines/"+tPlMain+"/stages/7/unassignWorkspace", nil).fails(t, http.StatusBadRequest, "InvalidRequest")
		h.call("app", "POST", "pipelines/"+tPlMain+"/stages/1/unassignWorkspace", nil).ok(t, http.StatusOK, nil)
		var stages tList[wireStage]
		h.call("app", "GET", "pipelines/"+tPlMain+"/stages", nil).ok(t, http.StatusOK, &stages)
		assert.Equal(t, wireStage{Order: 1}, stages.Value[1])
		// The workspace is free for another pipeline now.
		h.call("app", "POST", "pipelines/"+tPlOther+"/stages/0/assignWorkspace", map[string]any{"workspaceId": tWsTest}).ok(t, http.StatusOK, nil)
	})
}

func TestStageArtifacts(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	var dev tArtifacts
	h.call("app", "GET", "pipelines/"+tPlMain+"/stages/0/artifacts", nil).ok(t, http.StatusOK, &dev)
	assert.Equal(t, []wireArtifact{{ArtifactID: tDsSales, ArtifactDisplayName: "Sales"}, {ArtifactID: tDsStock, ArtifactDisplayName: "Stock"}}, dev.Datasets)
	assert.Len(t, dev.Reports, 2)
	assert.Equal(t, []wireArtifact{{ArtifactID: tDbExec, ArtifactDisplayName: "Executive"}}, dev.Dashboards)
	assert.Equal(t, []wireArtifact{{ArtifactID: tDfIngest, ArtifactDisplayName: "Ingest"}}, dev.Dataflows)
	assert.NotNil(t, dev.Datamarts)
	assert.Empty(t, dev.Datamarts)

	h.call("app", "GET", "pipelines/"+tPlMain+"/stages/2/artifacts", nil).fails(t, http.StatusBadRequest, "Alm_InvalidRequest_StageNotAssigned")

	h.deployAll(tPlMain, map[string]any{"sourceStageOrder": 0, "options": allowAll})
	h.finish()

	var test tArtifacts
	h.call("app", "GET", "pipelines/"+tPlMain+"/stages/1/artifacts", nil).ok(t, http.StatusOK, &test)
	h.call("app", "GET", "pipelines/"+tPlMain+"/stages/0/artifacts", nil).ok(t, http.StatusOK, &dev)
	require.Len(t, test.Datasets, 2)
	for i, a := range test.Datasets {
		assert.Equal(t, dev.Datasets[i].ArtifactID, a.SourceArtifactID, "paired with the source")
		assert.Equal(t, a.ArtifactID, dev.Datasets[i].TargetArtifactID, "paired with the target")
		assert.Equal(t, dev.Datasets[i].ArtifactDisplayName, a.ArtifactDisplayName)
		assert.Regexp(t, `Z$`, a.LastDeploymentTime)
		assert.NotEqual(t, dev.Datasets[i].ArtifactID, a.ArtifactID, "new ids in the target")
	}

	// A Viewer of the target cannot list it.
	h.call("app", "POST", "pipelines/"+tPlMain+"/stages/2/assignWorkspace", map[string]any{"workspaceId": tWsProd}).ok(t, http.StatusOK, nil)
	h.call(tAlice, "POST", "groups/"+tWsDev+"/users", map[string]any{"identifier": tBob, "principalType": "User", "groupUserAccessRight": "Viewer"}).ok(t, http.StatusOK, nil)
	h.call("app", "POST", "pipelines/"+tPlMain+"/users", map[string]any{"identifier": tBob, "principalType": "User", "accessRight": "Admin"}).ok(t, http.StatusOK, nil)
	h.call(tBob, "GET", "pipelines/"+tPlMain+"/stages/0/artifacts", nil).fails(t, http.StatusForbidden, "Alm_InvalidRequest_InsufficientWorkspacePermissions")
}

func TestAdminPipelines(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.call("app", "GET", "admin/pipelines?$top=10", nil).fails(t, http.StatusUnauthorized, "PowerBINotAuthorizedException")

	var all tList[tPipeline]
	h.call(tAlice, "GET", "admin/pipelines?$expand=users,stages&$top=100", nil).ok(t, http.StatusOK, &all)
	require.Len(t, all.Value, 3)
	assert.Equal(t, "Bob's", all.Value[1].DisplayName)
	assert.Equal(t, "Bob's", all.Value[1].Stages[0].WorkspaceName, "admins see every workspace name")
	assert.Equal(t, []wirePipeUser{{Identifier: tBob, PrincipalType: "User", AccessRight: "Admin"}}, all.Value[1].Users)

	var second tList[tPipeline]
	h.call(tAlice, "GET", "admin/pipelines?$top=1&$skip=1", nil).ok(t, http.StatusOK, &second)
	require.Len(t, second.Value, 1)
	assert.Equal(t, tPlBob, second.Value[0].ID)
	assert.Nil(t, second.Value[0].Users)

	h.call(tAlice, "DELETE", "admin/pipelines/"+tPlBob+"/users/"+tBob, nil).ok(t, http.StatusOK, nil)
	var orphaned tList[tPipeline]
	h.call(tAlice, "GET", "admin/pipelines?$filter="+url.QueryEscape("not users/any()")+"&$top=100", nil).ok(t, http.StatusOK, &orphaned)
	require.Len(t, orphaned.Value, 1, "orphaned pipelines only")
	assert.Equal(t, tPlBob, orphaned.Value[0].ID)

	h.call(tAlice, "POST", "admin/pipelines/"+tPlBob+"/users", map[string]any{"identifier": tAlice, "principalType": "User", "accessRight": "Admin"}).ok(t, http.StatusOK, nil)
	var users tList[wirePipeUser]
	h.call(tAlice, "GET", "admin/pipelines/"+tPlBob+"/users", nil).ok(t, http.StatusOK, &users)
	assert.Equal(t, []wirePipeUser{{Identifier: tAlice, PrincipalType: "User", AccessRight: "Admin"}}, users.Value)
	h.call(tAlice, "GET", "admin/pipelines/"+tUnknownID+"/users", nil).fails(t, http.StatusNotFound, "PowerBIEntityNotFound")
}
