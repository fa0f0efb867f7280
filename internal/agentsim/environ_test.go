package agentsim

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const (
	testEndpointID = "0f5b3a1c-2d4e-4f60-8a9b-c0d1e2f3a4b5"
	testTaskJSON   = `{
  "id": "6c3f7a52-1f0e-4d3b-9a57-0c2d1e8b9f10",
  "name": "PowerBIPipelineAddUser",
  "friendlyName": "Power BI: add pipeline user",
  "inputs": [
    {"name": "pbiConnection", "type": "connectedService:PowerBIDeploymentPipelines", "label": "Connection", "required": true},
    {"name": "identifier", "type": "string", "label": "Identifier", "aliases": ["userUpn"]},
    {"name": "principalType", "type": "pickList", "label": "Type", "defaultValue": "User"},
    {"name": "waitForCompletion", "type": "boolean", "label": "Wait", "defaultValue": true},
    {"name": "allowPurgeData", "type": "boolean", "label": "Purge", "defaultValue": false},
    {"name": "waitTimeoutMinutes", "type": "string", "label": "Timeout", "defaultValue": " 60 "},
    {"name": "note", "type": "string", "label": "Note"}
  ],
  "outputVariables": [{"name": "pipelineId", "description": "id"}],
  "execution": {"Node20_1": {"target": "run.js"}, "Node24": {"target": "run.js"}}
}`
)

// writeTask writes a task folder holding task.json (with a BOM, as Windows editors save
// it) and returns the loaded task.
func writeTask(t *testing.T, taskJSON string, files map[string]string) *Task {
	t.Helper()
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "task.json"), []byte("\xef\xbb\xbf"+taskJSON), 0o644))
	for name, body := range files {
		require.NoError(t, os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644))
	}
	task, err := LoadTask(dir)
	require.NoError(t, err)
	return task
}

func TestLoadTask(t *testing.T) {
	t.Parallel()
	task := writeTask(t, testTaskJSON, nil)
	assert.Equal(t, "PowerBIPipelineAddUser", task.Name)
	assert.Equal(t, "6c3f7a52-1f0e-4d3b-9a57-0c2d1e8b9f10", task.ID)
	assert.Equal(t, "Power BI: add pipeline user", task.FriendlyName)
	require.Len(t, task.Inputs, 7)
	assert.Equal(t, []string{"userUpn"}, task.Inputs[1].Aliases)
	assert.Equal(t, true, task.Inputs[3].DefaultValue)
	assert.True(t, task.Inputs[0].Required)
	assert.Equal(t, "pipelineId", task.OutputVariables[0].Name)
	assert.Equal(t, "run.js", task.Execution["Node24"].Target)
	assert.NotEmpty(t, task.Dir)

	_, err := LoadTask(t.TempDir())
	require.Error(t, err)

	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "task.json"), []byte("{"), 0o644))
	_, err = LoadTask(dir)
	require.ErrorContains(t, err, "task.json")
}

// TestLoadRepositoryTasks loads every task.json of the repository, so the subset of
// task.json modelled here stays compatible with the real files.
func TestLoadRepositoryTasks(t *testing.T) {
	t.Parallel()
	dirs, _ := filepath.Glob(filepath.Join("..", "..", "tasks", "*", "task.json"))
	if len(dirs) == 0 {
		t.Skip("no tasks/*/task.json in this checkout")
	}
	for _, f := range dirs {
		task, err := LoadTask(filepath.Dir(f))
		require.NoError(t, err, f)
		assert.NotEmpty(t, task.Name, f)
		_, err = task.Environ(Step{})
		require.NoError(t, err, f)
	}
}

func TestEnviron(t *testing.T) {
	t.Parallel()
	task := writeTask(t, testTaskJSON, nil)
	env, err := task.Environ(Step{
		Inputs: map[string]string{
			"pbiConnection": testEndpointID,
			"userUpn":       "  ann@contoso.com \n", // alias, trimmed
			"PrincipalType": "Group",                // input names are case-insensitive
			"note":          " build $(Build.BuildNumber) for $(Missing.Var) by $(HOME) ",
		},
		Endpoints: []Endpoint{{
			ID:     strings.ToUpper(testEndpointID), // the agent writes the GUID lower-case
			URL:    "https://API.powerbi.com",
			Scheme: "ServicePrincipal",
			Params: map[string]string{"tenantid": "tenant", "serviceprincipalid": "app", "servicePrincipalKey": "k<&>"},
			Data:   map[string]string{"environment": "Public", "api.Url": "https://x"},
		}},
		Variables: map[string]string{
			"System.Debug":         "true",
			"Build.BuildNumber":    "20261127.1",
			"System.CollectionUri": "https://dev.azure.com/org/",
			"agent.jobstatus":      "Succeeded",
		},
		Secrets:     map[string]string{"my.Secret": "s3"},
		AccessToken: "job-token",
		BaseEnv:     []string{"PATH=/usr/bin", "HOME=/home/agent", "TF_BUILD=False", "INPUT_NOTE=stale"},
	})
	require.NoError(t, err)
	ep := "_" + testEndpointID
	want := []string{
		"AGENT_JOBSTATUS=Succeeded",
		"BUILD_BUILDNUMBER=20261127.1",
		"ENDPOINT_AUTH" + ep + `={"parameters":{"servicePrincipalKey":"k<&>","serviceprincipalid":"app","tenantid":"tenant"},"scheme":"ServicePrincipal"}`,
		"ENDPOINT_AUTH_PARAMETER" + ep + "_SERVICEPRINCIPALID=app",
		"ENDPOINT_AUTH_PARAMETER" + ep + "_SERVICEPRINCIPALKEY=k<&>",
		"ENDPOINT_AUTH_PARAMETER" + ep + "_TENANTID=tenant",
		"ENDPOINT_AUTH_PARAMETER_SYSTEMVSSCONNECTION_ACCESSTOKEN=job-token",
		"ENDPOINT_AUTH_SCHEME" + ep + "=ServicePrincipal",
		"ENDPOINT_AUTH_SCHEME_SYSTEMVSSCONNECTION=OAuth",
		`ENDPOINT_AUTH_SYSTEMVSSCONNECTION={"parameters":{"AccessToken":"job-token"},"scheme":"OAuth"}`,
		"ENDPOINT_DATA" + ep + `={"api.Url":"https://x","environment":"Public"}`,
		"ENDPOINT_DATA" + ep + "_API_URL=https://x",
		"ENDPOINT_DATA" + ep + "_ENVIRONMENT=Public",
		"ENDPOINT_URL" + ep + "=https://api.powerbi.com/",
		"ENDPOINT_URL_SYSTEMVSSCONNECTION=https://dev.azure.com/org/",
		"HOME=/home/agent",
		"INPUT_ALLOWPURGEDATA=false",
		"INPUT_IDENTIFIER=ann@contoso.com",
		"INPUT_NOTE=build 20261127.1 for $(Missing.Var) by /home/agent",
		"INPUT_PBICONNECTION=" + testEndpointID,
		"INPUT_PRINCIPALTYPE=Group",
		"INPUT_WAITFORCOMPLETION=true",
		"INPUT_WAITTIMEOUTMINUTES=60",
		"PATH=/usr/bin",
		"SECRET_MY_SECRET=s3",
		"SYSTEM_COLLECTIONURI=https://dev.azure.com/org/",
		"SYSTEM_DEBUG=true",
		"TF_BUILD=True",
		`VSTS_PUBLIC_VARIABLES=["Build.BuildNumber","System.CollectionUri","System.Debug","agent.jobstatus"]`,
		`VSTS_SECRET_VARIABLES=["my.Secret"]`,
		"agent.jobstatus=Succeeded",
	}
	assert.Equal(t, want, env)
}

func TestEnvironMinimal(t *testing.T) {
	t.Parallel()
	task := &Task{Name: "T", Inputs: []TaskInput{{Name: "a", DefaultValue: "x"}}}
	env, err := task.Environ(Step{})
	require.NoError(t, err)
	assert.Equal(t, []string{
		"INPUT_A=x",
		"TF_BUILD=True",
		"VSTS_PUBLIC_VARIABLES=[]",
		"VSTS_SECRET_VARIABLES=[]",
	}, env, "no access token: no system connection; no secrets: an empty list")
}

func TestEnvironErrors(t *testing.T) {
	t.Parallel()
	task := &Task{Name: "PowerBIPipelineDelete", Inputs: []TaskInput{{Name: "pipeline"}}}

	_, err := task.Environ(Step{Inputs: map[string]string{"pipelne": "x"}})
	require.Error(t, err)
	assert.Contains(t, err.Error(), `"pipelne"`)
	assert.Contains(t, err.Error(), "PowerBIPipelineDelete")

	_, err = task.Environ(Step{Endpoints: []Endpoint{{URL: "https://x"}}})
	require.ErrorContains(t, err, "no id")
}

func TestMaskableParams(t *testing.T) {
	t.Parallel()
	ep := Endpoint{Params: map[string]string{
		"tenantid":            "tenant",
		"TenantId":            "tenant2",
		"authenticationType":  "spnKey",
		"scope":               "s",
		"serviceprincipalid":  "app-id",
		"serviceprincipalkey": "secret",
		"password":            "",
	}}
	assert.Equal(t, []string{"app-id", "secret"}, MaskableParams(ep),
		"client ids are masked too; tenant, scope and type are not; empty values are skipped")
	assert.Empty(t, MaskableParams(Endpoint{}))
}

func TestInitialSecrets(t *testing.T) {
	t.Parallel()
	s := Step{
		Secrets:     map[string]string{"b": "2", "a": "1", "empty": ""},
		Endpoints:   []Endpoint{{Params: map[string]string{"tenantid": "t", "serviceprincipalkey": "k"}}},
		AccessToken: "tok",
	}
	assert.Equal(t, []string{"1", "2", "k", "tok"}, s.InitialSecrets())
}
