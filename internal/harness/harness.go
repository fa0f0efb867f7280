// Package harness runs the packaged tasks the way an Azure Pipelines agent does — node
// run.js in the staged task folder, with the environment the agent builds — against the local
// emulator. The demo and the end-to-end tests share it, so the demo shows exactly what the
// tests check.
package harness

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/pbi-pipelines/azdo-extension/internal/agentsim"
	"github.com/pbi-pipelines/azdo-extension/internal/emulator"
)

// Options configure a harness.
type Options struct {
	// Dist is the staged extension (dist/extension); its tasks are what runs.
	Dist string
	Seed *emulator.Seed
	// DeployDuration is how long the emulator takes per deployment.
	DeployDuration time.Duration
	// Validate, when set, checks every Power BI request the emulator receives.
	Validate func(*http.Request, []byte) error
	// Debug sets System.Debug.
	Debug bool
	// TempDir holds the CA file and the agent's temp folder.
	TempDir string
}

// Harness is an emulator plus the agent's view of one service connection to it.
type Harness struct {
	Emulator *emulator.Server
	Dist     string
	// Endpoint is the Power BI service connection the steps use (service principal with a
	// client secret, Custom environment pointing at the emulator).
	Endpoint  agentsim.Endpoint
	Variables map[string]string
	Secrets   map[string]string
	Debug     bool
	// Echo, when set, receives each step's log as the agent's viewer shows it.
	Echo io.Writer

	caFile string
	tmp    string
}

// Start starts the emulator and prepares the connection.
func Start(o Options) (*Harness, error) {
	if o.Seed == nil {
		o.Seed = emulator.DemoSeed()
	}
	if len(o.Seed.Apps) == 0 || o.Seed.Apps[0].Secret == "" {
		return nil, errors.New("harness: the seed needs an app with a client secret")
	}
	if o.TempDir == "" {
		return nil, errors.New("harness: Options.TempDir is required")
	}
	dist, err := filepath.Abs(o.Dist)
	if err != nil {
		return nil, err
	}
	o.Dist = dist
	eo := emulator.Options{Seed: o.Seed, DeployDuration: o.DeployDuration}
	if o.Validate != nil {
		eo.Validate = o.Validate
	}
	emu, err := emulator.Start(eo)
	if err != nil {
		return nil, err
	}
	h := &Harness{Emulator: emu, Dist: o.Dist, Debug: o.Debug, tmp: o.TempDir,
		Variables: map[string]string{}, Secrets: map[string]string{}}
	h.caFile = filepath.Join(o.TempDir, "emulator-ca.pem")
	if err := os.WriteFile(h.caFile, emu.CACertPEM, 0o600); err != nil {
		emu.Close()
		return nil, err
	}
	app := o.Seed.Apps[0]
	h.Endpoint = agentsim.Endpoint{
		ID:     NewID(),
		URL:    emu.URL + "/",
		Scheme: "ServicePrincipal",
		Params: map[string]string{
			"tenantid":            o.Seed.TenantID,
			"serviceprincipalid":  app.ClientID,
			"authenticationType":  "spnKey",
			"serviceprincipalkey": app.Secret,
		},
		Data: map[string]string{
			"environment":   "Custom",
			"apiUrl":        emu.URL,
			"authorityHost": emu.URL,
			"resource":      emu.Resource(),
		},
	}
	h.Variables["Agent.CAInfo"] = h.caFile
	h.Variables["Agent.TempDirectory"] = o.TempDir
	h.Variables["System.TeamProject"] = "Sales BI"
	h.Variables["Build.BuildNumber"] = "20261127.1"
	if o.Debug {
		h.Variables["System.Debug"] = "true"
	}
	return h, nil
}

// Close stops the emulator.
func (h *Harness) Close() error { return h.Emulator.Close() }

// Step is one task step of a pipeline.
type Step struct {
	Folder string            // tasks/<Folder>
	Inputs map[string]string // as in YAML; pbiConnection is filled in when absent
	// Endpoint overrides the harness's connection for this step.
	Endpoint *agentsim.Endpoint
	// Variables and Secrets add to (and override) the harness's.
	Variables, Secrets map[string]string
}

// Result is what one step did.
type Result struct {
	Task     *agentsim.Task
	Run      *agentsim.Run
	Duration time.Duration
	// Raw is what the task wrote to stdout and stderr, unmasked: what a leak test must search.
	Raw []byte
}

// Run runs one step through the real launcher and interprets its output as the agent does.
func (h *Harness) Run(ctx context.Context, s Step) (*Result, error) {
	task, err := agentsim.LoadTask(filepath.Join(h.Dist, "tasks", s.Folder))
	if err != nil {
		return nil, err
	}
	ep := h.Endpoint
	if s.Endpoint != nil {
		ep = *s.Endpoint
	}
	inputs := map[string]string{}
	for k, v := range s.Inputs {
		inputs[k] = v
	}
	if _, ok := inputs["pbiConnection"]; !ok {
		if _, arm := inputs["azureSubscription"]; !arm {
			inputs["pbiConnection"] = ep.ID
		}
	}
	step := agentsim.Step{
		Inputs:    inputs,
		Endpoints: []agentsim.Endpoint{ep},
		Variables: merge(h.Variables, s.Variables),
		Secrets:   merge(h.Secrets, s.Secrets),
		BaseEnv:   BaseEnv(),
	}
	env, err := task.Environ(step)
	if err != nil {
		return nil, err
	}
	debug := strings.EqualFold(step.Variables["System.Debug"], "true")
	start := time.Now()
	var raw lockedBuffer
	run, err := agentsim.Exec(ctx, task, env, agentsim.ExecOptions{Debug: debug, InitialSecrets: step.InitialSecrets(), Stdout: &raw, Stderr: &raw})
	if err != nil {
		return nil, err
	}
	res := &Result{Task: task, Run: run, Duration: time.Since(start), Raw: raw.Bytes()}
	if h.Echo != nil {
		fmt.Fprintf(h.Echo, "##[section]Starting: %s\n", task.Name)
		for _, line := range run.Log {
			fmt.Fprintln(h.Echo, line)
		}
		fmt.Fprintf(h.Echo, "##[section]Finishing: %s (%s, %s)\n\n", task.Name, run.Result, res.Duration.Round(time.Millisecond))
	}
	return res, nil
}

// lockedBuffer collects stdout and stderr, which arrive on two goroutines.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) Bytes() []byte {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]byte(nil), b.buf.Bytes()...)
}

func merge(a, b map[string]string) map[string]string {
	out := make(map[string]string, len(a)+len(b))
	for k, v := range a {
		out[k] = v
	}
	for k, v := range b {
		out[k] = v
	}
	return out
}

// BaseEnv is the agent process's own environment that tasks inherit: only what a process
// needs to start, never this process's secrets or proxies.
func BaseEnv() []string {
	var env []string
	for _, k := range []string{"PATH", "HOME", "TMPDIR", "SYSTEMROOT", "LANG"} {
		if v, ok := os.LookupEnv(k); ok {
			env = append(env, k+"="+v)
		}
	}
	return env
}

// NewID returns a random GUID, lower-case like the agent's endpoint ids.
func NewID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}
