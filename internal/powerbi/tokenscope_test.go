package powerbi_test

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pbi-pipelines/azdo-extension/internal/agenthttp"
	"github.com/pbi-pipelines/azdo-extension/internal/auth"
	"github.com/pbi-pipelines/azdo-extension/internal/powerbi"
	"github.com/pbi-pipelines/azdo-extension/internal/proxytest"
)

// Token scope (issue 6): the bearer token goes only to the configured cloud's API host, over
// https; never over http, never across a redirect to another host or to http, never in a URL
// or the log. Every cloud's real API host name is served by local TLS servers (a test CA signs
// the names, a resolver or the agent's proxy sends them to loopback), and the client is built
// as taskrun builds it: auth.CloudFor, powerbi.NewTransport, powerbi.NewClient.

const scopeToken = "eyJ0eXAi.scope-test-token.SECRET" //nolint:gosec // a test token

type staticTokens struct{}

func (staticTokens) Token(context.Context) (string, error) { return scopeToken, nil }

// Hosts that are not an API host: served by the "other" server.
const (
	otherHost     = "other.example"
	lookalikeHost = "api.powerbi.com.other.example"
	subdomainHost = "evil.api.powerbi.com"
	customHost    = "powerbi.custom.example"
)

// scopeClouds are every cloud of CONTRACT §1 plus a Custom one.
func scopeClouds(t *testing.T) []auth.Cloud {
	t.Helper()
	var clouds []auth.Cloud
	for _, env := range []string{"Public", "USGov", "USGovHigh", "USGovMil", "China"} {
		c, err := auth.CloudFor(env, func(string) string { return "" })
		require.NoError(t, err)
		clouds = append(clouds, c)
	}
	custom := map[string]string{"apiUrl": "https://" + customHost, "authorityHost": "https://login." + customHost, "resource": "https://" + customHost + "/powerbi/api"}
	c, err := auth.CloudFor("Custom", func(k string) string { return custom[k] })
	require.NoError(t, err)
	return append(clouds, c)
}

// hit is one request a test server received.
type hit struct {
	server string // api, other or plain
	host   string // the Host the client asked for
	tls    bool
	uri    string
	header http.Header
	body   string
}

// world is the network of one test: an API server (TLS) for every cloud's API host, an
// "other" server (TLS) for other names, and a plain-http server for port 80 of every name.
type world struct {
	caPEM  []byte
	pool   *x509.CertPool
	routes map[string]string // host:port → listener address

	mu    sync.Mutex
	hits  []hit
	dials []string
	flaky map[string]int
}

func newWorld(t *testing.T, clouds []auth.Cloud) *world {
	t.Helper()
	w := &world{routes: map[string]string{}, flaky: map[string]int{}}
	apiHosts := []string{}
	for _, c := range clouds {
		apiHosts = append(apiHosts, mustHost(t, c.APIURL))
	}
	otherHosts := []string{otherHost, lookalikeHost, subdomainHost}
	cert := w.issue(t, append(append([]string{}, apiHosts...), otherHosts...))

	start := func(name string, useTLS bool) string {
		srv := httptest.NewUnstartedServer(w.handler(name))
		if useTLS {
			srv.TLS = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
			srv.StartTLS()
		} else {
			srv.Start()
		}
		t.Cleanup(srv.Close)
		return srv.Listener.Addr().String()
	}
	api, other, plain := start("api", true), start("other", true), start("plain", false)
	for _, h := range apiHosts {
		w.routes[h+":443"] = api
		w.routes[h+":8443"] = other // another port of an API host is another origin
		w.routes[h+":80"] = plain
	}
	for _, h := range otherHosts {
		w.routes[h+":443"] = other
		w.routes[h+":80"] = plain
	}
	return w
}

// issue makes a CA-signed certificate for names (the CA goes to w.pool and w.caPEM).
func (w *world) issue(t *testing.T, names []string) tls.Certificate {
	t.Helper()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	caTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "token scope test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	require.NoError(t, err)
	ca, err := x509.ParseCertificate(caDER)
	require.NoError(t, err)
	w.pool = x509.NewCertPool()
	w.pool.AddCert(ca)
	w.caPEM = pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER})

	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	leafDER, err := x509.CreateCertificate(rand.Reader, &x509.Certificate{
		SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: names[0]}, DNSNames: names,
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}, ca, &key.PublicKey, caKey)
	require.NoError(t, err)
	return tls.Certificate{Certificate: [][]byte{leafDER}, PrivateKey: key}
}

// handler records every request. "?to=URL&code=N" answers with a redirect, "?status=N" with
// that error, "?flaky=ID" with a 503 the first time; anything else with a pipeline list.
func (w *world) handler(name string) http.Handler {
	return http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		w.mu.Lock()
		w.hits = append(w.hits, hit{server: name, host: r.Host, tls: r.TLS != nil, uri: r.RequestURI, header: r.Header.Clone(), body: string(body)})
		q := r.URL.Query()
		first := false
		if id := q.Get("flaky"); id != "" {
			w.flaky[id]++
			first = w.flaky[id] == 1
		}
		w.mu.Unlock()
		rw.Header().Set("Content-Type", "application/json")
		rw.Header().Set("RequestId", "req-"+name)
		switch {
		case q.Get("to") != "":
			code, _ := strconv.Atoi(q.Get("code"))
			if code == 0 {
				code = http.StatusFound
			}
			rw.Header().Set("Location", q.Get("to"))
			rw.WriteHeader(code)
		case q.Get("status") != "":
			code, _ := strconv.Atoi(q.Get("status"))
			rw.WriteHeader(code)
			_, _ = io.WriteString(rw, `{"error":{"code":"TokenExpired","message":"The token has expired"}}`)
		case first:
			rw.Header().Set("Retry-After", "0")
			rw.WriteHeader(http.StatusServiceUnavailable)
		default:
			_, _ = fmt.Fprintf(rw, `{"value":[{"id":%q}]}`, name)
		}
	})
}

// dial is the direct network: every name goes to its route, nothing to the real network.
func (w *world) dial(ctx context.Context, network, addr string) (net.Conn, error) {
	w.mu.Lock()
	w.dials = append(w.dials, addr)
	to, ok := w.routes[addr]
	w.mu.Unlock()
	if !ok {
		return nil, fmt.Errorf("test network: no route to %s", addr)
	}
	var d net.Dialer
	return d.DialContext(ctx, network, to)
}

func (w *world) recorded() ([]hit, []string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]hit(nil), w.hits...), append([]string(nil), w.dials...)
}

// relay is a TCP relay in front of the agent's proxy that keeps every byte the client sent it:
// what anyone on the way to the proxy could read.
type relay struct {
	addr string
	mu   sync.Mutex
	sent bytes.Buffer
}

func (r *relay) Write(p []byte) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.sent.Write(p)
}

func (r *relay) seen() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.sent.String()
}

func startRelay(t *testing.T, target string) *relay {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	r := &relay{addr: ln.Addr().String()}
	var conns sync.WaitGroup
	t.Cleanup(func() { _ = ln.Close(); conns.Wait() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			up, err := net.Dial("tcp", target)
			if err != nil {
				_ = c.Close()
				continue
			}
			conns.Add(2)
			go func() { defer conns.Done(); _, _ = io.Copy(up, io.TeeReader(c, r)); _ = up.Close() }()
			go func() { defer conns.Done(); _, _ = io.Copy(c, up); _ = c.Close() }()
			t.Cleanup(func() { _ = c.Close(); _ = up.Close() })
		}
	}()
	return r
}

// scopeClient builds the Power BI client for cloud as taskrun does, over the direct network or
// through the agent's proxy (AGENT_PROXYURL), with retries and their log.
func scopeClient(t *testing.T, w *world, cloud auth.Cloud, viaProxy bool) (c *powerbi.Client, logged func() string, proxySeen func() string) {
	t.Helper()
	var base http.RoundTripper
	proxySeen = func() string { return "" }
	if viaProxy {
		proxy, err := proxytest.Start(proxytest.Options{Dial: func(hostport string) string {
			w.mu.Lock()
			defer w.mu.Unlock()
			w.dials = append(w.dials, hostport)
			if to, ok := w.routes[hostport]; ok {
				return to
			}
			return "127.0.0.1:1" // never the real network
		}})
		require.NoError(t, err)
		t.Cleanup(func() { _ = proxy.Close() })
		r := startRelay(t, strings.TrimPrefix(proxy.URL, "http://"))
		proxySeen = r.seen
		vars := map[string]string{"AGENT_PROXYURL": "http://" + r.addr, "AGENT_CAINFO": "/agent/ca.pem"}
		settings, err := agenthttp.FromEnv(func(k string) string { return vars[k] })
		require.NoError(t, err)
		tr, err := settings.Transport(func(string) ([]byte, error) { return w.caPEM, nil })
		require.NoError(t, err)
		base = tr
	} else {
		base = &http.Transport{DialContext: w.dial, TLSClientConfig: &tls.Config{RootCAs: w.pool, MinVersion: tls.VersionTLS12}}
	}
	var mu sync.Mutex
	var log strings.Builder
	logf := func(format string, args ...any) {
		mu.Lock()
		defer mu.Unlock()
		fmt.Fprintf(&log, format+"\n", args...)
	}
	apiBase, err := url.Parse(cloud.APIURL + "/v1.0/myorg/")
	require.NoError(t, err)
	rt := powerbi.NewTransport(base, apiBase, staticTokens{}, powerbi.TransportOptions{Logf: logf, BaseDelay: time.Millisecond, MaxDelay: time.Millisecond})
	c, err = powerbi.NewClient(&http.Client{Transport: rt}, apiBase.String())
	require.NoError(t, err)
	return c, func() string { mu.Lock(); defer mu.Unlock(); return log.String() }, proxySeen
}

func mustHost(t *testing.T, raw string) string {
	t.Helper()
	u, err := url.Parse(raw)
	require.NoError(t, err)
	return u.Host
}

// redirect is a request path the API (or other) server answers with a redirect to to.
func redirect(code int, to string) string {
	return "redirect?" + url.Values{"code": {strconv.Itoa(code)}, "to": {to}}.Encode()
}

func TestTokenGoesOnlyToTheCloudsAPIHostOverHTTPS(t *testing.T) {
	t.Parallel()
	clouds := scopeClouds(t)
	for _, cloud := range clouds {
		api := mustHost(t, cloud.APIURL)
		base := "https://" + api + "/v1.0/myorg/"
		otherCloud := "api.powerbi.com"
		if api == otherCloud {
			otherCloud = "api.powerbi.cn"
		}
		cases := []struct {
			name, method, path string
			// want lists the servers hit, in order, each with "+token" when it got the token.
			want    []string
			wantErr string
		}{
			{name: "the API host gets it", method: "GET", path: "pipelines", want: []string{"api+token"}},
			{name: "302 to another host", method: "GET", path: redirect(302, "https://"+otherHost+"/file"), want: []string{"api+token", "other"}},
			{name: "307 POST with body to another host", method: "POST", path: redirect(307, "https://"+otherHost+"/v1.0/myorg/pipelines"), want: []string{"api+token", "other"}},
			{name: "308 to the API host over http", method: "GET", path: redirect(308, "http://"+api+"/v1.0/myorg/pipelines"), want: []string{"api+token"}, wantErr: "refusing to send an access token over plain http"},
			{name: "301 to the API host over http on port 443", method: "GET", path: redirect(301, "http://"+api+":443/v1.0/myorg/pipelines"), want: []string{"api+token"}, wantErr: "refusing to send an access token over plain http"},
			{name: "307 POST to the API host over http", method: "POST", path: redirect(307, "http://"+api+"/v1.0/myorg/pipelines"), want: []string{"api+token"}, wantErr: "refusing to send an access token over plain http"},
			{name: "302 to another cloud's API host", method: "GET", path: redirect(302, "https://"+otherCloud+"/v1.0/myorg/pipelines"), want: []string{"api+token", "api"}},
			{name: "302 to another port of the API host", method: "GET", path: redirect(302, "https://"+api+":8443/v1.0/myorg/pipelines"), want: []string{"api+token", "other"}},
			{name: "302 to a subdomain of an API host", method: "GET", path: redirect(302, "https://"+subdomainHost+"/v1.0/myorg/pipelines"), want: []string{"api+token", "other"}},
			{name: "302 to a lookalike host", method: "GET", path: redirect(302, "https://"+lookalikeHost+"/v1.0/myorg/pipelines"), want: []string{"api+token", "other"}},
			{name: "302 to a URL with the API host as user info", method: "GET", path: redirect(302, "https://"+api+"@"+otherHost+"/x"), want: []string{"api+token", "other"}},
			{name: "to another host and back to the API host", method: "GET",
				path: redirect(302, "https://"+otherHost+"/hop?"+url.Values{"to": {base + "pipelines"}}.Encode()), want: []string{"api+token", "other", "api+token"}},
			{name: "503 retried, the retry logged", method: "GET", path: "pipelines?flaky=1", want: []string{"api+token", "api+token"}},
			{name: "401 answer becomes an error", method: "GET", path: "pipelines?status=401", want: []string{"api+token"}, wantErr: "401 TokenExpired: The token has expired (RequestId req-api)"},
		}
		for _, viaProxy := range []bool{false, true} {
			network := "direct"
			if viaProxy {
				network = "agent proxy"
			}
			for _, tt := range cases {
				t.Run(cloud.Name+"/"+network+"/"+tt.name, func(t *testing.T) {
					t.Parallel()
					w := newWorld(t, clouds)
					c, logged, proxySeen := scopeClient(t, w, cloud, viaProxy)
					ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
					defer cancel()
					var body any
					if tt.method == "POST" {
						body = map[string]string{"note": "replayed body"}
					}
					req, err := c.NewRequest(ctx, tt.method, tt.path, body)
					require.NoError(t, err)
					var out struct{ Value []struct{ ID string } }
					_, err = c.Do(req, &out)
					errText := ""
					if tt.wantErr != "" {
						require.Error(t, err)
						errText = err.Error()
						assert.Contains(t, errText, tt.wantErr)
					} else {
						require.NoError(t, err)
					}

					hits, dials := w.recorded()
					var got []string
					for _, h := range hits {
						label := h.server
						if strings.Contains(h.header.Get("Authorization"), scopeToken) {
							label += "+token"
							assert.Equal(t, "api", h.server, "token sent to %s", h.host)
							assert.True(t, h.tls, "token sent without TLS")
							assert.Equal(t, api, h.host, "token sent to another host")
							assert.Equal(t, "Bearer "+scopeToken, h.header.Get("Authorization"))
						}
						got = append(got, label)
						assert.NotContains(t, h.uri, scopeToken, "token in a URL")
						assert.NotContains(t, h.body, scopeToken, "token in a body")
						for k, vs := range h.header {
							if k != "Authorization" {
								assert.NotContains(t, strings.Join(vs, " "), scopeToken, "token in header %s", k)
							}
						}
						if tt.method == "POST" {
							assert.Equal(t, `{"note":"replayed body"}`+"\n", h.body, "307 replays the body")
						}
					}
					assert.Equal(t, tt.want, got)
					for _, d := range dials {
						assert.False(t, strings.HasSuffix(d, ":80"), "nothing is even dialled over http: %s", d)
					}
					assert.NotContains(t, errText, scopeToken, "token in an error")
					assert.NotContains(t, logged(), scopeToken, "token in the log")
					if tt.name == "503 retried, the retry logged" {
						assert.Contains(t, logged(), "503, retrying in")
					}
					if viaProxy {
						assert.NotContains(t, proxySeen(), scopeToken, "token readable on the way to the proxy")
						assert.NotEmpty(t, proxySeen(), "the proxy was used")
					}
				})
			}
		}
	}
}

// TestTokenNeverGoesToAnHTTPAPI: an API base over http gets no request at all, and a Custom
// cloud cannot even be configured with one.
func TestTokenNeverGoesToAnHTTPAPI(t *testing.T) {
	t.Parallel()
	clouds := scopeClouds(t)
	w := newWorld(t, clouds)
	for _, api := range []string{"http://api.powerbi.com", "http://api.powerbi.com:443", "HTTP://API.POWERBI.COM"} {
		apiBase, err := url.Parse(api + "/v1.0/myorg/")
		require.NoError(t, err)
		base := &http.Transport{DialContext: w.dial}
		rt := powerbi.NewTransport(base, apiBase, staticTokens{}, powerbi.TransportOptions{})
		c, err := powerbi.NewClient(&http.Client{Transport: rt}, apiBase.String())
		require.NoError(t, err)
		_, _, err = c.Pipelines.List(context.Background())
		require.ErrorContains(t, err, "refusing to send an access token over plain http", api)
		assert.NotContains(t, err.Error(), scopeToken)
	}
	hits, dials := w.recorded()
	assert.Empty(t, hits)
	assert.Empty(t, dials, "not even a connection")

	_, err := auth.CloudFor("Custom", func(k string) string {
		return map[string]string{"apiUrl": "http://" + customHost, "authorityHost": "https://login." + customHost, "resource": "https://" + customHost}[k]
	})
	assert.ErrorContains(t, err, "apiUrl")
}
