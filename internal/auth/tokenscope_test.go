package auth

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestCloudAPIHosts pins each environment's API host (CONTRACT §1): the host the Power BI
// transport gives the bearer token to, always over https.
func TestCloudAPIHosts(t *testing.T) {
	t.Parallel()
	want := map[string]string{"Public": "api.powerbi.com", "USGov": "api.powerbigov.us", "USGovHigh": "api.high.powerbigov.us",
		"USGovMil": "api.mil.powerbigov.us", "China": "api.powerbi.cn"}
	for env, host := range want {
		c, err := CloudFor(env, func(string) string { return "" })
		require.NoError(t, err)
		u, err := url.Parse(c.APIURL)
		require.NoError(t, err)
		assert.Equal(t, "https", u.Scheme, env)
		assert.Equal(t, host, u.Host, env)
		assert.Empty(t, u.Path, env)
	}
	for _, api := range []string{"http://powerbi.custom.example", "HTTP://powerbi.custom.example", "//powerbi.custom.example", "powerbi.custom.example"} {
		_, err := CloudFor("Custom", func(k string) string {
			return map[string]string{"apiUrl": api, "authorityHost": "https://login.custom.example", "resource": "https://powerbi.custom.example"}[k]
		})
		assert.ErrorContains(t, err, "apiUrl", api)
	}
}

// TestJobTokenStaysWithTheOIDCOrigin: workload identity federation sends the job's access token
// (System.AccessToken) to the OIDC request URI. A redirect to another origin (another port of
// the same host, plain http on the same host, another host) is refused, since net/http would
// forward Authorization to the same host name whatever the port or scheme; a redirect within
// the origin is followed. The token is never in a URL or an error.
func TestJobTokenStaysWithTheOIDCOrigin(t *testing.T) {
	t.Parallel()
	const jobToken = "job-access-token-SECRET"
	const idToken = "eyJhbGciOiJSUzI1NiJ9.eyJpc3MiOiJpIiwic3ViIjoicyIsImF1ZCI6ImEifQ.sig"

	type hit struct {
		server, auth, uri string
		tls               bool
	}
	var mu sync.Mutex
	var hits []hit
	handler := func(name string) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			mu.Lock()
			hits = append(hits, hit{name, r.Header.Get("Authorization"), r.RequestURI, r.TLS != nil})
			mu.Unlock()
			if to := r.URL.Query().Get("to"); to != "" {
				http.Redirect(w, r, to, http.StatusTemporaryRedirect)
				return
			}
			w.Header().Set("Content-Type", "application/json")
			_, _ = w.Write([]byte(`{"oidcToken":"` + idToken + `"}`))
		}
	}
	ado := httptest.NewTLSServer(handler("ado"))
	t.Cleanup(ado.Close)
	other := httptest.NewTLSServer(handler("other")) // same host name (127.0.0.1), another port
	t.Cleanup(other.Close)
	plain := httptest.NewServer(handler("plain"))
	t.Cleanup(plain.Close)
	named := strings.Replace(other.URL, "127.0.0.1", "localhost", 1) // another host name

	oidcPath := "/org/_apis/distributedtask/hubs/build/plans/p/jobs/j/oidctoken"
	cases := []struct {
		name, to string
		want     []string // servers hit; "+token" when given the job token
		wantErr  string
	}{
		{name: "the OIDC endpoint", want: []string{"ado+token"}},
		{name: "redirect within the origin", to: ado.URL + oidcPath + "?again=1", want: []string{"ado+token", "ado+token"}},
		{name: "redirect to another port of the same host", to: other.URL + oidcPath, want: []string{"ado+token"}, wantErr: "refused to follow a redirect"},
		{name: "redirect to the same host over http", to: plain.URL + oidcPath, want: []string{"ado+token"}, wantErr: "refused to follow a redirect"},
		{name: "redirect to another host", to: named + oidcPath, want: []string{"ado+token"}, wantErr: "refused to follow a redirect"},
	}
	for _, tt := range cases {
		mu.Lock()
		hits = nil
		mu.Unlock()
		uri := ado.URL + oidcPath
		if tt.to != "" {
			uri += "?" + url.Values{"to": {tt.to}}.Encode()
		}
		vars := map[string]string{"SYSTEM_OIDCREQUESTURI": uri, "ENDPOINT_AUTH_PARAMETER_SYSTEMVSSCONNECTION_ACCESSTOKEN": jobToken}
		var masked []string
		src, err := newOIDCSource(Config{
			EndpointID: "0a6a0a67-61d5-4b5c-9a0e-7b0c3ad0a001", Getenv: func(k string) string { return vars[k] },
			HTTPClient: ado.Client(), Mask: func(s string) { masked = append(masked, s) },
		})
		require.NoError(t, err, tt.name)
		got, err := src.Token(context.Background())
		if tt.wantErr != "" {
			require.ErrorContains(t, err, tt.wantErr, tt.name)
			assert.NotContains(t, err.Error(), jobToken, tt.name)
		} else {
			require.NoError(t, err, tt.name)
			assert.Equal(t, idToken, got, tt.name)
			assert.Equal(t, []string{idToken}, masked, tt.name)
		}
		mu.Lock()
		var servers []string
		for _, h := range hits {
			label := h.server
			if strings.Contains(h.auth, jobToken) {
				label += "+token"
				assert.True(t, h.tls, tt.name)
			}
			servers = append(servers, label)
			assert.NotContains(t, h.uri, jobToken, tt.name)
		}
		mu.Unlock()
		assert.Equal(t, tt.want, servers, tt.name)
	}
	assert.Nil(t, ado.Client().CheckRedirect, "the caller's client is not changed")
}
