package powerbi

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// slowThenFast answers the first request after 2 s and the others at once.
func slowThenFast(t *testing.T) (*httptest.Server, *atomic.Int32) {
	var n atomic.Int32
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if n.Add(1) == 1 {
			select {
			case <-time.After(2 * time.Second):
			case <-r.Context().Done():
			}
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"value":[]}`))
	}))
	t.Cleanup(srv.Close)
	return srv, &n
}

func shortTries(srv *httptest.Server) *http.Transport {
	base := srv.Client().Transport.(*http.Transport).Clone()
	base.ResponseHeaderTimeout = 200 * time.Millisecond
	return base
}

func TestATryThatTimesOutIsRetriedForReadsOnly(t *testing.T) {
	t.Parallel()
	srv, n := slowThenFast(t)
	rt := &retryTransport{next: shortTries(srv), opts: TransportOptions{BaseDelay: time.Millisecond}.withDefaults()}
	req, _ := http.NewRequest(http.MethodGet, srv.URL+"/v1.0/myorg/pipelines", nil)
	resp, err := rt.RoundTrip(req)
	require.NoError(t, err, "a GET whose try timed out is sent again")
	resp.Body.Close()
	assert.Equal(t, int32(2), n.Load())

	srv2, n2 := slowThenFast(t)
	rt = &retryTransport{next: shortTries(srv2), opts: TransportOptions{BaseDelay: time.Millisecond}.withDefaults()}
	req, _ = http.NewRequest(http.MethodPost, srv2.URL+"/v1.0/myorg/pipelines", strings.NewReader("{}"))
	_, err = rt.RoundTrip(req)
	require.Error(t, err, "a POST whose try timed out is not sent again blindly")
	assert.Equal(t, int32(1), n2.Load())
	assert.True(t, UnknownOutcome(err), "its outcome is unknown: the caller must look before sending again")
}

func TestRetryTransportRepeatsSignInPosts(t *testing.T) {
	t.Parallel()
	var n atomic.Int32
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if n.Add(1) < 3 {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		_, _ = w.Write([]byte(`{"access_token":"x"}`))
	}))
	defer srv.Close()
	rt := NewRetryTransport(srv.Client().Transport, TransportOptions{BaseDelay: time.Millisecond})
	req, _ := http.NewRequest(http.MethodPost, srv.URL+"/tenant/oauth2/v2.0/token", strings.NewReader("grant_type=client_credentials"))
	resp, err := rt.RoundTrip(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	assert.Equal(t, http.StatusOK, resp.StatusCode)
	assert.Equal(t, int32(3), n.Load())
}

func TestUnknownOutcome(t *testing.T) {
	t.Parallel()
	assert.True(t, UnknownOutcome(&ErrorResponse{StatusCode: 502}))
	assert.True(t, UnknownOutcome(&ErrorResponse{StatusCode: 408}))
	assert.False(t, UnknownOutcome(&ErrorResponse{StatusCode: 400}))
	assert.False(t, UnknownOutcome(&ErrorResponse{StatusCode: 429}), "a throttled request was not carried out")
	assert.True(t, UnknownOutcome(errors.New("EOF")))
	assert.False(t, UnknownOutcome(context.Canceled))
	assert.False(t, UnknownOutcome(nil))
	assert.False(t, UnknownOutcome(&notSentError{errors.New("powerbi: getting an access token: AADSTS7000215")}), "never sent")
	assert.False(t, UnknownOutcome(fmt.Errorf("wrapped: %w", errInsecureToken)))
	assert.False(t, UnknownOutcome(&net.OpError{Op: "dial", Err: errors.New("connection refused")}), "the connection never opened")
}
