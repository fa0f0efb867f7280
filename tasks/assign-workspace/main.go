// Command assign-workspace is the PowerBIPipelineAssignWorkspace task: it assigns a workspace
// to a pipeline stage, creating the workspace first when asked to. Assigning the workspace the
// stage already has succeeds and changes nothing.
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
	os.Exit(taskrun.Run(ctx, "PowerBIPipelineAssignWorkspace", os.Getenv, os.Stdout, run))
}

type inputs struct {
	pipeline, workspace, capacity string
	order                         int
	create                        bool
}

func parse(in *agent.Env) (*inputs, error) {
	var v inputs
	var err error
	if v.pipeline, err = in.RequiredInput("pipeline"); err != nil {
		return nil, err
	}
	stage, err := in.RequiredInput("stageOrder")
	if err != nil {
		return nil, err
	}
	if v.order, err = resolve.Stage(stage); err != nil {
		return nil, agent.InputErrorf("stageOrder", "%v", err)
	}
	if v.workspace, err = in.RequiredInput("workspace"); err != nil {
		return nil, err
	}
	if v.create, err = in.BoolInput("createWorkspace", false); err != nil {
		return nil, err
	}
	v.capacity = in.Input("capacity")
	if v.create && v.capacity == "" {
		return nil, agent.InputErrorf("capacity", "createWorkspace is true, so the capacity (name or id) of the new workspace is required: deployment pipelines need workspaces on Premium or Fabric capacity")
	}
	if n := utf8.RuneCountInString(v.workspace); v.create && n > 256 {
		return nil, agent.InputErrorf("workspace", "a workspace name has at most 256 characters, got %d", n)
	}
	if v.create && resolve.IsID(v.workspace) {
		return nil, agent.InputErrorf("workspace", "createWorkspace is true, so a workspace name is expected, not an id (%s)", v.workspace)
	}
	return &v, nil
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
	stageName := resolve.StageName(in.order)
	var capacity *powerbi.Capacity
	if in.capacity != "" {
		// Resolved first, so that a wrong capacity changes nothing.
		if capacity, err = resolve.Capacity(ctx, c, in.capacity); err != nil {
			return fmt.Errorf("input \"capacity\": %w", err)
		}
	}
	ws, err := resolve.FindWorkspace(ctx, c, in.workspace)
	if err != nil {
		return err
	}
	stage := taskrun.StageOf(p, in.order)
	switch {
	case ws == nil && !in.create:
		_, err := resolve.Workspace(ctx, c, in.workspace)
		return fmt.Errorf("%w. Set createWorkspace to true to create it", err)
	case ws == nil && stage.WorkspaceID != "":
		return fmt.Errorf("the %s stage of pipeline %q already has workspace %s; unassign it first", stageName, p.DisplayName, taskrun.WorkspaceLabel(stage))
	case ws == nil:
		if ws, err = createWorkspace(ctx, t, c, in.workspace); err != nil {
			return err
		}
		if err := putOnCapacity(ctx, t, c, ws, capacity); err != nil {
			return err
		}
	case in.create && capacity != nil && !strings.EqualFold(ws.CapacityID, capacity.ID) && !strings.EqualFold(stage.WorkspaceID, ws.ID):
		// Created by an earlier run that stopped before the capacity was set: finish it.
		if err := putOnCapacity(ctx, t, c, ws, capacity); err != nil {
			return err
		}
	case capacity != nil && !strings.EqualFold(ws.CapacityID, capacity.ID):
		t.Agent.Warning("Workspace %q exists and is not on capacity %q; capacity is used only for a workspace this task creates", ws.Name, capacity.DisplayName)
	}
	t.Agent.SetOutput("workspaceId", ws.ID)
	if strings.EqualFold(stage.WorkspaceID, ws.ID) {
		t.Nothing("workspace %q (id %s) already is the %s stage of pipeline %q", ws.Name, ws.ID, stageName, p.DisplayName)
		return nil
	}
	if stage.WorkspaceID != "" {
		return fmt.Errorf("the %s stage of pipeline %q already has workspace %s; unassign it first", stageName, p.DisplayName, taskrun.WorkspaceLabel(stage))
	}
	for _, s := range p.Stages {
		if strings.EqualFold(s.WorkspaceID, ws.ID) {
			return fmt.Errorf("workspace %q (id %s) already is the %s stage of pipeline %q; a workspace belongs to one stage", ws.Name, ws.ID, resolve.StageName(s.Order), p.DisplayName)
		}
	}
	err = t.Once(ctx, "Assigning the workspace",
		func() error { _, err := c.Pipelines.AssignWorkspace(ctx, p.ID, in.order, ws.ID); return err },
		func() (bool, error) {
			now, _, err := c.Pipelines.Get(ctx, p.ID, true)
			if err != nil {
				return false, err
			}
			return strings.EqualFold(taskrun.StageOf(now, in.order).WorkspaceID, ws.ID), nil
		})
	if err != nil {
		return err
	}
	t.Agent.Info("Assigned workspace %q (id %s) to the %s stage of pipeline %q", ws.Name, ws.ID, stageName, p.DisplayName)
	return nil
}

// createWorkspace creates the workspace.
func createWorkspace(ctx context.Context, t *taskrun.Task, c *powerbi.Client, name string) (*powerbi.Group, error) {
	var ws *powerbi.Group
	err := t.Once(ctx, "Creating the workspace",
		func() (err error) { ws, _, err = c.Groups.Create(ctx, name); return err },
		func() (bool, error) {
			found, err := resolve.FindWorkspace(ctx, c, name)
			if found != nil {
				ws = found
			}
			return found != nil, err
		})
	if err != nil {
		return nil, fmt.Errorf("creating workspace %q: %w", name, err)
	}
	t.Agent.Info("Created workspace %q (id %s)", ws.Name, ws.ID)
	return ws, nil
}

// putOnCapacity moves the workspace to the capacity.
func putOnCapacity(ctx context.Context, t *taskrun.Task, c *powerbi.Client, ws *powerbi.Group, capacity *powerbi.Capacity) error {
	// Putting a workspace on a capacity again is harmless: the transport may repeat it.
	if _, err := c.Groups.AssignToCapacity(powerbi.WithIdempotent(ctx), ws.ID, capacity.ID); err != nil {
		return fmt.Errorf("putting workspace %q on capacity %q: %w", ws.Name, capacity.DisplayName, err)
	}
	t.Agent.Info("Put workspace %q on capacity %q (id %s)", ws.Name, capacity.DisplayName, capacity.ID)
	ws.CapacityID = capacity.ID
	return nil
}
