package emulator

import (
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"net/http"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var uuidRE = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)

func TestStartRefusesNonLoopbackAddresses(t *testing.T) {
	t.Parallel()
	for _, addr := range []string{"0.0.0.0:0", "10.1.2.3:0", ":0", "nonsense"} {
		_, err := Start(Options{Addr: addr, Seed: testSeed()})
		assert.Error(t, err, addr)
	}
}

func TestServerBasics(t *testing.T) {
	t.Parallel()
	h := newHarness(t)

	block, _ := pem.Decode(h.srv.CACertPEM)
	require.NotNil(t, block)
	ca, err := x509.ParseCertificate(block.Bytes)
	require.NoError(t, err)
	assert.True(t, ca.IsCA)
	assert.True(t, strings.HasPrefix(h.srv.URL, "https://127.0.0.1:"))
	assert.Equal(t, DefaultResource, h.srv.Resource())

	r := h.call("app", "GET", "pipelines", nil)
	var list tList[tPipeline]
	r.ok(t, http.StatusOK, &list)
	assert.Regexp(t, uuidRE, r.header.Get("RequestId"))
	assert.Equal(t, h.srv.URL+"/v1.0/myorg/$metadata#pipelines", list.Context)
	names := []string{}
	for _, p := range list.Value {
		names = append(names, p.DisplayName)
		assert.Nil(t, p.Stages, "the list has no stages")
	}
	assert.ElementsMatch(t, []string{"Main", "Other"}, names, "only the caller's pipelines")

	// Every response carries a RequestId, errors and identity routes included.
	assert.Regexp(t, uuidRE, h.call("app", "GET", "nothing/here", nil).header.Get("RequestId"))
	assert.Regexp(t, uuidRE, h.call("", "GET", "/"+tTenant+"/v2.0/.well-known/openid-configuration", nil).header.Get("RequestId"))
}

func TestAuthentication(t *testing.T) {
	t.Parallel()
	h := newHarness(t)

	r := h.call("", "GET", "pipelines", nil)
	assert.Equal(t, http.StatusUnauthorized, r.status)
	assert.Empty(t, r.body, "no token: an empty 401, as the service sometimes answers")

	req, err := http.NewRequest("GET", h.srv.URL+"/v1.0/myorg/pipelines", nil)
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer not-a-token")
	resp, err := h.client.Do(req)
	require.NoError(t, err)
	var body struct {
		Error struct {
			Code string `json:"code"`
			PBI  struct {
				Code             string `json:"code"`
				ExceptionCulprit int    `json:"exceptionCulprit"`
			} `json:"pbi.error"`
		} `json:"error"`
	}
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&body))
	resp.Body.Close()
	assert.Equal(t, http.StatusUnauthorized, resp.StatusCode)
	assert.Equal(t, "PowerBINotAuthorizedException", body.Error.Code)
	assert.Equal(t, "PowerBINotAuthorizedException", body.Error.PBI.Code)

	h.token("app")
	h.clock.Advance(2 * time.Hour)
	h.call("app", "GET", "pipelines", nil).fails(t, http.StatusForbidden, "TokenExpired")
}

func TestRoutesAreCaseInsensitive(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	for _, path := range []string{
		"/V1.0/MYORG/PIPELINES/" + strings.ToUpper(tPlMain) + "/STAGES",
		"/v1.0/myorg/Pipelines/" + tPlMain + "/Stages",
		"/v1.0/myorg/pipelines/" + tPlMain + "/stages/",
	} {
		var stages tList[wireStage]
		h.call("app", "GET", path, nil).ok(t, http.StatusOK, &stages)
		require.Len(t, stages.Value, 3, path)
		assert.Equal(t, tWsDev, stages.Value[0].WorkspaceID)
		assert.Equal(t, "Sales [Dev]", stages.Value[0].WorkspaceName)
		assert.Empty(t, stages.Value[2].WorkspaceID)
	}
	op := tOperation{}
	h.call("app", "POST", "/v1.0/myorg/pipelines/"+tPlMain+"/DeployAll", map[string]any{"sourceStageOrder": 0, "options": allowAll}).ok(t, http.StatusAccepted, &op)
	h.call("app", "GET", "/v1.0/myorg/pipelines/"+tPlMain+"/Operations/"+strings.ToUpper(op.ID), nil).ok(t, http.StatusOK, nil)
}

func TestUnknownRoutesAndMethods(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.call("app", "GET", "pipelines/"+tPlMain+"/nothing", nil).fails(t, http.StatusNotFound, "NotFound")
	h.call("app", "GET", "/v1.0/myorg", nil).fails(t, http.StatusNotFound, "NotFound")
	h.call("app", "PUT", "pipelines", nil).fails(t, http.StatusMethodNotAllowed, "MethodNotAllowed")
	assert.Equal(t, http.StatusNotFound, h.call("app", "GET", "/nothing", nil).status)
}

func TestRequestsAreRecordedWithoutSecrets(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.call("app", "GET", "pipelines?x=1", nil)
	h.call("", "GET", "groups", nil)

	var api []RecordedRequest
	for _, r := range h.srv.Requests() {
		if strings.HasPrefix(r.Path, "/v1.0/") {
			api = append(api, r)
		}
	}
	require.Len(t, api, 2)
	assert.Equal(t, RecordedRequest{Method: "GET", Path: "/v1.0/myorg/pipelines", Query: "x=1", Status: 200,
		Time: h.clock.Now(), Principal: tAppOID}, api[0])
	assert.Equal(t, http.StatusUnauthorized, api[1].Status)
	assert.Empty(t, api[1].Principal)
	raw, err := json.Marshal(h.srv.Requests())
	require.NoError(t, err)
	assert.NotContains(t, string(raw), h.token("app"))
}

func TestValidationFailuresAreAnsweredAndKept(t *testing.T) {
	t.Parallel()
	var calls atomic.Int32
	h := newHarness(t, func(o *Options) {
		o.Validate = func(r *http.Request, body []byte) error {
			calls.Add(1)
			// The validator sees the swagger's spelling of the path, whatever the caller sent.
			if r.URL.Path == "/v1.0/myorg/pipelines/"+tPlMain+"/deployAll" {
				return assert.AnError
			}
			return nil
		}
	})
	h.call("app", "POST", "pipelines/"+tPlMain+"/DEPLOYALL", map[string]any{"sourceStageOrder": 0}).
		fails(t, http.StatusBadRequest, "EmulatorRequestInvalid")
	h.call("app", "GET", "pipelines", nil).ok(t, http.StatusOK, nil)
	assert.Equal(t, int32(2), calls.Load())
	require.Len(t, h.srv.ValidationErrors(), 1)
	assert.Contains(t, h.srv.ValidationErrors()[0], "DEPLOYALL")
	// The harness asserts there are none at the end; this test's one is intended.
	h.srv.logMu.Lock()
	h.srv.invalid = nil
	h.srv.logMu.Unlock()
}

func TestSnapshotIsACopy(t *testing.T) {
	t.Parallel()
	seed := testSeed()
	h := newHarness(t, withSeed(seed))
	snap := h.srv.Snapshot()
	snap.Workspaces[0].Name = "changed"
	assert.Equal(t, "Sales [Dev]", h.srv.Snapshot().Workspaces[0].Name)
	h.call("app", "POST", "groups", map[string]any{"name": "New"}).ok(t, http.StatusOK, nil)
	assert.Len(t, seed.Workspaces, len(testSeed().Workspaces), "the caller's seed is not changed")
	assert.Len(t, h.srv.Snapshot().Workspaces, len(seed.Workspaces)+1)
}

func TestControlRoutes(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	post := func(body string) *http.Response {
		resp, err := h.client.Post(h.srv.URL+"/_emulator/faults", "application/json", strings.NewReader(body))
		require.NoError(t, err)
		resp.Body.Close()
		return resp
	}
	assert.Equal(t, http.StatusOK, post(`{"path":"/pipelines$","status":503,"retryAfter":7,"times":1}`).StatusCode)
	assert.Equal(t, http.StatusBadRequest, post(`{"path":"(","status":503}`).StatusCode)
	assert.Equal(t, http.StatusBadRequest, post(`{"delay":"soon"}`).StatusCode)

	r := h.call("app", "GET", "pipelines", nil)
	assert.Equal(t, http.StatusServiceUnavailable, r.status)
	assert.Equal(t, "7", r.header.Get("Retry-After"))
	h.call("app", "GET", "pipelines", nil).ok(t, http.StatusOK, nil)

	post(`{"status":500}`)
	req, err := http.NewRequest("DELETE", h.srv.URL+"/_emulator/faults", nil)
	require.NoError(t, err)
	resp, err := h.client.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusOK, resp.StatusCode)
	h.call("app", "GET", "pipelines", nil).ok(t, http.StatusOK, nil)

	resp, err = h.client.Get(h.srv.URL + "/_emulator/state")
	require.NoError(t, err)
	var state Seed
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&state))
	resp.Body.Close()
	assert.Equal(t, tTenant, state.TenantID)
	assert.Len(t, state.Pipelines, 3)

	resp, err = h.client.Get(h.srv.URL + "/_emulator/requests")
	require.NoError(t, err)
	var reqs tList[RecordedRequest]
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&reqs))
	resp.Body.Close()
	assert.NotEmpty(t, reqs.Value)

	resp, err = h.client.Get(h.srv.URL + "/_emulator/nothing")
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusNotFound, resp.StatusCode)
}

func TestParseFaultDelay(t *testing.T) {
	t.Parallel()
	tests := []struct {
		body string
		want time.Duration
		err  bool
	}{
		{`{"delay":"1.5s"}`, 1500 * time.Millisecond, false},
		{`{"delay":2000000}`, 2 * time.Millisecond, false},
		{`{}`, 0, false},
		{`{"delay":true}`, 0, true},
		{`{"path":"["}`, 0, true},
	}
	for _, tt := range tests {
		f, err := parseFault([]byte(tt.body))
		if tt.err {
			assert.Error(t, err, tt.body)
			continue
		}
		require.NoError(t, err, tt.body)
		assert.Equal(t, tt.want, f.Delay, tt.body)
	}
}

func TestDemoSeedStarts(t *testing.T) {
	t.Parallel()
	srv, err := Start(Options{})
	require.NoError(t, err)
	defer srv.Close()
	snap := srv.Snapshot()
	require.Len(t, snap.Workspaces, 2)
	assert.Len(t, snap.Workspaces[0].Datasets, 3)
	assert.Len(t, snap.Workspaces[0].Reports, 3)
	assert.Len(t, snap.Workspaces[0].Dashboards, 1)
	require.Len(t, snap.Apps, 1)
	assert.NotEmpty(t, snap.Apps[0].Secret)
	assert.NotEmpty(t, snap.Azure.ServiceConnections)
}
