// Package tasks_test checks every tasks/<folder>/task.json against the project's own
// rules: the public names, ids and inputs fixed by the contract, the Node launcher as
// execution target, and the internal consistency the task editor relies on (visible
// rules and groups that refer to real inputs). Validation against the official JSON
// schema runs in scripts/package/manifests.test.js (node, ajv), because the schema is
// draft-04.
package tasks_test

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

type input struct {
	Name         string            `json:"name"`
	Aliases      []string          `json:"aliases"`
	Label        string            `json:"label"`
	Type         string            `json:"type"`
	DefaultValue any               `json:"defaultValue"`
	Required     bool              `json:"required"`
	HelpMarkDown string            `json:"helpMarkDown"`
	GroupName    string            `json:"groupName"`
	VisibleRule  string            `json:"visibleRule"`
	Properties   map[string]any    `json:"properties"`
	Options      map[string]string `json:"options"`
}

type taskJSON struct {
	Schema       string `json:"$schema"`
	ID           string `json:"id"`
	Name         string `json:"name"`
	FriendlyName string `json:"friendlyName"`
	Description  string `json:"description"`
	HelpMarkDown string `json:"helpMarkDown"`
	Category     string `json:"category"`
	Author       string `json:"author"`
	Version      struct {
		Major, Minor, Patch int
	} `json:"version"`
	MinimumAgentVersion string `json:"minimumAgentVersion"`
	InstanceNameFormat  string `json:"instanceNameFormat"`
	Groups              []struct {
		Name        string `json:"name"`
		DisplayName string `json:"displayName"`
	} `json:"groups"`
	Inputs          []input `json:"inputs"`
	OutputVariables []struct {
		Name        string `json:"name"`
		Description string `json:"description"`
	} `json:"outputVariables"`
	Execution map[string]struct {
		Target string `json:"target"`
	} `json:"execution"`
}

// want is what the contract (CONTRACT.md §3) fixes for one input.
type want struct {
	typ      string
	def      string // "" = no default
	required bool
	aliases  []string
	options  []string // option keys, in order; nil = not a list
	visible  string   // the visibleRule, "" = always visible
	group    string
}

const schemaURL = "https://raw.githubusercontent.com/Microsoft/azure-pipelines-task-lib/master/tasks.schema.json"

var (
	stages        = []string{"Development", "Test", "Production"}
	principals    = []string{"User", "Group", "App"}
	connectionIn  = []string{"connectionType", "pbiConnection", "azureSubscription"}
	inputNameRe   = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9]*$`)
	macroRe       = regexp.MustCompile(`\$\(([^)]*)\)`)
	ruleClauseRe  = regexp.MustCompile(`^\s*([A-Za-z][A-Za-z0-9]*)\s*(=|!=|==|<|>|Contains|NotContains|StartsWith|NotStartsWith|EndsWith|NotEndsWith)\s*(.*?)\s*$`)
	ruleSeparator = regexp.MustCompile(`&&|\|\|`)
)

func selective(aliases ...string) want {
	return want{typ: "multiLine", aliases: aliases, visible: "deployType = Selective"}
}

var connection = map[string]want{
	"connectionType":    {typ: "radio", def: "PowerBI", required: true, options: []string{"PowerBI", "AzureRM"}},
	"pbiConnection":     {typ: "connectedService:PowerBIDeploymentPipelines", required: true, visible: "connectionType = PowerBI"},
	"azureSubscription": {typ: "connectedService:AzureRM", required: true, visible: "connectionType = AzureRM"},
}

var expected = []struct {
	folder, name, id string
	inputs           []string // in order, after the connection inputs
	want             map[string]want
	outputs          []string
}{
	{
		folder: "create-pipeline", name: "PowerBIPipelineCreate", id: "290f8b01-c39f-4730-9e5d-34965380b1c0",
		inputs: []string{"displayName", "description", "ifExists"},
		want: map[string]want{
			"displayName": {typ: "string", required: true},
			"description": {typ: "string"},
			"ifExists":    {typ: "pickList", def: "Fail", required: true, options: []string{"Fail", "Reuse"}},
		},
		outputs: []string{"pipelineId"},
	},
	{
		folder: "assign-workspace", name: "PowerBIPipelineAssignWorkspace", id: "23038fd5-8459-4868-ab44-f09abdc054a3",
		inputs: []string{"pipeline", "stageOrder", "workspace", "createWorkspace", "capacity"},
		want: map[string]want{
			"pipeline":        {typ: "string", required: true},
			"stageOrder":      {typ: "pickList", required: true, options: stages},
			"workspace":       {typ: "string", required: true},
			"createWorkspace": {typ: "boolean", def: "false"},
			"capacity":        {typ: "string", visible: "createWorkspace = true"},
		},
		outputs: []string{"workspaceId"},
	},
	{
		folder: "add-pipeline-user", name: "PowerBIPipelineAddUser", id: "0ad68264-3fb1-4cea-81ec-1e45c3fc8cbb",
		inputs: []string{"pipeline", "identifier", "principalType"},
		want: map[string]want{
			"pipeline":      {typ: "string", required: true},
			"identifier":    {typ: "string", required: true, aliases: []string{"userUpn"}},
			"principalType": {typ: "pickList", def: "User", required: true, options: principals},
		},
	},
	{
		folder: "add-workspace-user", name: "PowerBIWorkspaceAddUser", id: "b127c55a-cb8b-4dce-949f-e2a9cc19dba2",
		inputs: []string{"workspace", "identifier", "principalType", "permission"},
		want: map[string]want{
			"workspace":     {typ: "string", required: true},
			"identifier":    {typ: "string", required: true, aliases: []string{"userUpn"}},
			"principalType": {typ: "pickList", def: "User", required: true, options: principals},
			"permission":    {typ: "pickList", required: true, options: []string{"Admin", "Member", "Contributor", "Viewer"}},
		},
	},
	{
		folder: "deploy", name: "PowerBIPipelineDeploy", id: "822d06ad-5f34-4f06-94fa-7c03f250bc6b",
		inputs: []string{
			"pipeline", "stageOrder", "deployType", "dataflows", "datamarts", "datasets", "reports", "dashboards",
			"note", "createNewWS", "newWsName", "capacity",
			"allowCreateArtifact", "allowOverwriteArtifact", "allowOverwriteTargetArtifactLabel", "allowPurgeData",
			"allowSkipTilesWithMissingPrerequisites", "allowTakeOver", "updateApp",
			"waitForCompletion", "waitTimeoutMinutes",
		},
		want: map[string]want{
			"pipeline": {typ: "string", required: true},
			"stageOrder": {typ: "pickList", required: true,
				options: []string{"Test", "Production", "Development (Backward)", "Test (Backward)"}},
			"deployType":                             {typ: "radio", def: "All", required: true, options: []string{"All", "Selective"}},
			"dataflows":                              selective(),
			"datamarts":                              selective(),
			"datasets":                               selective(),
			"reports":                                selective(),
			"dashboards":                             selective("dahsboards"),
			"note":                                   {typ: "string"},
			"createNewWS":                            {typ: "boolean", def: "false"},
			"newWsName":                              {typ: "string", visible: "createNewWS = true"},
			"capacity":                               {typ: "string", visible: "createNewWS = true"},
			"allowCreateArtifact":                    {typ: "boolean", def: "true", group: "options"},
			"allowOverwriteArtifact":                 {typ: "boolean", def: "true", group: "options"},
			"allowOverwriteTargetArtifactLabel":      {typ: "boolean", def: "false", group: "options"},
			"allowPurgeData":                         {typ: "boolean", def: "false", group: "options"},
			"allowSkipTilesWithMissingPrerequisites": {typ: "boolean", def: "false", group: "options"},
			"allowTakeOver":                          {typ: "boolean", def: "false", group: "options"},
			"updateApp":                              {typ: "boolean", def: "false", group: "options"},
			"waitForCompletion":                      {typ: "boolean", def: "true", group: "wait"},
			"waitTimeoutMinutes":                     {typ: "string", def: "60", group: "wait"},
		},
		outputs: []string{"operationId", "status", "targetWorkspaceId"},
	},
	{
		folder: "unassign-workspace", name: "PowerBIPipelineUnassignWorkspace", id: "d8d94e3b-be5d-44fa-a7fc-5e458ead4a3a",
		inputs: []string{"pipeline", "stageOrder"},
		want: map[string]want{
			"pipeline":   {typ: "string", required: true},
			"stageOrder": {typ: "pickList", required: true, options: stages},
		},
	},
	{
		folder: "delete-pipeline", name: "PowerBIPipelineDelete", id: "e7635ac7-34e0-42c9-b79c-7e81bdda29c3",
		inputs: []string{"pipeline", "ifMissing"},
		want: map[string]want{
			"pipeline":  {typ: "string", required: true},
			"ifMissing": {typ: "pickList", def: "Fail", required: true, options: []string{"Fail", "Succeed"}},
		},
	},
}

func load(t *testing.T, folder string) (taskJSON, []string) {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(folder, "task.json"))
	require.NoError(t, err)
	var task taskJSON
	require.NoError(t, json.Unmarshal(raw, &task))
	// Options are a JSON object whose key order is the order shown in the editor.
	var ordered struct {
		Inputs []struct {
			Options json.RawMessage `json:"options"`
		} `json:"inputs"`
	}
	require.NoError(t, json.Unmarshal(raw, &ordered))
	var names []string
	for _, in := range task.Inputs {
		names = append(names, in.Name)
	}
	for i, in := range ordered.Inputs {
		if len(in.Options) > 0 {
			task.Inputs[i].Properties = withOptionOrder(t, task.Inputs[i].Properties, in.Options)
		}
	}
	return task, names
}

// withOptionOrder records the option keys in document order under a test-only key.
func withOptionOrder(t *testing.T, props map[string]any, raw json.RawMessage) map[string]any {
	t.Helper()
	dec := json.NewDecoder(strings.NewReader(string(raw)))
	_, err := dec.Token() // {
	require.NoError(t, err)
	var keys []string
	for dec.More() {
		tok, err := dec.Token()
		require.NoError(t, err)
		keys = append(keys, tok.(string))
		var skip json.RawMessage
		require.NoError(t, dec.Decode(&skip))
	}
	if props == nil {
		props = map[string]any{}
	}
	props["\x00order"] = keys
	return props
}

func defaultString(v any) string {
	switch v := v.(type) {
	case nil:
		return ""
	case bool:
		if v {
			return "true"
		}
		return "false"
	case string:
		return v
	default:
		return "?"
	}
}

func TestTaskFoldersAreExactlyTheContractTasks(t *testing.T) {
	t.Parallel()
	matches, err := filepath.Glob(filepath.Join("*", "task.json"))
	require.NoError(t, err)
	var got, wantFolders []string
	for _, m := range matches {
		got = append(got, filepath.Dir(m))
	}
	ids := map[string]string{}
	for _, e := range expected {
		wantFolders = append(wantFolders, e.folder)
		if other, dup := ids[e.id]; dup {
			t.Errorf("id %s used by %s and %s", e.id, other, e.folder)
		}
		ids[e.id] = e.folder
	}
	slices.Sort(got)
	slices.Sort(wantFolders)
	assert.Equal(t, wantFolders, got)
}

// manifestMajor is the major version in vss-extension.json, the one source of versions: the
// packager writes the whole version into every staged task.json, and the committed ones must
// carry its major, which is what users write after the @ in YAML.
func manifestMajor(t *testing.T) int {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("..", "vss-extension.json"))
	require.NoError(t, err)
	var m struct {
		Version string `json:"version"`
	}
	require.NoError(t, json.Unmarshal(raw, &m))
	var major, minor, patch int
	_, err = fmt.Sscanf(m.Version, "%d.%d.%d", &major, &minor, &patch)
	require.NoError(t, err, "vss-extension.json version %q", m.Version)
	return major
}

func TestTaskJSON(t *testing.T) {
	t.Parallel()
	major := manifestMajor(t)
	var connectionInputs []input
	for _, e := range expected {
		task, names := load(t, e.folder)
		t.Run(e.folder, func(t *testing.T) {
			assert.Equal(t, schemaURL, task.Schema)
			assert.Equal(t, e.name, task.Name)
			assert.Equal(t, e.id, task.ID)
			assert.LessOrEqual(t, len(task.FriendlyName), 40, "friendlyName %q", task.FriendlyName)
			assert.NotEmpty(t, task.FriendlyName)
			assert.NotEmpty(t, task.Description)
			assert.NotEmpty(t, task.HelpMarkDown)
			assert.NotEmpty(t, task.Author)
			assert.Equal(t, "Deploy", task.Category)
			assert.Equal(t, major, task.Version.Major, "the task's major version is the extension's")
			assert.Equal(t, "3.232.1", task.MinimumAgentVersion)

			require.Len(t, task.Execution, 2, "only the Node launcher handlers")
			for _, handler := range []string{"Node20_1", "Node24"} {
				assert.Equal(t, "run.js", task.Execution[handler].Target, handler)
			}

			assert.Equal(t, append(slices.Clone(connectionIn), e.inputs...), names, "inputs and their order")
			byName := map[string]input{}
			for _, in := range task.Inputs {
				assert.Regexp(t, inputNameRe, in.Name)
				assert.NotContains(t, byName, in.Name, "duplicate input")
				byName[in.Name] = in
				assert.NotEmpty(t, in.Label, in.Name)
				assert.NotEmpty(t, in.HelpMarkDown, in.Name)
			}
			aliases := map[string]bool{}
			for _, in := range task.Inputs {
				for _, a := range in.Aliases {
					assert.Regexp(t, inputNameRe, a)
					assert.NotContains(t, byName, a, "alias %s shadows an input", a)
					assert.False(t, aliases[a], "alias %s used twice", a)
					aliases[a] = true
				}
			}

			groups := map[string]bool{}
			for _, g := range task.Groups {
				assert.NotEmpty(t, g.DisplayName, g.Name)
				groups[g.Name] = true
			}
			used := map[string]bool{}
			for _, in := range task.Inputs {
				if in.GroupName != "" {
					assert.True(t, groups[in.GroupName], "%s: unknown group %q", in.Name, in.GroupName)
					used[in.GroupName] = true
				}
				checkVisibleRule(t, in, byName)
			}
			for g := range groups {
				assert.True(t, used[g], "group %s is empty", g)
			}

			assert.NotEmpty(t, task.InstanceNameFormat)
			for _, m := range macroRe.FindAllStringSubmatch(task.InstanceNameFormat, -1) {
				assert.Contains(t, byName, m[1], "instanceNameFormat refers to an unknown input")
			}

			all := map[string]want{}
			for k, v := range connection {
				all[k] = v
			}
			for k, v := range e.want {
				all[k] = v
			}
			for _, name := range names {
				checkInput(t, byName[name], all[name])
			}

			var outputs []string
			for _, o := range task.OutputVariables {
				assert.Regexp(t, inputNameRe, o.Name)
				assert.NotEmpty(t, o.Description, o.Name)
				outputs = append(outputs, o.Name)
			}
			assert.Equal(t, e.outputs, outputs, "output variables")
		})
		// The connection inputs must read the same in every task.
		conn := task.Inputs[:len(connectionIn)]
		if connectionInputs == nil {
			connectionInputs = conn
		} else {
			assert.Equal(t, connectionInputs, conn, "%s: connection inputs differ from the first task's", e.folder)
		}
	}
}

func checkInput(t *testing.T, in input, w want) {
	t.Helper()
	assert.Equal(t, w.typ, in.Type, "%s: type", in.Name)
	assert.Equal(t, w.def, defaultString(in.DefaultValue), "%s: default", in.Name)
	assert.Equal(t, w.required, in.Required, "%s: required", in.Name)
	assert.Equal(t, w.aliases, in.Aliases, "%s: aliases", in.Name)
	assert.Equal(t, w.visible, in.VisibleRule, "%s: visibleRule", in.Name)
	assert.Equal(t, w.group, in.GroupName, "%s: groupName", in.Name)
	if w.options == nil {
		assert.Empty(t, in.Options, "%s: options", in.Name)
		return
	}
	order, _ := in.Properties["\x00order"].([]string)
	assert.Equal(t, w.options, order, "%s: option keys", in.Name)
	if w.def != "" {
		assert.Contains(t, in.Options, w.def, "%s: default is not an option", in.Name)
	}
	if slices.Equal(w.options, stages) {
		assert.Equal(t, "True", in.Properties["EditableOptions"], "%s: stage orders 0/1/2 must be typeable", in.Name)
	}
	if in.Type == "boolean" {
		assert.Contains(t, []string{"true", "false"}, w.def)
	}
}

// checkVisibleRule checks that every clause of a rule names an input of the task and
// compares it with a value that input can take.
func checkVisibleRule(t *testing.T, in input, byName map[string]input) {
	t.Helper()
	if in.VisibleRule == "" {
		return
	}
	for _, clause := range ruleSeparator.Split(in.VisibleRule, -1) {
		m := ruleClauseRe.FindStringSubmatch(clause)
		if !assert.NotNil(t, m, "%s: cannot read visibleRule clause %q", in.Name, clause) {
			continue
		}
		ref, ok := byName[m[1]]
		if !assert.True(t, ok, "%s: visibleRule refers to unknown input %q", in.Name, m[1]) {
			continue
		}
		assert.NotEqual(t, in.Name, ref.Name, "%s: visibleRule refers to itself", in.Name)
		switch {
		case ref.Type == "boolean":
			assert.Contains(t, []string{"true", "false"}, m[3], "%s: %s is boolean", in.Name, ref.Name)
		case len(ref.Options) > 0 && m[2] == "=":
			assert.Contains(t, ref.Options, m[3], "%s: %s has no option %q", in.Name, ref.Name, m[3])
		}
	}
}
