package emulator

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pbi-pipelines/azdo-extension/internal/swaggertest"
)

// The test tenant. Ids are fixed so that failures read well.
const (
	tTenant     = "7e570000-0000-4000-8000-000000000001"
	tAppClient  = "a9900000-0000-4000-8000-000000000001"
	tAppOID     = "a9900000-0000-4000-8000-0000000000a1"
	tAppSecret  = "app-secret"
	tOtherApp   = "a9900000-0000-4000-8000-000000000002"
	tOtherOID   = "a9900000-0000-4000-8000-0000000000a2"
	tAlice      = "alice@contoso.com"
	tBob        = "bob@contoso.com"
	tPassword   = "pa55word"
	tGroupOID   = "6a000000-0000-4000-8000-000000000001"
	tCapOpen    = "ca000000-0000-4000-8000-000000000001"
	tCapAlice   = "ca000000-0000-4000-8000-000000000002"
	tWsDev      = "05000000-0000-4000-8000-000000000001"
	tWsTest     = "05000000-0000-4000-8000-000000000002"
	tWsProd     = "05000000-0000-4000-8000-000000000003"
	tWsNoCap    = "05000000-0000-4000-8000-000000000004"
	tWsViewer   = "05000000-0000-4000-8000-000000000005"
	tWsBob      = "05000000-0000-4000-8000-000000000006"
	tWsOther    = "05000000-0000-4000-8000-000000000007"
	tPlMain     = "91000000-0000-4000-8000-000000000001"
	tPlBob      = "91000000-0000-4000-8000-000000000002"
	tPlOther    = "91000000-0000-4000-8000-000000000003"
	tDsSales    = "d5000000-0000-4000-8000-000000000001"
	tDsStock    = "d5000000-0000-4000-8000-000000000002"
	tRpSales    = "49000000-0000-4000-8000-000000000001"
	tRpStock    = "49000000-0000-4000-8000-000000000002"
	tDbExec     = "db000000-0000-4000-8000-000000000001"
	tDfIngest   = "df000000-0000-4000-8000-000000000001"
	tUnknownID  = "00000000-dead-4000-8000-000000000000"
	tDeployTime = 10 * time.Second
)

func admin(id, typ string) WorkspaceUser {
	return WorkspaceUser{Identifier: id, PrincipalType: typ, GroupUserAccessRight: "Admin"}
}

// testSeed: the app administers pipeline Main (Development = Dev, Test = Test) and the Dev, Test,
// Prod, NoCap and Other workspaces; Bob has his own pipeline and workspace the app cannot see.
func testSeed() *Seed {
	appAdmin := admin(tAppOID, "App")
	return &Seed{
		TenantID: tTenant,
		Apps: []App{
			{ClientID: tAppClient, ObjectID: tAppOID, DisplayName: "deployer", Secret: tAppSecret},
			{ClientID: tOtherApp, ObjectID: tOtherOID, DisplayName: "other", Secret: tAppSecret},
		},
		Users: []User{
			{UPN: tAlice, ObjectID: "a1000000-0000-4000-8000-000000000001", DisplayName: "Alice", Password: tPassword},
			{UPN: tBob, ObjectID: "b0b00000-0000-4000-8000-000000000001", DisplayName: "Bob", Password: tPassword},
		},
		Groups:     []Group{{ObjectID: tGroupOID, DisplayName: "BI admins"}},
		Capacities: []Capacity{{ID: tCapOpen, DisplayName: "Open", SKU: "F2"}, {ID: tCapAlice, DisplayName: "Alice's", SKU: "F64", Admins: []string{tAlice}}},
		Workspaces: []Workspace{
			{ID: tWsDev, Name: "Sales [Dev]", CapacityID: tCapOpen, Users: []WorkspaceUser{appAdmin, admin(tAlice, "User")},
				Datasets:   []Item{{ID: tDsSales, Name: "Sales"}, {ID: tDsStock, Name: "Stock"}},
				Reports:    []Item{{ID: tRpSales, Name: "Sales", DatasetID: tDsSales}, {ID: tRpStock, Name: "Stock", DatasetID: tDsStock}},
				Dashboards: []Item{{ID: tDbExec, Name: "Executive"}},
				Dataflows:  []Item{{ID: tDfIngest, Name: "Ingest"}}},
			{ID: tWsTest, Name: "Sales [Test]", CapacityID: tCapOpen, Users: []WorkspaceUser{appAdmin}},
			{ID: tWsProd, Name: "Sales [Prod]", CapacityID: tCapOpen, Users: []WorkspaceUser{appAdmin}},
			{ID: tWsNoCap, Name: "Shared", Users: []WorkspaceUser{appAdmin}},
			{ID: tWsViewer, Name: "Viewed", CapacityID: tCapOpen, Users: []WorkspaceUser{{Identifier: tAppOID, PrincipalType: "App", GroupUserAccessRight: "Viewer"}}},
			{ID: tWsBob, Name: "Bob's", CapacityID: tCapOpen, Users: []WorkspaceUser{admin(tBob, "User")}},
			{ID: tWsOther, Name: "O'Neil reports", CapacityID: tCapOpen, Users: []WorkspaceUser{appAdmin}},
		},
		Pipelines: []Pipeline{
			{ID: tPlMain, DisplayName: "Main", Description: "main pipeline",
				Stages: []PipelineStage{{Order: 0, WorkspaceID: tWsDev}, {Order: 1, WorkspaceID: tWsTest}},
				Users:  []PipelineUser{{Identifier: tAppOID, PrincipalType: "App"}}},
			{ID: tPlBob, DisplayName: "Bob's", Stages: []PipelineStage{{Order: 0, WorkspaceID: tWsBob}},
				Users: []PipelineUser{{Identifier: tBob, PrincipalType: "User"}}},
			{ID: tPlOther, DisplayName: "Other", Stages: []PipelineStage{{Order: 2, WorkspaceID: tWsOther}},
				Users: []PipelineUser{{Identifier: tAppOID, PrincipalType: "App"}}},
		},
		TenantAdmins: []string{tAlice},
	}
}

// fakeClock is the emulator's injected clock: deployments and tokens follow it, not real time.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *fakeClock { return &fakeClock{t: time.Date(2025, 3, 4, 5, 6, 7, 0, time.UTC)} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

type harness struct {
	t      *testing.T
	srv    *Server
	clock  *fakeClock
	client *http.Client
	mu     sync.Mutex
	tokens map[string]string
}

// noValidation is for tests that send requests the swagger itself forbids, to see the
// emulator's own answer.
func noValidation(o *Options) { o.Validate = nil }

func withSeed(s *Seed) func(*Options) { return func(o *Options) { o.Seed = s } }

// newHarness starts an emulator validating every Power BI request against the swagger, and
// checks at the end that no request failed validation.
func newHarness(t *testing.T, opts ...func(*Options)) *harness {
	t.Helper()
	clock := newClock()
	o := Options{Seed: testSeed(), Now: clock.Now, DeployDuration: tDeployTime, Validate: swaggertest.Validator(t)}
	for _, f := range opts {
		f(&o)
	}
	srv, err := Start(o)
	require.NoError(t, err)
	h := &harness{t: t, srv: srv, clock: clock, client: srv.Client(), tokens: map[string]string{}}
	t.Cleanup(func() {
		assert.Empty(t, srv.ValidationErrors(), "requests that do not match the swagger")
		assert.NoError(t, srv.Close())
	})
	return h
}

// token signs in: "app" and "other" with client credentials, a UPN with its password.
func (h *harness) token(who string) string {
	h.t.Helper()
	h.mu.Lock()
	defer h.mu.Unlock()
	if tok, ok := h.tokens[who]; ok {
		return tok
	}
	form := url.Values{"scope": {h.srv.Resource() + "/.default"}}
	switch who {
	case "app":
		form.Set("grant_type", "client_credentials")
		form.Set("client_id", tAppClient)
		form.Set("client_secret", tAppSecret)
	case "other":
		form.Set("grant_type", "client_credentials")
		form.Set("client_id", tOtherApp)
		form.Set("client_secret", tAppSecret)
	default:
		form.Set("grant_type", "password")
		form.Set("client_id", "1950a258-227b-4e31-a9cf-717495945fc2")
		form.Set("username", who)
		form.Set("password", tPassword)
	}
	resp, err := h.client.PostForm(h.srv.URL+"/"+tTenant+"/oauth2/v2.0/token", form)
	require.NoError(h.t, err)
	defer resp.Body.Close()
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	require.Equal(h.t, http.StatusOK, resp.StatusCode)
	require.NoError(h.t, json.NewDecoder(resp.Body).Decode(&tok))
	require.NotEmpty(h.t, tok.AccessToken)
	h.tokens[who] = tok.AccessToken
	return tok.AccessToken
}

type response struct {
	status int
	header http.Header
	body   []byte
}

// call sends a Power BI request as who ("" sends no token). path is relative to /v1.0/myorg/
// unless it starts with "/"; body is JSON-encoded unless it is a string.
func (h *harness) call(who, method, path string, body any) response {
	h.t.Helper()
	if !strings.HasPrefix(path, "/") {
		path = "/v1.0/myorg/" + path
	}
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	default:
		raw, err := json.Marshal(b)
		require.NoError(h.t, err)
		rd = bytes.NewReader(raw)
	}
	req, err := http.NewRequest(method, h.srv.URL+path, rd)
	require.NoError(h.t, err)
	if rd != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if who != "" {
		req.Header.Set("Authorization", "Bearer "+h.token(who))
	}
	resp, err := h.client.Do(req)
	require.NoError(h.t, err)
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	require.NoError(h.t, err)
	return response{status: resp.StatusCode, header: resp.Header, body: raw}
}

// ok asserts the status and decodes the body into v (when v is not nil).
func (r response) ok(t *testing.T, status int, v any) {
	t.Helper()
	require.Equal(t, status, r.status, "body: %s", r.body)
	if v != nil {
		require.NoError(t, json.Unmarshal(r.body, v), "body: %s", r.body)
	}
}

// fails asserts an error answer with this status and code, and returns its message.
func (r response) fails(t *testing.T, status int, code string) string {
	t.Helper()
	require.Equal(t, status, r.status, "body: %s", r.body)
	var e struct {
		Error struct {
			Code    string `json:"code"`
			Message string `json:"message"`
		} `json:"error"`
	}
	require.NoError(t, json.Unmarshal(r.body, &e), "body: %s", r.body)
	assert.Equal(t, code, e.Error.Code, "body: %s", r.body)
	return e.Error.Message
}

// Wire shapes as a client reads them.

type tPipeline struct {
	ID          string `json:"id"`
	DisplayName string `json:"displayName"`
	Description string `json:"description"`
	Stages      []struct {
		Order         int    `json:"order"`
		WorkspaceID   string `json:"workspaceId"`
		WorkspaceName string `json:"workspaceName"`
	} `json:"stages"`
	Users []wirePipeUser `json:"users"`
}

type tOperation struct {
	ID                 string `json:"id"`
	Type               string `json:"type"`
	Status             string `json:"status"`
	LastUpdatedTime    string `json:"lastUpdatedTime"`
	ExecutionStartTime string `json:"executionStartTime"`
	ExecutionEndTime   string `json:"executionEndTime"`
	SourceStageOrder   int    `json:"sourceStageOrder"`
	TargetStageOrder   int    `json:"targetStageOrder"`
	PerformedBy        struct {
		UserPrincipalName string `json:"userPrincipalName"`
		PrincipalObjectID string `json:"principalObjectID"`
		PrincipalType     string `json:"principalType"`
	} `json:"performedBy"`
	Note *struct {
		Content     string `json:"content"`
		IsTruncated bool   `json:"isTruncated"`
	} `json:"note"`
	ExecutionPlan *struct {
		Steps []struct {
			Index                  int    `json:"index"`
			Type                   string `json:"type"`
			Status                 string `json:"status"`
			PreDeploymentDiffState string `json:"preDeploymentDiffState"`
			SourceAndTarget        struct {
				Source            string `json:"source"`
				SourceDisplayName string `json:"sourceDisplayName"`
				Target            string `json:"target"`
				TargetDisplayName string `json:"targetDisplayName"`
				Type              string `json:"type"`
			} `json:"sourceAndTarget"`
			Error *struct {
				ErrorCode    string `json:"errorCode"`
				ErrorDetails string `json:"errorDetails"`
			} `json:"error"`
		} `json:"steps"`
	} `json:"executionPlan"`
	PreDeploymentDiffInformation struct {
		New          int `json:"newArtifactsCount"`
		Different    int `json:"differentArtifactsCount"`
		NoDifference int `json:"noDifferenceArtifactsCount"`
	} `json:"preDeploymentDiffInformation"`
}

type tArtifacts struct {
	Datasets   []wireArtifact `json:"datasets"`
	Reports    []wireArtifact `json:"reports"`
	Dashboards []wireArtifact `json:"dashboards"`
	Dataflows  []wireArtifact `json:"dataflows"`
	Datamarts  []wireArtifact `json:"datamarts"`
}

type tList[T any] struct {
	Context string `json:"@odata.context"`
	Value   []T    `json:"value"`
}

// allowAll is the deployment-wide options most tests deploy with.
var allowAll = map[string]any{"allowCreateArtifact": true, "allowOverwriteArtifact": true}

// deploy starts a deployAll as the app and returns the operation.
func (h *harness) deployAll(pipelineID string, body map[string]any) tOperation {
	h.t.Helper()
	var op tOperation
	h.call("app", "POST", "pipelines/"+pipelineID+"/deployAll", body).ok(h.t, http.StatusAccepted, &op)
	return op
}

// operation reads one operation with its execution plan.
func (h *harness) operation(pipelineID, opID string) tOperation {
	h.t.Helper()
	var op tOperation
	h.call("app", "GET", fmt.Sprintf("pipelines/%s/operations/%s", pipelineID, opID), nil).ok(h.t, http.StatusOK, &op)
	return op
}

// finish moves the clock past the end of any deployment started now.
func (h *harness) finish() { h.clock.Advance(tDeployTime + time.Second) }

func (h *harness) workspace(id string) *Workspace {
	h.t.Helper()
	for _, ws := range h.srv.Snapshot().Workspaces {
		if strings.EqualFold(ws.ID, id) {
			return &ws
		}
	}
	return nil
}
