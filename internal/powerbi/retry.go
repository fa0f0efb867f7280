package powerbi

import (
	"errors"
	"net/http"
	"time"
)

// NewRetryTransport returns the retry policy of NewTransport alone, for requests that are all
// safe to repeat whatever their method: sign-in (a token request changes nothing, so a POST
// answered 5xx or cut off is simply sent again). It adds no token.
func NewRetryTransport(base http.RoundTripper, opts TransportOptions) http.RoundTripper {
	if base == nil {
		base = http.DefaultTransport
	}
	return repeatable{&retryTransport{next: base, opts: opts.withDefaults()}}
}

// repeatable marks every request idempotent for the retry transport.
type repeatable struct{ next http.RoundTripper }

func (t repeatable) RoundTrip(r *http.Request) (*http.Response, error) {
	return t.next.RoundTrip(r.WithContext(WithIdempotent(r.Context())))
}

// UnknownOutcome reports whether a failed change may nevertheless have reached the service and
// been carried out: a 5xx or 408 answer, or a transport error after the request was sent (the
// connection lost, a try that timed out). Not when the request never left: no token, a
// connection that never opened, a certificate refused, the caller's own cancellation.
func UnknownOutcome(err error) bool {
	var er *ErrorResponse
	if errors.As(err, &er) {
		return er.StatusCode >= 500 || er.StatusCode == 408
	}
	var ns *notSentError
	return err != nil && !errors.As(err, &ns) && !isDialError(err) && !isPermanentError(err)
}

// RetryAfter reads a Retry-After header (delay-seconds or an HTTP-date); 0 when absent or
// malformed.
func RetryAfter(h http.Header) time.Duration {
	d, _ := retryAfter(h.Get("Retry-After"))
	return d
}

// notSentError is a failure before the request left this machine.
type notSentError struct{ err error }

func (e *notSentError) Error() string { return e.err.Error() }
func (e *notSentError) Unwrap() error { return e.err }
