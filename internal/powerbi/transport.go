package powerbi

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// TokenSource supplies access tokens for the API. It is asked once per try, so it should cache
// and refresh on its own. If it also has an Invalidate() method, a 401 from the API makes the
// transport call it and retry once with a new token.
type TokenSource interface {
	Token(ctx context.Context) (string, error)
}

// TransportOptions tune the retry policy; zero values mean the defaults.
type TransportOptions struct {
	// MaxRetries is how many times a request is retried after the first try; default 4
	// (five tries). Negative disables retries.
	MaxRetries int
	// BaseDelay is the first backoff, doubled per retry with jitter; default 1s.
	BaseDelay time.Duration
	// MaxDelay caps one backoff; default 30s.
	MaxDelay time.Duration
	// MaxRetryAfter caps a server's Retry-After; default 60s.
	MaxRetryAfter time.Duration
	// Logf, when set, gets one line per retry, naming the method, URL (no query), the cause
	// and the wait; never headers or bodies.
	Logf func(format string, args ...any)
}

func (o TransportOptions) withDefaults() TransportOptions {
	switch {
	case o.MaxRetries == 0:
		o.MaxRetries = 4
	case o.MaxRetries < 0:
		o.MaxRetries = 0
	}
	if o.BaseDelay <= 0 {
		o.BaseDelay = time.Second
	}
	if o.MaxDelay <= 0 {
		o.MaxDelay = 30 * time.Second
	}
	if o.MaxRetryAfter <= 0 {
		o.MaxRetryAfter = 60 * time.Second
	}
	return o
}

// NewTransport returns the API transport: retries (outside) around bearer authentication
// (inside, so every try gets a current token) around base (nil: http.DefaultTransport).
//
// The token goes only to apiBase's host over https. A request to that host over plain http
// fails rather than leak it; a request to any other host (a redirect, say) carries none. A nil
// tokens sends no token at all.
func NewTransport(base http.RoundTripper, apiBase *url.URL, tokens TokenSource, opts TransportOptions) http.RoundTripper {
	if base == nil {
		base = http.DefaultTransport
	}
	var next http.RoundTripper = base
	if tokens != nil {
		b := &bearerTransport{next: base, tokens: tokens}
		if apiBase != nil {
			// Keyed as if https, so an http API base or request is recognised as the API
			// host and refused rather than silently sent without a token.
			b.host = canonicalHostForScheme(apiBase, "https")
		}
		next = b
	}
	return &retryTransport{next: next, opts: opts.withDefaults()}
}

type idempotentKey struct{}

// WithIdempotent marks the requests made with ctx as safe to repeat, so a POST is retried like
// a GET (on 5xx and on any transport error). Use it only for calls whose repetition is
// harmless.
func WithIdempotent(ctx context.Context) context.Context {
	return context.WithValue(ctx, idempotentKey{}, true)
}

// canonicalHost is host:port in lower case with the scheme's default port filled in, so
// "API.powerbi.com" and "api.powerbi.com:443" compare equal.
func canonicalHost(u *url.URL) string {
	port := u.Port()
	if port == "" {
		switch strings.ToLower(u.Scheme) {
		case "https":
			port = "443"
		case "http":
			port = "80"
		}
	}
	return strings.ToLower(net.JoinHostPort(u.Hostname(), port))
}

// errInsecureToken is returned instead of sending a token over plain http.
var errInsecureToken = errors.New("powerbi: refusing to send an access token over plain http; use https")

type bearerTransport struct {
	next   http.RoundTripper
	tokens TokenSource
	host   string // canonical API host; "" sends no token anywhere
}

func (b *bearerTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if b.host == "" || canonicalHostForScheme(req.URL, "https") != b.host {
		return b.next.RoundTrip(req)
	}
	if !strings.EqualFold(req.URL.Scheme, "https") {
		closeBody(req)
		return nil, fmt.Errorf("%w (%s %s)", errInsecureToken, req.Method, redactURL(req.URL))
	}
	resp, err := b.try(req, req.Body)
	if err != nil || resp.StatusCode != http.StatusUnauthorized {
		return resp, err
	}
	// A 401 may mean the cached token was revoked or expired early: drop it and try once
	// more with a fresh one, if the body can be replayed.
	inv, ok := b.tokens.(interface{ Invalidate() })
	if !ok {
		return resp, nil
	}
	body, ok := replayBody(req)
	if !ok {
		return resp, nil
	}
	discard(resp)
	inv.Invalidate()
	return b.try(req, body)
}

// canonicalHostForScheme is canonicalHost of u as if it used scheme: a request to the API
// host over http must still be recognised as "the API host" so it can be refused.
func canonicalHostForScheme(u *url.URL, scheme string) string {
	c := *u
	if c.Port() == "" {
		c.Scheme = scheme
	}
	return canonicalHost(&c)
}

func (b *bearerTransport) try(req *http.Request, body io.ReadCloser) (*http.Response, error) {
	tok, err := b.tokens.Token(req.Context())
	if err != nil {
		if body != nil {
			_ = body.Close()
		}
		return nil, &notSentError{fmt.Errorf("powerbi: getting an access token: %w", err)}
	}
	r := req.Clone(req.Context()) // a RoundTripper must not modify the caller's request
	r.Body = body
	r.Header.Set("Authorization", "Bearer "+tok)
	return b.next.RoundTrip(r)
}

type retryTransport struct {
	next http.RoundTripper
	opts TransportOptions
}

func (t *retryTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	ctx := req.Context()
	idempotent := isIdempotent(req)
	tries := t.opts.MaxRetries + 1
	r := req
	for try := 1; ; try++ {
		resp, err := t.next.RoundTrip(r)
		if try >= tries || ctx.Err() != nil || !shouldRetry(resp, err, idempotent) {
			return resp, err
		}
		body, ok := replayBody(req)
		if !ok {
			return resp, err
		}
		delay := t.delay(resp, try)
		if t.opts.Logf != nil {
			cause := ""
			if err != nil {
				cause = err.Error()
			} else {
				cause = strconv.Itoa(resp.StatusCode)
			}
			t.opts.Logf("%s %s: %s, retrying in %s (try %d of %d)", req.Method, redactURL(req.URL), cause, delay.Round(time.Millisecond), try+1, tries)
		}
		if resp != nil {
			discard(resp)
		}
		if err := sleep(ctx, delay); err != nil {
			if body != nil {
				_ = body.Close()
			}
			return nil, err
		}
		r = req.Clone(ctx)
		r.Body = body
	}
}

// isIdempotent says whether repeating req is harmless (RFC 9110 §9.2.2, or marked so).
func isIdempotent(req *http.Request) bool {
	switch req.Method {
	case http.MethodGet, http.MethodHead, http.MethodPut, http.MethodDelete, http.MethodOptions, http.MethodTrace:
		return true
	}
	v, _ := req.Context().Value(idempotentKey{}).(bool)
	return v
}

// shouldRetry decides on one try's outcome. A non-idempotent request (POST, PATCH) is repeated
// only when the service certainly did not act: a 429, or a connection that never opened.
func shouldRetry(resp *http.Response, err error, idempotent bool) bool {
	if err != nil {
		if isDialError(err) {
			return true
		}
		return idempotent && isTransientError(err)
	}
	switch resp.StatusCode {
	case http.StatusTooManyRequests:
		return true
	case http.StatusRequestTimeout, http.StatusInternalServerError, http.StatusBadGateway,
		http.StatusServiceUnavailable, http.StatusGatewayTimeout:
		return idempotent
	}
	return false
}

func isDialError(err error) bool {
	var op *net.OpError
	return errors.As(err, &op) && op.Op == "dial" && !isPermanentError(err)
}

// isTransientError is true for network failures worth another try: resets, refusals, early
// EOFs, timeouts. Cancellation, certificate errors and our own refusals are permanent.
func isTransientError(err error) bool {
	if isPermanentError(err) {
		return false
	}
	var ne net.Error
	var op *net.OpError
	return errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.ECONNREFUSED) ||
		errors.Is(err, syscall.ECONNABORTED) || errors.Is(err, syscall.EPIPE) ||
		errors.As(err, &op) || (errors.As(err, &ne) && ne.Timeout())
}

func isPermanentError(err error) bool {
	var (
		certVerify *tls.CertificateVerificationError
		unknownCA  x509.UnknownAuthorityError
		invalid    x509.CertificateInvalidError
		hostname   x509.HostnameError
		record     tls.RecordHeaderError
	)
	// A deadline here is one try's (ResponseHeaderTimeout): the caller checks its own context first.
	return errors.Is(err, context.Canceled) ||
		errors.Is(err, errInsecureToken) ||
		errors.As(err, &certVerify) || errors.As(err, &unknownCA) || errors.As(err, &invalid) ||
		errors.As(err, &hostname) || errors.As(err, &record)
}

// delay is the wait before the next try: the server's Retry-After on 429 and 503 (capped),
// else exponential backoff with jitter.
func (t *retryTransport) delay(resp *http.Response, try int) time.Duration {
	if resp != nil && (resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode == http.StatusServiceUnavailable) {
		if d, ok := retryAfter(resp.Header.Get("Retry-After")); ok {
			return min(d, t.opts.MaxRetryAfter)
		}
	}
	d := t.opts.MaxDelay
	if shift := try - 1; shift < 32 && t.opts.BaseDelay < t.opts.MaxDelay>>shift {
		d = t.opts.BaseDelay << shift
	}
	// Jitter in [0.8, 1.3) as azcore does, so clients throttled together do not return
	// together.
	d = time.Duration(float64(d) * (0.8 + rand.Float64()/2))
	return min(d, t.opts.MaxDelay)
}

// retryAfter parses Retry-After as delay-seconds or an HTTP-date.
func retryAfter(v string) (time.Duration, bool) {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0, false
	}
	if s, err := strconv.Atoi(v); err == nil {
		if s < 0 {
			return 0, false
		}
		return time.Duration(min(s, 1<<20)) * time.Second, true
	}
	if at, err := http.ParseTime(v); err == nil {
		return max(time.Until(at), 0), true
	}
	return 0, false
}

// replayBody returns a fresh copy of req's body for another try; false when the body cannot be
// replayed.
func replayBody(req *http.Request) (io.ReadCloser, bool) {
	if req.Body == nil || req.Body == http.NoBody {
		return req.Body, true
	}
	if req.GetBody == nil {
		return nil, false
	}
	b, err := req.GetBody()
	if err != nil {
		return nil, false
	}
	return b, true
}

// sleep waits d or until ctx is done.
func sleep(ctx context.Context, d time.Duration) error {
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-timer.C:
		return nil
	}
}

// discard drains (a bounded amount of) and closes a response nobody will read, so its
// connection can be reused.
func discard(resp *http.Response) {
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxErrorBody))
	_ = resp.Body.Close()
}

// closeBody honours the RoundTripper contract of closing the request body, even on error.
func closeBody(req *http.Request) {
	if req.Body != nil {
		_ = req.Body.Close()
	}
}
