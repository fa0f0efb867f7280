package agenthttp

import (
	"context"
	"crypto/tls"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pbi-pipelines/azdo-extension/internal/proxytest"
)

func env(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func patterns(s *Settings) []string {
	var out []string
	for _, re := range s.ProxyBypass {
		out = append(out, re.String())
	}
	return out
}

func TestFromEnv(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name    string
		env     map[string]string
		want    Settings
		bypass  []string
		wantErr []string
	}{
		{name: "nothing set", env: map[string]string{}},
		{
			name: "everything set",
			env: map[string]string{
				"AGENT_PROXYURL":             " http://proxy.contoso.com:8888 ",
				"AGENT_PROXYUSERNAME":        "CONTOSO\\build",
				"SECRET_AGENT_PROXYPASSWORD": " p@ss word ",
				"AGENT_PROXYBYPASSLIST":      `["github\\.com", "^https://.*\\.contoso\\.com"]`,
				"AGENT_CAINFO":               " /etc/ssl/contoso.pem ",
				"AGENT_SKIPCERTVALIDATION":   "True",
			},
			want: Settings{ProxyURL: "http://proxy.contoso.com:8888", ProxyUsername: "CONTOSO\\build",
				ProxyPassword: " p@ss word ", CAFile: "/etc/ssl/contoso.pem", SkipCertVerify: true},
			bypass: []string{`(?i)github\.com`, `(?i)^https://.*\.contoso\.com`},
		},
		{name: "skip only when true", env: map[string]string{"AGENT_SKIPCERTVALIDATION": "yes"}},
		{name: "skip in any case", env: map[string]string{"AGENT_SKIPCERTVALIDATION": " TRUE "}, want: Settings{SkipCertVerify: true}},
		{name: "empty bypass list", env: map[string]string{"AGENT_PROXYBYPASSLIST": "[]"}},
		{name: "request timeout", env: map[string]string{RequestTimeoutVariable: " 2.5 "}, want: Settings{ResponseTimeout: 2500 * time.Millisecond}},
		{name: "request timeout not a number", env: map[string]string{RequestTimeoutVariable: "2m"}, wantErr: []string{"PowerBI.RequestTimeoutSeconds", "number of seconds"}},
		{name: "request timeout too short", env: map[string]string{RequestTimeoutVariable: "0"}, wantErr: []string{"PowerBI.RequestTimeoutSeconds"}},
		{name: "blank bypass list", env: map[string]string{"AGENT_PROXYBYPASSLIST": "  "}},
		{
			name:    "bypass list not JSON",
			env:     map[string]string{"AGENT_PROXYBYPASSLIST": `github\.com`},
			wantErr: []string{"AGENT_PROXYBYPASSLIST", "JSON array"},
		},
		{
			name:    "bypass list not an array of strings",
			env:     map[string]string{"AGENT_PROXYBYPASSLIST": `{"a": 1}`},
			wantErr: []string{"AGENT_PROXYBYPASSLIST", "JSON array"},
		},
		{
			name:    "bypass pattern not a regular expression",
			env:     map[string]string{"AGENT_PROXYBYPASSLIST": `["ok", "(unclosed"]`},
			wantErr: []string{"AGENT_PROXYBYPASSLIST", `"(unclosed"`, "not a regular expression"},
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			s, err := FromEnv(env(c.env))
			if c.wantErr != nil {
				require.Error(t, err)
				for _, w := range c.wantErr {
					assert.Contains(t, err.Error(), w)
				}
				return
			}
			require.NoError(t, err)
			assert.Equal(t, c.bypass, patterns(s))
			s.ProxyBypass = nil
			assert.Equal(t, c.want, *s)
		})
	}
}

// proxyFor returns the proxy the transport picks for rawURL ("" for direct).
func proxyFor(t *testing.T, tr *http.Transport, rawURL string) string {
	t.Helper()
	if tr.Proxy == nil {
		return ""
	}
	r, err := http.NewRequest(http.MethodGet, rawURL, nil)
	require.NoError(t, err)
	u, err := tr.Proxy(r)
	require.NoError(t, err)
	if u == nil {
		return ""
	}
	return u.Redacted()
}

func TestProxySelection(t *testing.T) {
	t.Parallel()
	base := map[string]string{
		"AGENT_PROXYURL":             "http://proxy.contoso.com:8888",
		"AGENT_PROXYUSERNAME":        "build",
		"SECRET_AGENT_PROXYPASSWORD": "s3cret",
	}
	with := func(k, v string) map[string]string {
		m := map[string]string{k: v}
		for k, v := range base {
			m[k] = v
		}
		return m
	}
	const viaProxy = "http://build:xxxxx@proxy.contoso.com:8888"
	cases := []struct {
		name string
		env  map[string]string
		url  string
		want string
	}{
		{"no proxy configured", map[string]string{}, "https://api.powerbi.com/v1.0/myorg/pipelines", ""},
		{"proxy with credentials", base, "https://api.powerbi.com/v1.0/myorg/pipelines", viaProxy},
		{"proxy without credentials", map[string]string{"AGENT_PROXYURL": "http://proxy:3128"}, "https://api.powerbi.com/", "http://proxy:3128"},
		{"loopback goes direct, as with the agent's proxy", base, "https://127.0.0.1:7443/", ""},
		{"localhost goes direct", base, "http://localhost:41741/msi/token", ""},
		{"link-local (instance metadata) goes direct", base, "http://169.254.169.254/metadata/identity/oauth2/token", ""},
		{"bypassed by host", with("AGENT_PROXYBYPASSLIST", `["api\\.powerbi\\.com"]`), "https://api.powerbi.com/v1.0/myorg/pipelines", ""},
		{"bypass is case-insensitive", with("AGENT_PROXYBYPASSLIST", `["API\\.POWERBI\\.COM"]`), "https://api.powerbi.com/", ""},
		{"bypassed by full URL", with("AGENT_PROXYBYPASSLIST", `["^https://login\\.microsoftonline\\.com/"]`), "https://login.microsoftonline.com/tenant/oauth2/v2.0/token", ""},
		{"other hosts still proxied", with("AGENT_PROXYBYPASSLIST", `["^login\\.microsoftonline\\.com$"]`), "https://api.powerbi.com/", viaProxy},
		{"anchored host pattern", with("AGENT_PROXYBYPASSLIST", `["^login\\.microsoftonline\\.com$"]`), "https://login.microsoftonline.com/x", ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			s, err := FromEnv(env(c.env))
			require.NoError(t, err)
			tr, err := s.Transport(nil)
			require.NoError(t, err)
			assert.Equal(t, c.want, proxyFor(t, tr.Template, c.url))
		})
	}
}

func TestTransportErrors(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	notPEM := filepath.Join(dir, "not.pem")
	require.NoError(t, os.WriteFile(notPEM, []byte("not a certificate"), 0o600))
	cases := []struct {
		name string
		s    Settings
		want []string
	}{
		{"CA file missing", Settings{CAFile: filepath.Join(dir, "missing.pem")}, []string{"AGENT_CAINFO", "missing.pem"}},
		{"CA file not PEM", Settings{CAFile: notPEM}, []string{"AGENT_CAINFO", "holds no PEM certificate"}},
		{"proxy URL not absolute", Settings{ProxyURL: "proxy.contoso.com"}, []string{"AGENT_PROXYURL", "absolute URL"}},
		{"proxy URL unparsable", Settings{ProxyURL: "http://[::1"}, []string{"AGENT_PROXYURL"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			_, err := c.s.Transport(nil)
			require.Error(t, err)
			for _, w := range c.want {
				assert.Contains(t, err.Error(), w)
			}
		})
	}
}

// tlsServer is an HTTPS server with its own self-signed certificate; caFile holds that
// certificate in PEM, as an agent administrator would put it in AGENT_CAINFO.
func tlsServer(t *testing.T) (srv *httptest.Server, caFile string) {
	t.Helper()
	srv = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, "hello from "+r.Host)
	}))
	srv.Config.ErrorLog = log.New(io.Discard, "", 0) // refused handshakes are expected
	srv.StartTLS()
	t.Cleanup(srv.Close)
	caFile = filepath.Join(t.TempDir(), "ca.pem")
	pemBytes := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})
	require.NoError(t, os.WriteFile(caFile, pemBytes, 0o600))
	return srv, caFile
}

func fetch(tr http.RoundTripper, rawURL string) (string, error) {
	c := &http.Client{Transport: tr, Timeout: 30 * time.Second}
	resp, err := c.Get(rawURL)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return string(b), errors.New(resp.Status)
	}
	return string(b), err
}

func TestCertificates(t *testing.T) {
	t.Parallel()
	srv, caFile := tlsServer(t)
	cases := []struct {
		name    string
		env     map[string]string
		wantErr bool
	}{
		{"own certificate is not trusted by default", map[string]string{}, true},
		{"AGENT_CAINFO trusts it", map[string]string{"AGENT_CAINFO": caFile}, false},
		{"AGENT_SKIPCERTVALIDATION skips verification", map[string]string{"AGENT_SKIPCERTVALIDATION": "true"}, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			s, err := FromEnv(env(c.env))
			require.NoError(t, err)
			tr, err := s.Transport(os.ReadFile)
			require.NoError(t, err)
			defer tr.CloseIdleConnections()
			body, err := fetch(tr, srv.URL)
			if c.wantErr {
				var verr *tls.CertificateVerificationError
				assert.ErrorAs(t, err, &verr)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, "hello from "+srv.Listener.Addr().String(), body)
		})
	}
}

func TestCAFileIsReadThroughReadFile(t *testing.T) {
	t.Parallel()
	srv, caFile := tlsServer(t)
	pemBytes, err := os.ReadFile(caFile)
	require.NoError(t, err)
	var asked []string
	s := &Settings{CAFile: "/agent/ca.pem"}
	tr, err := s.Transport(func(name string) ([]byte, error) {
		asked = append(asked, name)
		return pemBytes, nil
	})
	require.NoError(t, err)
	defer tr.CloseIdleConnections()
	_, err = fetch(tr, srv.URL)
	require.NoError(t, err)
	assert.Equal(t, []string{"/agent/ca.pem"}, asked)
}

// TestThroughProxy sends real requests through a proxy that requires the agent's credentials.
func TestThroughProxy(t *testing.T) {
	t.Parallel()
	const password = "pr0xy-pa55"
	tlsSrv, caFile := tlsServer(t)
	plain := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, "plain "+r.Host)
	}))
	t.Cleanup(plain.Close)
	tlsHost := "example.com" // the httptest certificate's name; the proxy sends it to tlsSrv
	cases := []struct {
		name      string
		env       map[string]string
		url       string
		wantBody  string
		wantHosts []string
		wantErr   string
	}{
		{
			name: "https via CONNECT with credentials",
			env:  map[string]string{"AGENT_PROXYUSERNAME": "build", "SECRET_AGENT_PROXYPASSWORD": password, "AGENT_CAINFO": caFile},
			url:  "https://" + tlsHost + "/", wantBody: "hello from " + tlsHost, wantHosts: []string{tlsHost},
		},
		{
			name: "plain http with credentials",
			env:  map[string]string{"AGENT_PROXYUSERNAME": "build", "SECRET_AGENT_PROXYPASSWORD": password},
			url:  "http://pbi.test/", wantBody: "plain pbi.test", wantHosts: []string{"pbi.test"},
		},
		{
			name: "wrong password is refused by the proxy",
			env:  map[string]string{"AGENT_PROXYUSERNAME": "build", "SECRET_AGENT_PROXYPASSWORD": "wrong", "AGENT_CAINFO": caFile},
			url:  "https://" + tlsHost + "/", wantHosts: []string{tlsHost}, wantErr: "Proxy Authentication Required",
		},
		{
			name: "no credentials are refused by the proxy",
			env:  map[string]string{},
			url:  "http://pbi.test/", wantHosts: []string{"pbi.test"}, wantErr: "407",
		},
		{
			name: "bypassed host goes direct",
			env:  map[string]string{"AGENT_PROXYBYPASSLIST": `["^127\\.0\\.0\\.1"]`, "AGENT_CAINFO": caFile},
			url:  tlsSrv.URL, wantBody: "hello from " + tlsSrv.Listener.Addr().String(),
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			var mu sync.Mutex
			var logs strings.Builder
			p, err := proxytest.Start(proxytest.Options{
				Username: "build", Password: password,
				Redirect: map[string]string{tlsHost: tlsSrv.Listener.Addr().String(), "pbi.test": plain.Listener.Addr().String()},
				Logf: func(f string, a ...any) {
					mu.Lock()
					defer mu.Unlock()
					fmt.Fprintf(&logs, f+"\n", a...)
				},
			})
			require.NoError(t, err)
			t.Cleanup(func() { assert.NoError(t, p.Close()) })
			c.env["AGENT_PROXYURL"] = p.URL
			s, err := FromEnv(env(c.env))
			require.NoError(t, err)
			tr, err := s.Transport(os.ReadFile)
			require.NoError(t, err)
			defer tr.CloseIdleConnections()

			body, err := fetch(tr, c.url)
			if c.wantErr != "" {
				require.Error(t, err)
				assert.Contains(t, err.Error(), c.wantErr)
				assert.NotContains(t, err.Error(), password, "errors never show the proxy password")
			} else {
				require.NoError(t, err)
				assert.Equal(t, c.wantBody, body)
			}
			assert.Equal(t, c.wantHosts, p.Hosts())
			mu.Lock()
			defer mu.Unlock()
			assert.NotContains(t, logs.String(), password)
		})
	}
}

// TestProcessProxyIsIgnored: the agent does not set HTTPS_PROXY for tasks, and a task must not
// follow one it inherits by accident. Not parallel: it sets the process environment.
func TestProcessProxyIsIgnored(t *testing.T) {
	p, err := proxytest.Start(proxytest.Options{})
	require.NoError(t, err)
	t.Cleanup(func() { assert.NoError(t, p.Close()) })
	for _, k := range []string{"HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "ALL_PROXY"} {
		t.Setenv(k, p.URL)
	}
	t.Setenv("NO_PROXY", "")
	t.Setenv("no_proxy", "")

	s, err := FromEnv(os.Getenv)
	require.NoError(t, err)
	tr, err := s.Transport(nil)
	require.NoError(t, err)
	assert.Nil(t, tr.Template.Proxy, "no agent proxy: connect directly")

	// Record where the transport really dials instead of reaching the network.
	var dialed []string
	tr.Template.DialContext = func(_ context.Context, _, addr string) (net.Conn, error) {
		dialed = append(dialed, addr)
		return nil, errors.New("offline")
	}
	_, err = fetch(tr, "https://api.powerbi.com/v1.0/myorg/pipelines")
	require.Error(t, err)
	assert.Equal(t, []string{"api.powerbi.com:443"}, dialed, "a direct connection, not one to the environment's proxy")
	assert.Empty(t, p.Hosts())

	// With an agent proxy, that proxy is used, not the environment's.
	s.ProxyURL = "http://agent-proxy.contoso.com:8888"
	tr, err = s.Transport(nil)
	require.NoError(t, err)
	assert.Equal(t, "http://agent-proxy.contoso.com:8888", proxyFor(t, tr.Template, "https://api.powerbi.com/"))
	u, _ := url.Parse(p.URL)
	assert.NotEqual(t, u.String(), proxyFor(t, tr.Template, "https://api.powerbi.com/"))
}
