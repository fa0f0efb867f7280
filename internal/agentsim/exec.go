package agentsim

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"
)

// ExecOptions tunes Exec. Zero values give the agent's behaviour.
type ExecOptions struct {
	Node           string        // node executable; default "node" from PATH
	SigintGrace    time.Duration // after SIGINT, wait this long before SIGTERM; default 7.5 s (PROCESS_SIGINT_TIMEOUT)
	SigtermGrace   time.Duration // after SIGTERM, wait this long before killing the tree; default 2.5 s
	Debug          bool          // System.Debug: show task.debug lines in Run.Log
	InitialSecrets []string      // masked from the start (see Step.InitialSecrets)
	Stdout         io.Writer     // optional live copy of the raw stdout
	Stderr         io.Writer     // optional live copy of the raw stderr
	// Program, when set, is run directly instead of node and the task's launcher: to measure
	// the task binary alone (PeakRSS), or to run an emulator (with Args) that runs a binary for
	// another architecture. Not through a shell: shells drop variables such as
	// ENDPOINT_URL_<guid>, whose names hold hyphens.
	Program string
	Args    []string // Program's arguments

}

// Exec runs the packaged task in t.Dir with exactly env (nothing inherited) as the
// agent's Node handler does — node <execution target> — and interprets its output as
// it arrives. When ctx is cancelled the task gets SIGINT, SIGTERM after SigintGrace,
// and its process tree is killed after SigtermGrace; Exec then returns the interpreted
// run (Result "Canceled", as the agent marks the step) together with ctx's error. Other
// errors mean the task could not be run.
func Exec(ctx context.Context, t *Task, env []string, opts ExecOptions) (*Run, error) {
	if opts.Node == "" {
		opts.Node = "node"
	}
	if opts.SigintGrace <= 0 {
		opts.SigintGrace = 7500 * time.Millisecond
	}
	if opts.SigtermGrace <= 0 {
		opts.SigtermGrace = 2500 * time.Millisecond
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	node, err := exec.LookPath(opts.Node)
	if err != nil {
		return nil, fmt.Errorf("find node: %w", err)
	}

	in := newInterpreter(t, opts.Debug, opts.InitialSecrets)
	stdout := &lineWriter{line: in.line, raw: opts.Stdout}
	stderr := &lineWriter{line: in.line, raw: opts.Stderr}
	cmd := exec.Command(node, filepath.Join(t.Dir, t.target()))
	if opts.Program != "" {
		cmd = exec.Command(opts.Program, opts.Args...)
	}
	cmd.Dir = workingDir(env, t.Dir)
	cmd.Env = env
	if cmd.Env == nil {
		cmd.Env = []string{} // nil would mean "inherit ours"
	}
	cmd.Stdout, cmd.Stderr = stdout, stderr
	// Output copying must not hang on a grandchild that keeps the pipes open.
	cmd.WaitDelay = opts.SigtermGrace
	setProcessGroup(cmd)
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", t.Name, err)
	}

	done := make(chan struct{})
	stopped := make(chan struct{})
	cancelled := false // written before close(stopped), read after
	go func() {
		defer close(stopped)
		cancelled = escalate(ctx, done, opts.SigintGrace, opts.SigtermGrace, func(s stopSignal) {
			switch s {
			case sigInterrupt:
				interrupt(cmd.Process)
			case sigTerminate:
				terminate(cmd.Process)
			case sigKill:
				killTree(cmd.Process)
			}
		})
	}()

	waitErr := cmd.Wait()
	close(done)
	<-stopped
	if cancelled {
		killTree(cmd.Process) // the launcher is gone; leave no task binary behind in its group
	}
	stdout.flush()
	stderr.flush()

	exitCode := 0
	var exitErr *exec.ExitError
	switch {
	case waitErr == nil:
	case errors.As(waitErr, &exitErr):
		exitCode = exitErr.ExitCode() // -1 when killed by a signal: a failure either way
	case errors.Is(waitErr, exec.ErrWaitDelay):
	default:
		return nil, fmt.Errorf("run %s: %w", t.Name, waitErr)
	}
	run := in.finish(exitCode)
	if cmd.ProcessState != nil {
		run.PeakRSS = peakRSS(cmd.ProcessState)
	}
	if cancelled {
		// A cancelled job marks the running step Canceled, whatever the task reported.
		run.Result = "Canceled"
		return run, ctx.Err()
	}
	return run, nil
}

// stopSignal is one step of the agent's way of stopping a cancelled process.
type stopSignal int

const (
	sigInterrupt stopSignal = iota
	sigTerminate
	sigKill
)

// escalate waits for done or ctx. On cancellation it sends what the agent's
// ProcessInvoker sends: SIGINT, SIGTERM sigintGrace later, and a kill of the process
// tree sigtermGrace after that, stopping as soon as done closes. It reports whether ctx
// was cancelled before done.
func escalate(ctx context.Context, done <-chan struct{}, sigintGrace, sigtermGrace time.Duration, send func(stopSignal)) bool {
	select {
	case <-done:
		return false
	case <-ctx.Done():
	}
	send(sigInterrupt)
	for _, step := range []struct {
		wait time.Duration
		sig  stopSignal
	}{{sigintGrace, sigTerminate}, {sigtermGrace, sigKill}} {
		timer := time.NewTimer(step.wait)
		select {
		case <-done:
			timer.Stop()
			return true
		case <-timer.C:
		}
		send(step.sig)
	}
	return true
}

// target is the script the agent's Node handler runs: the execution target of the
// highest-priority Node handler in task.json.
func (t *Task) target() string {
	for _, h := range []string{"Node24", "Node20_1", "Node16", "Node10", "Node"} {
		for k, e := range t.Execution {
			if strings.EqualFold(k, h) && e.Target != "" {
				return strings.ReplaceAll(e.Target, "$(currentDirectory)", ".")
			}
		}
	}
	return "run.js"
}

// workingDir is System.DefaultWorkingDirectory when the environment has it, as the
// Node handler uses; else the task folder.
func workingDir(env []string, def string) string {
	for i := len(env) - 1; i >= 0; i-- {
		if v, ok := strings.CutPrefix(env[i], "SYSTEM_DEFAULTWORKINGDIRECTORY="); ok && v != "" {
			return v
		}
	}
	return def
}

// lineWriter splits a stream into lines at LF, CRLF or a lone CR and hands each one on.
// A CR at the end of a write is held back until the next byte shows whether LF follows.
type lineWriter struct {
	mu   sync.Mutex
	line func(string)
	raw  io.Writer
	buf  []byte
}

func (w *lineWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.raw != nil {
		// A failing live copy must not break the run.
		_, _ = w.raw.Write(p)
	}
	w.buf = append(w.buf, p...)
	for {
		i := bytes.IndexAny(w.buf, "\r\n")
		if i < 0 {
			break
		}
		next := i + 1
		if w.buf[i] == '\r' {
			if i+1 == len(w.buf) {
				break // wait for the next byte
			}
			if w.buf[i+1] == '\n' {
				next++
			}
		}
		w.line(string(w.buf[:i]))
		w.buf = w.buf[next:]
	}
	return len(p), nil
}

func (w *lineWriter) flush() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.buf) > 0 {
		w.line(strings.TrimSuffix(string(w.buf), "\r"))
		w.buf = nil
	}
}
