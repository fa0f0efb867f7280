package powerbi

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"syscall"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const testAPI = "https://api.example/v1.0/myorg/"

// step is one scripted answer of fakeRT: an error, or a status with headers and a body.
type step struct {
	status int
	header http.Header
	body   string
	err    error
}

// recorded is what fakeRT saw of one try.
type recorded struct {
	method, url, auth, body string
	at                      time.Time
}

// trackedBody notes whether the transport closed a response it discarded.
type trackedBody struct {
	io.Reader
	closed bool
}

func (b *trackedBody) Close() error { b.closed = true; return nil }

// fakeRT answers from a script, repeating the last step; it needs no network, so tests run in
// a synctest bubble where the retry waits take no real time.
type fakeRT struct {
	mu     sync.Mutex
	steps  []step
	calls  []recorded
	bodies []*trackedBody
}

func (f *fakeRT) RoundTrip(r *http.Request) (*http.Response, error) {
	var body []byte
	if r.Body != nil {
		body, _ = io.ReadAll(r.Body)
		_ = r.Body.Close()
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, recorded{method: r.Method, url: r.URL.String(), auth: r.Header.Get("Authorization"), body: string(body), at: time.Now()})
	s := f.steps[min(len(f.calls), len(f.steps))-1]
	if s.err != nil {
		return nil, s.err
	}
	h := http.Header{}
	for k, v := range s.header {
		h[http.CanonicalHeaderKey(k)] = v
	}
	b := &trackedBody{Reader: strings.NewReader(s.body)}
	f.bodies = append(f.bodies, b)
	return &http.Response{StatusCode: s.status, Header: h, Body: b, Request: r}, nil
}

// countingTokens hands out tok-1, tok-2, … so a test sees which try got which token.
type countingTokens struct {
	mu  sync.Mutex
	n   int
	err error
}

func (c *countingTokens) Token(context.Context) (string, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.err != nil {
		return "", c.err
	}
	c.n++
	return fmt.Sprintf("tok-%d", c.n), nil
}

// invalidatingTokens is a cache that can be told its token was rejected.
type invalidatingTokens struct {
	countingTokens
	invalidated int
}

func (i *invalidatingTokens) Invalidate() {
	i.mu.Lock()
	defer i.mu.Unlock()
	i.invalidated++
}

func mustURL(t *testing.T, s string) *url.URL {
	t.Helper()
	u, err := url.Parse(s)
	require.NoError(t, err)
	return u
}

func newReq(t *testing.T, ctx context.Context, method, path, body string) *http.Request {
	t.Helper()
	var r io.Reader
	if body != "" {
		r = strings.NewReader(body) // sets GetBody, as NewRequest's buffer does
	}
	req, err := http.NewRequestWithContext(ctx, method, testAPI+path, r)
	require.NoError(t, err)
	return req
}

func TestRetryStatuses(t *testing.T) {
	t.Parallel()
	ok := step{status: 200, body: "ok"}
	tests := []struct {
		name      string
		method    string
		ctx       func(context.Context) context.Context
		opts      TransportOptions
		steps     []step
		wantTries int
		wantCode  int
		// wantWait bounds the total fake time spent waiting.
		minWait, maxWait time.Duration
	}{
		{
			name: "429 with Retry-After then success", method: http.MethodGet,
			steps:     []step{{status: 429, header: http.Header{"Retry-After": {"2"}}, body: "slow down"}, ok},
			wantTries: 2, wantCode: 200, minWait: 2 * time.Second, maxWait: 2 * time.Second,
		},
		{
			name: "503 with Retry-After", method: http.MethodGet,
			steps:     []step{{status: 503, header: http.Header{"Retry-After": {"7"}}}, ok},
			wantTries: 2, wantCode: 200, minWait: 7 * time.Second, maxWait: 7 * time.Second,
		},
		{
			name: "500s exhaust the retries and return the last answer", method: http.MethodGet,
			steps:     []step{{status: 500, body: "first"}, {status: 502}, {status: 504}, {status: 408}, {status: 500, body: "last"}},
			wantTries: 5, wantCode: 500,
			// 1+2+4+8 s of backoff, jittered by [0.8, 1.3).
			minWait: 12 * time.Second, maxWait: 19500 * time.Millisecond,
		},
		{
			name: "Retry-After capped by default", method: http.MethodGet,
			steps:     []step{{status: 429, header: http.Header{"Retry-After": {"3600"}}}, ok},
			wantTries: 2, wantCode: 200, minWait: time.Minute, maxWait: time.Minute,
		},
		{
			name: "Retry-After capped by option", method: http.MethodGet, opts: TransportOptions{MaxRetryAfter: 5 * time.Second},
			steps:     []step{{status: 429, header: http.Header{"Retry-After": {"3600"}}}, ok},
			wantTries: 2, wantCode: 200, minWait: 5 * time.Second, maxWait: 5 * time.Second,
		},
		{
			name: "backoff capped by MaxDelay", method: http.MethodDelete, opts: TransportOptions{MaxRetries: 3, BaseDelay: 10 * time.Second, MaxDelay: 12 * time.Second},
			steps:     []step{{status: 503}},
			wantTries: 4, wantCode: 503,
			// 10s jittered (8–12s after the cap), then the 12s cap jittered (9.6–12s) twice.
			minWait: 8*time.Second + 2*9600*time.Millisecond, maxWait: 36 * time.Second,
		},
		{
			name: "POST not retried on 500", method: http.MethodPost,
			steps:     []step{{status: 500}, ok},
			wantTries: 1, wantCode: 500,
		},
		{
			name: "PATCH not retried on 503", method: http.MethodPatch,
			steps:     []step{{status: 503, header: http.Header{"Retry-After": {"1"}}}, ok},
			wantTries: 1, wantCode: 503,
		},
		{
			name: "POST retried on 429", method: http.MethodPost,
			steps:     []step{{status: 429, header: http.Header{"Retry-After": {"1"}}}, ok},
			wantTries: 2, wantCode: 200, minWait: time.Second, maxWait: time.Second,
		},
		{
			name: "WithIdempotent POST retried on 500", method: http.MethodPost, ctx: WithIdempotent,
			steps:     []step{{status: 500}, ok},
			wantTries: 2, wantCode: 200, minWait: 800 * time.Millisecond, maxWait: 1300 * time.Millisecond,
		},
		{
			name: "PUT retried on 502", method: http.MethodPut,
			steps:     []step{{status: 502}, ok},
			wantTries: 2, wantCode: 200, minWait: 800 * time.Millisecond, maxWait: 1300 * time.Millisecond,
		},
		{
			name: "404 not retried", method: http.MethodGet,
			steps:     []step{{status: 404}, ok},
			wantTries: 1, wantCode: 404,
		},
		{
			name: "retries disabled", method: http.MethodGet, opts: TransportOptions{MaxRetries: -1},
			steps:     []step{{status: 429, header: http.Header{"Retry-After": {"1"}}}, ok},
			wantTries: 1, wantCode: 429,
		},
		{
			name: "unparseable Retry-After falls back to backoff", method: http.MethodGet,
			steps:     []step{{status: 429, header: http.Header{"Retry-After": {"soon"}}}, ok},
			wantTries: 2, wantCode: 200, minWait: 800 * time.Millisecond, maxWait: 1300 * time.Millisecond,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			synctest.Test(t, func(t *testing.T) {
				fake := &fakeRT{steps: tt.steps}
				tokens := &countingTokens{}
				rt := NewTransport(fake, mustURL(t, testAPI), tokens, tt.opts)
				ctx := context.Background()
				if tt.ctx != nil {
					ctx = tt.ctx(ctx)
				}
				body := ""
				if tt.method == http.MethodPost || tt.method == http.MethodPut || tt.method == http.MethodPatch {
					body = `{"sourceStageOrder":0}`
				}
				start := time.Now()
				resp, err := rt.RoundTrip(newReq(t, ctx, tt.method, "pipelines/p1", body))
				require.NoError(t, err)
				waited := time.Since(start)

				assert.Equal(t, tt.wantCode, resp.StatusCode)
				require.Len(t, fake.calls, tt.wantTries)
				assert.GreaterOrEqual(t, waited, tt.minWait)
				assert.LessOrEqual(t, waited, tt.maxWait)
				for i, c := range fake.calls {
					assert.Equal(t, body, c.body, "try %d replays the body", i+1)
					assert.Equal(t, fmt.Sprintf("Bearer tok-%d", i+1), c.auth, "try %d gets its own token", i+1)
				}
				// Every discarded answer was closed; the one returned is the caller's.
				for i, b := range fake.bodies[:len(fake.bodies)-1] {
					assert.True(t, b.closed, "discarded response %d closed", i+1)
				}
				last, err := io.ReadAll(resp.Body)
				require.NoError(t, err)
				assert.Equal(t, tt.steps[min(tt.wantTries, len(tt.steps))-1].body, string(last))
			})
		})
	}
}

func TestRetryLogs(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		var lines []string
		fake := &fakeRT{steps: []step{
			{status: 429, header: http.Header{"Retry-After": {"2"}}},
			{err: &net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED}},
			{status: 200},
		}}
		rt := NewTransport(fake, mustURL(t, testAPI), &countingTokens{}, TransportOptions{
			BaseDelay: time.Second, MaxDelay: time.Second,
			Logf: func(format string, args ...any) { lines = append(lines, fmt.Sprintf(format, args...)) },
		})
		req := newReq(t, context.Background(), http.MethodGet, "pipelines?$filter=secret", "")
		req.Header.Set("X-Secret", "header-secret")
		resp, err := rt.RoundTrip(req)
		require.NoError(t, err)
		assert.Equal(t, 200, resp.StatusCode)
		require.Len(t, lines, 2)
		assert.Equal(t, "GET https://api.example/v1.0/myorg/pipelines: 429, retrying in 2s (try 2 of 5)", lines[0])
		// Backoff is jittered below the 1s cap.
		assert.Regexp(t, `^GET https://api.example/v1.0/myorg/pipelines: dial tcp: connection refused, retrying in (\d+ms|1s) \(try 3 of 5\)$`, lines[1])
		for _, l := range lines {
			assert.NotContains(t, l, "secret")
			assert.NotContains(t, l, "tok-")
		}
	})
}

func TestRetryAfterHTTPDate(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		at := time.Now().Add(10 * time.Second).UTC().Format(http.TimeFormat)
		fake := &fakeRT{steps: []step{{status: 503, header: http.Header{"Retry-After": {at}}}, {status: 200}}}
		rt := NewTransport(fake, mustURL(t, testAPI), nil, TransportOptions{})
		start := time.Now()
		resp, err := rt.RoundTrip(newReq(t, context.Background(), http.MethodGet, "pipelines", ""))
		require.NoError(t, err)
		assert.Equal(t, 200, resp.StatusCode)
		// HTTP dates have whole seconds; the synctest clock starts on a whole second.
		assert.InDelta(t, 10*time.Second, time.Since(start), float64(time.Second))
		assert.Empty(t, fake.calls[0].auth, "nil tokens: no Authorization")
	})
}

func TestRetryCancelDuringWait(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		fake := &fakeRT{steps: []step{{status: 429, header: http.Header{"Retry-After": {"30"}}}, {status: 200}}}
		rt := NewTransport(fake, mustURL(t, testAPI), &countingTokens{}, TransportOptions{})
		ctx, cancel := context.WithCancel(context.Background())
		go func() {
			time.Sleep(time.Second)
			cancel()
		}()
		start := time.Now()
		resp, err := rt.RoundTrip(newReq(t, ctx, http.MethodGet, "pipelines", ""))
		require.ErrorIs(t, err, context.Canceled)
		assert.Nil(t, resp)
		assert.Equal(t, time.Second, time.Since(start), "returns as soon as the context ends")
		assert.Len(t, fake.calls, 1)
		assert.True(t, fake.bodies[0].closed)
	})
}

func TestRetryTransportErrors(t *testing.T) {
	t.Parallel()
	dial := &net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED}
	reset := &net.OpError{Op: "read", Net: "tcp", Err: syscall.ECONNRESET}
	tests := []struct {
		name      string
		method    string
		err       error
		wantTries int
	}{
		{name: "GET on dial error", method: http.MethodGet, err: dial, wantTries: 2},
		{name: "GET on reset", method: http.MethodGet, err: reset, wantTries: 2},
		{name: "GET on EOF", method: http.MethodGet, err: fmt.Errorf("transport: %w", io.EOF), wantTries: 2},
		{name: "GET on unexpected EOF", method: http.MethodGet, err: io.ErrUnexpectedEOF, wantTries: 2},
		{name: "GET on timeout", method: http.MethodGet, err: &net.OpError{Op: "read", Err: timeoutErr{}}, wantTries: 2},
		{name: "GET not on certificate error", method: http.MethodGet, err: x509.UnknownAuthorityError{}, wantTries: 1},
		{name: "GET not on hostname error", method: http.MethodGet, err: &net.OpError{Op: "remote error", Err: x509.HostnameError{Host: "x"}}, wantTries: 1},
		{name: "GET not on cancellation", method: http.MethodGet, err: context.Canceled, wantTries: 1},
		{name: "GET not on unknown error", method: http.MethodGet, err: errors.New("unsupported protocol scheme"), wantTries: 1},
		{name: "POST on dial error", method: http.MethodPost, err: dial, wantTries: 2},
		{name: "POST not on reset", method: http.MethodPost, err: reset, wantTries: 1},
		{name: "POST not on EOF", method: http.MethodPost, err: io.EOF, wantTries: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			synctest.Test(t, func(t *testing.T) {
				fake := &fakeRT{steps: []step{{err: tt.err}, {status: 200}}}
				rt := NewTransport(fake, mustURL(t, testAPI), &countingTokens{}, TransportOptions{})
				resp, err := rt.RoundTrip(newReq(t, context.Background(), tt.method, "pipelines", "{}"))
				assert.Len(t, fake.calls, tt.wantTries)
				if tt.wantTries == 1 {
					require.ErrorIs(t, err, tt.err)
					return
				}
				require.NoError(t, err)
				assert.Equal(t, 200, resp.StatusCode)
			})
		})
	}
}

type timeoutErr struct{}

func (timeoutErr) Error() string   { return "i/o timeout" }
func (timeoutErr) Timeout() bool   { return true }
func (timeoutErr) Temporary() bool { return true }

func TestRetryUnreplayableBody(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		fake := &fakeRT{steps: []step{{status: 503}, {status: 200}}}
		rt := NewTransport(fake, mustURL(t, testAPI), nil, TransportOptions{})
		req := newReq(t, context.Background(), http.MethodPut, "groups/g1/users", "{}")
		req.GetBody = nil
		resp, err := rt.RoundTrip(req)
		require.NoError(t, err)
		assert.Equal(t, 503, resp.StatusCode, "a body that cannot be replayed is not retried")
		assert.Len(t, fake.calls, 1)
	})
}

func TestBearerTokenError(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		fake := &fakeRT{steps: []step{{status: 200}}}
		boom := errors.New("AADSTS7000215: invalid client secret")
		rt := NewTransport(fake, mustURL(t, testAPI), &countingTokens{err: boom}, TransportOptions{})
		_, err := rt.RoundTrip(newReq(t, context.Background(), http.MethodGet, "pipelines", ""))
		require.ErrorIs(t, err, boom)
		assert.ErrorContains(t, err, "getting an access token")
		assert.Empty(t, fake.calls, "nothing sent, nothing retried")
	})
}

func TestBearerUnauthorizedRefreshesOnce(t *testing.T) {
	t.Parallel()
	unauthorized := step{status: 401, body: ""}
	tests := []struct {
		name            string
		invalidate      bool
		steps           []step
		wantCode        int
		wantAuth        []string
		wantInvalidated int
	}{
		{
			name: "invalidate and retry", invalidate: true,
			steps:    []step{unauthorized, {status: 200}},
			wantCode: 200, wantAuth: []string{"Bearer tok-1", "Bearer tok-2"}, wantInvalidated: 1,
		},
		{
			name: "only once", invalidate: true,
			steps:    []step{unauthorized, unauthorized, {status: 200}},
			wantCode: 401, wantAuth: []string{"Bearer tok-1", "Bearer tok-2"}, wantInvalidated: 1,
		},
		{
			name: "no Invalidate method", invalidate: false,
			steps:    []step{unauthorized, {status: 200}},
			wantCode: 401, wantAuth: []string{"Bearer tok-1"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			synctest.Test(t, func(t *testing.T) {
				fake := &fakeRT{steps: tt.steps}
				inv := &invalidatingTokens{}
				var tokens TokenSource = &inv.countingTokens
				if tt.invalidate {
					tokens = inv
				}
				rt := NewTransport(fake, mustURL(t, testAPI), tokens, TransportOptions{})
				resp, err := rt.RoundTrip(newReq(t, context.Background(), http.MethodPost, "pipelines/p1/deployAll", `{"sourceStageOrder":1}`))
				require.NoError(t, err)
				assert.Equal(t, tt.wantCode, resp.StatusCode)
				var auths []string
				for _, c := range fake.calls {
					auths = append(auths, c.auth)
					assert.Equal(t, `{"sourceStageOrder":1}`, c.body)
				}
				assert.Equal(t, tt.wantAuth, auths)
				assert.Equal(t, tt.wantInvalidated, inv.invalidated)
			})
		})
	}
}

func TestBearerHosts(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, apiBase, url string
		wantAuth           bool
		wantErr            bool
	}{
		{name: "API host", apiBase: testAPI, url: "https://api.example/v1.0/myorg/pipelines", wantAuth: true},
		{name: "API host, explicit port and case", apiBase: testAPI, url: "https://API.example:443/v1.0/myorg/pipelines", wantAuth: true},
		{name: "API host over http", apiBase: testAPI, url: "http://api.example/v1.0/myorg/pipelines", wantErr: true},
		{name: "API host over http, port 443", apiBase: testAPI, url: "http://api.example:443/x", wantErr: true},
		{name: "http API base", apiBase: "http://api.example/v1.0/myorg/", url: "http://api.example/v1.0/myorg/pipelines", wantErr: true},
		{name: "other host", apiBase: testAPI, url: "https://blob.example/file", wantAuth: false},
		{name: "other port", apiBase: "https://127.0.0.1:8443/", url: "https://127.0.0.1:9443/", wantAuth: false},
		{name: "lookalike host", apiBase: testAPI, url: "https://api.example.evil/x", wantAuth: false},
		{name: "nil API base", apiBase: "", url: "https://api.example/x", wantAuth: false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			fake := &fakeRT{steps: []step{{status: 200}}}
			var base *url.URL
			if tt.apiBase != "" {
				base = mustURL(t, tt.apiBase)
			}
			tokens := &countingTokens{}
			rt := NewTransport(fake, base, tokens, TransportOptions{})
			req, err := http.NewRequest(http.MethodGet, tt.url, nil)
			require.NoError(t, err)
			_, err = rt.RoundTrip(req)
			if tt.wantErr {
				require.ErrorIs(t, err, errInsecureToken)
				assert.Empty(t, fake.calls, "nothing sent")
				assert.Zero(t, tokens.n, "no token even fetched")
				return
			}
			require.NoError(t, err)
			require.Len(t, fake.calls, 1)
			assert.Equal(t, tt.wantAuth, fake.calls[0].auth != "")
			assert.Empty(t, req.Header.Get("Authorization"), "the caller's request is not modified")
		})
	}
}

// TestBearerPlainHTTPServer sends nothing at all to an http API: the request fails before any
// connection is made.
func TestBearerPlainHTTPServer(t *testing.T) {
	t.Parallel()
	var hits int
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { hits++ }))
	t.Cleanup(srv.Close)
	httpClient := &http.Client{Transport: NewTransport(srv.Client().Transport, mustURL(t, srv.URL), &countingTokens{}, TransportOptions{})}
	c, err := NewClient(httpClient, srv.URL)
	require.NoError(t, err)
	_, _, err = c.Pipelines.List(context.Background())
	require.ErrorIs(t, err, errInsecureToken)
	assert.Zero(t, hits)
}

// TestBearerRedirect follows a redirect from the API to another host: the API gets the token,
// the other host does not.
func TestBearerRedirect(t *testing.T) {
	t.Parallel()
	var otherAuth, apiAuth string
	other := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		otherAuth = r.Header.Get("Authorization")
		reply(w, http.StatusOK, `{"value":[{"id":"p1"}]}`)
	}))
	t.Cleanup(other.Close)
	api := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		apiAuth = r.Header.Get("Authorization")
		http.Redirect(w, r, other.URL+"/elsewhere", http.StatusFound)
	}))
	t.Cleanup(api.Close)

	// httptest's TLS servers share one certificate, so api's client trusts both.
	httpClient := &http.Client{Transport: NewTransport(api.Client().Transport, mustURL(t, api.URL), &countingTokens{}, TransportOptions{})}
	c, err := NewClient(httpClient, api.URL)
	require.NoError(t, err)
	got, _, err := c.Pipelines.List(context.Background())
	require.NoError(t, err)
	assert.Equal(t, []Pipeline{{ID: "p1"}}, got)
	assert.Equal(t, "Bearer tok-1", apiAuth)
	assert.Empty(t, otherAuth, "no token after a redirect to another host")
}

// pipeNet is an in-memory network for an http.Server and an http.Transport: net.Pipe
// connections block durably, so the retry waits run on synctest's fake clock.
type pipeNet struct {
	conns  chan net.Conn
	closed chan struct{}
	once   sync.Once
}

func newPipeNet() *pipeNet {
	return &pipeNet{conns: make(chan net.Conn), closed: make(chan struct{})}
}

func (p *pipeNet) Accept() (net.Conn, error) {
	select {
	case c := <-p.conns:
		return c, nil
	case <-p.closed:
		return nil, net.ErrClosed
	}
}

func (p *pipeNet) Close() error {
	p.once.Do(func() { close(p.closed) })
	return nil
}

func (p *pipeNet) Addr() net.Addr { return pipeAddr{} }

func (p *pipeNet) DialContext(ctx context.Context, network, _ string) (net.Conn, error) {
	client, server := net.Pipe()
	select {
	case p.conns <- server:
		return client, nil
	case <-p.closed:
	case <-ctx.Done():
	}
	_ = client.Close()
	_ = server.Close()
	return nil, &net.OpError{Op: "dial", Net: network, Err: syscall.ECONNREFUSED}
}

type pipeAddr struct{}

func (pipeAddr) Network() string { return "pipe" }
func (pipeAddr) String() string  { return "pipe" }

func TestRetryDroppedConnection(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		var mu sync.Mutex
		tries := 0
		srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			mu.Lock()
			tries++
			n := tries
			mu.Unlock()
			if n == 1 {
				// Drop the connection without an answer, as a crashed front end would.
				conn, _, err := w.(http.Hijacker).Hijack()
				if assert.NoError(t, err) {
					_ = conn.Close()
				}
				return
			}
			reply(w, http.StatusOK, `{"value":[{"id":"p1"}]}`)
		})}
		network := newPipeNet()
		done := make(chan struct{})
		go func() {
			defer close(done)
			_ = srv.Serve(network)
		}()
		base := &http.Transport{DialContext: network.DialContext}
		defer func() {
			base.CloseIdleConnections()
			_ = srv.Close()
			<-done
		}()

		// No tokens: the pipe network is plain http.
		httpClient := &http.Client{Transport: NewTransport(base, mustURL(t, "https://api.test"), nil, TransportOptions{})}
		c, err := NewClient(httpClient, "http://api.test")
		require.NoError(t, err)
		start := time.Now()
		got, _, err := c.Pipelines.List(context.Background())
		require.NoError(t, err)
		assert.Equal(t, []Pipeline{{ID: "p1"}}, got)
		mu.Lock()
		assert.Equal(t, 2, tries)
		tries = 0
		mu.Unlock()
		assert.GreaterOrEqual(t, time.Since(start), 800*time.Millisecond, "backed off before the second try")

		// The same drop on a POST is not retried: the service may have acted on it.
		_, _, err = c.Pipelines.DeployAll(context.Background(), "p1", &DeployAllRequest{})
		require.Error(t, err)
		var e *ErrorResponse
		assert.NotErrorAs(t, err, &e)
		mu.Lock()
		assert.Equal(t, 1, tries)
		mu.Unlock()
	})
}

func TestBackoffDelays(t *testing.T) {
	t.Parallel()
	rt := &retryTransport{opts: TransportOptions{}.withDefaults()}
	for try, base := range map[int]time.Duration{1: time.Second, 2: 2 * time.Second, 3: 4 * time.Second, 4: 8 * time.Second, 5: 16 * time.Second} {
		for range 50 {
			d := rt.delay(nil, try)
			assert.GreaterOrEqual(t, d, base*8/10, "try %d", try)
			assert.Less(t, d, base*13/10, "try %d", try)
		}
	}
	for _, try := range []int{6, 10, 40, 1000} {
		assert.LessOrEqual(t, rt.delay(nil, try), 30*time.Second, "try %d is capped", try)
		assert.GreaterOrEqual(t, rt.delay(nil, try), 24*time.Second, "try %d is capped, not overflowed", try)
	}
}

func TestRetryAfterParse(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in     string
		want   time.Duration
		wantOK bool
	}{
		{in: "0", want: 0, wantOK: true},
		{in: " 5 ", want: 5 * time.Second, wantOK: true},
		{in: "120", want: 2 * time.Minute, wantOK: true},
		{in: "Wed, 21 Oct 2015 07:28:00 GMT", want: 0, wantOK: true}, // in the past
		{in: ""},
		{in: "-1"},
		{in: "1.5"},
		{in: "soon"},
	}
	for _, tt := range tests {
		got, ok := retryAfter(tt.in)
		assert.Equal(t, tt.wantOK, ok, "%q", tt.in)
		assert.Equal(t, tt.want, got, "%q", tt.in)
	}
}

func TestTransportOptionsDefaults(t *testing.T) {
	t.Parallel()
	o := TransportOptions{}.withDefaults()
	assert.Equal(t, TransportOptions{MaxRetries: 4, BaseDelay: time.Second, MaxDelay: 30 * time.Second, MaxRetryAfter: time.Minute}, o)
	assert.Equal(t, 0, TransportOptions{MaxRetries: -1}.withDefaults().MaxRetries)
	assert.Equal(t, 2, TransportOptions{MaxRetries: 2}.withDefaults().MaxRetries)
}
