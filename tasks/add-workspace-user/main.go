// Command add-workspace-user is the PowerBIWorkspaceAddUser task: it gives a user, group or
// service principal a role in a workspace, changing the role in place when it has another one.
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
	os.Exit(taskrun.Run(ctx, "PowerBIWorkspaceAddUser", os.Getenv, os.Stdout, run))
}

var permissions = []string{"Admin", "Member", "Contributor", "Viewer"}

func run(ctx context.Context, t *taskrun.Task) error {
	workspace, err := t.Agent.RequiredInput("workspace")
	if err != nil {
		return err
	}
	who, err := taskrun.PrincipalInputs(t.Agent)
	if err != nil {
		return err
	}
	permInput, err := t.Agent.RequiredInput("permission")
	if err != nil {
		return err
	}
	permission := ""
	for _, p := range permissions {
		if strings.EqualFold(p, permInput) {
			permission = p
		}
	}
	if permission == "" {
		return agent.InputErrorf("permission", "expected Admin, Member, Contributor or Viewer, got %q", permInput)
	}
	c, err := t.Client(ctx)
	if err != nil {
		return err
	}
	ws, err := resolve.Workspace(ctx, c, workspace)
	if err != nil {
		return err
	}
	users, _, err := c.Groups.ListUsers(ctx, ws.ID)
	if err != nil {
		return err
	}
	want := &powerbi.GroupUser{Identifier: who.Identifier, PrincipalType: who.Type, GroupUserAccessRight: permission}
	// has looks whether the principal holds the role now (after an answer was lost).
	has := func() (bool, error) {
		now, _, err := c.Groups.ListUsers(ctx, ws.ID)
		for _, u := range now {
			if (strings.EqualFold(u.Identifier, who.Identifier) || strings.EqualFold(u.EmailAddress, who.Identifier)) && strings.EqualFold(u.GroupUserAccessRight, permission) {
				return true, nil
			}
		}
		return false, err
	}
	for _, u := range users {
		if !strings.EqualFold(u.Identifier, who.Identifier) && !strings.EqualFold(u.EmailAddress, who.Identifier) {
			continue
		}
		if strings.EqualFold(u.GroupUserAccessRight, permission) {
			t.Nothing("%s %s already is %s of workspace %q", who.Type, who.Identifier, permission, ws.Name)
			return nil
		}
		if err := t.Once(ctx, "Changing the workspace role", func() error { _, err := c.Groups.UpdateUser(ctx, ws.ID, want); return err }, has); err != nil {
			return err
		}
		t.Agent.Info("Changed the role of %s %s in workspace %q from %s to %s", who.Type, who.Identifier, ws.Name, u.GroupUserAccessRight, permission)
		return nil
	}
	if err := t.Once(ctx, "Adding the workspace user", func() error { _, err := c.Groups.AddUser(ctx, ws.ID, want); return err }, has); err != nil {
		return err
	}
	t.Agent.Info("Gave %s %s the %s role in workspace %q", who.Type, who.Identifier, permission, ws.Name)
	return nil
}
