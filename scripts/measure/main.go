// Command measure prints the figures the project tracks: the size of the .vsix, of each task's
// bundle and of each platform's binaries, and the wall time of one task run against the
// emulator next to the cost of starting Node alone, split into the launcher's share and the
// Go binary's, warm and on a first run that unpacks the binary (medians over repeated runs,
// so machine noise shows as spread, not as a different answer).
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/pbi-pipelines/azdo-extension/internal/agentsim"
	"github.com/pbi-pipelines/azdo-extension/internal/harness"
)

func main() {
	dist := flag.String("dist", "dist", "the build output (dist/extension and dist/*.vsix)")
	runs := flag.Int("runs", 21, "task runs to time")
	node := flag.String("node", "node", "the node that runs the launcher and the baseline (the agent's Node20_1 or Node24)")
	withSizes := flag.Bool("sizes", true, "print the sizes too")
	flag.Parse()
	if err := run(context.Background(), *dist, *runs, *node, *withSizes, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "measure:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, dist string, runs int, node string, withSizes bool, out io.Writer) error {
	ext, err := filepath.Abs(filepath.Join(dist, "extension"))
	if err != nil {
		return err
	}
	if withSizes {
		if err := sizes(dist, ext, out); err != nil {
			return err
		}
	}
	tmp, err := os.MkdirTemp("", "pbi-measure-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	version, err := exec.CommandContext(ctx, node, "--version").Output()
	if err != nil {
		return fmt.Errorf("%s --version: %w", node, err)
	}
	fmt.Fprintf(out, "\nNode: %s (%s)\n", node, strings.TrimSpace(string(version)))
	h, err := harness.Start(harness.Options{Dist: ext, TempDir: tmp, Node: node})
	if err != nil {
		return err
	}
	defer h.Close()

	// delete-pipeline with ifMissing=Succeed: sign-in plus one list call, no change.
	const folder = "delete-pipeline"
	inputs := map[string]string{"pipeline": "Nothing here", "ifMissing": "Succeed"}
	// The breakdown runs the task with one environment three ways: through node and the
	// launcher, the binary alone, and the launcher on a task folder that has only the bundle.
	task, err := agentsim.LoadTask(filepath.Join(ext, "tasks", folder))
	if err != nil {
		return err
	}
	ep := h.SecretEndpoint()
	with := map[string]string{"pbiConnection": ep.ID}
	for k, v := range inputs {
		with[k] = v
	}
	env, err := task.Environ(agentsim.Step{Inputs: with, Endpoints: []agentsim.Endpoint{ep},
		Variables: h.Variables, Secrets: h.Secrets, BaseEnv: harness.BaseEnv()})
	if err != nil {
		return err
	}
	exec1 := func(t *agentsim.Task, program string) (time.Duration, error) {
		start := time.Now()
		res, err := agentsim.Exec(ctx, t, env, agentsim.ExecOptions{Node: node, Program: program})
		if err != nil {
			return 0, err
		}
		if res.Result != "Succeeded" {
			return 0, fmt.Errorf("the timed task did not succeed:\n%s", strings.Join(res.Log, "\n"))
		}
		return time.Since(start), nil
	}

	var taskRun, baseline, full, binary, first []time.Duration
	for i := 0; i < runs; i++ {
		res, err := h.Run(ctx, harness.Step{Folder: folder, Inputs: inputs})
		if err != nil {
			return err
		}
		if res.Run.Result != "Succeeded" {
			return fmt.Errorf("the timed task did not succeed:\n%s", strings.Join(res.Run.Log, "\n"))
		}
		taskRun = append(taskRun, res.Duration)
		// Same environment as the task gets: an inherited NODE_EXTRA_CA_CERTS, say, costs
		// node tens of milliseconds and would skew the baseline.
		cmd := exec.CommandContext(ctx, node, "-e", "0")
		cmd.Env = harness.BaseEnv()
		start := time.Now()
		if err := cmd.Run(); err != nil {
			return err
		}
		baseline = append(baseline, time.Since(start))

		d, err := exec1(task, "")
		if err != nil {
			return err
		}
		full = append(full, d)
		bin, err := unpacked(task.Dir)
		if err != nil {
			return err
		}
		if d, err = exec1(task, bin); err != nil {
			return err
		}
		binary = append(binary, d)
	}
	// First runs: a fresh copy of the task folder as the agent downloads it, bundle only.
	firstRuns := max(runs/2, 9)
	for i := 0; i < firstRuns; i++ {
		dir := filepath.Join(tmp, fmt.Sprintf("first-%d", i), folder)
		if err := copyPackaged(task.Dir, dir); err != nil {
			return err
		}
		t, err := agentsim.LoadTask(dir)
		if err != nil {
			return err
		}
		d, err := exec1(t, "")
		if err != nil {
			return err
		}
		first = append(first, d)
		if err := os.RemoveAll(filepath.Dir(dir)); err != nil {
			return err
		}
	}
	mt, mn := median(taskRun), median(baseline)
	fmt.Fprintf(out, "\nWall time over %d runs (median, [min..max]):\n", runs)
	fmt.Fprintf(out, "  task run (node run.js -> Go binary -> sign-in + 1 API call over TLS): %v [%v..%v]\n", mt, minOf(taskRun), maxOf(taskRun))
	fmt.Fprintf(out, "  node -e 0:                                                          %v [%v..%v]\n", mn, minOf(baseline), maxOf(baseline))
	fmt.Fprintf(out, "  ratio task/node: %.2f\n", float64(mt)/float64(mn))
	mf, mb, m1 := median(full), median(binary), median(first)
	fmt.Fprintf(out, "Breakdown (client secret sign-in, same environment each way; medians):\n")
	fmt.Fprintf(out, "  warm run through the launcher: %v; the Go binary alone: %v; launcher overhead %v (node -e 0 is %v)\n", mf, mb, mf-mb, mn)
	fmt.Fprintf(out, "  first run (fresh task folder: unpack, check, write, then run; %d runs): %v [%v..%v]; first-run overhead %v\n",
		firstRuns, m1, minOf(first), maxOf(first), m1-mf)
	return nil
}

// unpacked is the binary the launcher runs on this machine from a task folder, once it has
// unpacked it.
func unpacked(taskDir string) (string, error) {
	bins, err := filepath.Glob(filepath.Join(taskDir, "bin", "*", "task*"))
	if err != nil || len(bins) != 1 {
		return "", fmt.Errorf("%s: want one unpacked binary, found %v (%v)", taskDir, bins, err)
	}
	return bins[0], nil
}

// copyPackaged copies what the package holds of a task folder: task.json, run.js and the
// bundle (or, unbundled, the binaries).
func copyPackaged(src, dst string) error {
	return filepath.WalkDir(src, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(src, p)
		if err != nil {
			return err
		}
		if d.IsDir() {
			return os.MkdirAll(filepath.Join(dst, rel), 0o755)
		}
		if _, err := os.Stat(filepath.Join(src, "bin", "bundle.json")); err == nil &&
			strings.HasPrefix(filepath.ToSlash(rel), "bin/") && !strings.HasPrefix(filepath.ToSlash(rel), "bin/bundle.") {
			return nil // unpacked by an earlier run: not part of the package
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(dst, rel), data, info.Mode().Perm())
	})
}

func sizes(dist, ext string, out io.Writer) error {
	vsix, _ := filepath.Glob(filepath.Join(dist, "*.vsix"))
	for _, v := range vsix {
		st, err := os.Stat(v)
		if err != nil {
			return err
		}
		fmt.Fprintf(out, ".vsix %s: %s\n", filepath.Base(v), mib(st.Size()))
	}
	if len(vsix) == 0 {
		fmt.Fprintln(out, ".vsix: none in", dist, "(run make vsix)")
	}
	perPlatform := map[string][]int64{}
	bins, err := filepath.Glob(filepath.Join(ext, "tasks", "*", "bin", "*", "task*"))
	if err != nil {
		return err
	}
	for _, b := range bins {
		st, err := os.Stat(b)
		if err != nil {
			return err
		}
		plat := filepath.Base(filepath.Dir(b))
		perPlatform[plat] = append(perPlatform[plat], st.Size())
	}
	// The published form: binaries inside bin/bundle.br, described by bin/bundle.json.
	indexes, err := filepath.Glob(filepath.Join(ext, "tasks", "*", "bin", "bundle.json"))
	if err != nil {
		return err
	}
	if len(indexes) > 0 {
		perPlatform = map[string][]int64{}
		var bundles []int64
		for _, idx := range indexes {
			raw, err := os.ReadFile(idx)
			if err != nil {
				return err
			}
			var index struct {
				Entries []struct {
					Platform string `json:"platform"`
					Size     int64  `json:"size"`
				} `json:"entries"`
			}
			if err := json.Unmarshal(raw, &index); err != nil {
				return fmt.Errorf("%s: %w", idx, err)
			}
			for _, e := range index.Entries {
				perPlatform[e.Platform] = append(perPlatform[e.Platform], e.Size)
			}
			st, err := os.Stat(filepath.Join(filepath.Dir(idx), "bundle.br"))
			if err != nil {
				return err
			}
			bundles = append(bundles, st.Size())
		}
		sort.Slice(bundles, func(i, j int) bool { return bundles[i] < bundles[j] })
		var total int64
		for _, b := range bundles {
			total += b
		}
		fmt.Fprintf(out, "Bundles (five platforms in one Brotli stream per task): %s..%s; %s for %d tasks\n", mib(bundles[0]), mib(bundles[len(bundles)-1]), mib(total), len(bundles))
	}
	if len(perPlatform) == 0 {
		return fmt.Errorf("no binaries under %s (run make build)", ext)
	}
	var plats []string
	for p := range perPlatform {
		plats = append(plats, p)
	}
	sort.Strings(plats)
	fmt.Fprintln(out, "Binary size per platform (smallest..largest of the seven tasks; total):")
	for _, p := range plats {
		s := perPlatform[p]
		sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
		var total int64
		for _, v := range s {
			total += v
		}
		fmt.Fprintf(out, "  %-13s %s..%s; %s for %d tasks\n", p, mib(s[0]), mib(s[len(s)-1]), mib(total), len(s))
	}
	return nil
}

func mib(n int64) string { return fmt.Sprintf("%.2f MiB", float64(n)/(1<<20)) }

func median(d []time.Duration) time.Duration {
	s := append([]time.Duration(nil), d...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	return s[len(s)/2].Round(time.Millisecond)
}

func minOf(d []time.Duration) time.Duration {
	m := d[0]
	for _, v := range d {
		m = min(m, v)
	}
	return m.Round(time.Millisecond)
}

func maxOf(d []time.Duration) time.Duration {
	m := d[0]
	for _, v := range d {
		m = max(m, v)
	}
	return m.Round(time.Millisecond)
}
