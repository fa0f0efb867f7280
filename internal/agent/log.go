package agent

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"sync"
)

// Result is a task result as task.complete accepts it. The agent parses it with a
// case-sensitive Enum.TryParse, so only these spellings work ("Cancelled" does not parse).
type Result string

// The results a task reports.
const (
	Succeeded           Result = "Succeeded"
	SucceededWithIssues Result = "SucceededWithIssues"
	Failed              Result = "Failed"
)

// lineBreaks splits text where the agent's reader ends a line: LF, CRLF or a lone CR.
var lineBreaks = strings.NewReplacer("\r\n", "\n", "\r", "\n")

// writeLines writes each line followed by "\n" in one Write, so lines from concurrent
// callers never interleave.
func (e *Env) writeLines(lines ...string) {
	var b strings.Builder
	for _, l := range lines {
		b.WriteString(l)
		b.WriteByte('\n')
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	_, _ = io.WriteString(e.w, b.String()) // a broken stdout leaves nothing to report to
}

// command writes one logging command.
func (e *Env) command(name string, props map[string]string, data string) {
	e.writeLines(FormatCommand(name, props, data))
}

// Info writes plain log text. The text is split into lines and every line is neutralised,
// so nothing in it can act as a logging command or a formatting tag.
func (e *Env) Info(format string, args ...any) {
	lines := strings.Split(lineBreaks.Replace(fmt.Sprintf(format, args...)), "\n")
	for i, l := range lines {
		lines[i] = Neutralize(l)
	}
	e.writeLines(lines...)
}

// Debug writes a task.debug command when the pipeline runs with System.Debug = true.
func (e *Env) Debug(format string, args ...any) {
	if !e.debug {
		return
	}
	e.command("task.debug", nil, Neutralize(fmt.Sprintf(format, args...)))
}

// Warning logs a warning issue; Finish then reports SucceededWithIssues instead of
// Succeeded.
func (e *Env) Warning(format string, args ...any) {
	e.mu.Lock()
	e.warned = true
	e.mu.Unlock()
	e.issue("warning", fmt.Sprintf(format, args...))
}

// Error logs an error issue. It does not fail the task by itself (the agent does not
// either; return an error to Finish for that), but a task that logged one and then
// succeeds reports SucceededWithIssues.
func (e *Env) Error(format string, args ...any) {
	e.mu.Lock()
	e.warned = true
	e.mu.Unlock()
	e.issue("error", fmt.Sprintf(format, args...))
}

func (e *Env) issue(typ, msg string) {
	e.command("task.logissue", map[string]string{"type": typ}, Neutralize(msg))
}

// SetSecret registers value with the agent's log masker; empty values are ignored. The
// value is sent verbatim (only escaped): it is data of our own command, so it cannot start
// another one.
func (e *Env) SetSecret(value string) {
	if value == "" {
		return
	}
	e.command("task.setsecret", nil, value)
}

// SetOutput sets output variable name (isOutput=true), read by later steps as
// <step>.<name>. The value is escaped, not neutralised: it must arrive unchanged.
func (e *Env) SetOutput(name, value string) {
	e.command("task.setvariable", map[string]string{"variable": name, "isOutput": "true"}, value)
}

// UploadSummary attaches a markdown file to the run's summary page. The agent uploads it after
// the step, so the file must stay (the agent's temp directory lasts the job).
func (e *Env) UploadSummary(path string) {
	e.command("task.uploadsummary", nil, path)
}

// SetVariable sets a pipeline variable for later steps; secret ones are masked by the agent.
func (e *Env) SetVariable(name, value string, secret bool) {
	props := map[string]string{"variable": name}
	if secret {
		props["issecret"] = "true"
	}
	e.command("task.setvariable", props, value)
}

// Progress reports percent (clamped to 0..100) and the current operation.
func (e *Env) Progress(percent int, format string, args ...any) {
	percent = min(max(percent, 0), 100)
	e.command("task.setprogress", map[string]string{"value": strconv.Itoa(percent)}, Neutralize(fmt.Sprintf(format, args...)))
}

// Group starts a collapsible log group and returns the function that ends it (safe to call
// more than once). The agent does not nest groups.
func (e *Env) Group(title string) (end func()) {
	title = strings.ReplaceAll(lineBreaks.Replace(title), "\n", " ") // a title is one line
	e.writeLines("##[group]" + Neutralize(title))
	var once sync.Once
	return func() { once.Do(func() { e.writeLines("##[endgroup]") }) }
}

// Complete reports the task result. An unknown Result is reported as Failed rather than
// as a value the agent would reject.
func (e *Env) Complete(r Result, message string) {
	switch r {
	case Succeeded, SucceededWithIssues, Failed:
	default:
		r = Failed
	}
	e.command("task.complete", map[string]string{"result": string(r)}, Neutralize(message))
}

// Finish is the one place where the task's outcome becomes a result and an exit code.
// nil: task.complete Succeeded (SucceededWithIssues when a warning or error issue was
// logged), 0. An error: an error issue with its text plus task.complete Failed, 1. Multi-line errors
// keep their lines (escaped as %0A). A context.Canceled error says the task was cancelled.
func (e *Env) Finish(err error) int {
	if err == nil {
		e.mu.Lock()
		warned := e.warned
		e.mu.Unlock()
		if warned {
			e.Complete(SucceededWithIssues, "")
		} else {
			e.Complete(Succeeded, "")
		}
		return 0
	}
	msg := err.Error()
	if errors.Is(err, context.Canceled) {
		if msg == context.Canceled.Error() {
			msg = "the task was cancelled"
		} else {
			msg = "the task was cancelled: " + msg
		}
	}
	e.Error("%s", msg)
	e.Complete(Failed, "") // the issue carries the message; no need to log it twice
	return 1
}
