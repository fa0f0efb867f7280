package e2e_test

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pbi-pipelines/azdo-extension/internal/emulator"
	"github.com/pbi-pipelines/azdo-extension/internal/harness"
	"github.com/pbi-pipelines/azdo-extension/internal/swaggertest"
)

// The deploy task through the real launcher against the emulator: selection, parts of at most
// 300 items, waiting, a deployment already running, a lost answer, results and the summary.

// startWith is start with a chosen deployment duration (nil seed: the demo seed).
func startWith(t *testing.T, seed *emulator.Seed, d time.Duration) *harness.Harness {
	t.Helper()
	if seed == nil {
		seed = emulator.DemoSeed()
	}
	h, err := harness.Start(harness.Options{Dist: dist(t), Seed: seed, DeployDuration: d, Node: nodeUnderTest(t),
		Validate: swaggertest.Validator(t), TempDir: t.TempDir()})
	require.NoError(t, err)
	t.Cleanup(func() {
		assert.Empty(t, h.Emulator.ValidationErrors(), "requests the swagger does not allow")
		h.Close()
	})
	return h
}

// deployPosts counts the deployment requests the emulator received.
func deployPosts(h *harness.Harness) int {
	n := 0
	for _, r := range h.Emulator.Requests() {
		if r.Method == "POST" && (strings.HasSuffix(r.Path, "/deploy") || strings.HasSuffix(r.Path, "/deployAll")) {
			n++
		}
	}
	return n
}

// bigSeed is the demo seed with n datasets and n reports more in Development.
func bigSeed(n int) *emulator.Seed {
	seed := emulator.DemoSeed()
	for i := range seed.Workspaces {
		w := &seed.Workspaces[i]
		if len(w.Datasets) == 0 {
			continue
		}
		for j := range n {
			ds := fmt.Sprintf("da7a0000-0000-4000-8000-%012d", j)
			w.Datasets = append(w.Datasets, emulator.Item{ID: ds, Name: fmt.Sprintf("Model %03d", j)})
			w.Reports = append(w.Reports, emulator.Item{ID: fmt.Sprintf("4e900000-0000-4000-8000-%012d", j), Name: fmt.Sprintf("Report %03d", j), DatasetID: ds})
		}
	}
	return seed
}

func summary(t *testing.T, res *harness.Result) string {
	t.Helper()
	require.Len(t, res.Run.Summaries, 1, "one summary attached")
	b, err := os.ReadFile(res.Run.Summaries[0])
	require.NoError(t, err)
	return string(b)
}

func TestDeploySelectionByNamesIdsAndWildcards(t *testing.T) {
	t.Parallel()
	seed := emulator.DemoSeed()
	h := start(t, seed)
	newPipeline(t, h, seed, "Pick")
	dev := devWorkspace(seed)
	before := len(h.Emulator.Requests())
	res := run(t, h, "deploy", map[string]string{"pipeline": "Pick", "stageOrder": "Test", "deployType": "Selective",
		"datasets": "Sales;  inv*", "reports": dev.Reports[2].ID + "\nSales overview", "dashboards": "Exec?tive dashboard",
		"createNewWS": "true", "newWsName": "Pick [Test]", "note": "by names"})
	succeeded(t, res)
	l := log(res)
	for _, want := range []string{`dataset "Sales"`, `dataset "Inventory"`, `report "Customer churn"`, `report "Sales overview"`, `dashboard "Executive dashboard"`} {
		assert.Contains(t, l, want)
	}
	assert.NotContains(t, l, `dataset "Customers"`)
	assert.Contains(t, l, "Deploying 5 selected items from Development to Test")
	assert.Contains(t, l, "(5 new, 0 different, 0 unchanged)")
	assert.Equal(t, "Succeeded", res.Run.Outputs["status"])
	assert.NotEmpty(t, res.Run.Outputs["operationId"])
	assert.NotEmpty(t, res.Run.Outputs["targetWorkspaceId"], "the workspace the deployment created")
	assert.Contains(t, string(res.Raw), "##vso[task.setprogress value=100;]")
	md := summary(t, res)
	assert.Contains(t, md, "| # | Item | Type | Before | Result | Error |")
	assert.Contains(t, md, "| Sales overview | report | New | Succeeded |")
	assert.Contains(t, md, "5 new, 0 different, 0 unchanged")

	var gets, posts int
	for _, r := range h.Emulator.Requests()[before:] {
		if strings.Contains(r.Path, "/v1.0/myorg/") {
			if r.Method == "GET" {
				gets++
			} else {
				posts++
			}
		}
	}
	t.Logf("API calls for a selective deploy by names: %d GET, %d POST", gets, posts)
	assert.Equal(t, 1, posts)
}

func TestDeployOfAnUnknownNameListsTheClosestAndSendsNothing(t *testing.T) {
	t.Parallel()
	seed := bigSeed(20)
	h := start(t, seed)
	newPipeline(t, h, seed, "Typo")
	failed(t, run(t, h, "deploy", map[string]string{"pipeline": "Typo", "stageOrder": "Test", "deployType": "Selective",
		"reports": "Report 07;Sales overviw", "createNewWS": "true", "newWsName": "T"}),
		`reports: nothing named "Sales overviw"; the stage has 23 reports; the closest names are "Sales overview"`)
	assert.Zero(t, deployPosts(h))
}

func TestDeployOfMoreThan300ItemsGoesInParts(t *testing.T) {
	t.Parallel()
	seed := bigSeed(160) // 163 datasets + 163 reports + 1 dashboard in Development
	h := startWith(t, seed, 300*time.Millisecond)
	newPipeline(t, h, seed, "Big")

	res := run(t, h, "deploy", map[string]string{"pipeline": "Big", "stageOrder": "Test", "createNewWS": "true", "newWsName": "Big [Test]", "note": "all"})
	succeeded(t, res)
	l := log(res)
	assert.Contains(t, l, "The Development stage holds 327 items, more than the 300 the service deploys at once")
	assert.Contains(t, l, "sending them in 2 parts")
	assert.Contains(t, l, "Deployment steps, part 2 of 2")
	assert.Contains(t, l, "(327 new, 0 different, 0 unchanged)")
	assert.Equal(t, 2, deployPosts(h))
	assert.NotEmpty(t, res.Run.Outputs["targetWorkspaceId"])
	md := summary(t, res)
	assert.Contains(t, md, "#### Part 1 of 2")
	assert.Contains(t, md, "#### Part 2 of 2")

	// Selective, by wildcards, into the stage now assigned: again two parts, all unchanged.
	res = run(t, h, "deploy", map[string]string{"pipeline": "Big", "stageOrder": "Test", "deployType": "Selective", "datasets": "*", "reports": "*", "createNewWS": "true", "newWsName": "ignored"})
	succeeded(t, res)
	assert.Contains(t, log(res), "no new workspace is requested (createNewWS is ignored)")
	assert.Contains(t, log(res), "sending them in 2 parts")
	assert.Contains(t, log(res), "(0 new, 0 different, 326 unchanged)")
	assert.Equal(t, 4, deployPosts(h))
}

func TestDeployWaitsForADeploymentAlreadyRunning(t *testing.T) {
	t.Parallel()
	seed := emulator.DemoSeed()
	h := startWith(t, seed, 10*time.Second) // long enough to be running when the second task looks, under load
	newPipeline(t, h, seed, "Busy")
	first := run(t, h, "deploy", map[string]string{"pipeline": "Busy", "stageOrder": "Test", "createNewWS": "true", "newWsName": "Busy [Test]", "waitForCompletion": "false"})
	succeeded(t, first)
	assert.Contains(t, log(first), "not waiting for it")
	assert.Equal(t, "NotStarted", first.Run.Outputs["status"])
	second := run(t, h, "deploy", map[string]string{"pipeline": "Busy", "stageOrder": "Test", "createNewWS": "true", "newWsName": "Busy [Test 2]"})
	succeeded(t, second)
	assert.Contains(t, log(second), "Deployment "+first.Run.Outputs["operationId"]+" (Development to Test) is")
	assert.Contains(t, log(second), "waiting for it to end")
	assert.Contains(t, log(second), "The Test stage got workspace")
	for _, w := range h.Emulator.Snapshot().Workspaces {
		assert.NotEqual(t, "Busy [Test 2]", w.Name, "no second workspace")
		if w.Name == "Busy [Test]" {
			assert.Equal(t, w.ID, second.Run.Outputs["targetWorkspaceId"])
		}
	}
	assert.NotEqual(t, first.Run.Outputs["operationId"], second.Run.Outputs["operationId"])
	assert.Equal(t, 2, deployPosts(h))
}

func TestDeployTimeoutSaysTheDeploymentGoesOn(t *testing.T) {
	t.Parallel()
	seed := emulator.DemoSeed()
	h := startWith(t, seed, time.Minute)
	newPipeline(t, h, seed, "Slow")
	res := run(t, h, "deploy", map[string]string{"pipeline": "Slow", "stageOrder": "Test", "createNewWS": "true", "newWsName": "Slow [Test]", "waitTimeoutMinutes": "0.05"})
	failed(t, res, "gave up waiting after 3s (waitTimeoutMinutes)", "was not cancelled", "follow it in the pipeline's deployment history")
	assert.Less(t, res.Duration, 20*time.Second)
	assert.NotEmpty(t, res.Run.Outputs["operationId"])
	assert.Contains(t, summary(t, res), "Not known yet")
}

func TestDeployWhoseAnswerIsLostIsAdoptedNotRepeated(t *testing.T) {
	t.Parallel()
	seed := emulator.DemoSeed()
	h := start(t, seed)
	newPipeline(t, h, seed, "Lost")
	h.Emulator.InjectFault(emulator.Fault{Method: "POST", Path: "/deployAll$", After: true, Drop: true, Times: 1})
	res := run(t, h, "deploy", map[string]string{"pipeline": "Lost", "stageOrder": "Test", "createNewWS": "true", "newWsName": "Lost [Test]"})
	succeeded(t, res)
	assert.Contains(t, log(res), "checking whether Power BI started it")
	assert.Contains(t, log(res), "Power BI did start it: deployment "+res.Run.Outputs["operationId"])
	assert.Equal(t, 1, deployPosts(h), "sent once")
}

func TestFailedDeploymentSummaryListsTheFailedStep(t *testing.T) {
	t.Parallel()
	seed := emulator.DemoSeed()
	for i := range seed.Workspaces {
		if len(seed.Workspaces[i].Reports) > 0 {
			seed.Workspaces[i].Reports[1].DeployError = "Alm_InvalidRequest_MissingPrerequisites"
		}
	}
	h := start(t, seed)
	newPipeline(t, h, seed, "Oops")
	res := run(t, h, "deploy", map[string]string{"pipeline": "Oops", "stageOrder": "Test", "createNewWS": "true", "newWsName": "Oops [Test]"})
	failed(t, res, `ReportDeployment "Stock levels": Alm_InvalidRequest_MissingPrerequisites`)
	md := summary(t, res)
	assert.Contains(t, md, "**Failed**")
	assert.Contains(t, md, "| Stock levels | report | New | Failed | Alm\\_InvalidRequest\\_MissingPrerequisites: deploying report")
}

// BenchmarkBatchedDeployMemory deploys a stage of 1,005 items (four parts of at most 300) with
// the deploy task's binary started directly, and reports its peak resident memory (the Node
// launcher, at about 40 MiB of its own, would hide it).
//
//	go test -run '^$' -bench BatchedDeployMemory -benchtime 3x ./internal/e2e   (make bench)
func BenchmarkBatchedDeployMemory(b *testing.B) {
	seed := bigSeed(501) // 504 datasets + 504 reports + 1 dashboard = 1,009 items
	h, err := harness.Start(harness.Options{Dist: dist(b), Seed: seed, DeployDuration: 200 * time.Millisecond, TempDir: b.TempDir()})
	require.NoError(b, err)
	defer h.Close()
	ctx := context.Background()
	res, err := h.Run(ctx, harness.Step{Folder: "create-pipeline", Inputs: map[string]string{"displayName": "Huge"}})
	require.NoError(b, err)
	id := res.Run.Outputs["pipelineId"]
	_, err = h.Run(ctx, harness.Step{Folder: "assign-workspace", Inputs: map[string]string{"pipeline": id, "stageOrder": "0", "workspace": devWorkspace(seed).Name}})
	require.NoError(b, err)
	var peak int64
	parts := 0
	for b.Loop() {
		res, err := h.Run(ctx, harness.Step{Folder: "deploy", Direct: true,
			Inputs: map[string]string{"pipeline": id, "stageOrder": "Test", "createNewWS": "true", "newWsName": "Huge [Test]"}})
		require.NoError(b, err)
		require.Equal(b, "Succeeded", res.Run.Result, strings.Join(res.Run.Log, "\n"))
		require.Contains(b, log(res), "sending them in 4 parts")
		peak = max(peak, res.Run.PeakRSS)
		parts++
	}
	b.ReportMetric(float64(peak)/(1<<20), "peak-RSS-MiB")
}

// BenchmarkSelectiveDeployCalls runs the deploy task selecting items by names and wildcards,
// waiting for a 3-second deployment, and reports the requests it made, by kind.
//
//	go test -run '^$' -bench SelectiveDeployCalls -benchtime 5x ./internal/e2e   (make bench)
func BenchmarkSelectiveDeployCalls(b *testing.B) {
	seed := emulator.DemoSeed()
	h, err := harness.Start(harness.Options{Dist: dist(b), Seed: seed, DeployDuration: 3 * time.Second, TempDir: b.TempDir()})
	require.NoError(b, err)
	defer h.Close()
	ctx := context.Background()
	res, err := h.Run(ctx, harness.Step{Folder: "create-pipeline", Inputs: map[string]string{"displayName": "Calls"}})
	require.NoError(b, err)
	id := res.Run.Outputs["pipelineId"]
	_, err = h.Run(ctx, harness.Step{Folder: "assign-workspace", Inputs: map[string]string{"pipeline": id, "stageOrder": "0", "workspace": devWorkspace(seed).Name}})
	require.NoError(b, err)
	var signIn, gets, posts, reads, runs int
	for b.Loop() {
		before := len(h.Emulator.Requests())
		res, err := h.Run(ctx, harness.Step{Folder: "deploy", Inputs: map[string]string{"pipeline": "Calls", "stageOrder": "Test",
			"deployType": "Selective", "datasets": "Sales;Inv*", "reports": "Sales overview;Stock levels", "createNewWS": "true", "newWsName": "Calls [Test]"}})
		require.NoError(b, err)
		require.Equal(b, "Succeeded", res.Run.Result, strings.Join(res.Run.Log, "\n"))
		for _, r := range h.Emulator.Requests()[before:] {
			switch {
			case !strings.Contains(r.Path, "/v1.0/myorg/"):
				signIn++
			case r.Method == "GET" && strings.Contains(r.Path, "/operations/"):
				reads++
			case r.Method == "GET":
				gets++
			default:
				posts++
			}
		}
		runs++
	}
	n := float64(runs)
	b.ReportMetric(float64(signIn)/n, "sign-in-calls/op")
	b.ReportMetric(float64(gets)/n, "API-GETs/op")
	b.ReportMetric(float64(reads)/n, "status-reads/op")
	b.ReportMetric(float64(posts)/n, "deploy-POSTs/op")
}
