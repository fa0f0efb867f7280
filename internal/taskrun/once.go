package taskrun

import (
	"context"
	"fmt"
	"time"

	"github.com/pbi-pipelines/azdo-extension/internal/powerbi"
)

// Once makes a change exactly once although its answer may be lost. do sends it; done looks
// whether the service already is as asked. When do fails in a way that leaves the outcome
// unknown (5xx, 408, a connection lost after sending, a try that timed out), Once looks: if
// the change is there it is kept, otherwise it is sent again, three tries in all. A definite
// refusal (any other 4xx) is returned at once. what names the change for the log.
func (t *Task) Once(ctx context.Context, what string, do func() error, done func() (bool, error)) error {
	const tries = 3
	uncertain := false
	for try := 1; ; try++ {
		err := do()
		if err == nil || ctx.Err() != nil {
			return err
		}
		if !powerbi.UnknownOutcome(err) {
			// A definite refusal; after an uncertain try it may refuse what that try did.
			if uncertain {
				if ok, cerr := done(); cerr == nil && ok {
					t.Agent.Info("Power BI refused the repeat (%v) because the earlier try did it", err)
					return nil
				}
			}
			return err
		}
		uncertain = true
		t.Agent.Info("%s failed without a clear answer (%v); checking whether Power BI did it", what, err)
		ok, cerr := done()
		if cerr != nil {
			return fmt.Errorf("%w; and checking whether Power BI did it anyway failed too: %v", err, cerr)
		}
		if ok {
			t.Agent.Info("Power BI did it")
			return nil
		}
		if try == tries {
			return fmt.Errorf("%w (after %d tries; Power BI shows none of them took effect)", err, tries)
		}
		t.Agent.Info("Power BI did not do it; trying again (try %d of %d)", try+1, tries)
		timer := time.NewTimer(time.Duration(try) * time.Second)
		select {
		case <-ctx.Done():
			timer.Stop()
			return ctx.Err()
		case <-timer.C:
		}
	}
}
