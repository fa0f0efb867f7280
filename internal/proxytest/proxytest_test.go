package proxytest

import (
	"bufio"
	"crypto/tls"
	"encoding/base64"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const (
	user     = "build-agent"
	password = "pr0xy-s3cret-value"
)

// start starts a proxy that Close stops at the end of the test.
func start(t *testing.T, opts Options) *Proxy {
	t.Helper()
	p, err := Start(opts)
	require.NoError(t, err)
	t.Cleanup(func() { assert.NoError(t, p.Close()) })
	return p
}

// origin is a server that answers with the Host it was asked as and whether a proxy's
// credentials reached it.
func origin(w http.ResponseWriter, r *http.Request) {
	fmt.Fprintf(w, "host=%s proxy-authorization=%q", r.Host, r.Header.Get("Proxy-Authorization"))
}

// client sends requests through p, with credentials when u is not nil, trusting srv's
// certificate when srv is a TLS server.
func client(p *Proxy, u *url.Userinfo, srv *httptest.Server) *http.Client {
	proxy, _ := url.Parse(p.URL)
	proxy.User = u
	tr := &http.Transport{Proxy: http.ProxyURL(proxy), DisableKeepAlives: true}
	if srv != nil && srv.TLS != nil {
		tr.TLSClientConfig = srv.Client().Transport.(*http.Transport).TLSClientConfig.Clone()
	}
	return &http.Client{Transport: tr, Timeout: 30 * time.Second}
}

func get(t *testing.T, c *http.Client, rawURL string) (int, string, error) {
	t.Helper()
	resp, err := c.Get(rawURL)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, string(b), nil
}

func TestTunnelsAndForwards(t *testing.T) {
	t.Parallel()
	tlsOrigin := httptest.NewTLSServer(http.HandlerFunc(origin))
	t.Cleanup(tlsOrigin.Close)
	plainOrigin := httptest.NewServer(http.HandlerFunc(origin))
	t.Cleanup(plainOrigin.Close)
	tlsAddr, plainAddr := tlsOrigin.Listener.Addr().String(), plainOrigin.Listener.Addr().String()

	cases := []struct {
		name     string
		opts     Options
		srv      *httptest.Server
		url      string
		wantBody string
		want     Request
	}{
		{
			name: "CONNECT redirected by host:port", srv: tlsOrigin,
			opts: Options{Redirect: map[string]string{"example.com:443": tlsAddr}},
			url:  "https://example.com/x", wantBody: `host=example.com proxy-authorization=""`,
			want: Request{Method: "CONNECT", Target: "example.com:443", Status: 200},
		},
		{
			name: "CONNECT redirected by host", srv: tlsOrigin,
			opts: Options{Redirect: map[string]string{"api.example.com": tlsAddr}},
			url:  "https://api.example.com/x", wantBody: `host=api.example.com proxy-authorization=""`,
			want: Request{Method: "CONNECT", Target: "api.example.com:443", Status: 200},
		},
		{
			name: "Dial wins over Redirect", srv: tlsOrigin,
			opts: Options{
				Redirect: map[string]string{"example.com": "127.0.0.1:1"},
				Dial:     func(string) string { return tlsAddr },
			},
			url: "https://example.com/x", wantBody: `host=example.com proxy-authorization=""`,
			want: Request{Method: "CONNECT", Target: "example.com:443", Status: 200},
		},
		{
			name: "CONNECT as asked", srv: tlsOrigin,
			url: tlsOrigin.URL + "/x", wantBody: "host=" + tlsAddr + ` proxy-authorization=""`,
			want: Request{Method: "CONNECT", Target: tlsAddr, Status: 200},
		},
		{
			name: "plain request forwarded", srv: plainOrigin,
			opts: Options{Redirect: map[string]string{"origin.test": plainAddr}},
			url:  "http://origin.test/x", wantBody: `host=origin.test proxy-authorization=""`,
			want: Request{Method: "GET", Target: "origin.test:80", Status: 200},
		},
		{
			name: "plain request with credentials: they stop at the proxy", srv: plainOrigin,
			opts: Options{Username: user, Password: password, Redirect: map[string]string{"origin.test:80": plainAddr}},
			url:  "http://origin.test/x", wantBody: `host=origin.test proxy-authorization=""`,
			want: Request{Method: "GET", Target: "origin.test:80", Status: 200},
		},
		{
			name: "CONNECT with credentials", srv: tlsOrigin,
			opts: Options{Username: user, Password: password, Redirect: map[string]string{"example.com": tlsAddr}},
			url:  "https://example.com/x", wantBody: `host=example.com proxy-authorization=""`,
			want: Request{Method: "CONNECT", Target: "example.com:443", Status: 200},
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			var logs []string
			var mu sync.Mutex
			c.opts.Logf = func(format string, args ...any) {
				mu.Lock()
				defer mu.Unlock()
				logs = append(logs, fmt.Sprintf(format, args...))
			}
			p := start(t, c.opts)
			var u *url.Userinfo
			if c.opts.Username != "" {
				u = url.UserPassword(user, password)
			}
			status, body, err := get(t, client(p, u, c.srv), c.url)
			require.NoError(t, err)
			assert.Equal(t, http.StatusOK, status)
			assert.Equal(t, c.wantBody, body)
			assert.Equal(t, []Request{c.want}, p.Requests())
			host, _, _ := net.SplitHostPort(c.want.Target)
			assert.Equal(t, []string{host}, p.Hosts())
			mu.Lock()
			defer mu.Unlock()
			require.Len(t, logs, 1)
			assert.NotContains(t, logs[0], password)
		})
	}
}

func TestCredentialsAreRequired(t *testing.T) {
	t.Parallel()
	tlsOrigin := httptest.NewTLSServer(http.HandlerFunc(origin))
	t.Cleanup(tlsOrigin.Close)
	plainOrigin := httptest.NewServer(http.HandlerFunc(origin))
	t.Cleanup(plainOrigin.Close)
	redirect := map[string]string{"example.com:443": tlsOrigin.Listener.Addr().String(), "origin.test:80": plainOrigin.Listener.Addr().String()}

	cases := []struct {
		name string
		u    *url.Userinfo
		ok   bool
	}{
		{"none", nil, false},
		{"wrong password", url.UserPassword(user, "nope"), false},
		{"wrong user", url.UserPassword("someone", password), false},
		{"password prefix", url.UserPassword(user, password[:4]), false},
		{"right", url.UserPassword(user, password), true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			var logs strings.Builder
			var mu sync.Mutex
			p := start(t, Options{Username: user, Password: password, Redirect: redirect, Logf: func(f string, a ...any) {
				mu.Lock()
				defer mu.Unlock()
				fmt.Fprintf(&logs, f+"\n", a...)
			}})

			// Plain: the 407 reaches the client with its challenge.
			status, _, err := get(t, client(p, c.u, plainOrigin), "http://origin.test/")
			require.NoError(t, err)
			// CONNECT: Go's transport turns a refused tunnel into an error.
			_, _, tunnelErr := get(t, client(p, c.u, tlsOrigin), "https://example.com/")
			want := http.StatusProxyAuthRequired
			if c.ok {
				want = http.StatusOK
				assert.NoError(t, tunnelErr)
			} else {
				assert.Error(t, tunnelErr)
			}
			assert.Equal(t, want, status)
			assert.Equal(t, []Request{
				{Method: "GET", Target: "origin.test:80", Status: want},
				{Method: "CONNECT", Target: "example.com:443", Status: want},
			}, p.Requests())
			assert.Equal(t, []string{"origin.test", "example.com"}, p.Hosts())
			mu.Lock()
			defer mu.Unlock()
			assert.NotContains(t, logs.String(), password)
		})
	}
}

// rawConnect sends a CONNECT by hand and returns the connection and the proxy's answer.
func rawConnect(t *testing.T, p *Proxy, target, header string) (net.Conn, *bufio.Reader, *http.Response) {
	t.Helper()
	conn, err := net.Dial("tcp", strings.TrimPrefix(p.URL, "http://"))
	require.NoError(t, err)
	t.Cleanup(func() { conn.Close() })
	require.NoError(t, conn.SetDeadline(time.Now().Add(30*time.Second)))
	_, err = fmt.Fprintf(conn, "CONNECT %s HTTP/1.1\r\nHost: %s\r\n%s\r\n", target, target, header)
	require.NoError(t, err)
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, &http.Request{Method: http.MethodConnect})
	require.NoError(t, err)
	return conn, br, resp
}

func TestChallengeAndErrors(t *testing.T) {
	t.Parallel()
	closed, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	deadAddr := closed.Addr().String()
	require.NoError(t, closed.Close())
	p := start(t, Options{Username: user, Password: password, Redirect: map[string]string{"dead.test": deadAddr}})
	creds := "Proxy-Authorization: Basic " + basic(user, password) + "\r\n"

	_, _, resp := rawConnect(t, p, "example.com:443", "")
	assert.Equal(t, http.StatusProxyAuthRequired, resp.StatusCode)
	assert.Equal(t, `Basic realm="proxytest"`, resp.Header.Get("Proxy-Authenticate"))

	_, _, resp = rawConnect(t, p, "example.com:443", "Proxy-Authorization: Bearer "+password+"\r\n")
	assert.Equal(t, http.StatusProxyAuthRequired, resp.StatusCode, "only Basic is accepted")

	_, _, resp = rawConnect(t, p, "example.com:443", "Proxy-Authorization: Basic %%%\r\n")
	assert.Equal(t, http.StatusProxyAuthRequired, resp.StatusCode, "malformed base64")

	_, _, resp = rawConnect(t, p, "dead.test:443", creds)
	assert.Equal(t, http.StatusBadGateway, resp.StatusCode, "an unreachable target")

	// A request that is not a proxy request (origin-form, no CONNECT).
	r, err := http.NewRequest(http.MethodGet, p.URL+"/direct", nil)
	require.NoError(t, err)
	r.Header.Set("Proxy-Authorization", "Basic "+basic(user, password))
	plain, err := http.DefaultClient.Do(r)
	require.NoError(t, err)
	plain.Body.Close()
	assert.Equal(t, http.StatusBadRequest, plain.StatusCode)

	assert.Equal(t, []string{"example.com", "dead.test"}, p.Hosts())
}

func TestCloseEndsOpenTunnels(t *testing.T) {
	t.Parallel()
	// An echo server: the tunnel stays open until someone closes it.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				_, _ = io.Copy(c, c)
			}()
		}
	}()
	p, err := Start(Options{Dial: func(string) string { return ln.Addr().String() }})
	require.NoError(t, err)

	conn, br, resp := rawConnect(t, p, "echo.test:443", "")
	require.Equal(t, http.StatusOK, resp.StatusCode)
	_, err = io.WriteString(conn, "ping\n")
	require.NoError(t, err)
	line, err := br.ReadString('\n')
	require.NoError(t, err)
	assert.Equal(t, "ping\n", line, "bytes flow both ways")

	require.NoError(t, p.Close())
	_, err = br.ReadString('\n')
	assert.ErrorIs(t, err, io.EOF, "Close closes the tunnel (the deadline would give a timeout instead)")
	assert.Equal(t, []Request{{Method: "CONNECT", Target: "echo.test:443", Status: 200}}, p.Requests())
}

func TestTLSThroughTunnelSeesTargetName(t *testing.T) {
	t.Parallel()
	// The client verifies the certificate against the name it asked for, not the redirected
	// address: a certificate without that name fails, which is why the emulator takes Hosts.
	srv := httptest.NewUnstartedServer(http.HandlerFunc(origin))
	srv.Config.ErrorLog = log.New(io.Discard, "", 0) // the refused handshake is the point
	srv.StartTLS()
	t.Cleanup(srv.Close)
	p := start(t, Options{Dial: func(string) string { return srv.Listener.Addr().String() }})
	_, _, err := get(t, client(p, nil, srv), "https://api.powerbi.com/")
	var verr *tls.CertificateVerificationError
	require.ErrorAs(t, err, &verr)
	assert.Equal(t, []string{"api.powerbi.com"}, p.Hosts())
}

func TestWithPort(t *testing.T) {
	t.Parallel()
	cases := []struct{ target, scheme, want string }{
		{"example.com:8443", "", "example.com:8443"},
		{"example.com", "", "example.com:443"},
		{"example.com", "https", "example.com:443"},
		{"example.com", "http", "example.com:80"},
		{"[::1]", "http", "[::1]:80"},
		{"[::1]:81", "http", "[::1]:81"},
	}
	for _, c := range cases {
		assert.Equal(t, c.want, withPort(c.target, c.scheme), "%s %s", c.target, c.scheme)
	}
}

func basic(u, pw string) string {
	return base64.StdEncoding.EncodeToString([]byte(u + ":" + pw))
}
