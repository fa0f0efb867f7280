package main

import (
	"errors"
	"strings"

	"github.com/pbi-pipelines/azdo-extension/internal/emulator"
	"github.com/pbi-pipelines/azdo-extension/internal/harness"
)

// scenario is a release of the Sales content: create the pipeline, put the development
// workspace in it, give a colleague access, deploy chosen items to a new Test workspace, put
// the production workspace in, deploy everything to it, then take it apart again.
func scenario(seed *emulator.Seed) ([]harness.Step, error) {
	var dev, prod *emulator.Workspace
	for i := range seed.Workspaces {
		w := &seed.Workspaces[i]
		switch {
		case dev == nil && len(w.Datasets) > 0:
			dev = w
		case prod == nil && len(w.Datasets) == 0 && strings.Contains(strings.ToLower(w.Name), "prod"):
			prod = w
		}
	}
	if dev == nil || prod == nil || len(dev.Reports) < 2 || len(seed.Users) == 0 || len(seed.Capacities) == 0 {
		return nil, errors.New("the demo seed needs a development workspace with datasets and reports, a production workspace, a user and a capacity")
	}
	colleague := seed.Users[len(seed.Users)-1].UPN
	var datasets []string
	for _, d := range dev.Datasets {
		datasets = append(datasets, d.Name)
	}
	const name = "Sales analytics"
	return []harness.Step{
		{Folder: "create-pipeline", Inputs: map[string]string{
			"displayName": name, "description": "Sales reports: Development -> Test -> Production", "ifExists": "Fail"}},
		{Folder: "assign-workspace", Inputs: map[string]string{
			"pipeline": "$(pipelineId)", "stageOrder": "Development", "workspace": dev.Name}},
		{Folder: "add-pipeline-user", Inputs: map[string]string{
			"pipeline": name, "userUpn": colleague, "principalType": "User"}},
		{Folder: "add-workspace-user", Inputs: map[string]string{
			"workspace": dev.Name, "identifier": colleague, "principalType": "User", "permission": "Contributor"}},
		{Folder: "deploy", Inputs: map[string]string{
			"pipeline": name, "stageOrder": "Test", "deployType": "Selective",
			"datasets": strings.Join(datasets, ";"), "reports": dev.Reports[0].Name + "\n" + dev.Reports[1].Name,
			"createNewWS": "true", "newWsName": "Sales [Test]", "capacity": seed.Capacities[0].DisplayName,
			"note": "Release $(Build.BuildNumber)", "waitForCompletion": "true", "waitTimeoutMinutes": "10"}},
		{Folder: "assign-workspace", Inputs: map[string]string{
			"pipeline": name, "stageOrder": "2", "workspace": prod.Name}},
		{Folder: "deploy", Inputs: map[string]string{
			"pipeline": name, "stageOrder": "Production", "note": "Promote the tested release"}},
		{Folder: "unassign-workspace", Inputs: map[string]string{
			"pipeline": name, "stageOrder": "Production"}},
		{Folder: "delete-pipeline", Inputs: map[string]string{
			"pipeline": name, "ifMissing": "Fail"}},
	}, nil
}
