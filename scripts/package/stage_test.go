package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestParsePlatforms(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in      string
		want    []string
		wantErr string
	}{
		{in: "linux-x64", want: []string{"linux-x64"}},
		{in: " win-x64 , darwin-arm64,win-x64,", want: []string{"win-x64", "darwin-arm64"}},
		{in: strings.Join(PlatformNames(), ","), want: PlatformNames()},
		{in: "linux-x86", wantErr: `unknown platform "linux-x86"`},
		{in: " , ", wantErr: "no platform given"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			t.Parallel()
			got, err := ParsePlatforms(tt.in)
			if tt.wantErr != "" {
				require.ErrorContains(t, err, tt.wantErr)
				return
			}
			require.NoError(t, err)
			var names []string
			for _, p := range got {
				names = append(names, p.Name)
			}
			assert.Equal(t, tt.want, names)
		})
	}
}

func TestPlatformsMatchTheLauncher(t *testing.T) {
	t.Parallel()
	// The launcher owns the folder names; the packager must build exactly those.
	src, err := os.ReadFile(filepath.Join("..", "launcher", "run.js"))
	require.NoError(t, err)
	for _, p := range platforms {
		assert.Contains(t, string(src), "'"+p.Name+"']", "run.js maps to %s", p.Name)
	}
	assert.Equal(t, []string{"linux-x64", "linux-arm64", "win-x64", "darwin-x64", "darwin-arm64"}, PlatformNames())
}

// writeFiles lays out files (slash-separated names) under root.
func writeFiles(t *testing.T, root string, files map[string]string) {
	t.Helper()
	for name, content := range files {
		p := filepath.Join(root, filepath.FromSlash(name))
		require.NoError(t, os.MkdirAll(filepath.Dir(p), 0o755))
		require.NoError(t, os.WriteFile(p, []byte(content), 0o644))
	}
}

// fixture is a throwaway module shaped like the repository: one task, the launcher, a
// manifest listing the task, an image folder and an overview.
func fixture(t *testing.T) string {
	t.Helper()
	root := t.TempDir()
	writeFiles(t, root, map[string]string{
		"go.mod":                  "module example.com/fixture\n\ngo 1.22\n",
		"tasks/hello/task.json":   "{\n  \"name\": \"Hello\",\n  \"version\": {\n    \"Major\": 1,\n    \"Minor\": 0,\n    \"Patch\": 0\n  }\n}\n",
		"tasks/hello/main.go":     "package main\n\nfunc main() { println(\"hello\") }\n",
		"tasks/hello/notes.txt":   "not packaged",
		"scripts/launcher/run.js": "// launcher\n",
		"images/icon.png":         "png",
		"images/more/screen.png":  "png",
		"docs/overview.md":        "# Overview\n",
		"docs/DESIGN.md":          "not packaged",
		"vss-extension.json": `{
  "manifestVersion": 1,
  "version": "1.0.0",
  "icons": {"default": "images/icon.png"},
  "content": {"details": {"path": "docs/overview.md"}},
  "files": [{"path": "tasks/hello"}, {"path": "images", "addressable": true}]
}
`,
	})
	return root
}

func goCommand(t *testing.T) string {
	t.Helper()
	gocmd, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go command on PATH to build the fixture task")
	}
	return gocmd
}

func listTree(t *testing.T, root string) []string {
	t.Helper()
	var files []string
	require.NoError(t, filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			rel, _ := filepath.Rel(root, p)
			files = append(files, filepath.ToSlash(rel))
		}
		return err
	}))
	return files
}

func TestStage(t *testing.T) {
	t.Parallel()
	gocmd := goCommand(t)
	root := fixture(t)
	out := filepath.Join(root, "dist", "extension")
	writeFiles(t, out, map[string]string{"stale.txt": "from an earlier build"})

	linux, err := ParsePlatforms("linux-x64,win-x64")
	require.NoError(t, err)
	var log bytes.Buffer
	err = Stage(context.Background(), Options{
		Root: root, Out: "dist/extension", Platforms: linux, Version: "1.2.3",
		GoCmd: gocmd, Environ: os.Environ(), Jobs: 2,
	}, &log)
	require.NoError(t, err)

	assert.ElementsMatch(t, []string{
		"vss-extension.json",
		"images/icon.png",
		"images/more/screen.png",
		"docs/overview.md",
		"tasks/hello/task.json",
		"tasks/hello/run.js",
		"tasks/hello/bin/linux-x64/task",
		"tasks/hello/bin/win-x64/task.exe",
	}, listTree(t, out))

	run, err := os.ReadFile(filepath.Join(out, "tasks/hello/run.js"))
	require.NoError(t, err)
	assert.Equal(t, "// launcher\n", string(run))

	var m struct{ Version string }
	raw, err := os.ReadFile(filepath.Join(out, "vss-extension.json"))
	require.NoError(t, err)
	require.NoError(t, json.Unmarshal(raw, &m))
	assert.Equal(t, "1.2.3", m.Version)

	task, err := os.ReadFile(filepath.Join(out, "tasks/hello/task.json"))
	require.NoError(t, err)
	assert.Contains(t, string(task), "\"version\": {\n    \"Major\": 1,\n    \"Minor\": 2,\n    \"Patch\": 3\n  }", "the task takes the extension's version")

	exe, err := os.ReadFile(filepath.Join(out, "tasks/hello/bin/win-x64/task.exe"))
	require.NoError(t, err)
	assert.True(t, bytes.HasPrefix(exe, []byte("MZ")), "a Windows executable")
	elf, err := os.ReadFile(filepath.Join(out, "tasks/hello/bin/linux-x64/task"))
	require.NoError(t, err)
	assert.True(t, bytes.HasPrefix(elf, []byte("\x7fELF")), "a Linux executable")

	lines := strings.Split(strings.TrimSpace(log.String()), "\n")
	require.Len(t, lines, 2, log.String())
	assert.Regexp(t, `^tasks/hello\s+2 platforms\s+\d+\.\d MiB$`, lines[0])
	assert.Regexp(t, `^dist/extension\s+1 tasks\s+\d+\.\d MiB$`, lines[1])
}

func TestStageErrors(t *testing.T) {
	t.Parallel()
	gocmd := goCommand(t)
	tests := []struct {
		name    string
		files   map[string]string
		wantErr string
	}{
		{
			name:    "task folder missing from the manifest",
			files:   map[string]string{"tasks/other/task.json": "{}"},
			wantErr: "tasks/other has a task.json but vss-extension.json does not list it",
		},
		{
			name:    "listed path missing",
			files:   map[string]string{"vss-extension.json": `{"files": [{"path": "tasks/hello"}, {"path": "nope"}]}`},
			wantErr: `vss-extension.json lists "nope"`,
		},
		{
			name:    "path outside the repository",
			files:   map[string]string{"vss-extension.json": `{"files": [{"path": "../x"}]}`},
			wantErr: "outside the repository",
		},
		{
			name:    "task that does not compile",
			files:   map[string]string{"tasks/hello/main.go": "package main\n\nfunc main() { undefined() }\n"},
			wantErr: "go build tasks/hello for linux-x64",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			root := fixture(t)
			writeFiles(t, root, tt.files)
			p, err := ParsePlatforms("linux-x64")
			require.NoError(t, err)
			err = Stage(context.Background(), Options{
				Root: root, Out: "dist/extension", Platforms: p, GoCmd: gocmd, Environ: os.Environ(),
			}, &bytes.Buffer{})
			assert.ErrorContains(t, err, tt.wantErr)
		})
	}
}

func TestRunFlags(t *testing.T) {
	t.Parallel()
	var stdout, stderr bytes.Buffer
	assert.Equal(t, 2, run(context.Background(), []string{"-platforms", "amiga"}, nil, &stdout, &stderr))
	assert.Contains(t, stderr.String(), `unknown platform "amiga"`)

	stderr.Reset()
	assert.Equal(t, 2, run(context.Background(), []string{"extra"}, nil, &stdout, &stderr))
	assert.Contains(t, stderr.String(), `unexpected argument "extra"`)

	stderr.Reset()
	root := t.TempDir()
	assert.Equal(t, 1, run(context.Background(), []string{"-root", root}, nil, &stdout, &stderr))
	assert.Contains(t, stderr.String(), "vss-extension.json")
}
