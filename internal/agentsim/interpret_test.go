package agentsim

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestInterpretResult(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		stdout   string
		stderr   string
		exitCode int
		want     string
	}{
		{name: "nothing set", stdout: "hello\n", want: "Succeeded"},
		{name: "succeeded", stdout: "##vso[task.complete result=Succeeded;]\n", want: "Succeeded"},
		{name: "with issues", stdout: "##vso[task.complete result=SucceededWithIssues;]\n", want: "SucceededWithIssues"},
		{name: "worst wins", stdout: "##vso[task.complete result=Failed;]\n##vso[task.complete result=Succeeded;]\n", want: "Failed"},
		{name: "worse later wins", stdout: "##vso[task.complete result=Succeeded]\n##vso[task.complete result=SucceededWithIssues]\n", want: "SucceededWithIssues"},
		{name: "on stderr too", stderr: "##vso[task.complete result=Failed]\n", want: "Failed"},
		{name: "number parses", stdout: "##vso[task.complete result=1]\n", want: "SucceededWithIssues"},
		{name: "canceled sticks", stdout: "##vso[task.complete result=Canceled]\n##vso[task.complete result=Failed]\n", want: "Canceled"},
		{name: "lower case is invalid", stdout: "##vso[task.complete result=succeeded]\n", want: "Failed"},
		{name: "Cancelled is invalid", stdout: "##vso[task.complete result=Cancelled]\n", want: "Failed"},
		{name: "missing result", stdout: "##vso[task.complete]done\n", want: "Failed"},
		{name: "unknown task event", stdout: "##vso[task.explode]\n##vso[task.complete result=Succeeded]\n", want: "Failed"},
		{name: "bad issue type", stdout: "##vso[task.logissue type=fatal]x\n", want: "Failed"},
		{name: "setvariable without name", stdout: "##vso[task.setvariable]x\n", want: "Failed"},
		{name: "multi-line secret", stdout: "##vso[task.setvariable variable=s;issecret=true]a%0Ab\n", want: "Failed"},
		{name: "error issue alone does not fail", stdout: "##vso[task.logissue type=error]bad\n", want: "Succeeded"},
		{name: "unknown area only warns", stdout: "##vso[foo.bar]x\n", want: "Succeeded"},
		{name: "malformed command only warns", stdout: "##vso[task.complete result=Failed\n", want: "Succeeded"},
		{name: "non-zero exit fails", stdout: "##vso[task.complete result=Succeeded]\n", exitCode: 1, want: "Failed"},
		{name: "non-zero exit overrides canceled", stdout: "##vso[task.complete result=Canceled]\n", exitCode: 2, want: "Failed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			run := Interpret(nil, []byte(tt.stdout), []byte(tt.stderr), tt.exitCode, false, nil)
			assert.Equal(t, tt.want, run.Result)
			assert.Equal(t, tt.exitCode, run.ExitCode)
		})
	}
}

func TestInterpretLogAndIssues(t *testing.T) {
	t.Parallel()
	stdout := strings.Join([]string{
		"plain line",
		"##[group]Deploy",
		"##vso[task.logissue type=warning;]legacy auth",
		"##vso[task.issue type=Error]bad%0Athing",
		"##vso[task.debug]GET /pipelines",
		"##vso[task.setprogress value=50]half",
		"##vso[task.setvariable variable=x]1",
		"##vso[task.setsecret]s3",
		"##vso[foo.bar]x",
		"##vso[task.complete result=Succeeded",
		"see ##vso docs",
		"##[endgroup]",
		"##vso[task.complete result=Succeeded;]done",
	}, "\r\n") + "\rlast without newline"
	tests := []struct {
		debug bool
		want  []string
	}{
		{false, []string{
			"plain line",
			"##[group]Deploy",
			"##[warning]legacy auth",
			"##[error]bad\nthing",
			"##[warning]Can't find command extension for ##vso[foo.command]. " + docLink,
			"##[warning]'##vso[task.complete result=Succeeded' contains logging command keyword '##vso', but it's not a legal command. " + docLink,
			"##vso[task.complete result=Succeeded",
			"##[warning]'see ##vso docs' contains logging command keyword '##vso', but it's not a legal command. " + docLink,
			"see ##vso docs",
			"##[endgroup]",
			"last without newline",
		}},
		{true, []string{
			"plain line",
			"##[group]Deploy",
			"##[warning]legacy auth",
			"##[debug]Processed: ##vso[task.logissue type=warning;]legacy auth",
			"##[error]bad\nthing",
			"##[debug]Processed: ##vso[task.issue type=Error]bad\nthing",
			"##[debug]GET /pipelines",
			"##[debug]Processed: ##vso[task.setprogress value=50]half",
			"##[debug]Processed: ##vso[task.setvariable variable=x]1",
			"##[debug]Processed: ##vso[task.setsecret]***",
			"##[warning]Can't find command extension for ##vso[foo.command]. " + docLink,
			"##[warning]'##vso[task.complete result=Succeeded' contains logging command keyword '##vso', but it's not a legal command. " + docLink,
			"##vso[task.complete result=Succeeded",
			"##[warning]'see ##vso docs' contains logging command keyword '##vso', but it's not a legal command. " + docLink,
			"see ##vso docs",
			"##[endgroup]",
			"##[debug]Processed: ##vso[task.complete result=Succeeded;]done",
			"last without newline",
		}},
	}
	for _, tt := range tests {
		run := Interpret(nil, []byte(stdout), nil, 0, tt.debug, nil)
		assert.Equal(t, tt.want, run.Log, "debug=%v", tt.debug)
		assert.Equal(t, "Succeeded", run.Result)
		require.GreaterOrEqual(t, len(run.Issues), 2)
		assert.Equal(t, Issue{Type: "warning", Message: "legacy auth"}, run.Issues[0])
		assert.Equal(t, Issue{Type: "error", Message: "bad\nthing"}, run.Issues[1])
		assert.Equal(t, map[string]string{"x": "1"}, run.Variables)
		assert.Equal(t, []string{"s3"}, run.Secrets)
	}
}

func TestInterpretExitCodeIssue(t *testing.T) {
	t.Parallel()
	run := Interpret(nil, nil, []byte("boom\n"), 3, false, nil)
	assert.Equal(t, "Failed", run.Result)
	assert.Equal(t, []string{"boom", "##[error]Exit code 3 returned from process."}, run.Log)
	assert.Equal(t, []Issue{{Type: "error", Message: "Exit code 3 returned from process."}}, run.Issues)
}

func TestInterpretMasking(t *testing.T) {
	t.Parallel()
	stdout := strings.Join([]string{
		"before: tok-123 and early",                            // initial secret: masked from the start
		"not yet: late-secret",                                 // registered below: not masked here
		"##vso[task.setsecret]late-secret",                     //
		"now: late-secret, late-secretlate-secret",             // adjacent occurrences merge
		"##vso[task.setvariable variable=v;issecret=true]abcd", // secret variables are registered too
		"overlap: xabcdefx",                                    // abcd and cdef overlap: one mask
		"##vso[task.setsecret]cdef",
		"overlap: xabcdefx",
		"##vso[task.logissue type=error]failed with tok-123",
		"##vso[task.setsecret]",
	}, "\n")
	run := Interpret(nil, []byte(stdout), nil, 0, false, []string{"tok-123", ""})
	assert.Equal(t, []string{
		"before: *** and early",
		"not yet: late-secret",
		"now: ***, ***",
		"overlap: x***efx",
		"overlap: x***x",
		"##[error]failed with ***",
	}, run.Log)
	assert.Equal(t, []Issue{{Type: "error", Message: "failed with ***"}}, run.Issues)
	assert.Equal(t, []string{"late-secret", "abcd", "cdef"}, run.Secrets, "only what the task registered")
	assert.Equal(t, map[string]string{"v": "abcd"}, run.Variables, "values stay unmasked in the result")
}

func TestInterpretOutputs(t *testing.T) {
	t.Parallel()
	task := &Task{OutputVariables: []struct{ Name, Description string }{{Name: "pipelineId"}}}
	stdout := strings.Join([]string{
		"##vso[task.setvariable variable=operationId;isOutput=true;]op-1",
		"##vso[task.setvariable variable=status;isoutput=True]Succeeded",
		"##vso[task.setvariable variable=PipelineId]42", // declared in task.json: an output without isOutput
		"##vso[task.setvariable variable=plain;isOutput=false]p",
		"##vso[task.setvariable variable=semi%3Bcolon;isOutput=true]a;b]c%AZP25",
	}, "\n")
	run := Interpret(task, []byte(stdout), nil, 0, false, nil)
	assert.Equal(t, map[string]string{"operationId": "op-1", "status": "Succeeded", "PipelineId": "42", "semi;colon": "a;b]c%"}, run.Outputs)
	assert.Equal(t, map[string]string{"plain": "p"}, run.Variables)
	assert.Empty(t, run.Log)
	assert.Empty(t, run.Issues)
}
