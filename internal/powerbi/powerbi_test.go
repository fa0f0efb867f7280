package powerbi

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// baseURLPath mounts the API under a non-empty prefix, so a method that builds an absolute
// path ("/pipelines") instead of a relative one fails the tests.
const baseURLPath = "/api-v1/v1.0/myorg"

// setup starts a test server and returns a client pointed at it and the mux on which a test
// registers the API paths it expects (relative to the base, e.g. "GET /pipelines"). Every
// request is also checked against the swagger's operations (see checkAgainstSpec).
func setup(t *testing.T) (*Client, *http.ServeMux) {
	t.Helper()
	mux := http.NewServeMux()
	root := http.NewServeMux()
	root.Handle(baseURLPath+"/", http.StripPrefix(baseURLPath, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		checkAgainstSpec(t, r)
		mux.ServeHTTP(w, r)
	})))
	root.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		t.Errorf("request outside the API base: %s %s", r.Method, r.URL)
		http.Error(w, "outside the API base", http.StatusBadRequest)
	})
	srv := httptest.NewServer(root)
	t.Cleanup(srv.Close)
	c, err := NewClient(srv.Client(), srv.URL+baseURLPath+"/")
	require.NoError(t, err)
	return c, mux
}

func testMethod(t *testing.T, r *http.Request, want string) {
	t.Helper()
	assert.Equal(t, want, r.Method, "request method")
}

// testJSONBody compares the request body with the expected JSON text, written out literally
// so that wire names are checked against the swagger, not against our own struct tags.
func testJSONBody(t *testing.T, r *http.Request, want string) {
	t.Helper()
	b, err := io.ReadAll(r.Body)
	require.NoError(t, err)
	assert.Equal(t, "application/json", r.Header.Get("Content-Type"))
	assert.JSONEq(t, want, string(b), "request body")
}

func testNoBody(t *testing.T, r *http.Request) {
	t.Helper()
	b, err := io.ReadAll(r.Body)
	require.NoError(t, err)
	assert.Empty(t, b, "request body")
}

func testQuery(t *testing.T, r *http.Request, want url.Values) {
	t.Helper()
	if want == nil {
		want = url.Values{}
	}
	assert.Equal(t, want, r.URL.Query(), "query")
}

// reply writes a JSON answer with a RequestId header, as the service does.
func reply(w http.ResponseWriter, status int, body string) {
	w.Header().Set("RequestId", "req-1234")
	if body != "" {
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
	}
	w.WriteHeader(status)
	_, _ = io.WriteString(w, body)
}

func TestNewClient(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in, want, wantErr string
	}{
		{in: "https://api.powerbi.com", want: DefaultBaseURL},
		{in: "https://api.powerbi.com/", want: DefaultBaseURL},
		{in: "https://api.powerbi.com/v1.0/myorg", want: DefaultBaseURL},
		{in: "https://api.powerbi.com/v1.0/myorg/", want: DefaultBaseURL},
		{in: " https://api.powerbigov.us/v1.0/myorg/ ", want: "https://api.powerbigov.us/v1.0/myorg/"},
		{in: "https://127.0.0.1:8443/emu", want: "https://127.0.0.1:8443/emu/v1.0/myorg/"},
		{in: "https://127.0.0.1:8443/emu/v1.0/myorg", want: "https://127.0.0.1:8443/emu/v1.0/myorg/"},
		{in: "", wantErr: "not absolute"},
		{in: "api.powerbi.com", wantErr: "not absolute"},
		{in: "/v1.0/myorg/", wantErr: "not absolute"},
		{in: "ftp://api.powerbi.com", wantErr: "scheme"},
		{in: "https://api.powerbi.com/v1.0/", wantErr: "path ending in"},
		{in: "https://api.powerbi.com/v1.0/myorg/groups", wantErr: "path ending in"},
		{in: "https://user:pw@api.powerbi.com", wantErr: "user info"},
		{in: "https://api.powerbi.com/?x=1", wantErr: "query"},
		{in: "https://%zz", wantErr: "invalid base URL"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			t.Parallel()
			c, err := NewClient(nil, tt.in)
			if tt.wantErr != "" {
				require.ErrorContains(t, err, tt.wantErr)
				assert.NotContains(t, err.Error(), "pw", "credentials must not leak into errors")
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.want, c.BaseURL.String())
			assert.Same(t, http.DefaultClient, c.client)
			assert.NotNil(t, c.Pipelines)
			assert.NotNil(t, c.Groups)
			assert.NotNil(t, c.Capacities)
		})
	}
}

var uuidV4 = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)

func TestNewRequest(t *testing.T) {
	t.Parallel()
	c, err := NewClient(nil, "https://api.powerbi.com")
	require.NoError(t, err)
	c.UserAgent = "test-agent/1"

	req, err := c.NewRequest(context.Background(), http.MethodPost, "pipelines/p%201/deployAll?x=1", &CreatePipelineRequest{DisplayName: "a<b>&c"})
	require.NoError(t, err)
	assert.Equal(t, "https://api.powerbi.com/v1.0/myorg/pipelines/p%201/deployAll?x=1", req.URL.String())
	assert.Equal(t, "test-agent/1", req.Header.Get("User-Agent"))
	assert.Equal(t, "application/json", req.Header.Get("Content-Type"))
	assert.Regexp(t, uuidV4, req.Header.Get("ActivityId"))
	body, err := io.ReadAll(req.Body)
	require.NoError(t, err)
	assert.Equal(t, `{"displayName":"a<b>&c"}`+"\n", string(body), "JSON without HTML escaping")
	require.NotNil(t, req.GetBody, "the retry transport replays bodies through GetBody")
	again, err := req.GetBody()
	require.NoError(t, err)
	b2, _ := io.ReadAll(again)
	assert.Equal(t, body, b2)

	req2, err := c.NewRequest(context.Background(), http.MethodGet, "pipelines", nil)
	require.NoError(t, err)
	assert.Empty(t, req2.Header.Get("Content-Type"))
	assert.NotEqual(t, req.Header.Get("ActivityId"), req2.Header.Get("ActivityId"), "a fresh ActivityId per request")
}

func TestNewRequestErrors(t *testing.T) {
	t.Parallel()
	c, err := NewClient(nil, DefaultBaseURL)
	require.NoError(t, err)
	tests := []struct {
		name, path string
		body       any
		wantErr    string
	}{
		{name: "rooted path", path: "/pipelines", wantErr: "relative"},
		{name: "absolute URL", path: "https://evil.example/x", wantErr: "relative"},
		{name: "scheme-relative", path: "//evil.example/x", wantErr: "relative"},
		{name: "bad escape", path: "pipelines/%zz", wantErr: "invalid request path"},
		{name: "unencodable body", path: "pipelines", body: make(chan int), wantErr: "encoding"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := c.NewRequest(context.Background(), http.MethodGet, tt.path, tt.body)
			require.ErrorContains(t, err, tt.wantErr)
		})
	}

	// Subtests above run after this body returns, so mutate a separate client.
	c2, err := NewClient(nil, DefaultBaseURL)
	require.NoError(t, err)
	c2.BaseURL = &url.URL{Scheme: "https", Host: "api.powerbi.com", Path: "/v1.0/myorg"}
	_, err = c2.NewRequest(context.Background(), http.MethodGet, "pipelines", nil)
	require.ErrorContains(t, err, "must end in a slash")
}

func TestDo(t *testing.T) {
	t.Parallel()
	c, mux := setup(t)
	mux.HandleFunc("GET /pipelines", func(w http.ResponseWriter, r *http.Request) {
		reply(w, http.StatusOK, `{"a":"b"}`)
	})
	mux.HandleFunc("GET /capacities", func(w http.ResponseWriter, r *http.Request) {
		reply(w, http.StatusOK, "")
	})
	mux.HandleFunc("GET /groups", func(w http.ResponseWriter, r *http.Request) {
		reply(w, http.StatusOK, `{"a":`)
	})
	ctx := context.Background()

	var got map[string]string
	req, err := c.NewRequest(ctx, http.MethodGet, "pipelines", nil)
	require.NoError(t, err)
	resp, err := c.Do(req, &got)
	require.NoError(t, err)
	assert.Equal(t, map[string]string{"a": "b"}, got)
	assert.Equal(t, "req-1234", resp.RequestID)
	assert.Equal(t, http.StatusOK, resp.StatusCode)

	req, _ = c.NewRequest(ctx, http.MethodGet, "capacities", nil)
	_, err = c.Do(req, &got)
	require.NoError(t, err, "an empty body is not an error")

	req, _ = c.NewRequest(ctx, http.MethodGet, "pipelines", nil)
	_, err = c.Do(req, nil)
	require.NoError(t, err)

	req, _ = c.NewRequest(ctx, http.MethodGet, "groups", nil)
	_, err = c.Do(req, &got)
	require.ErrorContains(t, err, "decoding GET")
}

func TestDoCancelled(t *testing.T) {
	t.Parallel()
	c, _ := setup(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	req, err := c.NewRequest(ctx, http.MethodGet, "pipelines", nil)
	require.NoError(t, err)
	_, err = c.Do(req, nil)
	require.ErrorIs(t, err, context.Canceled)
}

func TestPathEscaping(t *testing.T) {
	t.Parallel()
	c, mux := setup(t)
	var gotPath string
	mux.HandleFunc("GET /pipelines/{id}/operations/{op}", func(w http.ResponseWriter, r *http.Request) {
		gotPath = r.URL.EscapedPath()
		assert.Equal(t, "a/b c", r.PathValue("id"))
		assert.Equal(t, "x?y#z", r.PathValue("op"))
		reply(w, http.StatusOK, `{"id":"op","status":"Executing"}`)
	})
	_, _, err := c.Pipelines.GetOperation(context.Background(), "a/b c", "x?y#z")
	require.NoError(t, err)
	assert.Equal(t, "/pipelines/a%2Fb%20c/operations/x%3Fy%23z", gotPath)

	for _, bad := range []string{"", ".", ".."} {
		_, _, err := c.Pipelines.Get(context.Background(), bad, false)
		require.ErrorContains(t, err, "invalid id", "id %q", bad)
	}
}

func TestNameFilter(t *testing.T) {
	t.Parallel()
	assert.Equal(t, "name eq 'O''Neil'", NameFilter("O'Neil"))
	assert.Equal(t, "name eq 'Sales'", NameFilter("Sales"))
	assert.Equal(t, "name eq ''''''", NameFilter("''"))
}

func TestUUID(t *testing.T) {
	t.Parallel()
	seen := map[string]bool{}
	for range 100 {
		u := newUUID()
		assert.Regexp(t, uuidV4, u)
		assert.False(t, seen[u])
		seen[u] = true
	}
}

// mustJSON is for tests that round-trip a value.
func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	require.NoError(t, err)
	return string(b)
}

func TestRedactURL(t *testing.T) {
	t.Parallel()
	u, _ := url.Parse("https://u:p@h/x?$filter=secret#f")
	assert.Equal(t, "https://h/x", redactURL(u))
	assert.Empty(t, redactURL(nil))
	assert.False(t, strings.Contains(redactURL(u), "secret"))
}
