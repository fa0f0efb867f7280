package e2e_test

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/pbi-pipelines/azdo-extension/internal/emulator"
	"github.com/pbi-pipelines/azdo-extension/internal/harness"
)

// Outside text — item, workspace and pipeline names, the service's error messages — that
// carries logging commands, formatting tags, CR/LF, escapes, very long and invalid UTF-8 text
// never forms a command, and reaches the log whole.

var hostile = []string{
	"Sales ##vso[task.setvariable variable=pwned]yes",
	"Evil\r\n##[error]fake error",
	"Escape %AZP25 ##VSO[task.complete result=Failed]x",
	"Mixed ##\u200bvso[task.setvariable variable=pwned2]z",
	"Bad \xff\xfe UTF-8 ##[warning]w",
	"Long " + strings.Repeat("L", 3000) + " END",
}

func hostileSeed() *emulator.Seed {
	seed := matrixSeed()
	for i := range seed.Workspaces {
		w := &seed.Workspaces[i]
		if w.ID != emulator.DemoDevWorkspaceID {
			continue
		}
		w.Datasets = nil
		for j, name := range hostile {
			w.Datasets = append(w.Datasets, emulator.Item{ID: "da7a0000-0000-4000-8000-00000000000" + string(rune('1'+j)), Name: name})
		}
		w.Datasets[1].DeployError = "Code ##vso[task.setvariable variable=pwned3]q"
	}
	seed.Pipelines = append(seed.Pipelines, emulator.Pipeline{ID: "fa017000-0000-4000-8000-0000000000ff",
		DisplayName: "P ##vso[task.complete result=Succeeded]ok", Users: seed.Pipelines[0].Users})
	return seed
}

// inert checks that nothing in a run's output formed a command the task did not mean.
func inert(t *testing.T, res *harness.Result) {
	t.Helper()
	for k := range res.Run.Variables {
		assert.NotContains(t, k, "pwned", "a name set a variable")
	}
	for k := range res.Run.Outputs {
		assert.NotContains(t, k, "pwned")
	}
	for _, line := range res.Run.Log {
		assert.False(t, strings.HasPrefix(line, "##[error]fake") || strings.HasPrefix(line, "##[warning]w"), "a name formed a formatting tag: %q", line)
	}
	for _, is := range res.Run.Issues {
		assert.NotEqual(t, "fake error", is.Message)
	}
}

func TestHostileNamesAndErrorsFormNoCommand(t *testing.T) {
	t.Parallel()
	h := start(t, hostileSeed())

	// Names listed when a selection does not match; every name reaches the log whole.
	res := run(t, h, "deploy", map[string]string{"pipeline": "Main", "stageOrder": "Test", "deployType": "Selective", "datasets": "Nothing like it", "createNewWS": "true", "newWsName": "x"})
	failed(t, res)
	inert(t, res)
	assert.Contains(t, string(res.Raw), "L"+strings.Repeat("L", 2998)+" END", "a long name is not cut")

	// A deployment of every hostile item, one of which fails with a hostile error code.
	res = run(t, h, "deploy", map[string]string{"pipeline": "Main", "stageOrder": "Test", "deployType": "Selective", "datasets": "*", "createNewWS": "true", "newWsName": "Hostile ##[group]g"})
	failed(t, res, "Code ## vso[task.setvariable variable=pwned3]q")
	inert(t, res)
	assert.Equal(t, "Failed", res.Run.Result)
	l := log(res)
	assert.Contains(t, l, "Sales ## vso[task.setvariable variable=pwned]yes")
	assert.Contains(t, l, "Escape %AZP25 ## VSO[task.complete result=Failed]x")
	md := summary(t, res)
	assert.NotContains(t, md, "<")
	assert.Contains(t, md, "\\#\\#vso\\[task.setvariable variable=pwned\\]yes")

	// A pipeline whose name tries to complete the task.
	res = run(t, h, "delete-pipeline", map[string]string{"pipeline": "fa017000-0000-4000-8000-0000000000ff"})
	inert(t, res)
	assert.Equal(t, "Succeeded", res.Run.Result)
	assert.Contains(t, log(res), "P ## vso[task.complete result=Succeeded]ok")

	// The service's error message and code carrying commands: the task fails, and says why.
	h.Emulator.InjectFault(emulator.Fault{Method: "GET", Path: `^/v1\.0/myorg/pipelines$`, Status: 400,
		Body: `{"error":{"code":"Bad##vso[task.setvariable variable=pwned4]x","message":"line one\r\n##vso[task.complete result=Succeeded]done\n##[error]fake error"}}`})
	res = run(t, h, "delete-pipeline", map[string]string{"pipeline": "Main"})
	inert(t, res)
	failed(t, res, "Bad## vso[task.setvariable variable=pwned4]x", "## vso[task.complete result=Succeeded]done")
	assert.Equal(t, "Failed", res.Run.Result)
}
