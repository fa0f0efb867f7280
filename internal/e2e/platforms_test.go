package e2e_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pbi-pipelines/azdo-extension/internal/harness"
)

// TestArm64BinariesRunTheTasks: the linux-arm64 binaries of the published form (dist/check, the
// five-platform build make test stages), unpacked from their bundles by the launcher, sign in,
// call the emulator over TLS, deploy and wait exactly as this machine's binaries do, run under
// qemu's user-mode emulation. (darwin binaries cannot run here; the win-x64 ones need a Wine
// with bcryptprimitives.dll, which Debian 12's Wine 8 lacks, so Go 1.26 programs stop at start.)
func TestArm64BinariesRunTheTasks(t *testing.T) {
	t.Parallel()
	if runtime.GOOS != "linux" || runtime.GOARCH != "amd64" {
		t.Skip("runs linux-arm64 binaries under qemu on linux-amd64 only")
	}
	qemu, err := exec.LookPath("qemu-aarch64-static")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("qemu-aarch64-static is missing: .ci/run installs Debian's qemu-user-static")
		}
		t.Skip("qemu-aarch64-static is missing (Debian package qemu-user-static)")
	}
	staged := filepath.Join(filepath.Dir(dist(t)), "check")
	if _, err := os.Stat(filepath.Join(staged, "tasks", "deploy", "bin", "bundle.json")); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("the five-platform build is missing (%v): make test runs make check-package first", err)
		}
		t.Skipf("the five-platform build is missing (%v); run make check-package (make test does)", err)
	}

	// A copy of the published task folders, each with its linux-arm64 binary unpacked by the
	// launcher.
	tmp := t.TempDir()
	ext := filepath.Join(tmp, "extension")
	bins := map[string]string{}
	for _, folder := range []string{"create-pipeline", "deploy", "delete-pipeline"} {
		src, dst := filepath.Join(staged, "tasks", folder), filepath.Join(ext, "tasks", folder)
		for _, f := range []string{"task.json", "run.js", "bin/bundle.br", "bin/bundle.json"} {
			data, err := os.ReadFile(filepath.Join(src, f))
			require.NoError(t, err)
			require.NoError(t, os.MkdirAll(filepath.Dir(filepath.Join(dst, f)), 0o755))
			require.NoError(t, os.WriteFile(filepath.Join(dst, f), data, 0o644))
		}
		out, err := exec.Command("node", "-e", `require(process.argv[1]).locate(process.argv[2], 'linux', 'arm64')
			.then((p) => console.log(p), (e) => { console.error(e.message); process.exit(1); })`,
			filepath.Join(dst, "run.js"), dst).CombinedOutput()
		require.NoError(t, err, "%s", out)
		bin := strings.TrimSpace(string(out))
		require.Equal(t, filepath.Join(dst, "bin", "linux-arm64", "task"), bin)
		head, err := os.ReadFile(bin)
		require.NoError(t, err)
		require.Equal(t, byte(0xB7), head[18], "%s: an ELF for aarch64 (e_machine 183)", bin)
		bins[folder] = bin
	}

	h, err := harness.Start(harness.Options{Dist: ext, Seed: matrixSeed(), DeployDuration: 600 * time.Millisecond, TempDir: tmp})
	require.NoError(t, err)
	defer h.Close()
	step := func(folder string, inputs map[string]string) *harness.Result {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		res, err := h.Run(ctx, harness.Step{Folder: folder, Inputs: inputs, Program: qemu, Args: []string{bins[folder]}})
		require.NoError(t, err)
		t.Logf("%s under qemu-aarch64: %s in %s\n%s", folder, res.Run.Result, res.Duration.Round(time.Millisecond), log(res))
		succeeded(t, res)
		return res
	}

	res := step("create-pipeline", map[string]string{"displayName": "Built for arm64"})
	assert.NotEmpty(t, res.Run.Outputs["pipelineId"])
	res = step("deploy", map[string]string{"pipeline": "Main", "stageOrder": "Test", "createNewWS": "true", "newWsName": "Main [Test]"})
	assert.Equal(t, "Succeeded", res.Run.Outputs["status"])
	assert.Equal(t, 1, deployPosts(h))
	step("delete-pipeline", map[string]string{"pipeline": "Built for arm64"})
	for _, p := range h.Emulator.Snapshot().Pipelines {
		assert.NotEqual(t, "Built for arm64", p.DisplayName)
	}
}
