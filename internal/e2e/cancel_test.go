package e2e_test

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pbi-pipelines/azdo-extension/internal/emulator"
	"github.com/pbi-pipelines/azdo-extension/internal/harness"
)

// Cancellation as the agent does it (SIGINT to the launcher, SIGTERM 7.5 s later) while the task
// signs in, while it waits for an answer, and while it waits for a deployment: it stops within
// 2 s of the SIGINT, says so, exits non-zero, and leaves no process behind.
func TestCancellationStopsPromptlyEverywhere(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name   string
		fault  *emulator.Fault
		folder string
		inputs map[string]string
		after  time.Duration
		want   []string
	}{
		{"during sign-in", &emulator.Fault{Method: "POST", Path: `/oauth2/v2\.0/token$`, Delay: time.Minute}, "create-pipeline",
			map[string]string{"displayName": "Never"}, 1500 * time.Millisecond, []string{"the task was cancelled"}},
		{"during a request", &emulator.Fault{Method: "GET", Path: `^/v1\.0/myorg/pipelines$`, Delay: time.Minute}, "delete-pipeline",
			map[string]string{"pipeline": "Doomed"}, 1500 * time.Millisecond, []string{"the task was cancelled"}},
		{"during a deployment", nil, "deploy",
			map[string]string{"pipeline": "Main", "stageOrder": "Test", "createNewWS": "true", "newWsName": "C [Test]"}, 2500 * time.Millisecond,
			[]string{"the task was cancelled", "was not cancelled and goes on in Power BI"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			tmp := t.TempDir()
			h, err := harness.Start(harness.Options{Dist: dist(t), Seed: matrixSeed(), DeployDuration: time.Minute,
				Node: nodeUnderTest(t), TempDir: tmp})
			require.NoError(t, err)
			defer h.Close()
			if c.fault != nil {
				h.Emulator.InjectFault(*c.fault)
			}
			ctx, cancel := context.WithCancel(context.Background())
			timer := time.AfterFunc(c.after, cancel)
			defer timer.Stop()
			start := time.Now()
			res, err := h.Run(ctx, harness.Step{Folder: c.folder, Inputs: c.inputs})
			require.ErrorIs(t, err, context.Canceled)
			require.NotNil(t, res)
			stopped := time.Since(start) - c.after
			t.Logf("stopped %s after SIGINT\n%s", stopped.Round(time.Millisecond), log(res))
			assert.Less(t, stopped, 2*time.Second, "stops within 2 s of SIGINT")
			assert.NotEqual(t, 0, res.Run.ExitCode)
			for _, w := range c.want {
				assert.Contains(t, string(res.Raw), w)
			}
			if c.folder == "deploy" {
				assert.NotEmpty(t, res.Run.Outputs["operationId"], "which deployment goes on")
				assert.Contains(t, string(res.Raw), res.Run.Outputs["operationId"])
			}
			assert.Empty(t, processesWith(t, tmp), "no process of the run is left")
		})
	}
}

// processesWith lists the processes whose environment mentions marker (the run's own temp
// folder); Linux only.
func processesWith(t *testing.T, marker string) []string {
	if runtime.GOOS != "linux" {
		t.Log("not on Linux: the process check is skipped")
		return nil
	}
	time.Sleep(100 * time.Millisecond)
	var found []string
	dirs, _ := filepath.Glob("/proc/[0-9]*")
	for _, d := range dirs {
		env, err := os.ReadFile(filepath.Join(d, "environ"))
		if err != nil || !bytes.Contains(env, []byte(marker)) {
			continue
		}
		cmd, _ := os.ReadFile(filepath.Join(d, "cmdline"))
		found = append(found, filepath.Base(d)+": "+string(bytes.ReplaceAll(cmd, []byte{0}, []byte{' '})))
	}
	return found
}
