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
	"runtime"
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
	// TokenLifetime and OIDCTokenLifetime shorten the emulator's Entra and Azure DevOps
	// tokens (defaults 1h and 10m), to prove that long waits sign in again.
	TokenLifetime, OIDCTokenLifetime time.Duration
	// Validate, when set, checks every Power BI request the emulator receives.
	Validate func(*http.Request, []byte) error
	// Debug sets System.Debug.
	Debug bool
	// Node is the node executable the launcher runs under (the agent's Node20_1 or Node24
	// handler); default "node" from PATH.
	Node string
	// TempDir holds the CA file and the agent's temp folder.
	TempDir string
	// Hosts are extra DNS names the emulator's certificate covers (emulator.Options.Hosts), for
	// steps that reach it as a real cloud's hosts through a proxy.
	Hosts []string
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
	// Node is the node executable steps run under (Options.Node).
	Node string
	// Echo, when set, receives each step's log as the agent's viewer shows it.
	Echo io.Writer

	caFile   string
	tmp      string
	seed     *emulator.Seed
	jobToken string
}

// data is the connection's environment: Custom, pointing at the emulator.
func (h *Harness) data() map[string]string {
	return map[string]string{
		"environment":   "Custom",
		"apiUrl":        h.Emulator.URL,
		"authorityHost": h.Emulator.URL,
		"resource":      h.Emulator.Resource(),
	}
}

func (h *Harness) endpoint(id, scheme string, params map[string]string) agentsim.Endpoint {
	if id == "" {
		id = NewID()
	}
	return agentsim.Endpoint{ID: id, URL: h.Emulator.URL + "/", Scheme: scheme, Params: params, Data: h.data()}
}

// FederatedEndpoint is a workload identity federation connection: the seed's first Azure
// DevOps service connection, federated with the seed's first app.
func (h *Harness) FederatedEndpoint() agentsim.Endpoint {
	return h.endpoint(h.seed.Azure.ServiceConnections[0].ID, "WorkloadIdentityFederation", map[string]string{
		"tenantid": h.seed.TenantID, "serviceprincipalid": h.seed.Apps[0].ClientID})
}

// SecretEndpoint is a service principal connection with the seed's first app's client secret.
func (h *Harness) SecretEndpoint() agentsim.Endpoint {
	app := h.seed.Apps[0]
	return h.endpoint("", "ServicePrincipal", map[string]string{
		"tenantid": h.seed.TenantID, "serviceprincipalid": app.ClientID,
		"authenticationType": "spnKey", "serviceprincipalkey": app.Secret})
}

// CertificateEndpoint is a service principal connection with a certificate PEM (certificate
// and private key) for the app with that client id.
func (h *Harness) CertificateEndpoint(clientID, pem string, x5c bool) agentsim.Endpoint {
	params := map[string]string{"tenantid": h.seed.TenantID, "serviceprincipalid": clientID,
		"authenticationType": "spnCertificate", "servicePrincipalCertificate": pem}
	if x5c {
		params["sendX5c"] = "true"
	}
	return h.endpoint("", "ServicePrincipal", params)
}

// ManagedIdentityEndpoint is a managed identity connection; clientID "" is system-assigned.
func (h *Harness) ManagedIdentityEndpoint(clientID string) agentsim.Endpoint {
	params := map[string]string{}
	if clientID != "" {
		params["clientId"] = clientID
	}
	return h.endpoint("", "ManagedServiceIdentity", params)
}

// PasswordEndpoint is a username/password connection.
func (h *Harness) PasswordEndpoint(user, password string) agentsim.Endpoint {
	return h.endpoint("", "UsernamePassword", map[string]string{"username": user, "password": password})
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
	eo := emulator.Options{Seed: o.Seed, DeployDuration: o.DeployDuration, Hosts: o.Hosts,
		TokenLifetime: o.TokenLifetime, OIDCTokenLifetime: o.OIDCTokenLifetime}
	if o.Validate != nil {
		eo.Validate = o.Validate
	}
	emu, err := emulator.Start(eo)
	if err != nil {
		return nil, err
	}
	h := &Harness{Emulator: emu, Dist: o.Dist, Debug: o.Debug, Node: o.Node, tmp: o.TempDir,
		Variables: map[string]string{}, Secrets: map[string]string{}}
	h.caFile = filepath.Join(o.TempDir, "emulator-ca.pem")
	if err := os.WriteFile(h.caFile, emu.CACertPEM, 0o600); err != nil {
		emu.Close()
		return nil, err
	}
	h.seed = o.Seed
	az := o.Seed.Azure
	h.jobToken = az.JobToken
	planID, jobID := NewID(), NewID()
	collection := fmt.Sprintf("%s/%s/", emu.URL, az.OrganizationName)
	h.Variables["System.CollectionUri"] = collection
	h.Variables["System.TeamFoundationCollectionUri"] = collection
	h.Variables["System.TeamProjectId"] = az.ProjectID
	h.Variables["System.HostType"] = "build"
	h.Variables["System.PlanId"] = planID
	h.Variables["System.JobId"] = jobID
	h.Variables["System.OidcRequestUri"] = fmt.Sprintf("%s%s/_apis/distributedtask/hubs/build/plans/%s/jobs/%s/oidctoken", collection, az.ProjectID, planID, jobID)
	if len(az.ServiceConnections) > 0 && len(o.Seed.Apps[0].FederatedCredentials) > 0 {
		h.Endpoint = h.FederatedEndpoint()
	} else {
		h.Endpoint = h.SecretEndpoint()
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
	// Direct runs the task's binary for this machine (bin/<platform>/task) without the Node
	// launcher, so that Run.PeakRSS is the task's own.
	Direct bool
	// Program, when set, runs with Args instead of node and the launcher: an emulator that
	// runs a binary for another architecture, say.
	Program string
	Args    []string
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
		AccessToken: h.jobToken,
		Inputs:      inputs,
		Endpoints:   []agentsim.Endpoint{ep},
		Variables:   merge(h.Variables, s.Variables),
		Secrets:     merge(h.Secrets, s.Secrets),
		BaseEnv:     h.baseEnv(),
	}
	env, err := task.Environ(step)
	if err != nil {
		return nil, err
	}
	debug := strings.EqualFold(step.Variables["System.Debug"], "true")
	start := time.Now()
	var raw lockedBuffer
	opts := agentsim.ExecOptions{Node: h.Node, Debug: debug, InitialSecrets: step.InitialSecrets(), Stdout: &raw, Stderr: &raw}
	if s.Direct {
		opts.Program = filepath.Join(task.Dir, "bin", hostPlatform(), "task")
		if runtime.GOOS == "windows" {
			opts.Program += ".exe"
		}
	}
	if s.Program != "" {
		opts.Program, opts.Args = s.Program, s.Args
	}
	run, err := agentsim.Exec(ctx, task, env, opts)
	if run == nil {
		return nil, err
	}
	// A cancelled run still has its output: err says it was cancelled.
	res := &Result{Task: task, Run: run, Duration: time.Since(start), Raw: raw.Bytes()}
	if h.Echo != nil {
		fmt.Fprintf(h.Echo, "##[section]Starting: %s\n", task.Name)
		for _, line := range run.Log {
			fmt.Fprintln(h.Echo, line)
		}
		fmt.Fprintf(h.Echo, "##[section]Finishing: %s (%s, %s)\n\n", task.Name, run.Result, res.Duration.Round(time.Millisecond))
	}
	return res, err
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

// baseEnv is the agent machine's environment: what any process has, plus what an Azure
// host sets for its managed identity (App Service style, which the emulator serves).
func (h *Harness) baseEnv() []string {
	env := BaseEnv()
	for k, v := range h.Emulator.Identity().ManagedIdentityEnv(h.Emulator.URL) {
		env = append(env, k+"="+v)
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

// hostPlatform is this machine's folder under a task's bin/.
func hostPlatform() string {
	arch := map[string]string{"amd64": "x64", "arm64": "arm64"}[runtime.GOARCH]
	osName := map[string]string{"linux": "linux", "darwin": "darwin", "windows": "win"}[runtime.GOOS]
	return osName + "-" + arch
}
