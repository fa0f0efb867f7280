// Package emulator is an in-memory Power BI service for tests and demos: the deployment-pipeline,
// workspace and item-list parts of the Power BI REST API (as in ../shared/specs/powerbi-swagger.json
// and the behaviour described in ../shared/notes/powerbi-api.md), the fake Entra sign-in and the
// Azure DevOps OIDC endpoint (identity.go), served over HTTPS on loopback with a private CA.
// Faults can be injected in front of every route to exercise clients' retry and error paths.
package emulator

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"time"
)

const (
	defaultAddr           = "127.0.0.1:0"
	defaultDeployDuration = 3 * time.Second
	maxRequestBody        = 4 << 20
	apiPrefix             = "/v1.0/myorg/"
	controlPrefix         = "/_emulator/"
)

// Options configures Start.
type Options struct {
	// Addr is the loopback address to listen on; default "127.0.0.1:0" (any free port).
	Addr string
	// Seed is the starting state; nil means DemoSeed(). It is copied: the emulator never changes it.
	Seed *Seed
	// DeployDuration is how long a deployment takes (default 3s): NotStarted for the first tenth,
	// then Executing, then Succeeded or Failed.
	DeployDuration time.Duration
	// TokenLifetime and OIDCTokenLifetime are passed to the identity half (defaults 1h, 10m).
	TokenLifetime, OIDCTokenLifetime time.Duration
	// Now is the clock (default time.Now). Deployment status is computed from it when read.
	Now func() time.Time
	// Validate, when set, checks every Power BI API request before it is handled; a failure
	// answers 400 EmulatorRequestInvalid and is kept for ValidationErrors.
	Validate func(r *http.Request, body []byte) error
	// Logf, when set, receives one line per request.
	Logf func(format string, args ...any)
	// Hosts are extra DNS names the TLS certificate is valid for, besides localhost, 127.0.0.1
	// and ::1, so that a test can reach the emulator as api.powerbi.com, login.microsoftonline.us
	// and so on through a proxy that tunnels those names here. When set, the sign-in endpoints
	// answer under the name each request was sent to, as MSAL requires of an authority.
	Hosts []string
}

// Server is a running emulator.
type Server struct {
	// URL is the base URL, e.g. https://127.0.0.1:7443 (no trailing slash).
	URL string
	// CACertPEM is the certificate of the CA that signed the server's certificate.
	CACertPEM []byte

	opts     Options
	resource string
	identity *Identity
	mux      *http.ServeMux
	srv      *http.Server
	ln       net.Listener
	caPool   *x509.CertPool
	leaf     tls.Certificate
	served   chan struct{}

	// sleep waits for a Delay fault; tests replace it to avoid real waits.
	sleep func(r *http.Request, d time.Duration) error

	mu       sync.Mutex // guards st (all Power BI state)
	st       *state
	logMu    sync.Mutex // guards faults, requests, invalid
	faults   []*activeFault
	requests []RecordedRequest
	invalid  []string
}

// RecordedRequest is one request the emulator answered. Authorization headers and bodies are
// never kept.
type RecordedRequest struct {
	Method    string    `json:"method"`
	Path      string    `json:"path"`
	Query     string    `json:"query,omitempty"`
	Status    int       `json:"status"` // 0 when a fault dropped the connection
	Time      time.Time `json:"time"`
	Principal string    `json:"principal,omitempty"` // the caller's identifier, for Power BI API calls
}

// Start listens on opts.Addr (loopback only) and serves the emulator over HTTPS until Close.
func Start(opts Options) (*Server, error) {
	if opts.Addr == "" {
		opts.Addr = defaultAddr
	}
	if err := checkLoopback(opts.Addr); err != nil {
		return nil, err
	}
	s, err := build(opts)
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", opts.Addr)
	if err != nil {
		return nil, fmt.Errorf("emulator: listen %s: %w", opts.Addr, err)
	}
	s.ln = ln
	s.URL = "https://" + ln.Addr().String()

	// HTTP/1.1 only: the Drop fault hijacks the connection, which HTTP/2 cannot do.
	var protocols http.Protocols
	protocols.SetHTTP1(true)
	s.srv = &http.Server{
		Handler:           s,
		Protocols:         &protocols,
		ReadHeaderTimeout: 30 * time.Second,
		ErrorLog:          log.New(logWriter{s.opts.Logf}, "", 0),
		TLSConfig: &tls.Config{
			MinVersion:   tls.VersionTLS12,
			Certificates: []tls.Certificate{s.leaf},
		},
	}
	go func() {
		defer close(s.served)
		_ = s.srv.Serve(tls.NewListener(ln, s.srv.TLSConfig))
	}()
	return s, nil
}

// InProcessURL is the base URL of an emulator made by New: requests reach it through
// Transport only, never a network.
const InProcessURL = "https://emulator.invalid"

// New makes an emulator that listens nowhere: Transport serves requests by calling the handler
// directly. With no network in the way, a test can run it inside a testing/synctest bubble, so
// that deployments of minutes run on the fake clock in an instant. Close is a no-op.
func New(opts Options) (*Server, error) {
	s, err := build(opts)
	if err != nil {
		return nil, err
	}
	s.URL = InProcessURL
	close(s.served)
	return s, nil
}

// build makes the server's state and identity half; Start adds the listener.
func build(opts Options) (s *Server, err error) {
	if opts.Seed == nil {
		opts.Seed = DemoSeed()
	}
	if opts.DeployDuration <= 0 {
		opts.DeployDuration = defaultDeployDuration
	}
	if opts.TokenLifetime <= 0 {
		opts.TokenLifetime = time.Hour
	}
	if opts.OIDCTokenLifetime <= 0 {
		opts.OIDCTokenLifetime = 10 * time.Minute
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	seed, err := cloneSeed(opts.Seed)
	if err != nil {
		return nil, err
	}
	st, err := newState(seed)
	if err != nil {
		return nil, err
	}
	certs, err := newCertificates(opts.Now(), opts.Hosts)
	if err != nil {
		return nil, fmt.Errorf("emulator: certificates: %w", err)
	}
	s = &Server{
		CACertPEM: certs.caPEM,
		opts:      opts,
		resource:  seed.Resource,
		st:        st,
		caPool:    certs.pool,
		mux:       http.NewServeMux(),
		served:    make(chan struct{}),
		sleep:     sleepContext,
	}
	if s.resource == "" {
		s.resource = DefaultResource
	}
	idSeed, err := cloneSeed(seed)
	if err != nil {
		return nil, err
	}
	// Reached under other names (Hosts), the fake Entra names itself after each request's Host:
	// MSAL rejects an authority whose issuer is on another host.
	issuer := func() string { return s.URL }
	if len(opts.Hosts) > 0 {
		issuer = nil
	}
	s.identity, err = NewIdentity(idSeed, IdentityOptions{
		TokenLifetime:     opts.TokenLifetime,
		OIDCTokenLifetime: opts.OIDCTokenLifetime,
		Now:               opts.Now,
		Issuer:            issuer,
	})
	if err != nil {
		return nil, fmt.Errorf("emulator: identity: %w", err)
	}
	s.identity.Register(s.mux)
	s.leaf = certs.leaf
	return s, nil
}

// Close stops the server and closes every connection.
func (s *Server) Close() error {
	if s.srv == nil {
		return nil
	}
	err := s.srv.Close()
	<-s.served
	if errors.Is(err, http.ErrServerClosed) {
		err = nil
	}
	return err
}

// Client returns an HTTP client that trusts the emulator's CA.
func (s *Server) Client() *http.Client {
	return &http.Client{Transport: &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: s.caPool, MinVersion: tls.VersionTLS12},
	}}
}

// Resource is the Power BI resource tokens are issued for; the scope is Resource() + "/.default".
func (s *Server) Resource() string { return s.resource }

// Requests returns every request answered so far, oldest first.
func (s *Server) Requests() []RecordedRequest {
	s.logMu.Lock()
	defer s.logMu.Unlock()
	return append([]RecordedRequest(nil), s.requests...)
}

// ValidationErrors returns the failures of Options.Validate so far.
func (s *Server) ValidationErrors() []string {
	s.logMu.Lock()
	defer s.logMu.Unlock()
	return append([]string(nil), s.invalid...)
}

// Snapshot returns the current state in seed form.
func (s *Server) Snapshot() *Seed {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.st.settle(s.opts.Now())
	return s.st.snapshot()
}

// ServeHTTP is the front door: request id, faults, then the Power BI API, the control routes or
// the identity routes.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("RequestId", newUUID())
	rec := &recorder{ResponseWriter: w}
	entry := RecordedRequest{Method: r.Method, Path: r.URL.Path, Query: r.URL.RawQuery, Time: s.opts.Now()}
	defer func() {
		entry.Status = rec.status
		if rec.status == 0 && !rec.hijacked {
			entry.Status = http.StatusOK
		}
		s.logMu.Lock()
		s.requests = append(s.requests, entry)
		s.logMu.Unlock()
		if s.opts.Logf != nil {
			s.opts.Logf("%s %s -> %d %s", r.Method, r.URL.RequestURI(), entry.Status, entry.Principal)
		}
	}()

	if strings.HasPrefix(r.URL.Path, controlPrefix) {
		s.serveControl(rec, r)
		return
	}
	goOn, after := s.applyFault(rec, r)
	if !goOn {
		return
	}
	target := rec
	if after != nil {
		// Handle for real, then fail as the fault says: the answer is lost, replaced, or
		// (a pure delay) only late.
		held := httptest.NewRecorder()
		target = &recorder{ResponseWriter: held}
		defer func() {
			if s.fail(rec, r, after) {
				for k, v := range held.Header() {
					rec.Header()[k] = v
				}
				rec.WriteHeader(held.Code)
				_, _ = rec.Write(held.Body.Bytes())
			}
		}()
	}
	if hasPrefixFold(r.URL.Path+"/", apiPrefix) {
		entry.Principal = s.serveAPI(target, r)
		return
	}
	s.mux.ServeHTTP(target, r)
}

// serveAPI answers a Power BI API request and returns the caller's identifier.
func (s *Server) serveAPI(w http.ResponseWriter, r *http.Request) string {
	rt, params, canonical, err := matchRoute(r.Method, r.URL.EscapedPath())
	if err != nil {
		writeError(w, err)
		return ""
	}
	body, rerr := io.ReadAll(io.LimitReader(r.Body, maxRequestBody))
	if rerr != nil {
		writeError(w, badRequest("InvalidRequest", "cannot read the request body: %v", rerr))
		return ""
	}
	if s.opts.Validate != nil {
		// Validate the spec's spelling of the path: the service (and so the emulator) matches
		// segments case-insensitively, the swagger does not.
		vr := r.Clone(r.Context())
		vr.URL.Path, vr.URL.RawPath = canonical, ""
		vr.Body = io.NopCloser(bytes.NewReader(body))
		if verr := s.opts.Validate(vr, body); verr != nil {
			msg := fmt.Sprintf("%s %s: %v", r.Method, r.URL.RequestURI(), verr)
			s.logMu.Lock()
			s.invalid = append(s.invalid, msg)
			s.logMu.Unlock()
			writeError(w, &apiError{status: http.StatusBadRequest, code: "EmulatorRequestInvalid", message: msg})
			return ""
		}
	}
	p, aerr := s.authenticate(r)
	if aerr != nil {
		writeError(w, aerr)
		return ""
	}
	c := &call{r: r, p: p, params: params, body: body, query: r.URL.Query()}
	s.mu.Lock()
	c.now = s.opts.Now()
	s.st.settle(c.now)
	status, v, herr := rt.handle(s, c)
	s.mu.Unlock()
	if herr != nil {
		writeError(w, herr)
		return p.Identifier
	}
	writeJSON(w, status, v)
	return p.Identifier
}

// authenticate maps the identity half's verdict to the service's answers: no token gives an
// empty 401, an expired one 403 TokenExpired, anything else 401 PowerBINotAuthorizedException.
func (s *Server) authenticate(r *http.Request) (*Principal, error) {
	p, err := s.identity.Authenticate(r)
	switch {
	case err == nil && p != nil:
		return p, nil
	case errors.Is(err, ErrMissingToken):
		return nil, &apiError{status: http.StatusUnauthorized, empty: true}
	case errors.Is(err, ErrExpiredToken):
		return nil, &apiError{status: http.StatusForbidden, code: "TokenExpired",
			message: "Access token has expired, resubmit with a new access token"}
	case err == nil:
		err = errors.New("no principal")
	}
	return nil, notAuthorized(err.Error())
}

// recorder remembers the status written and whether the connection was hijacked.
type recorder struct {
	http.ResponseWriter
	status   int
	hijacked bool
}

func (r *recorder) WriteHeader(code int) {
	if r.status == 0 {
		r.status = code
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *recorder) Write(b []byte) (int, error) {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	return r.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the connection (Hijack for the Drop fault).
func (r *recorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }

// logWriter sends the http.Server's own errors (TLS handshakes and the like) to Logf.
type logWriter struct{ logf func(string, ...any) }

func (l logWriter) Write(b []byte) (int, error) {
	if l.logf != nil {
		l.logf("%s", strings.TrimRight(string(b), "\n"))
	}
	return len(b), nil
}

func checkLoopback(addr string) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("emulator: address %q: %w", addr, err)
	}
	if host == "localhost" {
		return nil
	}
	if ip := net.ParseIP(host); ip != nil && ip.IsLoopback() {
		return nil
	}
	return fmt.Errorf("emulator: address %q is not a loopback address; the emulator only listens on loopback", addr)
}

func hasPrefixFold(s, prefix string) bool {
	return len(s) >= len(prefix) && strings.EqualFold(s[:len(prefix)], prefix)
}
