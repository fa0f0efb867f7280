package agentsim

import (
	"bytes"
	"context"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// These tests start real node processes, so they use real (short) timers; the signal
// escalation itself has nothing to fake.

func requireNode(t *testing.T) {
	t.Helper()
	if _, err := exec.LookPath("node"); err != nil {
		t.Skip("node is not on PATH")
	}
}

const execTaskJSON = `{"name": "T", "inputs": [{"name": "greeting", "type": "string", "label": "g", "defaultValue": "hi"}],
  "execution": {"Node20_1": {"target": "run.js"}, "Node24": {"target": "$(currentDirectory)/run.js"}}}`

// signalWriter records what it is given and closes ready once it has seen marker.
type signalWriter struct {
	mu     sync.Mutex
	buf    bytes.Buffer
	marker string
	once   sync.Once
	ready  chan struct{}
}

func newSignalWriter(marker string) *signalWriter {
	return &signalWriter{marker: marker, ready: make(chan struct{})}
}

func (w *signalWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf.Write(p)
	if strings.Contains(w.buf.String(), w.marker) {
		w.once.Do(func() { close(w.ready) })
	}
	return len(p), nil
}

func (w *signalWriter) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.buf.String()
}

func TestExec(t *testing.T) {
	t.Parallel()
	requireNode(t)
	task := writeTask(t, execTaskJSON, map[string]string{"run.js": `
process.stdout.write('greeting=' + process.env.INPUT_GREETING + '\n');
process.stdout.write('home=' + (process.env.HOME === undefined ? 'unset' : 'set') + '\n');
process.stdout.write('cwd=' + (process.cwd() === __dirname ? 'task dir' : process.cwd()) + '\n');
process.stdout.write('##vso[task.setsecret]tok-1\n');
process.stdout.write('token is tok-1\r\n');
process.stderr.write('warn on stderr\n');
process.stdout.write('##vso[task.setvariable variable=out;isOutput=true;]v%3B1\n');
process.stdout.write('##vso[task.complete result=Succeeded;]done\n');
process.exit(3);
`})
	env, err := task.Environ(Step{})
	require.NoError(t, err)

	live := newSignalWriter("never")
	run, err := Exec(context.Background(), task, env, ExecOptions{Stdout: live, InitialSecrets: []string{"hi"}})
	require.NoError(t, err)
	assert.Equal(t, 3, run.ExitCode)
	assert.Equal(t, "Failed", run.Result, "a non-zero exit fails the step whatever the task reported")
	assert.Equal(t, map[string]string{"out": "v;1"}, run.Outputs)
	assert.Equal(t, []string{"tok-1"}, run.Secrets)
	assert.Subset(t, run.Log, []string{"greeting=***", "home=unset", "cwd=task dir", "token is ***", "warn on stderr"})
	assert.Contains(t, run.Log, "##[error]Exit code 3 returned from process.")
	assert.Contains(t, live.String(), "token is tok-1\r\n", "the live copy is the raw stdout")
	assert.NotContains(t, live.String(), "warn on stderr")
}

func TestExecSucceeds(t *testing.T) {
	t.Parallel()
	requireNode(t)
	task := writeTask(t, execTaskJSON, map[string]string{"run.js": `
console.log('##vso[task.logissue type=warning]careful');
console.log('##vso[task.complete result=SucceededWithIssues;]');
`})
	run, err := Exec(context.Background(), task, nil, ExecOptions{})
	require.NoError(t, err)
	assert.Equal(t, 0, run.ExitCode)
	assert.Equal(t, "SucceededWithIssues", run.Result)
	assert.Equal(t, []Issue{{Type: "warning", Message: "careful"}}, run.Issues)
}

func TestExecErrors(t *testing.T) {
	t.Parallel()
	task := writeTask(t, execTaskJSON, nil)
	_, err := Exec(context.Background(), task, nil, ExecOptions{Node: "/nonexistent/node"})
	require.Error(t, err)

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err = Exec(ctx, task, nil, ExecOptions{})
	require.ErrorIs(t, err, context.Canceled)
}

func TestExecCancel(t *testing.T) {
	t.Parallel()
	requireNode(t)
	tests := []struct {
		name     string
		script   string
		wantExit int
		wantLog  string
	}{
		{
			name: "SIGINT",
			script: `process.on('SIGINT', () => { console.log('got SIGINT'); process.exit(130); });
setInterval(() => {}, 1000); console.log('ready');`,
			wantExit: 130, wantLog: "got SIGINT",
		},
		{
			name: "SIGTERM after the SIGINT grace",
			script: `process.on('SIGINT', () => console.log('ignoring SIGINT'));
process.on('SIGTERM', () => { console.log('got SIGTERM'); process.exit(143); });
setInterval(() => {}, 1000); console.log('ready');`,
			wantExit: 143, wantLog: "got SIGTERM",
		},
		{
			name: "killed after the SIGTERM grace",
			script: `process.on('SIGINT', () => {}); process.on('SIGTERM', () => console.log('ignoring SIGTERM'));
setInterval(() => {}, 1000); console.log('ready');`,
			wantExit: -1, wantLog: "ignoring SIGTERM",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			task := writeTask(t, execTaskJSON, map[string]string{"run.js": tt.script})
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			live := newSignalWriter("ready")
			go func() {
				select {
				case <-live.ready:
					cancel()
				case <-time.After(30 * time.Second):
				}
			}()
			run, err := Exec(ctx, task, nil, ExecOptions{
				Stdout:       live,
				SigintGrace:  200 * time.Millisecond,
				SigtermGrace: 200 * time.Millisecond,
			})
			require.ErrorIs(t, err, context.Canceled)
			require.NotNil(t, run)
			assert.Equal(t, tt.wantExit, run.ExitCode)
			assert.Equal(t, "Canceled", run.Result)
			assert.Contains(t, run.Log, tt.wantLog)
		})
	}
}

func TestLineWriter(t *testing.T) {
	t.Parallel()
	var got []string
	w := &lineWriter{line: func(l string) { got = append(got, l) }}
	for _, chunk := range []string{"a", "b\r", "\nc\r", "d\n", "\r", "", "e\r"} {
		_, err := w.Write([]byte(chunk))
		require.NoError(t, err)
	}
	w.flush()
	assert.Equal(t, []string{"ab", "c", "d", "", "e"}, got)
}

func TestEscalate(t *testing.T) {
	t.Parallel()
	type event struct {
		at  time.Duration
		sig stopSignal
	}
	tests := []struct {
		name     string
		cancel   bool
		exitAt   time.Duration // when the process ends; 0 = never on its own
		want     []event
		wantCanc bool
	}{
		{name: "ends without cancellation", exitAt: time.Second},
		{name: "stops on SIGINT", cancel: true, exitAt: 3 * time.Second, want: []event{{0, sigInterrupt}}, wantCanc: true},
		{name: "stops on SIGTERM", cancel: true, exitAt: 8 * time.Second, want: []event{{0, sigInterrupt}, {7500 * time.Millisecond, sigTerminate}}, wantCanc: true},
		{name: "killed", cancel: true, want: []event{{0, sigInterrupt}, {7500 * time.Millisecond, sigTerminate}, {10 * time.Second, sigKill}}, wantCanc: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			synctest.Test(t, func(t *testing.T) {
				ctx, cancel := context.WithCancel(context.Background())
				defer cancel()
				done := make(chan struct{})
				start := time.Now()
				var got []event
				finished := make(chan bool)
				go func() {
					finished <- escalate(ctx, done, 7500*time.Millisecond, 2500*time.Millisecond, func(s stopSignal) {
						got = append(got, event{time.Since(start), s})
						if s == sigKill {
							close(done)
						}
					})
				}()
				if tt.cancel {
					cancel()
				}
				if tt.exitAt > 0 {
					time.Sleep(tt.exitAt)
					close(done)
				}
				assert.Equal(t, tt.wantCanc, <-finished)
				assert.Equal(t, tt.want, got)
			})
		})
	}
}
