// Command deploy is the PowerBIPipelineDeploy task: it deploys all content or selected items
// from one stage of a pipeline to the next (or back), once, waits for the outcome within a
// bound, and explains it step by step.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"
	"unicode/utf8"

	"github.com/pbi-pipelines/azdo-extension/internal/agent"
	"github.com/pbi-pipelines/azdo-extension/internal/deploy"
	"github.com/pbi-pipelines/azdo-extension/internal/powerbi"
	"github.com/pbi-pipelines/azdo-extension/internal/resolve"
	"github.com/pbi-pipelines/azdo-extension/internal/taskrun"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(taskrun.Run(ctx, "PowerBIPipelineDeploy", os.Getenv, os.Stdout, run))
}

type inputs struct {
	pipeline    string
	direction   resolve.Direction
	selective   bool
	selection   deploy.Selection
	note        string
	wait        bool
	timeout     time.Duration
	createWS    bool
	newWsName   string
	capacity    string
	options     powerbi.DeploymentOptions
	updateApp   bool
	stageOrders string
}

func parse(in *agent.Env) (*inputs, error) {
	v := &inputs{selection: deploy.Selection{}}
	var err error
	if v.pipeline, err = in.RequiredInput("pipeline"); err != nil {
		return nil, err
	}
	if v.stageOrders, err = in.RequiredInput("stageOrder"); err != nil {
		return nil, err
	}
	if v.direction, err = resolve.DeployTarget(v.stageOrders); err != nil {
		return nil, agent.InputErrorf("stageOrder", "%v", err)
	}
	switch t := in.Input("deployType"); {
	case t == "" || strings.EqualFold(t, "All"):
	case strings.EqualFold(t, "Selective"):
		v.selective = true
	default:
		return nil, agent.InputErrorf("deployType", "expected All or Selective, got %q", t)
	}
	for _, k := range deploy.Kinds {
		if items := in.ListInput(k.Input); len(items) > 0 {
			v.selection[k.Input] = items
		}
	}
	if v.selective && v.selection.Empty() {
		return nil, agent.InputErrorf("deployType", "Selective needs at least one item in datasets, reports, dashboards, dataflows or datamarts")
	}
	if !v.selective && !v.selection.Empty() {
		in.Warning("deployType is All, so the items listed in datasets, reports, dashboards, dataflows and datamarts are ignored; set deployType to Selective to deploy only them")
	}
	v.note = in.Input("note")
	if n := utf8.RuneCountInString(v.note); n > deploy.MaxNote {
		in.Warning("note has %d characters; Power BI keeps the first %d of a deployment note", n, deploy.MaxNote)
	}
	if v.wait, err = in.BoolInput("waitForCompletion", true); err != nil {
		return nil, err
	}
	minutes := 60.0
	if s := strings.TrimSpace(in.Input("waitTimeoutMinutes")); s != "" {
		if minutes, err = strconv.ParseFloat(s, 64); err != nil || !(minutes > 0 && minutes <= 1440) {
			return nil, agent.InputErrorf("waitTimeoutMinutes", "expected a number of minutes greater than 0 and at most 1440 (decimals allowed, such as 0.5), got %q", s)
		}
	}
	v.timeout = time.Duration(minutes * float64(time.Minute))
	if v.createWS, err = in.BoolInput("createNewWS", false); err != nil {
		return nil, err
	}
	v.newWsName, v.capacity = in.Input("newWsName"), in.Input("capacity")
	if v.createWS && strings.TrimSpace(v.newWsName) == "" {
		return nil, agent.InputErrorf("newWsName", "createNewWS is true, so the name of the workspace to create is required")
	}
	if n := utf8.RuneCountInString(v.newWsName); n > 256 {
		return nil, agent.InputErrorf("newWsName", "a workspace name has at most 256 characters, got %d", n)
	}
	flags := []struct {
		name string
		def  bool
		dst  *bool
	}{
		{"allowCreateArtifact", true, &v.options.AllowCreateArtifact},
		{"allowOverwriteArtifact", true, &v.options.AllowOverwriteArtifact},
		{"allowOverwriteTargetArtifactLabel", false, &v.options.AllowOverwriteTargetArtifactLabel},
		{"allowPurgeData", false, &v.options.AllowPurgeData},
		{"allowSkipTilesWithMissingPrerequisites", false, &v.options.AllowSkipTilesWithMissingPrerequisites},
		{"allowTakeOver", false, &v.options.AllowTakeOver},
		{"updateApp", false, &v.updateApp},
	}
	for _, f := range flags {
		if *f.dst, err = in.BoolInput(f.name, f.def); err != nil {
			return nil, err
		}
	}
	return v, nil
}

func run(ctx context.Context, t *taskrun.Task) error {
	in, err := parse(t.Agent)
	if err != nil {
		return err
	}
	c, err := t.Client(ctx)
	if err != nil {
		return err
	}
	p, err := resolve.Pipeline(ctx, c, in.pipeline)
	if err != nil {
		return err
	}
	plan, err := buildPlan(ctx, t, c, p, in)
	if err != nil {
		return err
	}
	t.Agent.Info("Deploying %s of pipeline %q", plan.Describe(), p.DisplayName)
	if plan.Selective {
		end := t.Agent.Group("Selected items")
		for _, item := range plan.Items {
			t.Agent.Info("%s", item)
		}
		end()
	}
	target := taskrun.StageOf(p, in.direction.Target)
	if target.WorkspaceID != "" {
		t.Agent.SetOutput("targetWorkspaceId", target.WorkspaceID)
	}
	outcomes, runErr := deploy.Run(ctx, c, p.ID, plan, deploy.Options{
		Wait:    in.wait,
		Timeout: in.timeout,
		Started: func(part *deploy.Part, op *powerbi.PipelineOperation) {
			t.Agent.SetOutput("operationId", op.ID)
			t.Agent.SetOutput("status", op.Status)
		},
	}, t.Agent)
	if len(outcomes) == 0 {
		return runErr
	}
	last := outcomes[len(outcomes)-1].Op
	for _, o := range outcomes {
		if steps := deploy.Summary(o.Op); len(steps) > 0 {
			title := "Deployment steps"
			if l := o.Part.Label(); l != "" {
				title += ", " + l
			}
			end := t.Agent.Group(title)
			for _, s := range steps {
				t.Agent.Info("%s", s)
			}
			end()
		}
	}
	// The target workspace, when this deployment created it.
	if target.WorkspaceID == "" {
		if fresh, _, err := c.Pipelines.Get(ctx, p.ID, true); err == nil {
			if ws := taskrun.StageOf(fresh, in.direction.Target).WorkspaceID; ws != "" {
				t.Agent.SetOutput("targetWorkspaceId", ws)
			}
		}
	}
	// status: the last deployment's, except that a run whose later part was refused or could
	// not be followed failed as a whole.
	status, outcome := last.Status, last.Status
	if runErr != nil && last.Done() && last.Status != powerbi.StatusFailed {
		status, outcome = powerbi.StatusFailed, powerbi.StatusFailed
	} else if runErr != nil && !last.Done() {
		outcome = "Not known yet: " + last.Status
	}
	t.Agent.SetOutput("status", status)
	writeSummary(t, deploy.SummaryHeader{Pipeline: p.DisplayName, PipelineID: p.ID, Plan: plan, Outcome: outcome}, outcomes)
	if runErr != nil {
		return runErr
	}
	if !in.wait {
		return nil
	}
	counts := ""
	if cnt, ok := deploy.Counts(outcomes); ok {
		counts = " (" + deploy.CountsLine(cnt) + ")"
	}
	t.Agent.Info("Deployment %s succeeded: %s%s", last.ID, plan.Describe(), counts)
	return nil
}

// writeSummary attaches the markdown summary to the run's summary page. Failing to write it
// is a warning: the deployment's outcome does not depend on it.
func writeSummary(t *taskrun.Task, h deploy.SummaryHeader, outcomes []deploy.Outcome) {
	dir := t.Agent.Variable("Agent.TempDirectory")
	if dir == "" {
		dir = os.TempDir()
	}
	f, err := os.CreateTemp(dir, "powerbi-deployment-*.md")
	if err == nil {
		_, err = f.WriteString(deploy.Markdown(h, outcomes))
		if cerr := f.Close(); err == nil {
			err = cerr
		}
	}
	if err != nil {
		t.Agent.Warning("Could not write the deployment summary for the run's summary page: %v", err)
		return
	}
	t.Agent.UploadSummary(f.Name())
}

// buildPlan checks the stages and builds the request; it changes nothing.
func buildPlan(ctx context.Context, t *taskrun.Task, c *powerbi.Client, p *powerbi.Pipeline, in *inputs) (*deploy.Plan, error) {
	d := in.direction
	source, target := taskrun.StageOf(p, d.Source), taskrun.StageOf(p, d.Target)
	if source.WorkspaceID == "" {
		return nil, fmt.Errorf("the %s stage of pipeline %q has no workspace, so there is nothing to deploy from it", resolve.StageName(d.Source), p.DisplayName)
	}
	plan := &deploy.Plan{Direction: d, Selective: in.selective}
	// One read of the source stage: to match a selection, or to know whether deploying all
	// of it needs more than one request.
	arts, _, err := c.Pipelines.ListStageArtifacts(ctx, p.ID, d.Source)
	if err != nil {
		return nil, fmt.Errorf("listing the items of the %s stage: %w", resolve.StageName(d.Source), err)
	}
	if in.selective {
		if plan.Items, err = deploy.Match(in.selection, arts, resolve.StageName(d.Source)); err != nil {
			return nil, err
		}
	} else if n := deploy.CountArtifacts(arts); n > deploy.MaxItems {
		plan.Batched, plan.Items = true, deploy.AllItems(arts)
		t.Agent.Info("The %s stage holds %d items, more than the %d the service deploys at once: deploying all of them as selective deployments in parts (datasets, dataflows and datamarts before the reports and dashboards that use them)", resolve.StageName(d.Source), n, deploy.MaxItems)
	}
	r := &plan.Base
	r.SourceStageOrder = d.Source
	r.IsBackwardDeployment = d.Backward
	r.Note = in.note
	if o := in.options; o != (powerbi.DeploymentOptions{}) {
		r.Options = &o
	}
	if in.updateApp {
		r.UpdateAppSettings = &powerbi.UpdateAppSettings{UpdateAppInTargetWorkspace: true}
	}
	switch {
	case target.WorkspaceID == "" && !in.createWS:
		return nil, fmt.Errorf("the %s stage of pipeline %q has no workspace: assign one (PowerBIPipelineAssignWorkspace), or set createNewWS to true and newWsName to have the deployment create it", resolve.StageName(d.Target), p.DisplayName)
	case target.WorkspaceID == "":
		nw := &powerbi.NewWorkspace{Name: in.newWsName}
		if in.capacity != "" {
			cp, err := resolve.Capacity(ctx, c, in.capacity)
			if err != nil {
				return nil, fmt.Errorf("input \"capacity\": %w", err)
			}
			nw.CapacityID = cp.ID
		}
		r.NewWorkspace = nw
		t.Agent.Info("The %s stage has no workspace: the deployment creates workspace %q", resolve.StageName(d.Target), in.newWsName)
	case in.createWS:
		t.Agent.Info("The %s stage already has workspace %s, so no new workspace is requested (createNewWS is ignored)", resolve.StageName(d.Target), taskrun.WorkspaceLabel(target))
	}
	if in.capacity != "" && r.NewWorkspace == nil {
		t.Agent.Warning("capacity %q is ignored: it is used only when the deployment creates the target workspace (createNewWS)", in.capacity)
	}
	return plan, nil
}
