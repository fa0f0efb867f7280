package emulator

import (
	"context"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestFaults(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		fault  Fault
		method string
		path   string
		check  func(t *testing.T, r response)
	}{
		{
			name:  "429 with Retry-After",
			fault: Fault{Path: "/pipelines$", Status: http.StatusTooManyRequests, RetryAfter: 30},
			path:  "pipelines",
			check: func(t *testing.T, r response) {
				r.fails(t, http.StatusTooManyRequests, "TooManyRequests")
				assert.Equal(t, "30", r.header.Get("Retry-After"))
			},
		},
		{
			name:  "503 without Retry-After and with a custom body",
			fault: Fault{Status: http.StatusServiceUnavailable, Body: `{"error":{"code":"ServiceUnavailable","message":"down"}}`},
			path:  "groups",
			check: func(t *testing.T, r response) {
				assert.Equal(t, "down", r.fails(t, http.StatusServiceUnavailable, "ServiceUnavailable"))
				assert.Empty(t, r.header.Get("Retry-After"))
			},
		},
		{
			name:  "the path is a case-insensitive regexp",
			fault: Fault{Path: "/DEPLOYALL", Status: http.StatusBadGateway},
			path:  "pipelines/" + tPlMain + "/deployAll", method: "POST",
			check: func(t *testing.T, r response) { r.fails(t, http.StatusBadGateway, "BadGateway") },
		},
		{
			name:  "another method is not hit",
			fault: Fault{Method: "POST", Status: http.StatusTooManyRequests},
			path:  "pipelines",
			check: func(t *testing.T, r response) { r.ok(t, http.StatusOK, nil) },
		},
		{
			name:  "another path is not hit",
			fault: Fault{Path: "/groups", Status: http.StatusTooManyRequests},
			path:  "pipelines",
			check: func(t *testing.T, r response) { r.ok(t, http.StatusOK, nil) },
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t)
			h.token("app") // sign in first: faults hit the sign-in route too
			h.srv.InjectFault(tt.fault)
			method := tt.method
			if method == "" {
				method = "GET"
			}
			var body any
			if method == "POST" {
				body = map[string]any{"sourceStageOrder": 0, "options": allowAll}
			}
			tt.check(t, h.call("app", method, tt.path, body))
		})
	}
}

func TestFaultTimesAndOrder(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.srv.InjectFault(Fault{Path: "pipelines", Status: http.StatusTooManyRequests, RetryAfter: 1, Times: 2})
	h.srv.InjectFault(Fault{Path: "pipelines", Status: http.StatusServiceUnavailable, Times: 1})
	h.call("app", "GET", "pipelines", nil).fails(t, http.StatusTooManyRequests, "TooManyRequests")
	h.call("app", "GET", "pipelines", nil).fails(t, http.StatusTooManyRequests, "TooManyRequests")
	h.call("app", "GET", "pipelines", nil).fails(t, http.StatusServiceUnavailable, "ServiceUnavailable")
	h.call("app", "GET", "pipelines", nil).ok(t, http.StatusOK, nil)

	h.srv.InjectFault(Fault{Status: http.StatusInternalServerError})
	h.call("app", "GET", "pipelines", nil).fails(t, http.StatusInternalServerError, "InternalServerError")
	h.call("app", "GET", "groups", nil).fails(t, http.StatusInternalServerError, "InternalServerError")
	h.srv.ClearFaults()
	h.call("app", "GET", "pipelines", nil).ok(t, http.StatusOK, nil)
}

func TestFaultAppliesToSignIn(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.srv.InjectFault(Fault{Path: "/oauth2/", Status: http.StatusServiceUnavailable, Times: 1})
	r := h.call("", "POST", "/"+tTenant+"/oauth2/v2.0/token", "grant_type=client_credentials")
	assert.Equal(t, http.StatusServiceUnavailable, r.status)
	h.token("app") // the next sign-in goes through
}

func TestFaultDropClosesTheConnection(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	tok := h.token("app")
	// Until cleared: Go's transport retries an idempotent request once on a new connection.
	h.srv.InjectFault(Fault{Path: "/pipelines$", Drop: true})
	req, err := http.NewRequest("GET", h.srv.URL+"/v1.0/myorg/pipelines", nil)
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+tok)
	resp, err := h.client.Do(req)
	if err == nil {
		resp.Body.Close()
	}
	require.Error(t, err, "the connection is closed without an answer")

	reqs := h.srv.Requests()
	assert.Equal(t, 0, reqs[len(reqs)-1].Status, "a dropped request is recorded with status 0")
	h.srv.ClearFaults()
	h.call("app", "GET", "pipelines", nil).ok(t, http.StatusOK, nil)
}

func TestFaultDelayHoldsTheRequest(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	var mu sync.Mutex
	var slept []time.Duration
	h.srv.sleep = func(_ *http.Request, d time.Duration) error {
		mu.Lock()
		slept = append(slept, d)
		mu.Unlock()
		return nil
	}
	h.srv.InjectFault(Fault{Path: "/groups$", Delay: 90 * time.Second, Times: 1})
	h.call("app", "GET", "groups", nil).ok(t, http.StatusOK, nil)
	h.call("app", "GET", "groups", nil).ok(t, http.StatusOK, nil)
	assert.Equal(t, []time.Duration{90 * time.Second}, slept, "delayed once, then handled normally")

	// A delay combined with a status answers that status after waiting.
	h.srv.InjectFault(Fault{Delay: time.Second, Status: http.StatusGatewayTimeout, Times: 1})
	h.call("app", "GET", "groups", nil).fails(t, http.StatusGatewayTimeout, "GatewayTimeout")
	assert.Len(t, slept, 2)
}

func TestSleepContextStopsWhenTheClientGoesAway(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	r, err := http.NewRequestWithContext(ctx, "GET", "/", nil)
	require.NoError(t, err)
	assert.ErrorIs(t, sleepContext(r, time.Hour), context.Canceled)
	assert.NoError(t, sleepContext(r.WithContext(context.Background()), 0))
}
