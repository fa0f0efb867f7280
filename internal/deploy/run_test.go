package deploy

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pbi-pipelines/azdo-extension/internal/emulator"
	"github.com/pbi-pipelines/azdo-extension/internal/powerbi"
	"github.com/pbi-pipelines/azdo-extension/internal/resolve"
)

// The tests run the orchestration against the emulator in this process (no network), inside
// synctest bubbles, so that deployments of minutes pass in an instant on the fake clock.

const (
	tTenant   = "7e570000-0000-4000-8000-000000000001"
	tClient   = "a9900000-0000-4000-8000-000000000001"
	tAppOID   = "a9900000-0000-4000-8000-0000000000a1"
	tPipeline = "91000000-0000-4000-8000-000000000001"
	tDev      = "05000000-0000-4000-8000-000000000001"
	tTest     = "05000000-0000-4000-8000-000000000002"
)

// content is how many items of each kind the Development workspace holds.
type content struct{ dataflows, datasets, reports, dashboards int }

func itemID(prefix string, i int) string { return fmt.Sprintf("%s-0000-4000-8000-%012d", prefix, i) }

// testSeed: the app administers a pipeline whose Development stage holds c; Test is assigned
// unless noTest.
func testSeed(c content, noTest bool) *emulator.Seed {
	admin := emulator.WorkspaceUser{Identifier: tAppOID, PrincipalType: "App", GroupUserAccessRight: "Admin"}
	dev := emulator.Workspace{ID: tDev, Name: "Sales [Dev]", Users: []emulator.WorkspaceUser{admin}}
	for i := range c.dataflows {
		dev.Dataflows = append(dev.Dataflows, emulator.Item{ID: itemID("df000000", i), Name: fmt.Sprintf("Flow %d", i)})
	}
	for i := range c.datasets {
		dev.Datasets = append(dev.Datasets, emulator.Item{ID: itemID("d5000000", i), Name: fmt.Sprintf("Model %d", i)})
	}
	for i := range c.reports {
		r := emulator.Item{ID: itemID("49000000", i), Name: fmt.Sprintf("Report %d", i)}
		if c.datasets > 0 {
			r.DatasetID = itemID("d5000000", i%c.datasets)
		}
		dev.Reports = append(dev.Reports, r)
	}
	for i := range c.dashboards {
		dev.Dashboards = append(dev.Dashboards, emulator.Item{ID: itemID("db000000", i), Name: fmt.Sprintf("Board %d", i)})
	}
	stages := []emulator.PipelineStage{{Order: 0, WorkspaceID: tDev}}
	workspaces := []emulator.Workspace{dev}
	if !noTest {
		stages = append(stages, emulator.PipelineStage{Order: 1, WorkspaceID: tTest})
		workspaces = append(workspaces, emulator.Workspace{ID: tTest, Name: "Sales [Test]", Users: []emulator.WorkspaceUser{admin}})
	}
	return &emulator.Seed{
		TenantID:   tTenant,
		Apps:       []emulator.App{{ClientID: tClient, ObjectID: tAppOID, DisplayName: "deployer", Secret: "s"}},
		Workspaces: workspaces,
		Pipelines: []emulator.Pipeline{{ID: tPipeline, DisplayName: "Sales", Stages: stages,
			Users: []emulator.PipelineUser{{Identifier: tAppOID, PrincipalType: "App"}}}},
	}
}

type fixture struct {
	emu *emulator.Server
	c   *powerbi.Client
	log *logbook

	mu     sync.Mutex
	bodies []map[string]any // deploy request bodies, in order
}

type staticToken string

func (s staticToken) Token(context.Context) (string, error) { return string(s), nil }

// newFixture starts an in-process emulator; call it inside the synctest bubble.
func newFixture(t *testing.T, seed *emulator.Seed, duration time.Duration) *fixture {
	t.Helper()
	return newFixtureWith(t, seed, duration, powerbi.TransportOptions{})
}

// newFixtureWith is newFixture with the client's retry policy.
func newFixtureWith(t *testing.T, seed *emulator.Seed, duration time.Duration, retries powerbi.TransportOptions) *fixture {
	t.Helper()
	f := &fixture{log: &logbook{}}
	emu, err := emulator.New(emulator.Options{Seed: seed, DeployDuration: duration, TokenLifetime: 24 * time.Hour,
		Validate: func(r *http.Request, body []byte) error {
			if r.Method == http.MethodPost && strings.Contains(strings.ToLower(r.URL.Path), "/deploy") {
				var m map[string]any
				if err := json.Unmarshal(body, &m); err != nil {
					return err
				}
				m["_path"] = r.URL.Path
				f.mu.Lock()
				f.bodies = append(f.bodies, m)
				f.mu.Unlock()
			}
			return nil
		}})
	require.NoError(t, err)
	tok, err := emu.TokenFor(tAppOID)
	require.NoError(t, err)
	base, _ := url.Parse(emu.URL + "/v1.0/myorg/")
	rt := powerbi.NewTransport(emu.Transport(), base, staticToken(tok), retries)
	f.c, err = powerbi.NewClient(&http.Client{Transport: rt}, base.String())
	require.NoError(t, err)
	f.emu = emu
	return f
}

// posts counts the deploy requests the emulator answered.
func (f *fixture) posts() int {
	n := 0
	for _, r := range f.emu.Requests() {
		if r.Method == http.MethodPost && strings.Contains(strings.ToLower(r.Path), "/deploy") {
			n++
		}
	}
	return n
}

// operations lists the pipeline's deployments, oldest first, with their plans.
func (f *fixture) operations(t *testing.T) []*powerbi.PipelineOperation {
	t.Helper()
	ops, _, err := f.c.Pipelines.ListOperations(context.Background(), tPipeline)
	require.NoError(t, err)
	var out []*powerbi.PipelineOperation
	for i := len(ops) - 1; i >= 0; i-- {
		op, _, err := f.c.Pipelines.GetOperation(context.Background(), tPipeline, ops[i].ID)
		require.NoError(t, err)
		out = append(out, op)
	}
	return out
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
func (l *logbook) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Join(l.lines, "\n")
}

var forward = resolve.Direction{Source: 0, Target: 1}

func allPlan() *Plan {
	return &Plan{Direction: forward, Base: powerbi.DeployAllRequest{SourceStageOrder: 0,
		Options: &powerbi.DeploymentOptions{AllowCreateArtifact: true, AllowOverwriteArtifact: true}}}
}

// stageItems reads the Development stage as the task does.
func stageItems(t *testing.T, f *fixture) *powerbi.StageArtifacts {
	t.Helper()
	arts, _, err := f.c.Pipelines.ListStageArtifacts(context.Background(), tPipeline, 0)
	require.NoError(t, err)
	return arts
}

func TestRunDeploysAllAndNoticesTheEndWithinASecond(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newFixture(t, testSeed(content{datasets: 3, reports: 3}, false), 30*time.Second)
		var started []string
		reads := 0
		out, err := Run(context.Background(), f.c, tPipeline, allPlan(), Options{Wait: true, Timeout: time.Hour,
			Started: func(_ *Part, op *powerbi.PipelineOperation) { started = append(started, op.ID) }}, f.log)
		require.NoError(t, err, f.log.String())
		require.Len(t, out, 1)
		op := out[0].Op
		assert.Equal(t, powerbi.StatusSucceeded, op.Status)
		assert.Equal(t, []string{op.ID}, started)
		require.NotNil(t, op.ExecutionEndTime)
		assert.LessOrEqual(t, time.Since(op.ExecutionEndTime.Time), time.Second, "noticed within a second")
		for _, r := range f.emu.Requests() {
			if strings.Contains(r.Path, "/operations/") {
				reads++
			}
		}
		assert.LessOrEqual(t, reads, 11, "a 30-second deployment costs a handful of reads")
		assert.Equal(t, 1, f.posts())
		assert.NotContains(t, f.bodies[0], "datasets", "deployAll sends no item lists")
		assert.Contains(t, f.log.String(), "progress 100: Deployment "+op.ID+": Succeeded (6 of 6 steps done)")
	})
}

func TestRunSplitsMoreThan300ItemsIntoOrderedParts(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newFixture(t, testSeed(content{dataflows: 40, datasets: 300, reports: 300, dashboards: 10}, true), 20*time.Second)
		plan := allPlan()
		plan.Batched, plan.Items = true, AllItems(stageItems(t, f))
		plan.Base.Note = "release 42"
		plan.Base.NewWorkspace = &powerbi.NewWorkspace{Name: "Sales [Test]"}
		plan.Base.UpdateAppSettings = &powerbi.UpdateAppSettings{UpdateAppInTargetWorkspace: true}
		parts := plan.Parts()
		require.Len(t, parts, 3)
		assert.Equal(t, []int{300, 300, 50}, []int{len(parts[0].Items), len(parts[1].Items), len(parts[2].Items)})
		assert.NotNil(t, parts[0].Body.NewWorkspace)
		assert.Nil(t, parts[1].Body.NewWorkspace, "only the first part creates the workspace")
		assert.Nil(t, parts[0].Body.UpdateAppSettings)
		assert.NotNil(t, parts[2].Body.UpdateAppSettings, "only the last part updates the app")
		assert.Equal(t, "release 42 (part 2 of 3)", parts[1].Body.Note)
		// Every item once, dependencies first.
		seen := map[string]bool{}
		lastKind := -1
		for _, p := range parts {
			for _, it := range p.Items {
				assert.False(t, seen[it.ID])
				seen[it.ID] = true
				k := kindIndex(it.Kind)
				assert.GreaterOrEqual(t, k, lastKind, "kinds in order")
				lastKind = k
			}
		}
		assert.Len(t, seen, 650)

		// The emulator has no app in the new workspace, so run without the app update.
		plan.Base.UpdateAppSettings = nil
		out, err := Run(context.Background(), f.c, tPipeline, plan, Options{Wait: true, Timeout: time.Hour}, f.log)
		require.NoError(t, err, f.log.String())
		require.Len(t, out, 3)
		ops := f.operations(t)
		require.Len(t, ops, 3)
		for i := 1; i < 3; i++ {
			assert.False(t, ops[i].ExecutionStartTime.Before(ops[i-1].ExecutionEndTime.Time), "part %d started after part %d ended", i+1, i)
		}
		for i, op := range ops {
			assert.Equal(t, powerbi.StatusSucceeded, op.Status)
			assert.Len(t, op.ExecutionPlan.Steps, len(parts[i].Items))
		}
		require.Len(t, f.bodies, 3)
		assert.Contains(t, f.bodies[0], "newWorkspace")
		assert.NotContains(t, f.bodies[1], "newWorkspace")
		assert.Contains(t, f.bodies[0], "dataflows")
		assert.NotContains(t, f.bodies[2], "datasets", "empty lists are left out")
		assert.Contains(t, f.log.String(), "sending them in 3 parts")
		c, ok := Counts(out)
		assert.True(t, ok)
		assert.Equal(t, 650, c.NewArtifactsCount)
	})
}

func kindIndex(k *Kind) int {
	for i, x := range Kinds {
		if x == k {
			return i
		}
	}
	return -1
}

func TestRunStopsAtAFailedPartAndSaysWhatWasNotSent(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		seed := testSeed(content{datasets: 310, reports: 300}, false)
		seed.Workspaces[0].Datasets[7].DeployError = "Alm_InvalidRequest_PurgeRequired"
		f := newFixture(t, seed, 10*time.Second)
		plan := allPlan()
		plan.Batched, plan.Items = true, AllItems(stageItems(t, f))
		out, err := Run(context.Background(), f.c, tPipeline, plan, Options{Wait: true, Timeout: time.Hour}, f.log)
		var fe *FailedError
		require.ErrorAs(t, err, &fe)
		var pe *PartsError
		require.ErrorAs(t, err, &pe)
		assert.Contains(t, err.Error(), `DatasetDeployment "Model 7": Alm_InvalidRequest_PurgeRequired`)
		assert.Contains(t, err.Error(), "So parts 2 to 3 were not sent")
		require.Len(t, out, 1)
		assert.Equal(t, 1, f.posts())
	})
}

func TestRunWaitsForADeploymentAlreadyRunning(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newFixture(t, testSeed(content{datasets: 2}, false), 40*time.Second)
		other, _, err := f.c.Pipelines.DeployAll(context.Background(), tPipeline, &allPlan().Base)
		require.NoError(t, err)
		time.Sleep(5 * time.Second)
		out, err := Run(context.Background(), f.c, tPipeline, allPlan(), Options{Wait: true, Timeout: time.Hour}, f.log)
		require.NoError(t, err, f.log.String())
		assert.Contains(t, f.log.String(), "Deployment "+other.ID+" (Development to Test) is ")
		assert.Contains(t, f.log.String(), "waiting for it to end")
		ops := f.operations(t)
		require.Len(t, ops, 2)
		assert.Equal(t, other.ID, ops[0].ID)
		assert.Equal(t, out[0].Op.ID, ops[1].ID)
		assert.False(t, ops[1].ExecutionStartTime.Before(ops[0].ExecutionEndTime.Time))
	})
}

func TestRunGivesUpOnABusyPipelineAtTheBoundWithoutDeploying(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newFixture(t, testSeed(content{datasets: 2}, false), time.Hour)
		_, _, err := f.c.Pipelines.DeployAll(context.Background(), tPipeline, &allPlan().Base)
		require.NoError(t, err)
		start := time.Now()
		_, err = Run(context.Background(), f.c, tPipeline, allPlan(), Options{Wait: false, Timeout: 2 * time.Minute}, f.log)
		var be *BusyError
		require.ErrorAs(t, err, &be)
		assert.Equal(t, 2*time.Minute, time.Since(start))
		assert.Contains(t, err.Error(), "so this one was not sent")
		assert.Equal(t, 1, f.posts(), "only the other deployment")
	})
}

func TestRunAdoptsADeploymentWhoseAnswerWasLost(t *testing.T) {
	for _, fault := range []emulator.Fault{
		{Method: "POST", Path: "/deployAll$", After: true, Drop: true, Times: 1},
		{Method: "POST", Path: "/deployAll$", After: true, Status: 504, Times: 1},
	} {
		t.Run(fmt.Sprintf("drop=%v", fault.Drop), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				f := newFixture(t, testSeed(content{datasets: 2}, false), 10*time.Second)
				f.emu.InjectFault(fault)
				out, err := Run(context.Background(), f.c, tPipeline, allPlan(), Options{Wait: true, Timeout: time.Hour}, f.log)
				require.NoError(t, err, f.log.String())
				assert.Equal(t, 1, f.posts(), "never sent twice")
				require.Len(t, f.operations(t), 1)
				assert.Equal(t, f.operations(t)[0].ID, out[0].Op.ID)
				assert.Contains(t, f.log.String(), "Power BI did start it")
			})
		})
	}
}

func TestRunSendsAgainOnlyWhenTheServiceStartedNothing(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newFixture(t, testSeed(content{datasets: 2}, false), 10*time.Second)
		f.emu.InjectFault(emulator.Fault{Method: "POST", Path: "/deployAll$", Status: 500, Times: 2})
		out, err := Run(context.Background(), f.c, tPipeline, allPlan(), Options{Wait: true, Timeout: time.Hour}, f.log)
		require.NoError(t, err, f.log.String())
		assert.Equal(t, 3, f.posts())
		ops := f.operations(t)
		require.Len(t, ops, 1, "one deployment")
		assert.Equal(t, ops[0].ID, out[0].Op.ID)
		assert.Contains(t, f.log.String(), "Power BI did not start it; sending the deployment again (try 3 of 3)")
	})
}

func TestRunGivesUpAfterThreeUnknownOutcomes(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newFixture(t, testSeed(content{datasets: 2}, false), 10*time.Second)
		f.emu.InjectFault(emulator.Fault{Method: "POST", Path: "/deployAll$", Status: 502})
		_, err := Run(context.Background(), f.c, tPipeline, allPlan(), Options{Wait: true, Timeout: time.Hour}, f.log)
		require.Error(t, err)
		assert.Contains(t, err.Error(), "failed 3 times without a clear answer")
		assert.Equal(t, 3, f.posts())
		assert.Empty(t, f.operations(t))
	})
}

func TestRunWithoutWaitingReturnsAfterTheAnswer(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newFixture(t, testSeed(content{datasets: 2}, false), time.Hour)
		start := time.Now()
		out, err := Run(context.Background(), f.c, tPipeline, allPlan(), Options{Wait: false, Timeout: time.Hour}, f.log)
		require.NoError(t, err)
		assert.Zero(t, time.Since(start))
		assert.Equal(t, powerbi.StatusNotStarted, out[0].Op.Status)
		assert.Contains(t, f.log.String(), "not waiting for it (waitForCompletion is false)")
	})
}

func TestWaitTimesOutWithoutCancelling(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newFixture(t, testSeed(content{datasets: 2}, false), 10*time.Minute)
		start := time.Now()
		out, err := Run(context.Background(), f.c, tPipeline, allPlan(), Options{Wait: true, Timeout: 2 * time.Minute}, f.log)
		var te *TimeoutError
		require.ErrorAs(t, err, &te)
		assert.Equal(t, 2*time.Minute, time.Since(start))
		assert.Equal(t, powerbi.StatusExecuting, out[0].Op.Status)
		assert.Contains(t, err.Error(), "was not cancelled")
		assert.Contains(t, err.Error(), "waitTimeoutMinutes")
	})
}

func TestWaitStopsOnCancel(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newFixture(t, testSeed(content{datasets: 2}, false), time.Hour)
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		out, err := Run(ctx, f.c, tPipeline, allPlan(), Options{Wait: true, Timeout: time.Hour}, f.log)
		require.Error(t, err)
		require.Len(t, out, 1, "the started deployment is reported")
		assert.Contains(t, err.Error(), "not cancelled and goes on")
	})
}

func TestWaitHonoursRetryAfterWhenThrottled(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		// No retries in the transport: the wait itself must honour the Retry-After.
		f := newFixtureWith(t, testSeed(content{datasets: 2}, false), 10*time.Second, powerbi.TransportOptions{MaxRetries: -1})
		f.emu.InjectFault(emulator.Fault{Method: "GET", Path: "/operations/", Status: 429, RetryAfter: 7, Times: 1})
		_, err := Run(context.Background(), f.c, tPipeline, allPlan(), Options{Wait: true, Timeout: time.Hour}, f.log)
		require.NoError(t, err)
		var reads []time.Time
		for _, r := range f.emu.Requests() {
			if strings.Contains(r.Path, "/operations/") {
				reads = append(reads, r.Time)
			}
		}
		require.GreaterOrEqual(t, len(reads), 2)
		assert.Equal(t, 7*time.Second, reads[1].Sub(reads[0]), "the throttled read is retried after Retry-After")
	})
}

// TestPacingAgainstAFixedLoop is the pacing's promise, on the fake clock: completion noticed
// within a second, and for a long deployment no more reads than a fixed 5-second loop.
func TestPacingAgainstAFixedLoop(t *testing.T) {
	for _, c := range detectionCases {
		t.Run(c.name, func(t *testing.T) {
			m := measureDetection(t, c, nil)
			fixed := measureDetection(t, c, []time.Duration{5 * time.Second})
			t.Logf("%s: adaptive latency %v reads %d; fixed 5 s latency %v reads %d", c.name, m.latency, m.reads, fixed.latency, fixed.reads)
			assert.LessOrEqual(t, m.latency, time.Second)
			if c.duration >= 3*time.Minute {
				assert.LessOrEqual(t, m.reads, fixed.reads)
			}
		})
	}
}

type detectionCase struct {
	name     string
	duration time.Duration
	content  content
}

var detectionCases = []detectionCase{
	{"3s", 3 * time.Second, content{datasets: 2, reports: 3}},
	{"30s", 30 * time.Second, content{datasets: 10, reports: 15, dashboards: 2}},
	{"5min", 5 * time.Minute, content{dataflows: 10, datasets: 60, reports: 120, dashboards: 10}},
}

type detection struct {
	latency time.Duration // noticed minus ended
	reads   int
}

// measureDetection deploys c once on the fake clock and measures how soon the end was noticed.
func measureDetection(t testing.TB, c detectionCase, intervals []time.Duration) detection {
	var d detection
	synctest.Test(t.(*testing.T), func(t *testing.T) { d = detectOnce(t, c, intervals) })
	return d
}

func detectOnce(t *testing.T, c detectionCase, intervals []time.Duration) detection {
	f := newFixture(t, testSeed(c.content, false), c.duration)
	op, _, err := f.c.Pipelines.DeployAll(context.Background(), tPipeline, &allPlan().Base)
	require.NoError(t, err)
	var d detection
	final, err := Wait(context.Background(), f.c, tPipeline, op, WaitOptions{Deadline: time.Now().Add(time.Hour), Timeout: time.Hour,
		Intervals: intervals, Reads: func(n int) { d.reads = n }}, f.log)
	require.NoError(t, err)
	d.latency = time.Since(final.ExecutionEndTime.Time)
	return d
}

// TestPacerBacksOffWhenTheLastStepIsLate: a last step far slower than the others must not cost
// a burst of reads once its predicted end has passed.
func TestPacerBacksOffWhenTheLastStepIsLate(t *testing.T) {
	t.Parallel()
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	step := func(i int, status string, end time.Time) powerbi.ExecutionStep {
		s := powerbi.ExecutionStep{Index: i, Type: "ReportDeployment", Status: status}
		if !end.IsZero() {
			s.LastUpdatedTime = &powerbi.Time{Time: end}
		}
		return s
	}
	op := &powerbi.PipelineOperation{ID: "op", Status: powerbi.StatusExecuting, ExecutionStartTime: &powerbi.Time{Time: start},
		ExecutionPlan: &powerbi.ExecutionPlan{}}
	for i := range 40 {
		op.ExecutionPlan.Steps = append(op.ExecutionPlan.Steps, step(i, powerbi.StatusSucceeded, start.Add(time.Duration(i+1)*15*time.Second)))
	}
	op.ExecutionPlan.Steps = append(op.ExecutionPlan.Steps, step(40, powerbi.StatusExecuting, time.Time{}))
	p := newPacer(start, nil)
	now := start.Add(600 * time.Second) // the 40th step ended just before
	p.lastRead = now.Add(-time.Second)
	p.observe(now, op)
	var gaps []time.Duration
	for range 12 { // the last step runs 10 minutes over
		d := p.next(now, op)
		gaps = append(gaps, d)
		now = now.Add(d)
		p.observe(now, op)
	}
	late := -1
	for i, g := range gaps {
		assert.GreaterOrEqual(t, g, time.Second, "no burst: %v", gaps)
		if late < 0 && g == time.Second {
			late = i
		}
	}
	require.GreaterOrEqual(t, late, 0, "%v", gaps)
	for i := late + 1; i < len(gaps); i++ {
		assert.GreaterOrEqual(t, gaps[i], gaps[i-1], "past the predicted end the reads back off: %v", gaps)
	}
	assert.Equal(t, maxInterval, gaps[len(gaps)-1], "backs off to the cap: %v", gaps)
}
