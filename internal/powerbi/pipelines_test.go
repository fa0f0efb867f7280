package powerbi

import (
	"context"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestPipelinesList(t *testing.T) {
	t.Parallel()
	c, mux := setup(t)
	mux.HandleFunc("/pipelines", func(w http.ResponseWriter, r *http.Request) {
		testMethod(t, r, http.MethodGet)
		testQuery(t, r, nil)
		reply(w, http.StatusOK, `{"@odata.context":"x","value":[{"id":"p1","displayName":"Sales","description":"d"},{"id":"p2","displayName":"HR"}]}`)
	})
	got, resp, err := c.Pipelines.List(context.Background())
	require.NoError(t, err)
	assert.Equal(t, "req-1234", resp.RequestID)
	assert.Equal(t, []Pipeline{{ID: "p1", DisplayName: "Sales", Description: "d"}, {ID: "p2", DisplayName: "HR"}}, got)
}

func TestPipelinesGet(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		expand bool
		query  url.Values
	}{
		{name: "plain", expand: false, query: nil},
		{name: "expand stages", expand: true, query: url.Values{"$expand": {"stages"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c, mux := setup(t)
			mux.HandleFunc("/pipelines/p1", func(w http.ResponseWriter, r *http.Request) {
				testMethod(t, r, http.MethodGet)
				testQuery(t, r, tt.query)
				if tt.expand {
					assert.Equal(t, "$expand=stages", r.URL.RawQuery, "OData names are sent verbatim")
				}
				reply(w, http.StatusOK, `{"id":"p1","displayName":"Sales","stages":[{"order":0,"workspaceId":"w0","workspaceName":"Sales [Dev]"},{"order":1,"workspaceId":"w1"},{"order":2}]}`)
			})
			got, _, err := c.Pipelines.Get(context.Background(), "p1", tt.expand)
			require.NoError(t, err)
			assert.Equal(t, &Pipeline{ID: "p1", DisplayName: "Sales", Stages: []PipelineStage{
				{Order: 0, WorkspaceID: "w0", WorkspaceName: "Sales [Dev]"}, {Order: 1, WorkspaceID: "w1"}, {Order: 2},
			}}, got)
		})
	}
}

func TestPipelinesCreate(t *testing.T) {
	t.Parallel()
	c, mux := setup(t)
	mux.HandleFunc("/pipelines", func(w http.ResponseWriter, r *http.Request) {
		testMethod(t, r, http.MethodPost)
		testJSONBody(t, r, `{"displayName":"Sales","description":"All sales content"}`)
		reply(w, http.StatusCreated, `{"id":"p1","displayName":"Sales","description":"All sales content"}`)
	})
	got, resp, err := c.Pipelines.Create(context.Background(), &CreatePipelineRequest{DisplayName: "Sales", Description: "All sales content"})
	require.NoError(t, err)
	assert.Equal(t, http.StatusCreated, resp.StatusCode)
	assert.Equal(t, &Pipeline{ID: "p1", DisplayName: "Sales", Description: "All sales content"}, got)
}

func TestPipelinesCreateOmitsEmptyDescription(t *testing.T) {
	t.Parallel()
	c, mux := setup(t)
	mux.HandleFunc("/pipelines", func(w http.ResponseWriter, r *http.Request) {
		testJSONBody(t, r, `{"displayName":"Sales"}`)
		reply(w, http.StatusCreated, `{"id":"p1","displayName":"Sales"}`)
	})
	_, _, err := c.Pipelines.Create(context.Background(), &CreatePipelineRequest{DisplayName: "Sales"})
	require.NoError(t, err)
}

func TestPipelinesUpdate(t *testing.T) {
	t.Parallel()
	c, mux := setup(t)
	mux.HandleFunc("/pipelines/p1", func(w http.ResponseWriter, r *http.Request) {
		testMethod(t, r, http.MethodPatch)
		testJSONBody(t, r, `{"description":"new"}`)
		reply(w, http.StatusOK, `{"id":"p1","displayName":"Sales","description":"new"}`)
	})
	got, _, err := c.Pipelines.Update(context.Background(), "p1", &UpdatePipelineRequest{Description: "new"})
	require.NoError(t, err)
	assert.Equal(t, &Pipeline{ID: "p1", DisplayName: "Sales", Description: "new"}, got)
}

// TestPipelinesNoContent covers the operations that answer 200 without a body worth decoding.
func TestPipelinesNoContent(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		method   string
		path     string // as the server sees it, relative to the base
		wantBody string // "" means no body
		call     func(*Client) (*Response, error)
	}{
		{
			name: "Delete", method: http.MethodDelete, path: "/pipelines/p1",
			call: func(c *Client) (*Response, error) { return c.Pipelines.Delete(context.Background(), "p1") },
		},
		{
			name: "AddUser", method: http.MethodPost, path: "/pipelines/p1/users",
			wantBody: `{"identifier":"ann@contoso.com","principalType":"User","accessRight":"Admin"}`,
			call: func(c *Client) (*Response, error) {
				return c.Pipelines.AddUser(context.Background(), "p1", &PipelineUser{Identifier: "ann@contoso.com", PrincipalType: PrincipalUser, AccessRight: AccessRightAdmin})
			},
		},
		{
			name: "DeleteUser", method: http.MethodDelete, path: "/pipelines/p1/users/ann@contoso.com",
			call: func(c *Client) (*Response, error) {
				return c.Pipelines.DeleteUser(context.Background(), "p1", "ann@contoso.com")
			},
		},
		{
			name: "AssignWorkspace", method: http.MethodPost, path: "/pipelines/p1/stages/2/assignWorkspace",
			wantBody: `{"workspaceId":"w2"}`,
			call: func(c *Client) (*Response, error) {
				return c.Pipelines.AssignWorkspace(context.Background(), "p1", 2, "w2")
			},
		},
		{
			name: "UnassignWorkspace", method: http.MethodPost, path: "/pipelines/p1/stages/0/unassignWorkspace",
			call: func(c *Client) (*Response, error) {
				return c.Pipelines.UnassignWorkspace(context.Background(), "p1", 0)
			},
		},
		{
			name: "AdminAddUser", method: http.MethodPost, path: "/admin/pipelines/p1/users",
			wantBody: `{"identifier":"00000000-0000-0000-0000-00000000000a","principalType":"App","accessRight":"Admin"}`,
			call: func(c *Client) (*Response, error) {
				return c.Pipelines.AdminAddUser(context.Background(), "p1", &PipelineUser{Identifier: "00000000-0000-0000-0000-00000000000a", PrincipalType: PrincipalApp, AccessRight: AccessRightAdmin})
			},
		},
		{
			name: "AdminDeleteUser", method: http.MethodDelete, path: "/admin/pipelines/p1/users/g1",
			call: func(c *Client) (*Response, error) {
				return c.Pipelines.AdminDeleteUser(context.Background(), "p1", "g1")
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c, mux := setup(t)
			mux.HandleFunc(tt.path, func(w http.ResponseWriter, r *http.Request) {
				testMethod(t, r, tt.method)
				if tt.wantBody == "" {
					testNoBody(t, r)
				} else {
					testJSONBody(t, r, tt.wantBody)
				}
				reply(w, http.StatusOK, "")
			})
			resp, err := tt.call(c)
			require.NoError(t, err)
			assert.Equal(t, "req-1234", resp.RequestID)
		})
	}
}

func TestPipelinesListUsers(t *testing.T) {
	t.Parallel()
	for _, admin := range []bool{false, true} {
		path := "/pipelines/p1/users"
		if admin {
			path = "/admin" + path
		}
		t.Run(path, func(t *testing.T) {
			t.Parallel()
			c, mux := setup(t)
			mux.HandleFunc(path, func(w http.ResponseWriter, r *http.Request) {
				testMethod(t, r, http.MethodGet)
				reply(w, http.StatusOK, `{"value":[{"identifier":"ann@contoso.com","principalType":"User","accessRight":"Admin"},{"identifier":"g1","principalType":"Group","accessRight":"Admin"}]}`)
			})
			call := c.Pipelines.ListUsers
			if admin {
				call = c.Pipelines.AdminListUsers
			}
			got, _, err := call(context.Background(), "p1")
			require.NoError(t, err)
			assert.Equal(t, []PipelineUser{
				{Identifier: "ann@contoso.com", PrincipalType: "User", AccessRight: "Admin"},
				{Identifier: "g1", PrincipalType: "Group", AccessRight: "Admin"},
			}, got)
		})
	}
}

func TestPipelinesListStages(t *testing.T) {
	t.Parallel()
	c, mux := setup(t)
	mux.HandleFunc("/pipelines/p1/stages", func(w http.ResponseWriter, r *http.Request) {
		testMethod(t, r, http.MethodGet)
		reply(w, http.StatusOK, `{"value":[{"order":0,"workspaceId":"w0","workspaceName":"Dev"},{"order":1},{"order":2}]}`)
	})
	got, _, err := c.Pipelines.ListStages(context.Background(), "p1")
	require.NoError(t, err)
	assert.Equal(t, []PipelineStage{{Order: 0, WorkspaceID: "w0", WorkspaceName: "Dev"}, {Order: 1}, {Order: 2}}, got)
}

func TestPipelinesListStageArtifacts(t *testing.T) {
	t.Parallel()
	c, mux := setup(t)
	mux.HandleFunc("/pipelines/p1/stages/1/artifacts", func(w http.ResponseWriter, r *http.Request) {
		testMethod(t, r, http.MethodGet)
		reply(w, http.StatusOK, `{
			"datasets":[{"artifactId":"d1","artifactDisplayName":"Sales model","sourceArtifactId":"d0","targetArtifactId":"d2","lastDeploymentTime":"2020-12-13T09:26:43.153"}],
			"reports":[{"artifactId":"r1","artifactDisplayName":"Sales"}],
			"dashboards":[],
			"dataflows":[{"artifactId":"f1","artifactDisplayName":"Flow"}],
			"datamarts":[{"artifactId":"m1","artifactDisplayName":"Mart","lastDeploymentTime":"2020-12-13T09:26:43Z"}]}`)
	})
	got, _, err := c.Pipelines.ListStageArtifacts(context.Background(), "p1", 1)
	require.NoError(t, err)
	at := &Time{time.Date(2020, 12, 13, 9, 26, 43, 153e6, time.UTC)}
	assert.Equal(t, &StageArtifacts{
		Datasets:   []Artifact{{ArtifactID: "d1", ArtifactDisplayName: "Sales model", SourceArtifactID: "d0", TargetArtifactID: "d2", LastDeploymentTime: at}},
		Reports:    []Artifact{{ArtifactID: "r1", ArtifactDisplayName: "Sales"}},
		Dashboards: []Artifact{},
		Dataflows:  []Artifact{{ArtifactID: "f1", ArtifactDisplayName: "Flow"}},
		Datamarts:  []Artifact{{ArtifactID: "m1", ArtifactDisplayName: "Mart", LastDeploymentTime: &Time{time.Date(2020, 12, 13, 9, 26, 43, 0, time.UTC)}}},
	}, got)
}

// operationJSON is the Get Pipeline Operation example from the docs, with the service's
// zoneless lastUpdatedTime and a failed step.
const operationJSON = `{
  "id": "op1", "type": "Deploy", "status": "Failed",
  "lastUpdatedTime": "2020-12-13T09:26:43.153",
  "executionStartTime": "2020-12-13T09:25:43.153Z",
  "executionEndTime": "2020-12-13T09:26:43.153Z",
  "sourceStageOrder": 0, "targetStageOrder": 1,
  "note": {"content": "Hotfix", "isTruncated": false},
  "performedBy": {"userPrincipalName": "ann@contoso.com", "principalObjectID": "oid-1", "principalType": "User"},
  "preDeploymentDiffInformation": {"newArtifactsCount": 1, "differentArtifactsCount": 2, "noDifferenceArtifactsCount": 3},
  "executionPlan": {"steps": [
    {"index": 0, "type": "DatasetDeployment", "status": "Succeeded", "preDeploymentDiffState": "Different",
     "sourceAndTarget": {"source": "d0", "sourceDisplayName": "Model", "target": "d1", "targetDisplayName": "Model", "type": "dataset"}},
    {"index": 1, "type": "ReportDeployment", "status": "Failed", "preDeploymentDiffState": "New",
     "sourceAndTarget": {"source": "r0", "sourceDisplayName": "Sales", "type": "report"},
     "error": {"errorCode": "Alm_InvalidRequest_PurgeRequired", "errorDetails": "Schema change needs purge"}}
  ]}
}`

func wantOperation() *PipelineOperation {
	ts := func(minute int) *Time { return &Time{time.Date(2020, 12, 13, 9, minute, 43, 153e6, time.UTC)} }
	return &PipelineOperation{
		ID: "op1", Type: "Deploy", Status: StatusFailed,
		LastUpdatedTime: ts(26), ExecutionStartTime: ts(25), ExecutionEndTime: ts(26),
		SourceStageOrder: 0, TargetStageOrder: 1,
		Note:                         &OperationNote{Content: "Hotfix"},
		PerformedBy:                  &OperationUser{UserPrincipalName: "ann@contoso.com", PrincipalObjectID: "oid-1", PrincipalType: "User"},
		PreDeploymentDiffInformation: &DiffInformation{NewArtifactsCount: 1, DifferentArtifactsCount: 2, NoDifferenceArtifactsCount: 3},
		ExecutionPlan: &ExecutionPlan{Steps: []ExecutionStep{
			{Index: 0, Type: "DatasetDeployment", Status: "Succeeded", PreDeploymentDiffState: "Different",
				SourceAndTarget: &SourceAndTarget{Source: "d0", SourceDisplayName: "Model", Target: "d1", TargetDisplayName: "Model", Type: "dataset"}},
			{Index: 1, Type: "ReportDeployment", Status: "Failed", PreDeploymentDiffState: "New",
				SourceAndTarget: &SourceAndTarget{Source: "r0", SourceDisplayName: "Sales", Type: "report"},
				Error:           &DeploymentError{ErrorCode: "Alm_InvalidRequest_PurgeRequired", ErrorDetails: "Schema change needs purge"}},
		}},
	}
}

func TestPipelinesGetOperation(t *testing.T) {
	t.Parallel()
	c, mux := setup(t)
	mux.HandleFunc("/pipelines/p1/operations/op1", func(w http.ResponseWriter, r *http.Request) {
		testMethod(t, r, http.MethodGet)
		reply(w, http.StatusOK, operationJSON)
	})
	got, _, err := c.Pipelines.GetOperation(context.Background(), "p1", "op1")
	require.NoError(t, err)
	assert.Equal(t, wantOperation(), got)
	assert.True(t, got.Done())
}

func TestPipelinesListOperations(t *testing.T) {
	t.Parallel()
	c, mux := setup(t)
	mux.HandleFunc("/pipelines/p1/operations", func(w http.ResponseWriter, r *http.Request) {
		testMethod(t, r, http.MethodGet)
		reply(w, http.StatusOK, `{"value":[{"id":"op2","type":"Deploy","status":"Executing","lastUpdatedTime":"2020-12-13T09:26:43Z","sourceStageOrder":1,"targetStageOrder":2}]}`)
	})
	got, _, err := c.Pipelines.ListOperations(context.Background(), "p1")
	require.NoError(t, err)
	assert.Equal(t, []PipelineOperation{{
		ID: "op2", Type: "Deploy", Status: StatusExecuting,
		LastUpdatedTime:  &Time{time.Date(2020, 12, 13, 9, 26, 43, 0, time.UTC)},
		SourceStageOrder: 1, TargetStageOrder: 2,
	}}, got)
}

func TestPipelinesDeployAll(t *testing.T) {
	t.Parallel()
	c, mux := setup(t)
	mux.HandleFunc("/pipelines/p1/deployAll", func(w http.ResponseWriter, r *http.Request) {
		testMethod(t, r, http.MethodPost)
		testJSONBody(t, r, `{
			"sourceStageOrder": 0,
			"note": "Release 1",
			"newWorkspace": {"name": "Sales [Test]", "capacityId": "cap1"},
			"updateAppSettings": {"updateAppInTargetWorkspace": false},
			"options": {"allowCreateArtifact": true, "allowOverwriteArtifact": true}}`)
		reply(w, http.StatusAccepted, `{"id":"op1","type":"Deploy","status":"NotStarted","lastUpdatedTime":"2020-12-13T09:26:43.153"}`)
	})
	got, resp, err := c.Pipelines.DeployAll(context.Background(), "p1", &DeployAllRequest{
		SourceStageOrder:  0,
		Note:              "Release 1",
		NewWorkspace:      &NewWorkspace{Name: "Sales [Test]", CapacityID: "cap1"},
		UpdateAppSettings: &UpdateAppSettings{},
		Options:           &DeploymentOptions{AllowCreateArtifact: true, AllowOverwriteArtifact: true},
	})
	require.NoError(t, err)
	assert.Equal(t, http.StatusAccepted, resp.StatusCode)
	assert.Equal(t, "op1", got.ID)
	assert.Equal(t, StatusNotStarted, got.Status)
	assert.False(t, got.Done())
}

func TestPipelinesSelectiveDeploy(t *testing.T) {
	t.Parallel()
	c, mux := setup(t)
	mux.HandleFunc("/pipelines/p1/deploy", func(w http.ResponseWriter, r *http.Request) {
		testMethod(t, r, http.MethodPost)
		testJSONBody(t, r, `{
			"sourceStageOrder": 2,
			"isBackwardDeployment": true,
			"newWorkspace": {"name": "Sales [Test]"},
			"datasets": [{"sourceId": "d1"}],
			"reports": [{"sourceId": "r1", "options": {"allowOverwriteArtifact": true, "allowTakeOver": true}}],
			"dataflows": [{"sourceId": "f1"}],
			"datamarts": [{"sourceId": "m1"}],
			"dashboards": [{"sourceId": "b1"}]}`)
		reply(w, http.StatusAccepted, `{"id":"op9","status":"NotStarted"}`)
	})
	got, _, err := c.Pipelines.SelectiveDeploy(context.Background(), "p1", &SelectiveDeployRequest{
		DeployAllRequest: DeployAllRequest{SourceStageOrder: 2, IsBackwardDeployment: true, NewWorkspace: &NewWorkspace{Name: "Sales [Test]"}},
		Datasets:         []DeployArtifact{{SourceID: "d1"}},
		Reports:          []DeployArtifact{{SourceID: "r1", Options: &DeploymentOptions{AllowOverwriteArtifact: true, AllowTakeOver: true}}},
		Dashboards:       []DeployArtifact{{SourceID: "b1"}},
		Dataflows:        []DeployArtifact{{SourceID: "f1"}},
		Datamarts:        []DeployArtifact{{SourceID: "m1"}},
	})
	require.NoError(t, err)
	assert.Equal(t, &PipelineOperation{ID: "op9", Status: StatusNotStarted}, got)
}

func TestPipelinesDeployResponseShapes(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, body string
		wantID     string
	}{
		{name: "single object (swagger, SDK)", body: `{"id":"op1","status":"NotStarted"}`, wantID: "op1"},
		{name: "value wrapper (docs example)", body: `{"value":[{"id":"op2","status":"NotStarted"}]}`, wantID: "op2"},
		{name: "empty body", body: ``},
		{name: "no id", body: `{"status":"NotStarted"}`},
		{name: "two operations", body: `{"value":[{"id":"a"},{"id":"b"}]}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c, mux := setup(t)
			mux.HandleFunc("/pipelines/p1/deployAll", func(w http.ResponseWriter, r *http.Request) {
				reply(w, http.StatusAccepted, tt.body)
			})
			got, resp, err := c.Pipelines.DeployAll(context.Background(), "p1", &DeployAllRequest{})
			if tt.wantID == "" {
				require.ErrorIs(t, err, errNoOperationID)
				assert.NotNil(t, resp)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.wantID, got.ID)
		})
	}
}

func TestPipelinesAdminList(t *testing.T) {
	t.Parallel()
	c, mux := setup(t)
	mux.HandleFunc("/admin/pipelines", func(w http.ResponseWriter, r *http.Request) {
		testMethod(t, r, http.MethodGet)
		testQuery(t, r, url.Values{"$expand": {"users,stages"}, "$filter": {"(not users/any())"}, "$top": {"100"}, "$skip": {"200"}})
		reply(w, http.StatusOK, `{"value":[{"id":"p1","displayName":"Orphan","stages":[{"order":0}],"users":[]}]}`)
	})
	got, _, err := c.Pipelines.AdminList(context.Background(), &AdminPipelineListOptions{
		Expand: "users,stages", Filter: "(not users/any())", Top: 100, Skip: 200,
	})
	require.NoError(t, err)
	assert.Equal(t, []AdminPipeline{{
		Pipeline: Pipeline{ID: "p1", DisplayName: "Orphan", Stages: []PipelineStage{{Order: 0}}},
		Users:    []PipelineUser{},
	}}, got)

	c2, mux2 := setup(t)
	mux2.HandleFunc("/admin/pipelines", func(w http.ResponseWriter, r *http.Request) {
		testQuery(t, r, nil)
		reply(w, http.StatusOK, `{"value":[]}`)
	})
	got, _, err = c2.Pipelines.AdminList(context.Background(), nil)
	require.NoError(t, err)
	assert.Empty(t, got)
}

func TestOperationDone(t *testing.T) {
	t.Parallel()
	for status, want := range map[string]bool{
		StatusNotStarted: false, StatusExecuting: false, StatusSucceeded: true, StatusFailed: true,
		"": false, "Cancelled": false, "succeeded": false,
	} {
		op := &PipelineOperation{Status: status}
		assert.Equal(t, want, op.Done(), "status %q", status)
	}
}

func TestDeploymentOptionsLeaveUnsetFlagsOut(t *testing.T) {
	t.Parallel()
	assert.JSONEq(t, `{}`, mustJSON(t, DeploymentOptions{}), "a missing flag is false to the service")
	assert.JSONEq(t, `{"allowPurgeData":true}`, mustJSON(t, DeploymentOptions{AllowPurgeData: true}))
	assert.JSONEq(t, `{"sourceStageOrder":0}`, mustJSON(t, DeployAllRequest{}), "stage 0 is a real value")
}
