// Package e2e_test drives the staged tasks (dist/extension, made by `make build`) through the
// real Node launcher against the emulator, with the environment the agent builds, and checks
// what the agent would conclude and what the service ends up holding.
package e2e_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pbi-pipelines/azdo-extension/internal/emulator"
	"github.com/pbi-pipelines/azdo-extension/internal/harness"
)

// dist finds the staged extension at the repository root.
func dist(t testing.TB) string {
	t.Helper()
	dir, err := os.Getwd()
	require.NoError(t, err)
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			break
		}
		parent := filepath.Dir(dir)
		require.NotEqual(t, parent, dir, "no go.mod above the test")
		dir = parent
	}
	d := filepath.Join(dir, "dist", "extension")
	plat := map[string]string{"linux/amd64": "linux-x64", "linux/arm64": "linux-arm64", "darwin/amd64": "darwin-x64", "darwin/arm64": "darwin-arm64", "windows/amd64": "win-x64"}[runtime.GOOS+"/"+runtime.GOARCH]
	_, err = os.Stat(filepath.Join(d, "tasks", "deploy", "bin", plat))
	if _, berr := os.Stat(filepath.Join(d, "tasks", "deploy", "bin", "bundle.json")); berr == nil {
		err = nil // the published form: the launcher unpacks the binary on first run
	}
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("the staged extension is missing (%v): make test runs make build first", err)
		}
		t.Skipf("the staged extension is missing (%v); run make build (make test does)", err)
	}
	return d
}

// nodeUnderTest is the node the launcher runs under: PBI_NODE when set (make test runs the
// lifecycle and cancellation tests again with Node 24, the agent's Node24 handler), else node
// from PATH.
func nodeUnderTest(t testing.TB) string {
	t.Helper()
	node := os.Getenv("PBI_NODE")
	if node == "" {
		return ""
	}
	out, err := exec.Command(node, "--version").Output()
	require.NoError(t, err, "PBI_NODE=%s does not run", node)
	t.Logf("the launcher runs under %s (%s)", node, strings.TrimSpace(string(out)))
	return node
}

// start starts a harness on a fresh emulator whose every request is checked against the swagger.
func start(t *testing.T, seed *emulator.Seed) *harness.Harness {
	t.Helper()
	return startWith(t, seed, 600*time.Millisecond)
}

func run(t *testing.T, h *harness.Harness, folder string, inputs map[string]string) *harness.Result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	res, err := h.Run(ctx, harness.Step{Folder: folder, Inputs: inputs})
	require.NoError(t, err)
	t.Logf("%s: %s\n%s", res.Task.Name, res.Run.Result, strings.Join(res.Run.Log, "\n"))
	return res
}

func succeeded(t *testing.T, res *harness.Result) {
	t.Helper()
	require.Equal(t, "Succeeded", res.Run.Result, "log:\n%s", strings.Join(res.Run.Log, "\n"))
	require.Equal(t, 0, res.Run.ExitCode)
}

func failed(t *testing.T, res *harness.Result, wants ...string) {
	t.Helper()
	require.Equal(t, "Failed", res.Run.Result, "log:\n%s", strings.Join(res.Run.Log, "\n"))
	require.NotEqual(t, 0, res.Run.ExitCode)
	all := errorIssues(res)
	for _, w := range wants {
		assert.Contains(t, all, w)
	}
}

// inParallel runs f(i) for every i in [0, n), at most limit at a time, and waits for all. f
// reports through assert or its results, never require: FailNow belongs to the test goroutine.
func inParallel(n, limit int, f func(i int)) {
	sem := make(chan struct{}, limit)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			f(i)
		}()
	}
	wg.Wait()
}

func log(res *harness.Result) string { return strings.Join(res.Run.Log, "\n") }

func devWorkspace(seed *emulator.Seed) emulator.Workspace {
	for _, w := range seed.Workspaces {
		if len(w.Datasets) > 0 {
			return w
		}
	}
	panic("demo seed without a development workspace")
}

func prodWorkspace(seed *emulator.Seed) emulator.Workspace {
	for _, w := range seed.Workspaces {
		if len(w.Datasets) == 0 && strings.Contains(strings.ToLower(w.Name), "prod") {
			return w
		}
	}
	panic("demo seed without a production workspace")
}

// newPipeline creates a pipeline named name with the development workspace assigned.
func newPipeline(t *testing.T, h *harness.Harness, seed *emulator.Seed, name string) string {
	t.Helper()
	res := run(t, h, "create-pipeline", map[string]string{"displayName": name})
	succeeded(t, res)
	id := res.Run.Outputs["pipelineId"]
	require.NotEmpty(t, id)
	succeeded(t, run(t, h, "assign-workspace", map[string]string{"pipeline": id, "stageOrder": "0", "workspace": devWorkspace(seed).Name}))
	return id
}

func TestLifecycle(t *testing.T) {
	t.Parallel()
	seed := emulator.DemoSeed()
	h := start(t, seed)
	dev, prod := devWorkspace(seed), prodWorkspace(seed)
	user := seed.Users[0].UPN

	res := run(t, h, "create-pipeline", map[string]string{"displayName": "Sales", "description": "demo"})
	succeeded(t, res)
	pid := res.Run.Outputs["pipelineId"]
	require.NotEmpty(t, pid)

	// Running it again: Fail refuses, Reuse reuses the same pipeline.
	failed(t, run(t, h, "create-pipeline", map[string]string{"displayName": "Sales"}), "already exists", pid)
	res = run(t, h, "create-pipeline", map[string]string{"displayName": "sales", "ifExists": "Reuse"})
	succeeded(t, res)
	assert.Equal(t, pid, res.Run.Outputs["pipelineId"])

	res = run(t, h, "assign-workspace", map[string]string{"pipeline": "Sales", "stageOrder": "development", "workspace": dev.Name})
	succeeded(t, res)
	assert.Equal(t, strings.ToLower(dev.ID), strings.ToLower(res.Run.Outputs["workspaceId"]))
	res = run(t, h, "assign-workspace", map[string]string{"pipeline": pid, "stageOrder": "0", "workspace": dev.ID})
	succeeded(t, res)
	assert.Contains(t, log(res), "Nothing to do")

	succeeded(t, run(t, h, "add-pipeline-user", map[string]string{"pipeline": "Sales", "userUpn": user}))
	res = run(t, h, "add-pipeline-user", map[string]string{"pipeline": "Sales", "identifier": user, "principalType": "User"})
	succeeded(t, res)
	assert.Contains(t, log(res), "Nothing to do")

	succeeded(t, run(t, h, "add-workspace-user", map[string]string{"workspace": dev.Name, "identifier": user, "permission": "Viewer"}))
	res = run(t, h, "add-workspace-user", map[string]string{"workspace": dev.Name, "identifier": user, "permission": "Contributor"})
	succeeded(t, res)
	assert.Contains(t, log(res), "from Viewer to Contributor")
	res = run(t, h, "add-workspace-user", map[string]string{"workspace": dev.Name, "identifier": user, "permission": "contributor"})
	succeeded(t, res)
	assert.Contains(t, log(res), "Nothing to do")

	// Selective deployment by names and a wildcard, into a new Test workspace.
	res = run(t, h, "deploy", map[string]string{
		"pipeline": "Sales", "stageOrder": "Test", "deployType": "Selective",
		"datasets": dev.Datasets[0].Name + ";" + dev.Datasets[1].Name, "reports": dev.Reports[0].Name[:2] + "*",
		"createNewWS": "true", "newWsName": "Sales [Test]", "capacity": seed.Capacities[0].DisplayName, "note": "first"})
	succeeded(t, res)
	assert.NotEmpty(t, res.Run.Outputs["operationId"])
	assert.Equal(t, "Succeeded", res.Run.Outputs["status"])
	testWS := res.Run.Outputs["targetWorkspaceId"]
	require.NotEmpty(t, testWS)

	succeeded(t, run(t, h, "assign-workspace", map[string]string{"pipeline": "Sales", "stageOrder": "Production", "workspace": prod.Name}))
	res = run(t, h, "deploy", map[string]string{"pipeline": "Sales", "stageOrder": "Production"})
	succeeded(t, res)
	assert.Equal(t, strings.ToLower(prod.ID), strings.ToLower(res.Run.Outputs["targetWorkspaceId"]))

	state := h.Emulator.Snapshot()
	var prodNow emulator.Workspace
	for _, w := range state.Workspaces {
		if strings.EqualFold(w.ID, prod.ID) {
			prodNow = w
		}
	}
	assert.Len(t, prodNow.Datasets, 2, "production holds what Test held")

	succeeded(t, run(t, h, "unassign-workspace", map[string]string{"pipeline": "Sales", "stageOrder": "2"}))
	res = run(t, h, "unassign-workspace", map[string]string{"pipeline": "Sales", "stageOrder": "2"})
	succeeded(t, res)
	assert.Contains(t, log(res), "Nothing to do")

	succeeded(t, run(t, h, "delete-pipeline", map[string]string{"pipeline": "Sales"}))
	failed(t, run(t, h, "delete-pipeline", map[string]string{"pipeline": "Sales"}), `no pipeline named "Sales"`)
	succeeded(t, run(t, h, "delete-pipeline", map[string]string{"pipeline": "Sales", "ifMissing": "Succeed"}))
	assert.Empty(t, h.Emulator.Snapshot().Pipelines)
}

func TestUnknownAndAmbiguousNames(t *testing.T) {
	t.Parallel()
	seed := emulator.DemoSeed()
	// The service allows two pipelines with one display name.
	app := seed.Apps[0]
	for _, id := range []string{"0a6a0a67-61d5-4b5c-9a0e-7b0c3ad0a001", "0a6a0a67-61d5-4b5c-9a0e-7b0c3ad0a002"} {
		seed.Pipelines = append(seed.Pipelines, emulator.Pipeline{ID: id, DisplayName: "Twin",
			Users: []emulator.PipelineUser{{Identifier: app.ObjectID, PrincipalType: "App"}}})
	}
	h := start(t, seed)
	newPipeline(t, h, seed, "Finance")

	failed(t, run(t, h, "deploy", map[string]string{"pipeline": "Twin", "stageOrder": "Test"}),
		`2 pipelines are named "Twin"`, "0a6a0a67-61d5-4b5c-9a0e-7b0c3ad0a001", "0a6a0a67-61d5-4b5c-9a0e-7b0c3ad0a002")
	failed(t, run(t, h, "deploy", map[string]string{"pipeline": "Nope", "stageOrder": "Test"}),
		`no pipeline named "Nope"`, `it sees "Finance", "Twin"`)
	failed(t, run(t, h, "assign-workspace", map[string]string{"pipeline": "Finance", "stageOrder": "Test", "workspace": "No such workspace"}),
		`no workspace named "No such workspace"`, "createWorkspace")
	failed(t, run(t, h, "deploy", map[string]string{"pipeline": "Finance", "stageOrder": "Test", "deployType": "Selective", "reports": "Missing report", "createNewWS": "true", "newWsName": "x"}),
		`nothing named "Missing report"`)
	for _, r := range h.Emulator.Requests() {
		if r.Method != "GET" {
			assert.NotContains(t, r.Path, "deploy", "no deployment may start on a bad name")
		}
	}
}

func TestInvalidInputsChangeNothing(t *testing.T) {
	t.Parallel()
	h := start(t, nil)
	cases := []struct {
		folder string
		inputs map[string]string
		want   string
	}{
		{"assign-workspace", map[string]string{"pipeline": "P", "stageOrder": "Staging", "workspace": "W"}, `input "stageOrder"`},
		{"deploy", map[string]string{"pipeline": "P", "stageOrder": "Development"}, `input "stageOrder"`},
		{"deploy", map[string]string{"pipeline": "P", "stageOrder": "Test", "waitTimeoutMinutes": "soon"}, `input "waitTimeoutMinutes"`},
		{"deploy", map[string]string{"pipeline": "P", "stageOrder": "Test", "deployType": "Selective"}, `input "deployType"`},
		{"deploy", map[string]string{"pipeline": "P", "stageOrder": "Test", "allowPurgeData": "yes"}, `input "allowPurgeData"`},
		{"add-workspace-user", map[string]string{"workspace": "W", "identifier": "not-an-upn", "permission": "Admin"}, `input "identifier"`},
		{"add-workspace-user", map[string]string{"workspace": "W", "identifier": "a@b.c", "permission": "Owner"}, `input "permission"`},
		{"add-pipeline-user", map[string]string{"pipeline": "P", "identifier": "a@b.c", "principalType": "App"}, `input "identifier"`},
		{"create-pipeline", map[string]string{"displayName": strings.Repeat("x", 257)}, `input "displayName"`},
		{"delete-pipeline", map[string]string{"pipeline": "P", "ifMissing": "Ignore"}, `input "ifMissing"`},
		{"assign-workspace", map[string]string{"pipeline": "P", "stageOrder": "1", "workspace": "New", "createWorkspace": "true"}, `input "capacity"`},
	}
	for _, c := range cases {
		failed(t, run(t, h, c.folder, c.inputs), c.want)
	}
	for _, r := range h.Emulator.Requests() {
		assert.Equal(t, "GET", r.Method, "no change may reach the service on bad input: %s %s", r.Method, r.Path)
	}
}

func TestThrottlingAndOutagesAreRetried(t *testing.T) {
	t.Parallel()
	seed := emulator.DemoSeed()
	h := start(t, seed)
	h.Emulator.InjectFault(emulator.Fault{Method: "GET", Path: `/v1\.0/myorg/pipelines$`, Status: 429, RetryAfter: 1, Times: 1})
	h.Emulator.InjectFault(emulator.Fault{Method: "GET", Path: `/v1\.0/myorg/groups$`, Status: 503, RetryAfter: 1, Times: 2})
	h.Emulator.InjectFault(emulator.Fault{Method: "POST", Path: `/v1\.0/myorg/pipelines$`, Status: 429, RetryAfter: 1, Times: 1})
	res := run(t, h, "create-pipeline", map[string]string{"displayName": "Throttled"})
	succeeded(t, res)
	assert.Contains(t, log(res), "429")
	res = run(t, h, "assign-workspace", map[string]string{"pipeline": "Throttled", "stageOrder": "0", "workspace": devWorkspace(seed).Name})
	succeeded(t, res)
	assert.Contains(t, log(res), "503")
	var posts int
	for _, r := range h.Emulator.Requests() {
		if r.Method == "POST" && strings.EqualFold(r.Path, "/v1.0/myorg/pipelines") && r.Status < 300 {
			posts++
		}
	}
	assert.Equal(t, 1, posts, "the pipeline is created once")
	assert.Len(t, h.Emulator.Snapshot().Pipelines, 1)
}

func TestFailedDeploymentExplainsItself(t *testing.T) {
	t.Parallel()
	seed := emulator.DemoSeed()
	for i := range seed.Workspaces {
		if len(seed.Workspaces[i].Datasets) > 0 {
			seed.Workspaces[i].Datasets[0].DeployError = "Alm_InvalidRequest_PurgeRequired"
			break
		}
	}
	h := start(t, seed)
	newPipeline(t, h, seed, "Broken")
	res := run(t, h, "deploy", map[string]string{"pipeline": "Broken", "stageOrder": "Test", "createNewWS": "true", "newWsName": "Broken [Test]", "capacity": seed.Capacities[0].ID})
	failed(t, res, "failed", "Alm_InvalidRequest_PurgeRequired", devWorkspace(seed).Datasets[0].Name)
	assert.Equal(t, "Failed", res.Run.Outputs["status"])
	assert.NotEmpty(t, res.Run.Outputs["operationId"])
}

func TestWrongSecretIsExplainedAndNeverPrinted(t *testing.T) {
	t.Parallel()
	h := start(t, nil)
	ep := h.SecretEndpoint()
	ep.Params["serviceprincipalkey"] = "wrong-secret-value-123"
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	res, err := h.Run(ctx, harness.Step{Folder: "delete-pipeline", Inputs: map[string]string{"pipeline": "X"}, Endpoint: &ep})
	require.NoError(t, err)
	failed(t, res, "AADSTS7000215", "client secret")
	assert.NotContains(t, string(res.Raw), "wrong-secret-value-123")
}

func TestAssignCreatesTheWorkspaceOnce(t *testing.T) {
	t.Parallel()
	seed := emulator.DemoSeed()
	h := start(t, seed)
	newPipeline(t, h, seed, "QA")
	in := map[string]string{"pipeline": "QA", "stageOrder": "Test", "workspace": "Sales [QA]", "createWorkspace": "true", "capacity": seed.Capacities[0].DisplayName}
	res := run(t, h, "assign-workspace", in)
	succeeded(t, res)
	assert.Contains(t, log(res), `Created workspace "Sales [QA]"`)
	assert.Contains(t, log(res), "on capacity")
	id := res.Run.Outputs["workspaceId"]
	require.NotEmpty(t, id)
	res = run(t, h, "assign-workspace", in)
	succeeded(t, res)
	assert.Contains(t, log(res), "Nothing to do")
	assert.Equal(t, id, res.Run.Outputs["workspaceId"])
	var named int
	for _, w := range h.Emulator.Snapshot().Workspaces {
		if w.Name == "Sales [QA]" {
			named++
			assert.Equal(t, seed.Capacities[0].ID, w.CapacityID)
		}
	}
	assert.Equal(t, 1, named, "created once")
}
