// Command add-pipeline-user is the PowerBIPipelineAddUser task: it makes a user, group or
// service principal an Admin of a pipeline (the only pipeline role). A principal that already
// is one is left as it is.
package main

import (
	"context"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/pbi-pipelines/azdo-extension/internal/powerbi"
	"github.com/pbi-pipelines/azdo-extension/internal/resolve"
	"github.com/pbi-pipelines/azdo-extension/internal/taskrun"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(taskrun.Run(ctx, "PowerBIPipelineAddUser", os.Getenv, os.Stdout, run))
}

func run(ctx context.Context, t *taskrun.Task) error {
	pipeline, err := t.Agent.RequiredInput("pipeline")
	if err != nil {
		return err
	}
	who, err := taskrun.PrincipalInputs(t.Agent)
	if err != nil {
		return err
	}
	c, err := t.Client(ctx)
	if err != nil {
		return err
	}
	p, err := resolve.Pipeline(ctx, c, pipeline)
	if err != nil {
		return err
	}
	users, _, err := c.Pipelines.ListUsers(ctx, p.ID)
	if err != nil {
		return err
	}
	for _, u := range users {
		if strings.EqualFold(u.Identifier, who.Identifier) && strings.EqualFold(u.AccessRight, "Admin") {
			t.Nothing("%s %s already is an Admin of pipeline %q", who.Type, who.Identifier, p.DisplayName)
			return nil
		}
	}
	err = t.Once(ctx, "Adding the pipeline user",
		func() error {
			_, err := c.Pipelines.AddUser(ctx, p.ID, &powerbi.PipelineUser{Identifier: who.Identifier, PrincipalType: who.Type, AccessRight: "Admin"})
			return err
		},
		func() (bool, error) {
			users, _, err := c.Pipelines.ListUsers(ctx, p.ID)
			for _, u := range users {
				if strings.EqualFold(u.Identifier, who.Identifier) && strings.EqualFold(u.AccessRight, "Admin") {
					return true, nil
				}
			}
			return false, err
		})
	if err != nil {
		return err
	}
	t.Agent.Info("Made %s %s an Admin of pipeline %q", who.Type, who.Identifier, p.DisplayName)
	return nil
}
