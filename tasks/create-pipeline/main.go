// Command create-pipeline is the PowerBIPipelineCreate task: it creates a deployment pipeline,
// or reuses the one with that name when asked to.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"unicode/utf8"

	"github.com/pbi-pipelines/azdo-extension/internal/agent"
	"github.com/pbi-pipelines/azdo-extension/internal/powerbi"
	"github.com/pbi-pipelines/azdo-extension/internal/resolve"
	"github.com/pbi-pipelines/azdo-extension/internal/taskrun"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(taskrun.Run(ctx, "PowerBIPipelineCreate", os.Getenv, os.Stdout, run))
}

type inputs struct {
	displayName, description string
	reuse                    bool
}

func parse(in *agent.Env) (*inputs, error) {
	name, err := in.RequiredInput("displayName")
	if err != nil {
		return nil, err
	}
	if n := utf8.RuneCountInString(name); n > 256 {
		return nil, agent.InputErrorf("displayName", "at most 256 characters, got %d", n)
	}
	desc := in.Input("description")
	if n := utf8.RuneCountInString(desc); n > 1024 {
		return nil, agent.InputErrorf("description", "at most 1024 characters, got %d", n)
	}
	var reuse bool
	switch v := in.Input("ifExists"); {
	case v == "" || strings.EqualFold(v, "Fail"):
	case strings.EqualFold(v, "Reuse"):
		reuse = true
	default:
		return nil, agent.InputErrorf("ifExists", "expected Fail or Reuse, got %q", v)
	}
	return &inputs{displayName: name, description: desc, reuse: reuse}, nil
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
	existing, err := resolve.FindPipelineByName(ctx, c, in.displayName)
	if err != nil {
		return err
	}
	if existing != nil {
		if !in.reuse {
			return fmt.Errorf("a pipeline named %q already exists (id %s); set ifExists to Reuse to use it", existing.DisplayName, existing.ID)
		}
		t.Nothing("pipeline %q already exists (id %s); reusing it", existing.DisplayName, existing.ID)
		t.Agent.SetOutput("pipelineId", existing.ID)
		return nil
	}
	var p *powerbi.Pipeline
	err = t.Once(ctx, "Creating the pipeline",
		func() (err error) {
			p, _, err = c.Pipelines.Create(ctx, &powerbi.CreatePipelineRequest{DisplayName: in.displayName, Description: in.description})
			return err
		},
		func() (bool, error) {
			// The answer was lost: the pipeline may exist now.
			found, err := resolve.FindPipelineByName(ctx, c, in.displayName)
			if found != nil {
				p = found
			}
			return found != nil, err
		})
	if err != nil {
		return fmt.Errorf("creating pipeline %q: %w", in.displayName, err)
	}
	t.Agent.Info("Created pipeline %q (id %s)", p.DisplayName, p.ID)
	t.Agent.SetOutput("pipelineId", p.ID)
	return nil
}
