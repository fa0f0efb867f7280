package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
)

// bundleOrder puts binaries of one architecture next to each other, the most common agent
// platform first: Brotli's window then finds what they share.
var bundleOrder = []string{"linux-x64", "darwin-x64", "win-x64", "linux-arm64", "darwin-arm64"}

// bundleEntry says where one binary sits in the uncompressed bundle.
type bundleEntry struct {
	Platform string `json:"platform"`
	File     string `json:"file"`
	Offset   int64  `json:"offset"`
	Size     int64  `json:"size"`
	SHA256   string `json:"sha256"`
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

// bundle replaces bin/<platform>/ of one staged task folder with bin/bundle.br and
// bin/bundle.json.
func bundle(ctx context.Context, opts Options, taskDir string) error {
	bin := filepath.Join(taskDir, "bin")
	for _, p := range opts.Platforms {
		if !slices.Contains(bundleOrder, p.Name) {
			return fmt.Errorf("platform %s has no place in the bundle order", p.Name)
		}
	}
	var idx bundleIndex
	idx.Format = 1
	raw, err := os.Create(filepath.Join(bin, "bundle.raw"))
	if err != nil {
		return err
	}
	defer os.Remove(raw.Name())
	var offset int64
	for _, name := range bundleOrder {
		i := slices.IndexFunc(opts.Platforms, func(p Platform) bool { return p.Name == name })
		if i < 0 {
			continue
		}
		p := opts.Platforms[i]
		data, err := os.ReadFile(filepath.Join(bin, p.Name, p.Binary()))
		if err != nil {
			raw.Close()
			return err
		}
		sum := sha256.Sum256(data)
		idx.Entries = append(idx.Entries, bundleEntry{Platform: p.Name, File: p.Binary(), Offset: offset, Size: int64(len(data)), SHA256: hex.EncodeToString(sum[:])})
		if _, err := raw.Write(data); err != nil {
			raw.Close()
			return err
		}
		offset += int64(len(data))
	}
	if err := raw.Close(); err != nil {
		return err
	}
	node := opts.Node
	if node == "" {
		node = "node"
	}
	quality := opts.Quality
	if quality <= 0 || quality > 11 {
		quality = 11
	}
	cmd := exec.CommandContext(ctx, node, filepath.Join(opts.Root, "scripts", "package", "brotli.js"), raw.Name(), filepath.Join(bin, "bundle.br"), fmt.Sprint(quality))
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
	return nil
}
