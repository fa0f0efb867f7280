// Command delete-pipeline is the PowerBIPipelineDelete task: it deletes a deployment pipeline
// (its workspaces are kept), or succeeds when it is already gone and that is allowed.
package main

import (
	"context"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/pbi-pipelines/azdo-extension/internal/agent"
	"github.com/pbi-pipelines/azdo-extension/internal/powerbi"
	"github.com/pbi-pipelines/azdo-extension/internal/resolve"
	"github.com/pbi-pipelines/azdo-extension/internal/taskrun"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(taskrun.Run(ctx, "PowerBIPipelineDelete", os.Getenv, os.Stdout, run))
}

func run(ctx context.Context, t *taskrun.Task) error {
	pipeline, err := t.Agent.RequiredInput("pipeline")
	if err != nil {
		return err
	}
	var missingOK bool
	switch v := t.Agent.Input("ifMissing"); {
	case v == "" || strings.EqualFold(v, "Fail"):
	case strings.EqualFold(v, "Succeed"):
		missingOK = true
	default:
		return agent.InputErrorf("ifMissing", "expected Fail or Succeed, got %q", v)
	}
	c, err := t.Client(ctx)
	if err != nil {
		return err
	}
	p, err := resolve.FindPipeline(ctx, c, pipeline)
	if err != nil {
		return err
	}
	if p == nil {
		if missingOK {
			t.Nothing("no pipeline %q is visible; ifMissing is Succeed", pipeline)
			return nil
		}
		_, err := resolve.Pipeline(ctx, c, pipeline) // the full not-found message
		return err
	}
	if _, err := c.Pipelines.Delete(ctx, p.ID); err != nil {
		if !powerbi.IsNotFound(err) {
			return err
		}
		// It was there a moment ago: a retried DELETE whose first answer was lost, or a
		// concurrent delete. Either way it is gone, as asked.
		t.Agent.Info("Pipeline %q (id %s) is gone: an earlier try of this request (or someone else) deleted it", p.DisplayName, p.ID)
		return nil
	}
	t.Agent.Info("Deleted pipeline %q (id %s); its workspaces are kept", p.DisplayName, p.ID)
	return nil
}
