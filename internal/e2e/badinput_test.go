package e2e_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pbi-pipelines/azdo-extension/internal/agentsim"
	"github.com/pbi-pipelines/azdo-extension/internal/harness"
)

// Bad input: every input of every task, given empty, blank, wrong-type, out-of-range,
// almost-GUID, very long or ambiguous values, fails with an error that names the input and
// what was expected, before any change reaches the service.

// badValues are the bad values tried for an input, by name (then by type).
func badValues(task string, in agentsim.TaskInput) []string {
	long := strings.Repeat("x", 10000)
	almostGUID := "fa017000-0000-4000-8000-00000000001" // one digit short
	switch in.Name {
	case "connectionType":
		return []string{"Azure"}
	case "pbiConnection":
		return []string{"", "  ", "no-such-connection"}
	case "azureSubscription", "description", "note", "dataflows", "datamarts", "datasets", "reports", "dashboards":
		return nil // optional free text, or checked below in Selective cases
	case "stageOrder":
		if task == "deploy" {
			return []string{"", "Development", "3", "-1", "Staging", "Test (Forward)"}
		}
		return []string{"", " ", "3", "-1", "Staging", "1.0"}
	case "pipeline":
		return []string{"", "   ", almostGUID, long, "Twin"}
	case "workspace":
		return []string{"", "   ", almostGUID, long}
	case "identifier":
		return []string{"", "  ", "not-an-upn", long + "@contoso.com"}
	case "displayName":
		return []string{"", "   ", long}
	case "newWsName":
		return []string{long}
	case "capacity":
		return []string{almostGUID, "No such capacity"}
	case "waitTimeoutMinutes":
		return []string{"0", "-5", "soon", "1e9", "NaN"}
	case "permission":
		return []string{"", "Owner", "admin,viewer"}
	}
	switch in.Type {
	case "boolean":
		return []string{"yes", "1", "on"}
	case "pickList", "radio":
		return []string{"Nope"}
	}
	return nil
}

type badCase struct {
	folder, input, value string
	inputs               map[string]string
	res                  *harness.Result
}

func TestEveryInputRefusesBadValuesBeforeAnyChange(t *testing.T) {
	t.Parallel()
	seed := matrixSeed()
	// Two pipelines named "Twin": an ambiguous name.
	for _, id := range []string{"fa017000-0000-4000-8000-0000000000a1", "fa017000-0000-4000-8000-0000000000a2"} {
		seed.Pipelines = append(seed.Pipelines, seed.Pipelines[0])
		seed.Pipelines[len(seed.Pipelines)-1].ID, seed.Pipelines[len(seed.Pipelines)-1].DisplayName = id, "Twin"
		seed.Pipelines[len(seed.Pipelines)-1].Stages = nil
	}
	h := start(t, seed)
	var cases []*badCase
	for _, mt := range matrixTasks {
		if mt.name != "" {
			continue // a variant of a task already covered
		}
		task, err := agentsim.LoadTask(dist(t) + "/tasks/" + mt.folder)
		require.NoError(t, err)
		for _, in := range task.Inputs {
			for _, v := range badValues(mt.folder, in) {
				inputs := map[string]string{"pbiConnection": h.Endpoint.ID}
				for k, val := range mt.inputs {
					inputs[k] = val
				}
				if in.Name == "capacity" || in.Name == "newWsName" {
					if mt.folder == "assign-workspace" {
						inputs["createWorkspace"], inputs["workspace"] = "true", "Brand new"
					} else {
						inputs["createNewWS"] = "true"
					}
				}
				inputs[in.Name] = v
				cases = append(cases, &badCase{folder: mt.folder, input: in.Name, value: v, inputs: inputs})
			}
		}
	}
	// Selective deployments of items that are not there.
	for _, kind := range []string{"datasets", "reports", "dashboards", "dataflows", "datamarts"} {
		cases = append(cases, &badCase{folder: "deploy", input: kind, value: "Nothing like it", inputs: map[string]string{
			"pbiConnection": h.Endpoint.ID, "pipeline": "Main", "stageOrder": "Test", "deployType": "Selective", kind: "Nothing like it", "createNewWS": "true", "newWsName": "N"}})
	}
	inParallel(len(cases), 6, func(i int) {
		c := cases[i]
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if res, err := h.Run(ctx, harness.Step{Folder: c.folder, Inputs: c.inputs}); err == nil {
			c.res = res
		}
	})
	for _, c := range cases {
		name := fmt.Sprintf("%s %s=%.40q", c.folder, c.input, c.value)
		require.NotNil(t, c.res, name)
		msg := errorIssues(c.res)
		assert.Equal(t, "Failed", c.res.Run.Result, "%s\n%s", name, log(c.res))
		assert.Contains(t, strings.ToLower(msg), strings.ToLower(c.input), "%s: the error names the input", name)
		assert.Less(t, len(msg), 2500, "%s: the error stays readable", name)
	}
	for _, r := range h.Emulator.Requests() {
		if strings.Contains(r.Path, "/v1.0/myorg/") {
			assert.Equal(t, "GET", r.Method, "no change may reach the service on bad input: %s %s", r.Method, r.Path)
		}
	}
	t.Logf("%d bad values refused", len(cases))
}
