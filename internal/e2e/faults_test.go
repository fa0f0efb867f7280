package e2e_test

import (
	"context"
	"fmt"
	"os"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pbi-pipelines/azdo-extension/internal/emulator"
	"github.com/pbi-pipelines/azdo-extension/internal/harness"
)

// The fault matrix: every task, every call it makes (sign-in included), each answered once by
// 429, 500, 502, 503, 504, a dropped connection, a dropped connection after the service acted,
// and an answer slower than the per-try timeout. Then one call of each task failing for good.

const (
	mainPipeline  = "fa017000-0000-4000-8000-000000000001"
	doomed        = "fa017000-0000-4000-8000-000000000002"
	testWorkspace = "fa017000-0000-4000-8000-0000000000e1"
)

// matrixSeed: pipeline "Main" with Development and Production assigned, pipeline "Doomed", and
// an unassigned "Sales [Test]" workspace.
func matrixSeed() *emulator.Seed {
	seed := emulator.DemoSeed()
	app := emulator.WorkspaceUser{Identifier: emulator.DemoAppObjectID, PrincipalType: "App", GroupUserAccessRight: "Admin"}
	seed.Workspaces = append(seed.Workspaces, emulator.Workspace{ID: testWorkspace, Name: "Sales [Test]", CapacityID: emulator.DemoCapacityID, Users: []emulator.WorkspaceUser{app}})
	admins := []emulator.PipelineUser{{Identifier: emulator.DemoAppObjectID, PrincipalType: "App"}}
	seed.Pipelines = append(seed.Pipelines,
		emulator.Pipeline{ID: mainPipeline, DisplayName: "Main", Users: admins, Stages: []emulator.PipelineStage{
			{Order: 0, WorkspaceID: emulator.DemoDevWorkspaceID}, {Order: 2, WorkspaceID: emulator.DemoProdWorkspaceID}}},
		emulator.Pipeline{ID: doomed, DisplayName: "Doomed", Users: admins})
	return seed
}

type matrixTask struct {
	folder string
	inputs map[string]string
	name   string // when one folder appears twice
}

func (m matrixTask) String() string {
	if m.name != "" {
		return m.name
	}
	return m.folder
}

var matrixTasks = []matrixTask{
	{"create-pipeline", map[string]string{"displayName": "Fresh"}, ""},
	{"assign-workspace", map[string]string{"pipeline": "Main", "stageOrder": "Test", "workspace": "Sales [Test]"}, ""},
	{"add-pipeline-user", map[string]string{"pipeline": "Main", "identifier": emulator.DemoColleagueUPN}, ""},
	{"add-workspace-user", map[string]string{"workspace": "Sales [Development]", "identifier": emulator.DemoColleagueUPN, "permission": "Contributor"}, ""},
	{"deploy", map[string]string{"pipeline": "Main", "stageOrder": "Test", "createNewWS": "true", "newWsName": "Fresh [Test]"}, ""},
	{"deploy", map[string]string{"pipeline": "Main", "stageOrder": "Test", "deployType": "Selective", "reports": "Sales*", "datasets": "Sales", "createNewWS": "true", "newWsName": "Fresh [Test]"}, "deploy (selective)"},
	{"assign-workspace", map[string]string{"pipeline": "Main", "stageOrder": "Test", "workspace": "Brand new", "createWorkspace": "true", "capacity": "Demo capacity"}, "assign-workspace (create)"},
	{"unassign-workspace", map[string]string{"pipeline": "Main", "stageOrder": "Production"}, ""},
	{"delete-pipeline", map[string]string{"pipeline": "Doomed"}, ""},
}

type faultKind struct {
	name  string
	fault emulator.Fault
}

var faultKinds = []faultKind{
	{"429", emulator.Fault{Status: 429, RetryAfter: 1}},
	{"500", emulator.Fault{Status: 500}},
	{"502", emulator.Fault{Status: 502}},
	{"503", emulator.Fault{Status: 503}},
	{"504", emulator.Fault{Status: 504}},
	{"drop", emulator.Fault{Drop: true}},
	{"lost", emulator.Fault{Drop: true, After: true}},
	{"slow", emulator.Fault{Delay: 3 * time.Second}},
	{"slow-after", emulator.Fault{Delay: 3 * time.Second, After: true}},
}

// call is one kind of request a task makes: its method and its path with ids generalised.
type call struct{ method, path string }

func (c call) String() string { return c.method + " " + c.path }

var guid = regexp.MustCompile(`(?i)[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}`)

// pattern matches the call's requests.
func (c call) pattern() string {
	return "^" + strings.ReplaceAll(regexp.QuoteMeta(c.path), regexp.QuoteMeta("{id}"), guid.String()) + "$"
}

func generalise(path string) string { return guid.ReplaceAllString(path, "{id}") }

func isMutating(method string) bool { return method != "GET" }

// fingerprint is the service's state with generated ids left out: what a fault must not
// change (no second pipeline, workspace, role or deployment).
func fingerprint(emu *emulator.Server) string {
	snap := emu.Snapshot()
	names := map[string]string{}
	var lines []string
	for _, w := range snap.Workspaces {
		names[strings.ToLower(w.ID)] = w.Name
		var users []string
		for _, u := range w.Users {
			users = append(users, strings.ToLower(u.Identifier)+"="+u.GroupUserAccessRight)
		}
		sort.Strings(users)
		lines = append(lines, fmt.Sprintf("workspace %q capacity=%s users=%v items=%d", w.Name, w.CapacityID, users,
			len(w.Datasets)+len(w.Reports)+len(w.Dashboards)+len(w.Dataflows)+len(w.Datamarts)))
	}
	for _, p := range snap.Pipelines {
		var stages, users []string
		for _, st := range p.Stages {
			if st.WorkspaceID != "" {
				stages = append(stages, fmt.Sprintf("%d=%s", st.Order, names[strings.ToLower(st.WorkspaceID)]))
			}
		}
		for _, u := range p.Users {
			users = append(users, strings.ToLower(u.Identifier))
		}
		sort.Strings(stages)
		sort.Strings(users)
		lines = append(lines, fmt.Sprintf("pipeline %q stages=%v users=%v", p.DisplayName, stages, users))
	}
	sort.Strings(lines)
	lines = append(lines, fmt.Sprintf("deployments=%d", emu.DeploymentCount()))
	return strings.Join(lines, "\n")
}

func matrixHarness(t *testing.T) *harness.Harness {
	t.Helper()
	h, err := harness.Start(harness.Options{Dist: dist(t), Seed: matrixSeed(), DeployDuration: 500 * time.Millisecond, TempDir: t.TempDir()})
	require.NoError(t, err)
	h.Variables["PowerBI.RequestTimeoutSeconds"] = "1"
	t.Cleanup(func() { h.Close() })
	return h
}

type matrixCase struct {
	task  matrixTask
	call  call
	kind  faultKind
	res   *harness.Result
	err   error
	state string
	took  time.Duration
}

func TestFaultMatrix(t *testing.T) {
	t.Parallel()
	// The baseline: the calls each task makes, and the changes it makes, with no fault.
	baseline := map[string]string{}
	callsOf := map[string][]call{}
	for _, task := range matrixTasks {
		h := matrixHarness(t)
		res := runStep(t, h, task)
		require.Equal(t, "Succeeded", res.Run.Result, "baseline %s:\n%s", task, log(res))
		seen := map[call]bool{}
		for _, r := range h.Emulator.Requests() {
			c := call{r.Method, generalise(r.Path)}
			if !seen[c] {
				seen[c] = true
				callsOf[task.String()] = append(callsOf[task.String()], c)
			}
		}
		baseline[task.String()] = fingerprint(h.Emulator)
	}

	var cases []*matrixCase
	for i, task := range matrixTasks {
		for _, c := range callsOf[task.String()] {
			if i > 0 && !strings.HasPrefix(c.path, "/v1.0/myorg/") {
				continue // every task signs in the same way: sign-in faults are tried on the first
			}
			for _, k := range faultKinds {
				if k.fault.After && !isMutating(c.method) {
					continue // a lost answer to a read is the same as a dropped connection or a slow one
				}
				cases = append(cases, &matrixCase{task: task, call: c, kind: k})
			}
		}
	}
	// Each case runs on its own emulator; they run 16 at a time (mostly waiting for backoffs).
	distDir := dist(t)
	inParallel(len(cases), 16, func(i int) {
		mc := cases[i]
		h, err := harness.Start(harness.Options{Dist: distDir, Seed: matrixSeed(), DeployDuration: 500 * time.Millisecond, TempDir: t.TempDir()})
		if err != nil {
			mc.err = err
			return
		}
		defer h.Close()
		h.Variables["PowerBI.RequestTimeoutSeconds"] = "1"
		f := mc.kind.fault
		f.Method, f.Path, f.Times = mc.call.method, mc.call.pattern(), 1
		h.Emulator.InjectFault(f)
		start := time.Now()
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		mc.res, mc.err = h.Run(ctx, harness.Step{Folder: mc.task.folder, Inputs: mc.task.inputs})
		mc.took = time.Since(start)
		mc.state = fingerprint(h.Emulator)
	})

	table := map[string][]string{}
	var names []string
	for _, mc := range cases {
		name := fmt.Sprintf("%s %s %s", mc.task, mc.call, mc.kind.name)
		require.NoError(t, mc.err, name)
		ok := mc.res.Run.Result == "Succeeded" || mc.res.Run.Result == "SucceededWithIssues"
		assert.True(t, ok, "%s: %s after %s\n%s", name, mc.res.Run.Result, mc.took, log(mc.res))
		assert.Less(t, mc.took, 30*time.Second, name)
		assert.Equal(t, baseline[mc.task.String()], mc.state, "%s: the service ends as without the fault: each change made once", name)
		key := mc.task.String() + " " + mc.call.String()
		if _, ok := table[key]; !ok {
			names = append(names, key)
		}
		table[key] = append(table[key], fmt.Sprintf("%s:%s", mc.kind.name, outcome(mc.res)))
	}
	sort.Strings(names)
	if os.Getenv("PBI_FIGURES") != "" {
		for _, n := range names {
			fmt.Printf("%-70s %s\n", n, strings.Join(table[n], " "))
		}
	}
	t.Logf("%d cases", len(cases))
}

func outcome(res *harness.Result) string {
	switch res.Run.Result {
	case "Succeeded":
		return "ok"
	case "SucceededWithIssues":
		return "ok!"
	}
	return "FAILED"
}

func runStep(t *testing.T, h *harness.Harness, task matrixTask) *harness.Result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	res, err := h.Run(ctx, harness.Step{Folder: task.folder, Inputs: task.inputs})
	require.NoError(t, err)
	return res
}

// TestRetriesRunOutWithAClearMessage: a call that keeps failing fails the task with the call,
// the status, the service's error code and its RequestId.
func TestRetriesRunOutWithAClearMessage(t *testing.T) {
	t.Parallel()
	distDir := dist(t)
	inParallel(len(matrixTasks), len(matrixTasks), func(i int) {
		task := matrixTasks[i]
		h, err := harness.Start(harness.Options{Dist: distDir, Seed: matrixSeed(), TempDir: t.TempDir()})
		if !assert.NoError(t, err) {
			return
		}
		defer h.Close()
		h.Emulator.InjectFault(emulator.Fault{Method: "GET", Path: `^/v1\.0/myorg/(pipelines|groups)$`, Status: 503})
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		res, err := h.Run(ctx, harness.Step{Folder: task.folder, Inputs: task.inputs})
		if !assert.NoError(t, err, task.folder) {
			return
		}
		errs := errorIssues(res)
		assert.Equal(t, "Failed", res.Run.Result, task.folder)
		assert.Regexp(t, `GET https://127\.0\.0\.1:\d+/v1\.0/myorg/(pipelines|groups): 503 ServiceUnavailable: Fault injected by the emulator \(RequestId [0-9a-f-]{36}\)`, errs, task.folder)
		for _, r := range h.Emulator.Requests() {
			assert.False(t, strings.Contains(r.Path, "/v1.0/myorg/") && isMutating(r.Method), "%s: nothing changed: %s %s", task.folder, r.Method, r.Path)
		}
	})
}

func errorIssues(res *harness.Result) string {
	var msgs []string
	for _, is := range res.Run.Issues {
		if is.Type == "error" {
			msgs = append(msgs, is.Message)
		}
	}
	return strings.Join(msgs, "\n")
}
