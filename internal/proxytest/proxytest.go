// Package proxytest is a real HTTP forward proxy for tests, on loopback: it tunnels CONNECT
// requests and forwards plain absolute-URI requests, can require Basic credentials, can send
// every target to another address (so that api.powerbi.com:443 reaches a local emulator), and
// records what it was asked for, so a test can prove which hosts a client really contacted.
// It never records or logs credentials.
package proxytest

import (
	"context"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httputil"
	"strings"
	"sync"
	"time"
)

// Options configure Start. The zero value is an open proxy that dials every target as asked.
type Options struct {
	// Username and Password, when Username is set, are the Basic credentials every request must
	// carry in Proxy-Authorization; others get 407 with a Proxy-Authenticate challenge.
	Username, Password string
	// Redirect maps a target, as "host:port" or just "host", to the address to dial instead.
	Redirect map[string]string
	// Dial, when set, returns the address to dial for a target "host:port"; it takes precedence
	// over Redirect. An empty answer dials the target as asked.
	Dial func(hostport string) string
	// Logf, when set, receives one line per request: method, target and status, never headers.
	Logf func(format string, args ...any)
}

// Request is one request the proxy received.
type Request struct {
	Method string // CONNECT, or the forwarded request's method
	Target string // host:port as asked
	Status int    // what the proxy answered: 200 for an established tunnel, 407, 502, ...
}

// Proxy is a running proxy.
type Proxy struct {
	// URL is the proxy's address, e.g. http://127.0.0.1:40123, without credentials.
	URL string

	opts    Options
	ln      net.Listener
	srv     *http.Server
	forward *httputil.ReverseProxy
	dialer  net.Dialer
	served  chan struct{}

	mu       sync.Mutex
	requests []Request
	tunnels  map[net.Conn]struct{} // both ends of open tunnels, closed by Close
	closed   bool
	// wg counts running handlers and tunnel goroutines, so that Close returns only once nothing
	// can call Logf any more. Tunnels are added while their handler still counts, which keeps
	// those Adds legal while Close waits.
	wg sync.WaitGroup
}

// Start listens on 127.0.0.1 (any free port) and serves until Close.
func Start(opts Options) (*Proxy, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("proxytest: listen: %w", err)
	}
	p := &Proxy{
		URL:     "http://" + ln.Addr().String(),
		opts:    opts,
		ln:      ln,
		served:  make(chan struct{}),
		tunnels: map[net.Conn]struct{}{},
		dialer:  net.Dialer{Timeout: 10 * time.Second},
	}
	p.forward = &httputil.ReverseProxy{
		// Rewrite keeps the absolute URL and Host as asked; ReverseProxy itself drops hop-by-hop
		// headers, Proxy-Authorization among them, so credentials never reach the origin.
		Rewrite: func(*httputil.ProxyRequest) {},
		Transport: &http.Transport{
			Proxy:       nil,
			DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) { return p.dial(ctx, addr) },
		},
		ErrorLog: log.New(io.Discard, "", 0),
		ErrorHandler: func(w http.ResponseWriter, _ *http.Request, err error) {
			http.Error(w, "proxytest: "+err.Error(), http.StatusBadGateway)
		},
	}
	p.srv = &http.Server{
		Handler:           http.HandlerFunc(p.serve),
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          log.New(io.Discard, "", 0),
	}
	go func() {
		defer close(p.served)
		_ = p.srv.Serve(ln)
	}()
	return p, nil
}

// Close stops the proxy and closes every open tunnel.
func (p *Proxy) Close() error {
	p.mu.Lock()
	p.closed = true
	for c := range p.tunnels {
		_ = c.Close()
	}
	p.mu.Unlock()
	err := p.srv.Close()
	<-p.served
	p.wg.Wait()
	if errors.Is(err, http.ErrServerClosed) {
		err = nil
	}
	return err
}

// Requests returns every request received so far, oldest first.
func (p *Proxy) Requests() []Request {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]Request(nil), p.requests...)
}

// Hosts returns the host names (without port) the proxy was asked for, each once, in the order
// first asked, whether or not it let the request through.
func (p *Proxy) Hosts() []string {
	var hosts []string
	seen := map[string]bool{}
	for _, r := range p.Requests() {
		h := r.Target
		if host, _, err := net.SplitHostPort(h); err == nil {
			h = host
		}
		if !seen[h] {
			seen[h] = true
			hosts = append(hosts, h)
		}
	}
	return hosts
}

func (p *Proxy) serve(w http.ResponseWriter, r *http.Request) {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		http.Error(w, "proxytest: closed", http.StatusServiceUnavailable)
		return
	}
	p.wg.Add(1)
	p.mu.Unlock()
	defer p.wg.Done()
	target := r.Host
	if r.Method != http.MethodConnect {
		if !r.URL.IsAbs() || r.URL.Host == "" {
			http.Error(w, "proxytest: expected CONNECT or an absolute URI", http.StatusBadRequest)
			return
		}
		target = r.URL.Host
	}
	target = withPort(target, r.URL.Scheme)
	status := p.handle(w, r, target)
	p.mu.Lock()
	p.requests = append(p.requests, Request{Method: r.Method, Target: target, Status: status})
	p.mu.Unlock()
	if p.opts.Logf != nil {
		p.opts.Logf("proxytest: %s %s -> %d", r.Method, target, status)
	}
}

// handle answers one request and returns the status it answered.
func (p *Proxy) handle(w http.ResponseWriter, r *http.Request, target string) int {
	if !p.authorized(r) {
		w.Header().Set("Proxy-Authenticate", `Basic realm="proxytest"`)
		http.Error(w, "proxytest: proxy authentication required", http.StatusProxyAuthRequired)
		return http.StatusProxyAuthRequired
	}
	if r.Method != http.MethodConnect {
		rec := &statusRecorder{ResponseWriter: w}
		r.URL.Host = target
		p.forward.ServeHTTP(rec, r)
		return rec.status
	}
	return p.tunnel(w, r, target)
}

// tunnel dials target, answers 200 and copies bytes both ways until either side closes.
func (p *Proxy) tunnel(w http.ResponseWriter, r *http.Request, target string) int {
	upstream, err := p.dial(r.Context(), target)
	if err != nil {
		http.Error(w, "proxytest: "+err.Error(), http.StatusBadGateway)
		return http.StatusBadGateway
	}
	client, buf, err := http.NewResponseController(w).Hijack()
	if err != nil {
		_ = upstream.Close()
		http.Error(w, "proxytest: cannot hijack the connection", http.StatusInternalServerError)
		return http.StatusInternalServerError
	}
	if !p.track(client, upstream) {
		_ = client.Close()
		_ = upstream.Close()
		return http.StatusServiceUnavailable
	}
	if _, err := io.WriteString(client, "HTTP/1.1 200 Connection established\r\n\r\n"); err != nil {
		p.untrack(client, upstream)
		return http.StatusOK
	}
	p.wg.Add(2)
	go p.pipe(upstream, buf.Reader, client, upstream)
	go p.pipe(client, upstream, client, upstream)
	return http.StatusOK
}

// pipe copies src to dst; when either direction ends, both connections are closed, which ends
// the other direction too.
func (p *Proxy) pipe(dst io.Writer, src io.Reader, client, upstream net.Conn) {
	defer p.wg.Done()
	_, _ = io.Copy(dst, src)
	p.untrack(client, upstream)
}

func (p *Proxy) track(conns ...net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return false
	}
	for _, c := range conns {
		p.tunnels[c] = struct{}{}
	}
	return true
}

func (p *Proxy) untrack(conns ...net.Conn) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range conns {
		_ = c.Close()
		delete(p.tunnels, c)
	}
}

// dial connects to where target should go: Dial's answer, else Redirect's, else target itself.
func (p *Proxy) dial(ctx context.Context, target string) (net.Conn, error) {
	addr := ""
	if p.opts.Dial != nil {
		addr = p.opts.Dial(target)
	}
	if addr == "" {
		addr = p.opts.Redirect[target]
	}
	if addr == "" {
		if host, _, err := net.SplitHostPort(target); err == nil {
			addr = p.opts.Redirect[host]
		}
	}
	if addr == "" {
		addr = target
	}
	return p.dialer.DialContext(ctx, "tcp", addr)
}

// authorized checks Proxy-Authorization against the required credentials, in constant time.
func (p *Proxy) authorized(r *http.Request) bool {
	if p.opts.Username == "" {
		return true
	}
	scheme, encoded, ok := strings.Cut(strings.TrimSpace(r.Header.Get("Proxy-Authorization")), " ")
	if !ok || !strings.EqualFold(scheme, "Basic") {
		return false
	}
	decoded, err := base64.StdEncoding.DecodeString(strings.TrimSpace(encoded))
	if err != nil {
		return false
	}
	want := p.opts.Username + ":" + p.opts.Password
	return subtle.ConstantTimeCompare(decoded, []byte(want)) == 1
}

// withPort adds the scheme's default port to a target that has none.
func withPort(target, scheme string) string {
	if _, _, err := net.SplitHostPort(target); err == nil {
		return target
	}
	port := "443"
	if scheme == "http" {
		port = "80"
	}
	return net.JoinHostPort(strings.Trim(target, "[]"), port)
}

// statusRecorder remembers the status the forwarded response carried.
type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (s *statusRecorder) WriteHeader(code int) {
	if s.status == 0 {
		s.status = code
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusRecorder) Write(b []byte) (int, error) {
	if s.status == 0 {
		s.status = http.StatusOK
	}
	return s.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the underlying writer (flushing).
func (s *statusRecorder) Unwrap() http.ResponseWriter { return s.ResponseWriter }
