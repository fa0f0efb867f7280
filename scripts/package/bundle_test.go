package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestBundleUnpackedByTheRealLauncher stages a throwaway task with -bundle and runs it
// through the real launcher: the first run unpacks this platform's binary and checks it,
// later runs reuse it, and a damaged bundle fails the step with a logging command.
func TestBundleUnpackedByTheRealLauncher(t *testing.T) {
	t.Parallel()
	gocmd := goCommand(t)
	node, err := exec.LookPath("node")
	if err != nil {
		t.Skip("no node on PATH to run the launcher")
	}
	host := map[string]string{"linux/amd64": "linux-x64", "linux/arm64": "linux-arm64", "darwin/amd64": "darwin-x64", "darwin/arm64": "darwin-arm64"}[runtime.GOOS+"/"+runtime.GOARCH]
	if host == "" {
		t.Skipf("no launcher test on %s/%s", runtime.GOOS, runtime.GOARCH)
	}
	root := fixture(t)
	launcher, err := os.ReadFile("../launcher/run.js")
	require.NoError(t, err)
	compressor, err := os.ReadFile("brotli.js")
	require.NoError(t, err)
	writeFiles(t, root, map[string]string{
		"scripts/launcher/run.js":   string(launcher),
		"scripts/package/brotli.js": string(compressor),
		"tasks/hello/main.go":       "package main\n\nimport (\"fmt\"; \"os\"; \"runtime\")\n\nfunc main() { fmt.Println(\"hello from\", runtime.GOOS, os.Getenv(\"INPUT_WHO\")); os.Exit(3) }\n",
	})
	plats, err := ParsePlatforms("win-x64,darwin-arm64," + host)
	require.NoError(t, err)
	var log bytes.Buffer
	require.NoError(t, Stage(context.Background(), Options{Root: root, Out: "out", Platforms: plats, GoCmd: gocmd,
		Environ: os.Environ(), Jobs: 2, Bundle: true, Quality: 1}, &log))
	task := filepath.Join(root, "out", "tasks", "hello")
	files := listTree(t, task)
	assert.ElementsMatch(t, []string{"task.json", "run.js", "bin/bundle.br", "bin/bundle.json"}, files)

	var idx bundleIndex
	raw, err := os.ReadFile(filepath.Join(task, "bin", "bundle.json"))
	require.NoError(t, err)
	require.NoError(t, json.Unmarshal(raw, &idx))
	require.Len(t, idx.Entries, 3)
	hostEntry := -1
	for i, e := range idx.Entries {
		if e.Platform == host {
			hostEntry = i
		}
	}
	require.GreaterOrEqual(t, hostEntry, 0, "the bundle holds %s", host)

	tmp := t.TempDir()
	runTask := func() (string, int) {
		cmd := exec.Command(node, "run.js")
		cmd.Dir = task
		cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "INPUT_WHO=tests", "TMPDIR=" + tmp}
		out, err := cmd.CombinedOutput()
		code := 0
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			code = ee.ExitCode()
		} else {
			require.NoError(t, err)
		}
		return string(out), code
	}
	out, code := runTask()
	assert.Equal(t, "hello from "+runtime.GOOS+" tests\n", out)
	assert.Equal(t, 3, code)
	st, err := os.Stat(filepath.Join(task, "bin", host, "task"))
	require.NoError(t, err, "unpacked in place")
	assert.NotZero(t, st.Mode()&0o100, "executable")
	out, code = runTask()
	assert.Equal(t, "hello from "+runtime.GOOS+" tests\n", out)
	assert.Equal(t, 3, code)

	// A task folder that cannot take the binary: it runs from a private folder of this run,
	// removed afterwards.
	require.NoError(t, os.RemoveAll(filepath.Join(task, "bin", host)))
	require.NoError(t, os.WriteFile(filepath.Join(task, "bin", host), []byte("in the way"), 0o644))
	out, code = runTask()
	assert.Equal(t, "hello from "+runtime.GOOS+" tests\n", out)
	assert.Equal(t, 3, code)
	left, err := os.ReadDir(tmp)
	require.NoError(t, err)
	assert.Empty(t, left, "the private copy is removed when the task ends")

	// A damaged bundle is refused, not run.
	require.NoError(t, os.RemoveAll(filepath.Join(task, "bin", host)))
	idx.Entries[hostEntry].SHA256 = strings.Repeat("0", 64)
	raw, err = json.Marshal(idx)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(task, "bin", "bundle.json"), raw, 0o644))
	out, code = runTask()
	assert.Equal(t, 1, code)
	assert.Contains(t, out, "##vso[task.logissue type=error]Could not unpack the task binary")
	assert.Contains(t, out, "does not match its checksum")
	assert.Contains(t, out, "##vso[task.complete result=Failed;]")
}

// rebuild is the launcher's unpacking in Go: an entry's bytes from the raw bundle.
func rebuild(t *testing.T, raw []byte, idx bundleIndex, e bundleEntry) []byte {
	t.Helper()
	cut := func(s span) []byte { return raw[s.Offset : s.Offset+s.Length] }
	if e.Data != nil {
		data := bytes.Clone(cut(*e.Data))
		require.NoError(t, e.Filter.apply(data, false))
		return data
	}
	i := slices.IndexFunc(idx.Entries, func(b bundleEntry) bool { return b.Platform == e.Patch.Base })
	require.GreaterOrEqual(t, i, 0)
	out, err := bspatch(rebuild(t, raw, idx, idx.Entries[i]), patch{cut(e.Patch.Ctrl), cut(e.Patch.Diff), cut(e.Patch.Extra)}, int(e.Size))
	require.NoError(t, err)
	return out
}

func TestPackBinaries(t *testing.T) {
	t.Parallel()
	bins := crossBuild(t)
	tests := []struct {
		platforms string
		want      []string // platform, then "whole" or the base of its patch
	}{
		{"win-x64,darwin-arm64,linux-arm64,darwin-x64,linux-x64", []string{
			"linux-x64", "whole", "win-x64", "linux-x64", "darwin-x64", "linux-x64", "linux-arm64", "whole", "darwin-arm64", "linux-arm64"}},
		{"darwin-arm64,win-x64", []string{"win-x64", "whole", "darwin-arm64", "whole"}},
	}
	for _, tt := range tests {
		plats, err := ParsePlatforms(tt.platforms)
		require.NoError(t, err)
		raw, idx, err := packBinaries(plats, bins)
		require.NoError(t, err)
		assert.Equal(t, bundleFormat, idx.Format)
		var got []string
		for _, e := range idx.Entries {
			how := "whole"
			if e.Patch != nil {
				how = e.Patch.Base
			} else {
				require.NotNil(t, e.Filter, e.Platform)
			}
			got = append(got, e.Platform, how)
			data := rebuild(t, raw, idx, e)
			require.Equal(t, bins[e.Platform], data, e.Platform)
			sum := sha256.Sum256(data)
			assert.Equal(t, hex.EncodeToString(sum[:]), e.SHA256)
			assert.Equal(t, map[bool]string{true: "task.exe", false: "task"}[strings.HasPrefix(e.Platform, "win")], e.File)
		}
		assert.Equal(t, tt.want, got, tt.platforms)
	}

	// A binary of the wrong platform never gets into a bundle.
	plats, err := ParsePlatforms("linux-x64")
	require.NoError(t, err)
	_, _, err = packBinaries(plats, map[string][]byte{"linux-x64": bins["darwin-x64"]})
	assert.ErrorContains(t, err, "linux-x64: not an ELF executable")
}

func TestLgwin(t *testing.T) {
	t.Parallel()
	assert.Equal(t, 16, lgwin(10))
	assert.Equal(t, 25, lgwin(20<<20))
	assert.Equal(t, 26, lgwin(34<<20))
	assert.Equal(t, 30, lgwin(2<<30))
	for _, n := range []int{1 << 16, 1<<20 - 16, 1 << 20, 40 << 20} {
		assert.GreaterOrEqual(t, 1<<lgwin(n)-16, n)
	}
}
