// Command unassign-workspace is the PowerBIPipelineUnassignWorkspace task: it unassigns the
// workspace of a pipeline stage; an empty stage is already as asked.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/pbi-pipelines/azdo-extension/internal/agent"
	"github.com/pbi-pipelines/azdo-extension/internal/resolve"
	"github.com/pbi-pipelines/azdo-extension/internal/taskrun"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(taskrun.Run(ctx, "PowerBIPipelineUnassignWorkspace", os.Getenv, os.Stdout, run))
}

func run(ctx context.Context, t *taskrun.Task) error {
	pipeline, err := t.Agent.RequiredInput("pipeline")
	if err != nil {
		return err
	}
	stageInput, err := t.Agent.RequiredInput("stageOrder")
	if err != nil {
		return err
	}
	order, err := resolve.Stage(stageInput)
	if err != nil {
		return agent.InputErrorf("stageOrder", "%v", err)
	}
	c, err := t.Client(ctx)
	if err != nil {
		return err
	}
	p, err := resolve.Pipeline(ctx, c, pipeline)
	if err != nil {
		return err
	}
	stage := taskrun.StageOf(p, order)
	if stage.WorkspaceID == "" {
		t.Nothing("the %s stage of pipeline %q has no workspace", resolve.StageName(order), p.DisplayName)
		return nil
	}
	err = t.Once(ctx, "Unassigning the workspace",
		func() error { _, err := c.Pipelines.UnassignWorkspace(ctx, p.ID, order); return err },
		func() (bool, error) {
			now, _, err := c.Pipelines.Get(ctx, p.ID, true)
			if err != nil {
				return false, err
			}
			return taskrun.StageOf(now, order).WorkspaceID == "", nil
		})
	if err != nil {
		return err
	}
	t.Agent.Info("Unassigned workspace %s from the %s stage of pipeline %q", taskrun.WorkspaceLabel(stage), resolve.StageName(order), p.DisplayName)
	return nil
}
