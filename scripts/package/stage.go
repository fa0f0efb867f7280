package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
)

// Platform is one agent platform a task binary is built for.
type Platform struct {
	Name   string // folder under bin/, as the launcher (scripts/launcher/run.js) names it
	GOOS   string
	GOARCH string
}

// Binary is the binary's file name on this platform.
func (p Platform) Binary() string {
	if p.GOOS == "windows" {
		return "task.exe"
	}
	return "task"
}

// platforms are the agent platforms the launcher maps process.platform/arch to.
var platforms = []Platform{
	{"linux-x64", "linux", "amd64"},
	{"linux-arm64", "linux", "arm64"},
	{"win-x64", "windows", "amd64"},
	{"darwin-x64", "darwin", "amd64"},
	{"darwin-arm64", "darwin", "arm64"},
}

// PlatformNames lists every supported platform name.
func PlatformNames() []string {
	names := make([]string, len(platforms))
	for i, p := range platforms {
		names[i] = p.Name
	}
	return names
}

// ParsePlatforms reads a comma-separated list of platform names; "host" names the platform
// this program runs on.
func ParsePlatforms(list string) ([]Platform, error) {
	var out []Platform
	for name := range strings.SplitSeq(list, ",") {
		name = strings.TrimSpace(name)
		if name == "" {
			continue
		}
		if name == "host" {
			i := slices.IndexFunc(platforms, func(p Platform) bool { return p.GOOS == runtime.GOOS && p.GOARCH == runtime.GOARCH })
			if i < 0 {
				return nil, fmt.Errorf("this machine (%s/%s) is not an agent platform the extension ships", runtime.GOOS, runtime.GOARCH)
			}
			name = platforms[i].Name
		}
		i := slices.IndexFunc(platforms, func(p Platform) bool { return p.Name == name })
		if i < 0 {
			return nil, fmt.Errorf("unknown platform %q; known: %s", name, strings.Join(PlatformNames(), ", "))
		}
		if !slices.Contains(out, platforms[i]) {
			out = append(out, platforms[i])
		}
	}
	if len(out) == 0 {
		return nil, errors.New("no platform given")
	}
	return out, nil
}

// Options configure Stage.
type Options struct {
	Root      string     // repository root
	Out       string     // output folder, relative to Root unless absolute; removed first
	Platforms []Platform // platforms to build
	Version   string     // when set, replaces the version in the staged vss-extension.json and every task.json
	Publisher string     // when set, replaces the publisher in the staged vss-extension.json
	GoCmd     string     // the go command
	Environ   []string   // environment for go build (GOOS, GOARCH, CGO_ENABLED are set on top)
	Jobs      int        // builds at once; below 1 means 1
	// Bundle packs each task's binaries into bin/bundle.br + bin/bundle.json, which the
	// launcher unpacks on first use: what keeps the .vsix under 50 MiB.
	Bundle bool
	// Quality is the Brotli quality of the bundle (0-11; 0 means 11).
	Quality int
	// Node is the node command that compresses the bundle.
	Node string
}

const (
	manifestName = "vss-extension.json"
	launcherPath = "scripts/launcher/run.js"
)

// manifest is the part of vss-extension.json that says what the package holds.
type manifest struct {
	Version string `json:"version"`
	Files   []struct {
		Path string `json:"path"`
	} `json:"files"`
	Icons   map[string]string `json:"icons"`
	Content map[string]struct {
		Path string `json:"path"`
	} `json:"content"`
}

// build is one go build of a task for a platform.
type build struct {
	task     string // task folder, slash-separated and relative to Root: tasks/deploy
	platform Platform
	output   string
}

// Stage recreates the output folder with the manifest, the files it lists and every
// task folder built for opts.Platforms, and writes one line per task to w.
func Stage(ctx context.Context, opts Options, w io.Writer) error {
	if len(opts.Platforms) == 0 {
		return errors.New("no platform given")
	}
	out := opts.Out
	if !filepath.IsAbs(out) {
		out = filepath.Join(opts.Root, out)
	}
	raw, err := os.ReadFile(filepath.Join(opts.Root, manifestName))
	if err != nil {
		return err
	}
	var m manifest
	if err := json.Unmarshal(raw, &m); err != nil {
		return fmt.Errorf("%s: %w", manifestName, err)
	}
	tasks, others, err := packaged(opts.Root, m)
	if err != nil {
		return err
	}
	launcher, err := os.ReadFile(filepath.Join(opts.Root, launcherPath))
	if err != nil {
		return err
	}

	if err := os.RemoveAll(out); err != nil {
		return err
	}
	if opts.Version != "" {
		if raw, err = setVersion(raw, opts.Version); err != nil {
			return err
		}
		m.Version = opts.Version
	}
	if opts.Publisher != "" {
		if raw, err = setPublisher(raw, opts.Publisher); err != nil {
			return err
		}
	}
	if err := writeFile(filepath.Join(out, manifestName), raw); err != nil {
		return err
	}
	for _, p := range others {
		if err := copyTree(filepath.Join(opts.Root, filepath.FromSlash(p)), filepath.Join(out, filepath.FromSlash(p))); err != nil {
			return err
		}
	}

	var builds []build
	for _, task := range tasks {
		dst := filepath.Join(out, filepath.FromSlash(task))
		taskJSON, err := os.ReadFile(filepath.Join(opts.Root, filepath.FromSlash(task), "task.json"))
		if err != nil {
			return err
		}
		if taskJSON, err = setTaskVersion(taskJSON, m.Version); err != nil {
			return fmt.Errorf("%s/task.json: %w", task, err)
		}
		if err := writeFile(filepath.Join(dst, "task.json"), taskJSON); err != nil {
			return err
		}
		if err := writeFile(filepath.Join(dst, "run.js"), launcher); err != nil {
			return err
		}
		for _, p := range opts.Platforms {
			builds = append(builds, build{task: task, platform: p, output: filepath.Join(dst, "bin", p.Name, p.Binary())})
		}
	}
	if err := runBuilds(ctx, opts, builds); err != nil {
		return err
	}
	if opts.Bundle {
		if err := bundleAll(ctx, opts, out, tasks); err != nil {
			return err
		}
	}

	var total int64
	for _, task := range tasks {
		size, err := treeSize(filepath.Join(out, filepath.FromSlash(task)))
		if err != nil {
			return err
		}
		total += size
		how := "platforms"
		if opts.Bundle {
			how = "bundled  "
		}
		fmt.Fprintf(w, "%-30s %d %s  %s\n", task, len(opts.Platforms), how, mib(size))
	}
	fmt.Fprintf(w, "%-30s %d tasks      %s\n", filepath.ToSlash(opts.Out), len(tasks), mib(total))
	return nil
}

// packaged splits what the manifest packages into task folders (tasks/<name> holding a
// task.json) and other paths (files, icons, content), and checks that no task folder on
// disk is left out of the manifest.
func packaged(root string, m manifest) (tasks, others []string, err error) {
	seen := map[string]bool{}
	add := func(p string) error {
		clean := path.Clean(strings.TrimPrefix(filepath.ToSlash(p), "./"))
		if clean == "." || path.IsAbs(clean) || strings.HasPrefix(clean, "../") {
			return fmt.Errorf("%s: path %q is outside the repository", manifestName, p)
		}
		if seen[clean] {
			return nil
		}
		seen[clean] = true
		if _, err := os.Stat(filepath.Join(root, filepath.FromSlash(clean))); err != nil {
			return fmt.Errorf("%s lists %q: %w", manifestName, p, err)
		}
		if _, err := os.Stat(filepath.Join(root, filepath.FromSlash(clean), "task.json")); err == nil {
			tasks = append(tasks, clean)
		} else {
			others = append(others, clean)
		}
		return nil
	}
	for _, f := range m.Files {
		if err := add(f.Path); err != nil {
			return nil, nil, err
		}
	}
	for _, k := range sortedKeys(m.Icons) {
		if err := add(m.Icons[k]); err != nil {
			return nil, nil, err
		}
	}
	for _, k := range sortedKeys(m.Content) {
		if err := add(m.Content[k].Path); err != nil {
			return nil, nil, err
		}
	}
	onDisk, err := filepath.Glob(filepath.Join(root, "tasks", "*", "task.json"))
	if err != nil {
		return nil, nil, err
	}
	for _, f := range onDisk {
		rel, err := filepath.Rel(root, filepath.Dir(f))
		if err != nil {
			return nil, nil, err
		}
		if !slices.Contains(tasks, filepath.ToSlash(rel)) {
			return nil, nil, fmt.Errorf("%s has a task.json but %s does not list it under files", filepath.ToSlash(rel), manifestName)
		}
	}
	if len(tasks) == 0 {
		return nil, nil, fmt.Errorf("%s lists no task folder", manifestName)
	}
	// A path inside another listed path is already copied with it.
	others = slices.DeleteFunc(others, func(p string) bool {
		return slices.ContainsFunc(others, func(q string) bool { return strings.HasPrefix(p, q+"/") })
	})
	return tasks, others, nil
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// runBuilds cross-compiles the task binaries, opts.Jobs at a time, and stops at the first
// failure.
func runBuilds(ctx context.Context, opts Options, builds []build) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	jobs := max(opts.Jobs, 1)
	queue := make(chan build)
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		firstErr error
	)
	for range jobs {
		wg.Go(func() {
			for b := range queue {
				if err := goBuild(ctx, opts, b); err != nil {
					mu.Lock()
					if firstErr == nil {
						firstErr = err
						cancel()
					}
					mu.Unlock()
				}
			}
		})
	}
feed:
	for _, b := range builds {
		select {
		case queue <- b:
		case <-ctx.Done():
			break feed
		}
	}
	close(queue)
	wg.Wait()
	if firstErr != nil {
		return firstErr
	}
	return ctx.Err()
}

// buildFlags are the go build flags of every task binary.
//   - -trimpath, -buildvcs=false: the binary depends on the source only, not on where it was
//     checked out or the checkout's git state (two builds of one commit are byte-identical).
//   - -s -w: no symbol table or DWARF (panics still print function names and lines).
//   - -gcflags=all=-l: no inlining, which makes the binaries (and bundles) a seventh smaller —
//     except in the packages that a task's start spends its CPU time in: the runtime, and
//     certificate parsing (the system roots are ~300 certificates parsed on every start).
//     Without inlining there the Go binary's warm run (against the emulator) takes about 40%
//     longer than with full inlining; with it, about 6%. Later -gcflags patterns win.
//   - nethttpomithttp2: net/http without its bundled HTTP/2, 0.4 MB less. The tasks make a
//     handful of sequential calls, for which HTTP/1.1 is as fast; every Power BI, Entra and
//     Azure DevOps endpoint speaks it, and so do proxies.
var buildFlags = []string{
	"-trimpath", "-buildvcs=false", "-tags=nethttpomithttp2", "-ldflags=-s -w",
	"-gcflags=all=-l",
	"-gcflags=runtime=", "-gcflags=internal/runtime/...=",
	"-gcflags=crypto/x509=", "-gcflags=vendor/golang.org/x/crypto/cryptobyte=", "-gcflags=encoding/pem=",
}

func goBuild(ctx context.Context, opts Options, b build) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	gocmd := opts.GoCmd
	if gocmd == "" {
		gocmd = "go"
	}
	cmd := exec.CommandContext(ctx, gocmd, slices.Concat([]string{"build"}, buildFlags, []string{"-o", b.output, "./" + b.task})...)
	cmd.Dir = opts.Root
	cmd.Env = append(slices.Clone(opts.Environ), "CGO_ENABLED=0", "GOOS="+b.platform.GOOS, "GOARCH="+b.platform.GOARCH)
	var output bytes.Buffer
	cmd.Stdout = &output
	cmd.Stderr = &output
	if err := cmd.Run(); err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return fmt.Errorf("go build %s for %s: %w\n%s", b.task, b.platform.Name, err, strings.TrimSpace(output.String()))
	}
	// The binary must be an executable of the platform it is for: a wrong GOOS or GOARCH
	// (or an environment overriding them) fails here, not on a user's agent.
	data, err := os.ReadFile(b.output)
	if err != nil {
		return err
	}
	if _, err := inspect(data, b.platform); err != nil {
		return fmt.Errorf("go build %s: %w", b.task, err)
	}
	return nil
}

func writeFile(name string, data []byte) error {
	if err := os.MkdirAll(filepath.Dir(name), 0o755); err != nil {
		return err
	}
	return os.WriteFile(name, data, 0o644)
}

// copyTree copies a file, or a folder with everything below it.
func copyTree(src, dst string) error {
	return filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(src, p)
		if err != nil {
			return err
		}
		target := filepath.Join(dst, rel)
		switch {
		case d.IsDir():
			return os.MkdirAll(target, 0o755)
		case !d.Type().IsRegular():
			return fmt.Errorf("%s: only regular files can be packaged", p)
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return writeFile(target, data)
	})
}

func treeSize(root string) (int64, error) {
	var size int64
	err := filepath.WalkDir(root, func(_ string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		size += info.Size()
		return nil
	})
	return size, err
}

func mib(n int64) string {
	return fmt.Sprintf("%6.1f MiB", float64(n)/(1<<20))
}
