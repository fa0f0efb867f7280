// Command demo runs the seven packaged tasks in a realistic release against the local
// emulator: each through `node run.js` in the staged task folder, with the environment built
// as the agent builds it, and prints the log as the agent shows it, then one result line per
// task.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"time"

	"github.com/pbi-pipelines/azdo-extension/internal/emulator"
	"github.com/pbi-pipelines/azdo-extension/internal/harness"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	dist := flag.String("dist", "dist/extension", "the staged extension (make build)")
	duration := flag.Duration("deploy-duration", 3*time.Second, "how long the emulator takes per deployment")
	flag.Parse()
	os.Exit(run(ctx, *dist, *duration, os.Stdout))
}

func run(ctx context.Context, dist string, duration time.Duration, out io.Writer) int {
	if _, err := os.Stat(dist + "/tasks"); err != nil {
		fmt.Fprintf(out, "demo: %s has no staged tasks; run make build first (%v)\n", dist, err)
		return 2
	}
	tmp, err := os.MkdirTemp("", "pbi-demo-")
	if err != nil {
		fmt.Fprintln(out, "demo:", err)
		return 1
	}
	defer os.RemoveAll(tmp)
	seed := emulator.DemoSeed()
	h, err := harness.Start(harness.Options{Dist: dist, Seed: seed, DeployDuration: duration, TempDir: tmp})
	if err != nil {
		fmt.Fprintln(out, "demo:", err)
		return 1
	}
	defer h.Close()
	h.Echo = out
	fmt.Fprintf(out, "Power BI emulator at %s (tenant %s); tasks from %s\n\n", h.Emulator.URL, seed.TenantID, dist)

	s, err := scenario(seed)
	if err != nil {
		fmt.Fprintln(out, "demo:", err)
		return 1
	}
	type line struct {
		name, result string
		d            time.Duration
		outputs      map[string]string
	}
	var results []line
	failed := false
	outputs := map[string]string{}
	for _, step := range s {
		for k, v := range step.Inputs {
			step.Inputs[k] = expand(v, outputs)
		}
		res, err := h.Run(ctx, step)
		if err != nil {
			fmt.Fprintln(out, "demo:", err)
			return 1
		}
		for k, v := range res.Run.Outputs {
			outputs[k] = v
		}
		for _, path := range res.Run.Summaries {
			if b, err := os.ReadFile(path); err == nil {
				fmt.Fprintf(out, "Attached to the run's summary page (task.uploadsummary %s):\n\n%s\n", filepath.Base(path), b)
			}
		}
		results = append(results, line{res.Task.Name, res.Run.Result, res.Duration, res.Run.Outputs})
		if res.Run.Result == "Failed" {
			failed = true
			break
		}
	}
	fmt.Fprintln(out, "Results:")
	for _, r := range results {
		var outs []string
		for k, v := range r.outputs {
			outs = append(outs, k+"="+v)
		}
		fmt.Fprintf(out, "  %-34s %-20s %6s  %s\n", r.name, r.result, r.d.Round(10*time.Millisecond), strings.Join(sorted(outs), " "))
	}
	if failed {
		return 1
	}
	return 0
}

// expand replaces $(name) with an earlier step's output variable, as a pipeline would with
// $(stepName.name).
func expand(v string, outputs map[string]string) string {
	for k, val := range outputs {
		v = strings.ReplaceAll(v, "$("+k+")", val)
	}
	return v
}

func sorted(s []string) []string {
	for i := 1; i < len(s); i++ {
		for j := i; j > 0 && s[j] < s[j-1]; j-- {
			s[j], s[j-1] = s[j-1], s[j]
		}
	}
	return s
}
