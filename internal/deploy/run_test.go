package deploy

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pbi-pipelines/azdo-extension/internal/powerbi"
	"github.com/pbi-pipelines/azdo-extension/internal/resolve"
)

// service is an in-memory stand-in for the few pipeline routes the orchestration uses. It
// answers without a network so that synctest's fake clock drives the waits.
type service struct {
	mu       sync.Mutex
	ops      []powerbi.PipelineOperation
	statuses []string // what successive GetOperation calls report
	polls    []time.Time
	posts    int
	// postFails makes the first N deploy POSTs answer 500; createAnyway still starts them.
	postFails    int
	createAnyway bool
	// lagging hides operations started by failed POSTs from the first list after them, as a
	// service whose list lags behind; busy refuses a POST while such an operation runs.
	lagging bool
	hidden  []powerbi.PipelineOperation
}

func (s *service) RoundTrip(r *http.Request) (*http.Response, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	path := strings.TrimPrefix(r.URL.Path, "/v1.0/myorg/pipelines/p1")
	reply := func(code int, v any) (*http.Response, error) {
		b, _ := json.Marshal(v)
		return &http.Response{StatusCode: code, Header: http.Header{"Content-Type": {"application/json"}, "Requestid": {"rid"}},
			Body: io.NopCloser(strings.NewReader(string(b))), Request: r}, nil
	}
	switch {
	case r.Method == "GET" && path == "/operations":
		ops := s.ops
		if len(s.hidden) > 0 {
			s.ops = append(s.ops, s.hidden...)
			s.hidden = nil
		}
		return reply(200, map[string]any{"value": ops})
	case r.Method == "GET" && strings.HasPrefix(path, "/operations/"):
		s.polls = append(s.polls, time.Now())
		st := s.statuses[0]
		if len(s.statuses) > 1 {
			s.statuses = s.statuses[1:]
		}
		op := powerbi.PipelineOperation{ID: "op1", Status: st, ExecutionPlan: &powerbi.ExecutionPlan{Steps: []powerbi.ExecutionStep{
			{Index: 0, Type: "DatasetDeployment", Status: st, SourceAndTarget: &powerbi.SourceAndTarget{SourceDisplayName: "Sales"}},
		}}}
		if st == powerbi.StatusFailed {
			op.ExecutionPlan.Steps[0].Error = &powerbi.DeploymentError{ErrorCode: "Alm_InvalidRequest_PurgeRequired", ErrorDetails: "schema changed"}
		}
		return reply(200, op)
	case r.Method == "POST" && (path == "/deployAll" || path == "/deploy"):
		if s.lagging && (len(s.hidden) > 0 || len(s.ops) > 0) {
			return reply(400, map[string]any{"error": map[string]any{"code": "WorkspaceMigrationOperationInProgress", "message": "busy"}})
		}
		s.posts++
		op := powerbi.PipelineOperation{ID: fmt.Sprintf("op%d", s.posts), Status: "NotStarted", SourceStageOrder: 0, TargetStageOrder: 1}
		if s.posts <= s.postFails {
			switch {
			case s.lagging:
				s.hidden = append(s.hidden, op)
			case s.createAnyway:
				s.ops = append(s.ops, op)
			}
			return reply(500, map[string]any{"error": map[string]any{"code": "InternalError", "message": "boom"}})
		}
		s.ops = append(s.ops, op)
		return reply(202, op)
	}
	return reply(404, map[string]any{"error": map[string]any{"code": "PowerBIEntityNotFound"}})
}

func client(t *testing.T, s *service) *powerbi.Client {
	t.Helper()
	c, err := powerbi.NewClient(&http.Client{Transport: s}, "https://api.test/v1.0/myorg/")
	require.NoError(t, err)
	return c
}

type logbook struct {
	mu    sync.Mutex
	lines []string
}

func (l *logbook) add(kind, f string, a ...any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.lines = append(l.lines, kind+": "+fmt.Sprintf(f, a...))
}
func (l *logbook) Info(f string, a ...any)            { l.add("info", f, a...) }
func (l *logbook) Warning(f string, a ...any)         { l.add("warning", f, a...) }
func (l *logbook) Progress(p int, f string, a ...any) { l.add(fmt.Sprintf("progress %d", p), f, a...) }
func (l *logbook) String() string                     { return strings.Join(l.lines, "\n") }

func plan() *Plan {
	return &Plan{Direction: resolve.Direction{Source: 0, Target: 1}, Request: &powerbi.SelectiveDeployRequest{}}
}

func TestWaitPollsUntilDone(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := &service{statuses: []string{"NotStarted", "Executing", "Executing", "Executing", "Executing", "Succeeded"}}
		var lg logbook
		start := time.Now()
		op, err := Wait(context.Background(), client(t, s), "p1", &powerbi.PipelineOperation{ID: "op1", Status: "NotStarted"}, WaitOptions{Timeout: time.Hour}, &lg)
		require.NoError(t, err)
		assert.Equal(t, "Succeeded", op.Status)
		var gaps []time.Duration
		prev := start
		for _, p := range s.polls {
			gaps = append(gaps, p.Sub(prev))
			prev = p
		}
		assert.Equal(t, []time.Duration{time.Second, 2 * time.Second, 3 * time.Second, 5 * time.Second, 5 * time.Second, 5 * time.Second}, gaps)
		assert.Contains(t, lg.String(), "Deployment op1: Executing (0 of 1 steps done)")
		assert.Contains(t, lg.String(), "progress 100: Deployment op1: Succeeded (1 of 1 steps done)")
	})
}

func TestWaitTimesOutWithoutCancelling(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := &service{statuses: []string{"Executing"}}
		start := time.Now()
		op, err := Wait(context.Background(), client(t, s), "p1", &powerbi.PipelineOperation{ID: "op1", Status: "NotStarted"}, WaitOptions{Timeout: 2 * time.Minute}, &logbook{})
		var te *TimeoutError
		require.ErrorAs(t, err, &te)
		assert.Equal(t, 2*time.Minute, time.Since(start))
		assert.Equal(t, "Executing", op.Status)
		assert.Contains(t, err.Error(), "was not cancelled")
	})
}

func TestWaitExplainsFailure(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := &service{statuses: []string{"Failed"}}
		_, err := Wait(context.Background(), client(t, s), "p1", &powerbi.PipelineOperation{ID: "op1", Status: "Executing"}, WaitOptions{Timeout: time.Hour}, &logbook{})
		var fe *FailedError
		require.ErrorAs(t, err, &fe)
		assert.Equal(t, []string{`step 0, DatasetDeployment "Sales": Alm_InvalidRequest_PurgeRequired — schema changed`}, fe.Steps)
	})
}

func TestWaitStopsOnCancel(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := &service{statuses: []string{"Executing"}}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_, err := Wait(ctx, client(t, s), "p1", &powerbi.PipelineOperation{ID: "op1", Status: "Executing"}, WaitOptions{Timeout: time.Hour}, &logbook{})
		require.Error(t, err)
		assert.Contains(t, err.Error(), "not cancelled and goes on")
	})
}

func TestStartRefusesWhileBusy(t *testing.T) {
	t.Parallel()
	s := &service{ops: []powerbi.PipelineOperation{{ID: "running", Status: "Executing", SourceStageOrder: 1, TargetStageOrder: 2}}}
	_, err := Start(context.Background(), client(t, s), "p1", plan(), &logbook{}, nil)
	var be *BusyError
	require.ErrorAs(t, err, &be)
	assert.Contains(t, err.Error(), "running (Test to Production) is still Executing")
	assert.Zero(t, s.posts)
}

func TestStartAdoptsADeploymentWhoseAnswerWasLost(t *testing.T) {
	t.Parallel()
	s := &service{ops: []powerbi.PipelineOperation{{ID: "old", Status: "Succeeded", SourceStageOrder: 0, TargetStageOrder: 1}}, postFails: 1, createAnyway: true}
	var lg logbook
	op, err := Start(context.Background(), client(t, s), "p1", plan(), &lg, func(context.Context, time.Duration) error { return nil })
	require.NoError(t, err)
	assert.Equal(t, "op1", op.ID)
	assert.Equal(t, 1, s.posts, "never sent twice")
	assert.Contains(t, lg.String(), "Power BI did start it")
}

func TestStartRetriesWhenTheServiceDidNotStartIt(t *testing.T) {
	t.Parallel()
	s := &service{postFails: 2}
	op, err := Start(context.Background(), client(t, s), "p1", plan(), &logbook{}, func(context.Context, time.Duration) error { return nil })
	require.NoError(t, err)
	assert.Equal(t, "op3", op.ID)
	assert.Equal(t, 3, s.posts)
}

func TestStartGivesUpAfterThreeUnknownOutcomes(t *testing.T) {
	t.Parallel()
	s := &service{postFails: 5}
	_, err := Start(context.Background(), client(t, s), "p1", plan(), &logbook{}, func(context.Context, time.Duration) error { return nil })
	require.Error(t, err)
	assert.Contains(t, err.Error(), "after 3 tries")
	assert.Equal(t, 3, s.posts)
}

func TestStartFindsALostDeploymentBehindABusyRefusal(t *testing.T) {
	t.Parallel()
	s := &service{postFails: 1, lagging: true}
	var lg logbook
	op, err := Start(context.Background(), client(t, s), "p1", plan(), &lg, func(context.Context, time.Duration) error { return nil })
	require.NoError(t, err, lg.String())
	assert.Equal(t, "op1", op.ID)
	assert.Equal(t, 1, s.posts)
}

func TestStartRefusesWhileAnUnknownStatusMayRun(t *testing.T) {
	t.Parallel()
	s := &service{ops: []powerbi.PipelineOperation{{ID: "odd", Status: "Running"}}}
	_, err := Start(context.Background(), client(t, s), "p1", plan(), &logbook{}, nil)
	var be *BusyError
	require.ErrorAs(t, err, &be)
}
