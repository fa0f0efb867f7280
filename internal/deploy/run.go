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

// Plan is one deployment request, ready to send.
type Plan struct {
	Direction resolve.Direction
	Selective bool
	Request   *powerbi.SelectiveDeployRequest // for deployAll only the DeployAllRequest part is sent
	Items     []string                        // what a selective deployment names, for the log
}

// Describe says in one line what the plan deploys.
func (p *Plan) Describe() string {
	from, to := resolve.StageName(p.Direction.Source), resolve.StageName(p.Direction.Target)
	dir := ""
	if p.Direction.Backward {
		dir = " (backward)"
	}
	if p.Selective {
		return fmt.Sprintf("%d selected items from %s to %s%s", len(p.Items), from, to, dir)
	}
	return fmt.Sprintf("all content from %s to %s%s", from, to, dir)
}

// active reports whether an operation may still be running: anything not known to be over,
// unknown statuses included (the service's enum is extensible).
func active(op *powerbi.PipelineOperation) bool { return !op.Done() }

// BusyError says another deployment is running on the pipeline: the service runs one at a time.
type BusyError struct{ Op powerbi.PipelineOperation }

func (e *BusyError) Error() string {
	return fmt.Sprintf("deployment %s (%s to %s) is still %s on this pipeline and the service runs one deployment at a time; wait for it to finish and run this task again",
		e.Op.ID, resolve.StageName(e.Op.SourceStageOrder), resolve.StageName(e.Op.TargetStageOrder), e.Op.Status)
}

// Start sends the deployment exactly once. Before sending it refuses when another deployment
// is running. When the request fails in a way that leaves its fate unknown (5xx, connection
// lost), it looks for an operation the service started for it before sending again, so a
// retry never deploys twice.
func Start(ctx context.Context, c *powerbi.Client, pipelineID string, plan *Plan, log Log, sleep func(context.Context, time.Duration) error) (*powerbi.PipelineOperation, error) {
	if sleep == nil {
		sleep = Sleep
	}
	before, _, err := c.Pipelines.ListOperations(ctx, pipelineID)
	if err != nil {
		return nil, fmt.Errorf("reading the pipeline's recent deployments: %w", err)
	}
	known := map[string]bool{}
	for _, op := range before {
		known[strings.ToLower(op.ID)] = true
		if active(&op) {
			return nil, &BusyError{Op: op}
		}
	}
	const attempts = 3
	uncertain := false // an earlier try may have started a deployment
	for attempt := 1; ; attempt++ {
		var op *powerbi.PipelineOperation
		if plan.Selective {
			op, _, err = c.Pipelines.SelectiveDeploy(ctx, pipelineID, plan.Request)
		} else {
			op, _, err = c.Pipelines.DeployAll(ctx, pipelineID, &plan.Request.DeployAllRequest)
		}
		if err == nil {
			return op, nil
		}
		if ctx.Err() != nil {
			return nil, fmt.Errorf("cancelled while the deployment request was in flight (%w): it may have started. Check the pipeline's deployment history before running the task again", ctx.Err())
		}
		if !unknownOutcome(err) && !uncertain {
			return nil, err
		}
		if unknownOutcome(err) {
			uncertain = true
			log.Warning("The deployment request failed without a clear answer (%v); checking whether Power BI started it", err)
		}
		after, _, lerr := c.Pipelines.ListOperations(ctx, pipelineID)
		if lerr != nil {
			return nil, fmt.Errorf("%w; and reading the pipeline's deployments to check whether it started failed too: %v. Check the pipeline's deployment history before running the task again", err, lerr)
		}
		for _, op := range after {
			if !known[strings.ToLower(op.ID)] && op.SourceStageOrder == plan.Direction.Source && op.TargetStageOrder == plan.Direction.Target {
				log.Info("Power BI did start it: deployment %s", op.ID)
				return &op, nil
			}
		}
		if !unknownOutcome(err) {
			// A definite refusal after an uncertain try, and still no trace of it.
			return nil, err
		}
		if attempt == attempts {
			return nil, fmt.Errorf("%w (after %d tries; Power BI shows no deployment started by them)", err, attempts)
		}
		if err := sleep(ctx, time.Duration(attempt)*5*time.Second); err != nil {
			return nil, err
		}
		log.Info("Power BI did not start it; sending the deployment again (try %d of %d)", attempt+1, attempts)
	}
}

// unknownOutcome reports whether a failed POST may nevertheless have reached the service.
func unknownOutcome(err error) bool {
	var er *powerbi.ErrorResponse
	if errors.As(err, &er) {
		return er.StatusCode >= 500 || er.StatusCode == 408
	}
	return !errors.Is(err, context.Canceled) && !errors.Is(err, context.DeadlineExceeded)
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
	Timeout time.Duration
	// Intervals between polls; the last one repeats. Default 1s, 2s, 3s, then every 5s
	// (Microsoft's samples poll every 5 s; deployments of a few items end in seconds).
	Intervals []time.Duration
	// MaxPollErrors ends the wait after this many polls in a row failed (default 5).
	MaxPollErrors int
}

// TimeoutError says the wait ran out; the deployment goes on.
type TimeoutError struct {
	Op      *powerbi.PipelineOperation
	Timeout time.Duration
}

func (e *TimeoutError) Error() string {
	return fmt.Sprintf("gave up waiting after %s: deployment %s is still %s in Power BI. It was not cancelled and may still finish; check the pipeline's deployment history, or raise waitTimeoutMinutes",
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

// Wait polls the operation until it ends, the timeout passes or ctx ends. A Failed operation
// is a *FailedError; running out of time is a *TimeoutError. The last operation read is
// returned in every case where one was read.
func Wait(ctx context.Context, c *powerbi.Client, pipelineID string, op *powerbi.PipelineOperation, o WaitOptions, log Log) (*powerbi.PipelineOperation, error) {
	intervals := o.Intervals
	if len(intervals) == 0 {
		intervals = []time.Duration{time.Second, 2 * time.Second, 3 * time.Second, 5 * time.Second}
	}
	maxErrs := o.MaxPollErrors
	if maxErrs == 0 {
		maxErrs = 5
	}
	deadline := time.Now().Add(o.Timeout)
	last := op
	lastLine := ""
	report := func(op *powerbi.PipelineOperation) {
		done, total := stepCounts(op)
		line := fmt.Sprintf("Deployment %s: %s", op.ID, op.Status)
		if total > 0 {
			line += fmt.Sprintf(" (%d of %d steps done)", done, total)
		}
		if line != lastLine {
			pct := 0
			if total > 0 {
				pct = done * 100 / total
			}
			log.Progress(pct, "%s", line)
			log.Info("%s", line)
			lastLine = line
		}
	}
	report(op)
	errs := 0
	warned := false
	for i := 0; ; i++ {
		if op.Done() {
			break
		}
		wait := intervals[min(i, len(intervals)-1)]
		remaining := time.Until(deadline)
		if remaining <= 0 {
			return last, &TimeoutError{Op: last, Timeout: o.Timeout}
		}
		if err := Sleep(ctx, min(wait, remaining)); err != nil {
			return last, fmt.Errorf("stopped waiting (%w); deployment %s was not cancelled and goes on in Power BI", err, last.ID)
		}
		next, _, err := c.Pipelines.GetOperation(ctx, pipelineID, op.ID)
		if err != nil {
			if ctx.Err() != nil {
				return last, fmt.Errorf("stopped waiting (%w); deployment %s was not cancelled and goes on in Power BI", ctx.Err(), last.ID)
			}
			errs++
			if errs >= maxErrs || powerbi.IsNotFound(err) {
				return last, fmt.Errorf("reading deployment %s failed %d times in a row, last: %w. The deployment was not cancelled; check the pipeline's deployment history", op.ID, errs, err)
			}
			log.Warning("Reading deployment %s failed (%v); trying again", op.ID, err)
			continue
		}
		errs = 0
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

func stepCounts(op *powerbi.PipelineOperation) (done, total int) {
	if op.ExecutionPlan == nil {
		return 0, 0
	}
	for _, s := range op.ExecutionPlan.Steps {
		total++
		if s.Status == powerbi.StatusSucceeded || s.Status == powerbi.StatusFailed {
			done++
		}
	}
	return done, total
}

// stepName names a step for the log: its type and its item.
func stepName(s powerbi.ExecutionStep) string {
	name := s.Type
	if st := s.SourceAndTarget; st != nil {
		item := st.SourceDisplayName
		if item == "" {
			item = st.Source
		}
		name = fmt.Sprintf("%s %q", s.Type, item)
	}
	return name
}

// FailedSteps lists each failed step with its error.
func FailedSteps(op *powerbi.PipelineOperation) []string {
	if op.ExecutionPlan == nil {
		return nil
	}
	var out []string
	for _, s := range op.ExecutionPlan.Steps {
		if s.Status != powerbi.StatusFailed && s.Error == nil {
			continue
		}
		line := fmt.Sprintf("step %d, %s: failed", s.Index, stepName(s))
		if s.Error != nil {
			line = fmt.Sprintf("step %d, %s: %s", s.Index, stepName(s), s.Error.ErrorCode)
			if s.Error.ErrorDetails != "" {
				line += " — " + s.Error.ErrorDetails
			}
		}
		out = append(out, line)
	}
	return out
}

// Summary lists every step with its outcome, for the log of a finished deployment.
func Summary(op *powerbi.PipelineOperation) []string {
	if op.ExecutionPlan == nil {
		return nil
	}
	var out []string
	for _, s := range op.ExecutionPlan.Steps {
		line := fmt.Sprintf("step %d, %s: %s", s.Index, stepName(s), s.Status)
		if s.PreDeploymentDiffState != "" {
			line += fmt.Sprintf(" (%s)", s.PreDeploymentDiffState)
		}
		out = append(out, line)
	}
	return out
}
