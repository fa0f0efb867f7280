package deploy

import (
	"sort"
	"time"

	"github.com/pbi-pipelines/azdo-extension/internal/powerbi"
)

// Pacing: when to read a running deployment again.
//
// The service sends no hint (no Retry-After, no estimate), but each read shows the steps done,
// with the time each ended on the service's clock. From those the pacer learns how long a step
// of each type takes, predicts when the last step ends, and reads again just then; far from the
// predicted end it reads at most every maxInterval, to notice a failure; past a predicted end
// with no step done since, it reads three times a second apart, then backs off, doubling. Until a step has ended
// it ramps up 1 s, 1 s, 1 s, 1 s, 2 s, 3 s, 5 s: most deployments of a few items end in seconds.
//
// A budget bounds the reads whatever the predictions do: at most freeReads plus one per
// budgetPeriod since the deployment was accepted. From three minutes on that is fewer than a
// fixed 5-second loop makes.
const (
	minInterval  = time.Second
	maxInterval  = 15 * time.Second
	freeReads    = 6
	budgetPeriod = 6 * time.Second
	// nearEnd: a predicted end closer than this is aimed at directly (a little after it).
	nearEnd = 1500 * time.Millisecond
)

var ramp = []time.Duration{time.Second, time.Second, time.Second, time.Second, 2 * time.Second, 3 * time.Second, 5 * time.Second}

type pacer struct {
	start time.Time       // when the deployment was accepted, on this machine's clock
	fixed []time.Duration // a fixed schedule instead (the last repeats), for comparison
	reads int             // reads made so far

	lastRead time.Time
	lastDone int
	late     int // reads since the predicted end passed with no new step done
	// offset maps the service's clock to ours (local = service + offset), learnt from when a
	// step's end was first seen: between the previous read and this one. slack is half that
	// bracket; a narrower bracket replaces a wider one.
	offset, slack time.Duration
	haveOffset    bool
}

func newPacer(start time.Time, fixed []time.Duration) *pacer {
	return &pacer{start: start, fixed: fixed, lastRead: start}
}

// observe records a read made at now that returned op.
func (p *pacer) observe(now time.Time, op *powerbi.PipelineOperation) {
	p.reads++
	ends := stepEnds(op)
	if len(ends) > p.lastDone && len(ends) > 0 {
		// The latest end happened between the previous read and this one.
		slack := now.Sub(p.lastRead) / 2
		if !p.haveOffset || slack < p.slack {
			mid := p.lastRead.Add(slack)
			p.offset, p.slack, p.haveOffset = mid.Sub(ends[len(ends)-1].end), slack, true
		}
	}
	if len(ends) != p.lastDone {
		p.late = 0
	}
	p.lastDone = len(ends)
	p.lastRead = now
}

// next is how long to wait before the next read.
func (p *pacer) next(now time.Time, op *powerbi.PipelineOperation) time.Duration {
	if len(p.fixed) > 0 {
		return p.fixed[min(p.reads, len(p.fixed)-1)]
	}
	want := ramp[min(p.reads, len(ramp)-1)]
	if left, ok := p.remaining(now, op); ok {
		switch {
		case left <= 0:
			// The predicted end has passed: back off from 1 s, doubling, so that a step far
			// slower than the others costs no burst of reads (three reads a second apart first: most
			// predictions are off by less).
			want = min(minInterval<<min(max(p.late-2, 0), 4), maxInterval)
			p.late++
		case left <= nearEnd:
			want = max(left+100*time.Millisecond, 200*time.Millisecond)
		default:
			want = min(max(left*7/10, minInterval), maxInterval)
		}
	}
	// The budget: read number reads+1 may happen budgetPeriod × (reads+1-freeReads) after start.
	if over := p.reads + 1 - freeReads; over > 0 {
		earliest := p.start.Add(time.Duration(over) * budgetPeriod)
		want = max(want, earliest.Sub(now))
	}
	return want
}

// remaining predicts how long until the deployment ends, from the steps done so far.
func (p *pacer) remaining(now time.Time, op *powerbi.PipelineOperation) (time.Duration, bool) {
	if !p.haveOffset || op.ExecutionPlan == nil || op.Status != powerbi.StatusExecuting {
		return 0, false
	}
	ends := stepEnds(op)
	if len(ends) == 0 {
		return 0, false
	}
	// Durations: each step from the end of the one before (or the execution start).
	sum := map[string]time.Duration{}
	count := map[string]int{}
	var all time.Duration
	var n int
	prev := time.Time{}
	if op.ExecutionStartTime != nil {
		prev = op.ExecutionStartTime.Time
	}
	for _, e := range ends {
		if !prev.IsZero() && !e.end.Before(prev) {
			d := e.end.Sub(prev)
			sum[e.typ] += d
			count[e.typ]++
			all += d
			n++
		}
		prev = e.end
	}
	if n == 0 {
		return 0, false
	}
	pace := func(typ string) time.Duration {
		if c := count[typ]; c > 0 {
			return sum[typ] / time.Duration(c)
		}
		return all / time.Duration(n)
	}
	var work time.Duration
	for _, s := range op.ExecutionPlan.Steps {
		if !stepDone(s) {
			work += pace(s.Type)
		}
	}
	end := ends[len(ends)-1].end.Add(p.offset).Add(work)
	return end.Sub(now), true
}

type stepEnd struct {
	typ string
	end time.Time
}

// stepEnds lists the done steps that carry a time, by when they ended.
func stepEnds(op *powerbi.PipelineOperation) []stepEnd {
	if op.ExecutionPlan == nil {
		return nil
	}
	var out []stepEnd
	for _, s := range op.ExecutionPlan.Steps {
		if stepDone(s) && s.LastUpdatedTime != nil {
			out = append(out, stepEnd{s.Type, s.LastUpdatedTime.Time})
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].end.Before(out[j].end) })
	return out
}

func stepDone(s powerbi.ExecutionStep) bool {
	return s.Status == powerbi.StatusSucceeded || s.Status == powerbi.StatusFailed
}
