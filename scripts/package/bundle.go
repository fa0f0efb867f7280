package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math/bits"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
)

// bundleFormat is the bin/bundle.json format the launcher (scripts/launcher/run.js) reads.
const bundleFormat = 2

// bundlePlan is the order of the binaries in the bundle and what each is stored as: the
// linux binary of an architecture whole (branch-filtered), the other systems' binaries of that
// architecture as patches against it. A patch needs its base in the same bundle; without it
// the binary is stored whole. The most common agents come first: the launcher stops
// decompressing once it has what its platform needs.
var bundlePlan = []struct{ platform, base string }{
	{"linux-x64", ""},
	{"win-x64", "linux-x64"},
	{"darwin-x64", "linux-x64"},
	{"linux-arm64", ""},
	{"darwin-arm64", "linux-arm64"},
}

// span is a run of bytes in the uncompressed bundle.
type span struct {
	Offset int64 `json:"offset"`
	Length int64 `json:"length"`
}

// patchRef says where a binary's patch streams sit and which binary they apply to.
type patchRef struct {
	Base  string `json:"base"` // platform of the base binary
	Ctrl  span   `json:"ctrl"`
	Diff  span   `json:"diff"`
	Extra span   `json:"extra"`
}

// bundleEntry describes one binary: stored whole (Data, with Filter undone) or as a patch.
type bundleEntry struct {
	Platform string      `json:"platform"`
	File     string      `json:"file"`
	Size     int64       `json:"size"`
	SHA256   string      `json:"sha256"`
	Data     *span       `json:"data,omitempty"`
	Filter   *filterSpec `json:"filter,omitempty"`
	Patch    *patchRef   `json:"patch,omitempty"`
}

type bundleIndex struct {
	Format  int           `json:"format"`
	Entries []bundleEntry `json:"entries"`
}

// bundleAll bundles every task folder, opts.Jobs at a time.
func bundleAll(ctx context.Context, opts Options, out string, tasks []string) error {
	sem := make(chan struct{}, max(opts.Jobs, 1))
	var wg sync.WaitGroup
	errs := make([]error, len(tasks))
	for i, task := range tasks {
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			errs[i] = bundle(ctx, opts, filepath.Join(out, filepath.FromSlash(task)))
		})
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// packBinaries lays out the uncompressed bundle of binaries (platform name -> contents) and
// its index. Every part is checked by undoing it before it is used.
func packBinaries(platforms []Platform, binaries map[string][]byte) ([]byte, bundleIndex, error) {
	idx := bundleIndex{Format: bundleFormat}
	for _, p := range platforms {
		if !slices.ContainsFunc(bundlePlan, func(s struct{ platform, base string }) bool { return s.platform == p.Name }) {
			return nil, idx, fmt.Errorf("platform %s has no place in the bundle plan", p.Name)
		}
	}
	var raw bytes.Buffer
	add := func(b []byte) span {
		s := span{Offset: int64(raw.Len()), Length: int64(len(b))}
		raw.Write(b)
		return s
	}
	differs := map[string]*differ{}
	for _, step := range bundlePlan {
		i := slices.IndexFunc(platforms, func(p Platform) bool { return p.Name == step.platform })
		if i < 0 {
			continue
		}
		p := platforms[i]
		data := binaries[p.Name]
		sum := sha256.Sum256(data)
		e := bundleEntry{Platform: p.Name, File: p.Binary(), Size: int64(len(data)), SHA256: hex.EncodeToString(sum[:])}
		filter, err := inspect(data, p)
		if err != nil {
			return nil, idx, err
		}
		hasBase := slices.ContainsFunc(platforms, func(p Platform) bool { return p.Name == step.base })
		if base := binaries[step.base]; hasBase {
			d := differs[step.base]
			if d == nil {
				d = newDiffer(base)
				differs[step.base] = d
			}
			pt := d.diff(data)
			if back, err := bspatch(base, pt, len(data)); err != nil || !bytes.Equal(back, data) {
				return nil, idx, fmt.Errorf("%s: the patch against %s does not give the binary back (%v)", p.Name, step.base, err)
			}
			e.Patch = &patchRef{Base: step.base, Ctrl: add(pt.ctrl), Diff: add(pt.diff), Extra: add(pt.extra)}
		} else {
			filtered := bytes.Clone(data)
			if err := filter.apply(filtered, true); err != nil {
				return nil, idx, err
			}
			back := bytes.Clone(filtered)
			if err := filter.apply(back, false); err != nil || !bytes.Equal(back, data) {
				return nil, idx, fmt.Errorf("%s: the %s filter does not give the binary back (%v)", p.Name, filter.Kind, err)
			}
			s := add(filtered)
			e.Data, e.Filter = &s, &filter
		}
		idx.Entries = append(idx.Entries, e)
	}
	return raw.Bytes(), idx, nil
}

// lgwin is the Brotli window (log2 bytes) that spans n bytes: 2^lgwin - 16 >= n.
func lgwin(n int) int {
	return min(max(bits.Len(uint(n+16)), 16), 30)
}

// bundle replaces bin/<platform>/ of one staged task folder with bin/bundle.br and
// bin/bundle.json, then unpacks every binary again with the real launcher to prove that it
// gets each one back.
func bundle(ctx context.Context, opts Options, taskDir string) error {
	bin := filepath.Join(taskDir, "bin")
	binaries := map[string][]byte{}
	for _, p := range opts.Platforms {
		data, err := os.ReadFile(filepath.Join(bin, p.Name, p.Binary()))
		if err != nil {
			return err
		}
		binaries[p.Name] = data
	}
	raw, idx, err := packBinaries(opts.Platforms, binaries)
	if err != nil {
		return fmt.Errorf("%s: %w", taskDir, err)
	}
	rawName := filepath.Join(bin, "bundle.raw")
	if err := os.WriteFile(rawName, raw, 0o644); err != nil {
		return err
	}
	defer os.Remove(rawName)
	quality := opts.Quality
	if quality <= 0 || quality > 11 {
		quality = 11
	}
	cmd := exec.CommandContext(ctx, nodeCommand(opts), filepath.Join(opts.Root, "scripts", "package", "brotli.js"),
		rawName, filepath.Join(bin, "bundle.br"), fmt.Sprint(quality), fmt.Sprint(lgwin(len(raw))))
	if output, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("compressing %s: %w\n%s", taskDir, err, strings.TrimSpace(string(output)))
	}
	b, err := json.MarshalIndent(idx, "", "  ")
	if err != nil {
		return err
	}
	if err := writeFile(filepath.Join(bin, "bundle.json"), append(b, '\n')); err != nil {
		return err
	}
	for _, e := range idx.Entries {
		if err := os.RemoveAll(filepath.Join(bin, e.Platform)); err != nil {
			return err
		}
	}
	return verifyBundle(ctx, opts, taskDir, binaries)
}

func nodeCommand(opts Options) string {
	if opts.Node != "" {
		return opts.Node
	}
	return "node"
}

// unpackScript has the staged task's own run.js unpack every binary of its bundle into a
// folder, as the launcher does on an agent of each platform.
const unpackScript = `
const path = require('path');
const fs = require('fs');
const [taskDir, out] = process.argv.slice(1);
const launcher = require(path.resolve(taskDir, 'run.js'));
const index = JSON.parse(fs.readFileSync(path.join(taskDir, 'bin', 'bundle.json'), 'utf8'));
(async () => {
  for (const e of index.entries) {
    fs.writeFileSync(path.join(out, e.platform), await launcher.unpack(taskDir, e.platform, e.file));
  }
})().catch((err) => { console.error(err.message); process.exitCode = 1; });
`

// verifyBundle unpacks every binary of a bundled task folder with its launcher and compares
// each with what was built.
func verifyBundle(ctx context.Context, opts Options, taskDir string, want map[string][]byte) error {
	tmp, err := os.MkdirTemp("", "pbi-bundle-check-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	cmd := exec.CommandContext(ctx, nodeCommand(opts), "-e", unpackScript, taskDir, tmp)
	if output, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("%s: the launcher cannot unpack the bundle: %w\n%s", taskDir, err, strings.TrimSpace(string(output)))
	}
	for name, data := range want {
		got, err := os.ReadFile(filepath.Join(tmp, name))
		if err != nil {
			return fmt.Errorf("%s: the launcher did not unpack %s: %w", taskDir, name, err)
		}
		if !bytes.Equal(got, data) {
			return fmt.Errorf("%s: the launcher unpacks a different %s binary than was built", taskDir, name)
		}
	}
	return nil
}
