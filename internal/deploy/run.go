package deploy

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/pbi-pipelines/azdo-extension/internal/powerbi"
	"github.com/pbi-pipelines/azdo-extension/internal/resolve"
)

// Log is where the orchestration reports (agent.Env satisfies it). Everything passed to it
// that came from the service is outside text; the implementation neutralises it.
type Log interface {
	Info(format string, args ...any)
	Warning(format string, args ...any)
	Progress(percent int, format string, args ...any)
}

// Options shape a run.
type Options struct {
	// Wait: wait until the (last) deployment ends. A plan in several parts always waits for
	// each part but the last before sending the next.
	Wait bool
	// Timeout bounds all the waiting of the run: for a deployment already running on the
	// pipeline, for each part, for the last. The deployments themselves are never cancelled.
	Timeout time.Duration
	// Intervals, when set, replace the adaptive pacing with a fixed schedule (the last
	// repeats); for comparison in benchmarks.
	Intervals []time.Duration
	// Started is called as soon as the service accepts each deployment, before any wait, so
	// that its id is out even if the run is cancelled.
	Started func(part *Part, op *powerbi.PipelineOperation)
}

// Outcome is one part's deployment as last read.
type Outcome struct {
	Part *Part
	Op   *powerbi.PipelineOperation
}

// Run deploys the plan part by part, each exactly once, and waits as the options say. It
// returns what it read of each deployment it started, also when it fails.
func Run(ctx context.Context, c *powerbi.Client, pipelineID string, plan *Plan, o Options, log Log) ([]Outcome, error) {
	deadline := time.Now().Add(o.Timeout)
	parts := plan.Parts()
	if len(parts) > 1 {
		log.Info("%d items are more than the %d the service takes in one deployment: sending them in %d parts, one after another, each once the one before has succeeded", len(plan.Items), MaxItems, len(parts))
	}
	var out []Outcome
	for _, part := range parts {
		if len(parts) > 1 {
			log.Info("Part %d of %d: %s to %s", part.Index, part.Of, part.Items[0], part.Items[len(part.Items)-1])
		}
		op, err := Start(ctx, c, pipelineID, plan.Direction, part, StartOptions{Deadline: deadline, Timeout: o.Timeout, Intervals: o.Intervals}, log)
		var unsure *mayHaveStarted
		switch {
		case errors.As(err, &unsure):
			return out, notSent(err, parts, part.Index+1)
		case err != nil:
			return out, notSent(err, parts, part.Index)
		}
		if o.Started != nil {
			o.Started(part, op)
		}
		out = append(out, Outcome{Part: part, Op: op})
		last := part.Index == part.Of
		if last && !o.Wait {
			log.Info("Started deployment %s; not waiting for it (waitForCompletion is false)", op.ID)
			return out, nil
		}
		if !last && !o.Wait {
			log.Info("Waiting for part %d to end before sending part %d, although waitForCompletion is false: the parts depend on each other", part.Index, part.Index+1)
		}
		final, err := Wait(ctx, c, pipelineID, op, WaitOptions{Deadline: deadline, Timeout: o.Timeout, Intervals: o.Intervals}, log)
		if final != nil {
			out[len(out)-1].Op = final
		}
		if err != nil {
			return out, notSent(err, parts, part.Index+1)
		}
	}
	return out, nil
}

// notSent adds to err which parts, from index from on, were never sent.
func notSent(err error, parts []*Part, from int) error {
	if len(parts) < 2 || from > len(parts) {
		return err
	}
	return &PartsError{Err: err, From: from, Of: len(parts)}
}

// PartsError is a failure that left parts of a split deployment unsent.
type PartsError struct {
	Err      error
	From, Of int
}

func (e *PartsError) Error() string {
	which := fmt.Sprintf("parts %d to %d were", e.From, e.Of)
	if e.From == e.Of {
		which = fmt.Sprintf("part %d was", e.From)
	}
	return fmt.Sprintf("%v\nSo %s not sent; run the task again once the cause is fixed: what is already deployed shows as unchanged", e.Err, which)
}

func (e *PartsError) Unwrap() error { return e.Err }

// active reports whether an operation may still be running: NotStarted or Executing, or an
// unknown status (the service's enum is extensible) on an operation with no end time.
func active(op *powerbi.PipelineOperation) bool {
	switch op.Status {
	case powerbi.StatusNotStarted, powerbi.StatusExecuting:
		return true
	case powerbi.StatusSucceeded, powerbi.StatusFailed:
		return false
	}
	return op.ExecutionEndTime == nil || op.ExecutionEndTime.IsZero()
}

// BusyError says the pipeline stayed busy with another deployment until the bound: Op is the
// deployment seen running, or Refusal the service's answer when it refused ours as busy.
type BusyError struct {
	Op      *powerbi.PipelineOperation
	Refusal error
}

func (e *BusyError) Error() string {
	if e.Op == nil {
		return fmt.Sprintf("Power BI kept refusing the deployment because another one is running on the pipeline (%v), so this one was not sent. Raise waitTimeoutMinutes, or run this task again later", e.Refusal)
	}
	return fmt.Sprintf("deployment %s (%s to %s) is still %s on this pipeline and the service runs one deployment at a time, so this one was not sent. Raise waitTimeoutMinutes, or run this task again once it has ended",
		e.Op.ID, resolve.StageName(e.Op.SourceStageOrder), resolve.StageName(e.Op.TargetStageOrder), e.Op.Status)
}

// mayHaveStarted is a Start failure after which the deployment may or may not be running.
type mayHaveStarted struct{ err error }

func (e *mayHaveStarted) Error() string { return e.err.Error() }
func (e *mayHaveStarted) Unwrap() error { return e.err }

// StartOptions bound Start's wait for a deployment already running.
type StartOptions struct {
	Deadline  time.Time
	Timeout   time.Duration // for messages
	Intervals []time.Duration
}

// Start sends one part exactly once. While another deployment runs on the pipeline it waits for
// it (until the deadline), since the service refuses a second one. When the request fails in a
// way that leaves its fate unknown (5xx, connection lost, timeout after sending), it looks for
// the operation the service started for it before sending again, so a retry never deploys
// twice.
func Start(ctx context.Context, c *powerbi.Client, pipelineID string, d resolve.Direction, part *Part, o StartOptions, log Log) (*powerbi.PipelineOperation, error) {
	const attempts = 3
	uncertain := false // an earlier try may have started a deployment
	var known map[string]bool
	for attempt, busyTurns := 1, 0; ; {
		ops, _, err := c.Pipelines.ListOperations(ctx, pipelineID)
		if err != nil {
			if uncertain {
				return nil, fmt.Errorf("reading the pipeline's deployments to check whether the last request started one failed: %w. Check the pipeline's deployment history before running the task again", err)
			}
			return nil, fmt.Errorf("reading the pipeline's recent deployments: %w", err)
		}
		if uncertain {
			if op := started(ops, d, part.Body.Note, known, log); op != nil {
				return op, nil
			}
		}
		known = map[string]bool{}
		var running *powerbi.PipelineOperation
		for i := range ops {
			known[strings.ToLower(ops[i].ID)] = true
			if running == nil && active(&ops[i]) {
				running = &ops[i]
			}
		}
		if running != nil {
			if busyTurns++; busyTurns > 20 || !time.Now().Before(o.Deadline) {
				return nil, &BusyError{Op: running}
			}
			if err := waitForOther(ctx, c, pipelineID, running, o, log); err != nil {
				return nil, err
			}
			if err := recheckTarget(ctx, c, pipelineID, d, part, log); err != nil {
				return nil, err
			}
			continue
		}
		if uncertain && attempt > attempts {
			return nil, &mayHaveStarted{fmt.Errorf("the deployment request failed %d times without a clear answer, and Power BI shows no deployment started by them", attempts)}
		}
		if uncertain {
			log.Info("Power BI did not start it; sending the deployment again (try %d of %d)", attempt, attempts)
		}
		op, err := send(ctx, c, pipelineID, part)
		if err == nil {
			return op, nil
		}
		switch {
		case ctx.Err() != nil:
			return nil, &mayHaveStarted{fmt.Errorf("cancelled while the deployment request was in flight (%w): it may have started. Check the pipeline's deployment history before running the task again", ctx.Err())}
		case isBusy(err) && !uncertain:
			// Someone started a deployment between our look and our request (or the list lags
			// behind): look again after a pause, within the bound.
			busyTurns++
			pause := min(time.Duration(1<<min(busyTurns, 4))*time.Second, maxInterval)
			if busyTurns > 20 || time.Now().Add(pause).After(o.Deadline) {
				return nil, &BusyError{Refusal: err}
			}
			log.Info("Power BI answers that another deployment is running on the pipeline (%v); looking again in %s", err, pause)
			if err := Sleep(ctx, pause); err != nil {
				return nil, err
			}
			continue
		case !powerbi.UnknownOutcome(err) && uncertain:
			// A definite refusal after an uncertain try: the earlier one may be what it refuses.
			if op := adopt(ctx, c, pipelineID, d, part.Body.Note, known, log); op != nil {
				return op, nil
			}
			return nil, err
		case !powerbi.UnknownOutcome(err):
			return nil, err
		}
		uncertain = true
		log.Info("The deployment request failed without a clear answer (%v); checking whether Power BI started it", err)
		if err := Sleep(ctx, time.Duration(attempt)*2*time.Second); err != nil {
			return nil, err
		}
		attempt++
	}
}

// started finds, among ops, a deployment in direction d that is not among known: one our
// request started although its answer was lost.
func started(ops []powerbi.PipelineOperation, d resolve.Direction, note string, known map[string]bool, log Log) *powerbi.PipelineOperation {
	for _, op := range ops {
		if known[strings.ToLower(op.ID)] || op.SourceStageOrder != d.Source || op.TargetStageOrder != d.Target {
			continue
		}
		if op.Type != "" && !strings.EqualFold(op.Type, "Deploy") {
			continue
		}
		// With a note, the deployment must carry it (the service may have cut a long one).
		if op.Note != nil && note != "" && !strings.HasPrefix(note, op.Note.Content) {
			continue
		}
		log.Info("Power BI did start it: deployment %s", op.ID)
		return &op
	}
	return nil
}

// adopt lists the pipeline's deployments once more and returns the one our request started.
func adopt(ctx context.Context, c *powerbi.Client, pipelineID string, d resolve.Direction, note string, known map[string]bool, log Log) *powerbi.PipelineOperation {
	ops, _, err := c.Pipelines.ListOperations(ctx, pipelineID)
	if err != nil {
		return nil
	}
	return started(ops, d, note, known, log)
}

// recheckTarget drops the request for a new workspace when the target stage got one while
// the task waited (the deployment it waited for created it): the service would refuse it.
func recheckTarget(ctx context.Context, c *powerbi.Client, pipelineID string, d resolve.Direction, part *Part, log Log) error {
	if part.Body.NewWorkspace == nil {
		return nil
	}
	p, _, err := c.Pipelines.Get(ctx, pipelineID, true)
	if err != nil {
		return fmt.Errorf("reading the pipeline's stages again: %w", err)
	}
	for _, st := range p.Stages {
		if st.Order == d.Target && st.WorkspaceID != "" {
			log.Info("The %s stage got workspace %s meanwhile, so the deployment goes there and no new workspace is requested", resolve.StageName(d.Target), st.WorkspaceID)
			part.Body.NewWorkspace = nil
		}
	}
	return nil
}

// waitForOther waits for a deployment someone else started, whatever its outcome.
func waitForOther(ctx context.Context, c *powerbi.Client, pipelineID string, running *powerbi.PipelineOperation, o StartOptions, log Log) error {
	log.Info("Deployment %s (%s to %s) is %s on this pipeline, and the service runs one at a time: waiting for it to end (within waitTimeoutMinutes) before deploying",
		running.ID, resolve.StageName(running.SourceStageOrder), resolve.StageName(running.TargetStageOrder), running.Status)
	final, err := Wait(ctx, c, pipelineID, running, WaitOptions{Deadline: o.Deadline, Timeout: o.Timeout, Intervals: o.Intervals, quiet: true}, log)
	var te *TimeoutError
	var fe *FailedError
	switch {
	case errors.As(err, &te):
		return &BusyError{Op: te.Op}
	case errors.As(err, &fe):
		log.Info("Deployment %s ended: %s", final.ID, final.Status)
		return nil
	case err != nil:
		return fmt.Errorf("waiting for deployment %s, which was running on the pipeline: %w", running.ID, err)
	}
	log.Info("Deployment %s ended: %s", final.ID, final.Status)
	return nil
}

func send(ctx context.Context, c *powerbi.Client, pipelineID string, part *Part) (*powerbi.PipelineOperation, error) {
	if part.Selective {
		op, _, err := c.Pipelines.SelectiveDeploy(ctx, pipelineID, part.Body)
		return op, err
	}
	op, _, err := c.Pipelines.DeployAll(ctx, pipelineID, &part.Body.DeployAllRequest)
	return op, err
}

// isBusy reports the service's refusal of a second deployment on a pipeline.
func isBusy(err error) bool {
	var er *powerbi.ErrorResponse
	return errors.As(err, &er) && er.StatusCode == 400 && strings.EqualFold(er.Code, "WorkspaceMigrationOperationInProgress")
}

// Sleep waits d or until ctx ends.
func Sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// WaitOptions bound and pace the wait.
type WaitOptions struct {
	// Deadline ends the wait; Timeout is the bound as configured, for messages.
	Deadline time.Time
	Timeout  time.Duration
	// Intervals, when set, replace the adaptive pacing (see pace.go) with a fixed schedule.
	Intervals []time.Duration
	// MaxPollErrors ends the wait after this many reads in a row failed (default 5; each read
	// is already retried by the transport).
	MaxPollErrors int
	// Reads, when set, is called with the number of reads made when the wait ends.
	Reads func(int)
	quiet bool // no progress, one line per status change only
}

// TimeoutError says the wait ran out; the deployment goes on.
type TimeoutError struct {
	Op      *powerbi.PipelineOperation
	Timeout time.Duration
}

func (e *TimeoutError) Error() string {
	return fmt.Sprintf("gave up waiting after %s (waitTimeoutMinutes): deployment %s is still %s in Power BI. It was not cancelled and may still finish; follow it in the pipeline's deployment history, or raise waitTimeoutMinutes",
		e.Timeout, e.Op.ID, e.Op.Status)
}

// FailedError is a deployment the service reports as failed, with its failed steps.
type FailedError struct {
	Op    *powerbi.PipelineOperation
	Steps []string
}

func (e *FailedError) Error() string {
	msg := fmt.Sprintf("deployment %s failed", e.Op.ID)
	if len(e.Steps) == 0 {
		return msg + " (the service reported no failed step)"
	}
	return msg + ":\n  " + strings.Join(e.Steps, "\n  ")
}

// Wait reads the operation until it ends, the deadline passes or ctx ends. A Failed operation
// is a *FailedError; running out of time is a *TimeoutError. The last operation read is
// returned in every case where one was read.
func Wait(ctx context.Context, c *powerbi.Client, pipelineID string, op *powerbi.PipelineOperation, o WaitOptions, log Log) (*powerbi.PipelineOperation, error) {
	maxErrs := o.MaxPollErrors
	if maxErrs == 0 {
		maxErrs = 5
	}
	pace := newPacer(time.Now(), o.Intervals)
	if o.Reads != nil {
		defer func() { o.Reads(pace.reads) }()
	}
	last := op
	lastLine := ""
	report := func(op *powerbi.PipelineOperation) {
		done, total := stepCounts(op)
		line := fmt.Sprintf("Deployment %s: %s", op.ID, op.Status)
		if total > 0 && !o.quiet {
			line += fmt.Sprintf(" (%d of %d steps done)", done, total)
		}
		if line == lastLine {
			return
		}
		lastLine = line
		if !o.quiet {
			pct := 0
			if total > 0 {
				pct = done * 100 / total
			}
			log.Progress(pct, "%s", line)
		}
		log.Info("%s", line)
	}
	if !o.quiet {
		report(op)
	}
	errs := 0
	warned := false
	stopped := func(err error) error {
		return fmt.Errorf("stopped waiting (%w); deployment %s was not cancelled and goes on in Power BI: follow it in the pipeline's deployment history", err, last.ID)
	}
	var hint time.Duration // the service's Retry-After on the last read, if any
	for !op.Done() {
		wait := max(pace.next(time.Now(), last), hint)
		remaining := time.Until(o.Deadline)
		if remaining <= 0 {
			return last, &TimeoutError{Op: last, Timeout: o.Timeout}
		}
		if err := Sleep(ctx, min(wait, remaining)); err != nil {
			return last, stopped(err)
		}
		readCtx, cancel := context.WithDeadline(ctx, o.Deadline)
		next, resp, err := c.Pipelines.GetOperation(readCtx, pipelineID, op.ID)
		cancel()
		hint = 0
		if resp != nil {
			hint = min(powerbi.RetryAfter(resp.Header), time.Minute)
		}
		if err != nil {
			if ctx.Err() != nil {
				return last, stopped(ctx.Err())
			}
			if !time.Now().Before(o.Deadline) {
				return last, &TimeoutError{Op: last, Timeout: o.Timeout}
			}
			pace.reads++
			errs++
			if errs >= maxErrs || powerbi.IsNotFound(err) {
				return last, fmt.Errorf("reading deployment %s failed %d times in a row, last: %w. The deployment was not cancelled; check the pipeline's deployment history", op.ID, errs, err)
			}
			log.Warning("Reading deployment %s failed (%v); trying again", op.ID, err)
			continue
		}
		errs = 0
		pace.observe(time.Now(), next)
		op, last = next, next
		report(op)
		if !known(op.Status) && !warned {
			warned = true
			log.Warning("Deployment %s reports status %q, which this task does not know; it keeps waiting until the status is Succeeded or Failed or waitTimeoutMinutes passes", op.ID, op.Status)
		}
	}
	if op.Status == powerbi.StatusFailed {
		return op, &FailedError{Op: op, Steps: FailedSteps(op)}
	}
	return op, nil
}

// known reports whether the task knows a status.
func known(status string) bool {
	switch status {
	case powerbi.StatusNotStarted, powerbi.StatusExecuting, powerbi.StatusSucceeded, powerbi.StatusFailed:
		return true
	}
	return false
}
