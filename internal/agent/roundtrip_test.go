package agent_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pbi-pipelines/azdo-extension/internal/agent"
	"github.com/pbi-pipelines/azdo-extension/internal/agentsim"
)

// hostile strings that exercise every escape and every way out of a command.
var hostile = []string{
	"",
	"plain",
	"100% done; really] [ok]",
	"%0A%0D%3B%5D%AZP25%25",
	"%AZP25AZP25",
	"line1\nline2\r\nline3\rline4",
	"##vso[task.complete result=Succeeded]",
	"x\n##vso[task.setvariable variable=a]b",
	"x\r##VSO[task.complete result=Succeeded]",
	"%0A##vso[task.complete]",
	"##[error]fake",
	"]]]];;;;====",
	"trailing newline\n",
	"\n",
	"\r",
	"ünïcödé ✓ \u200B zero width",
	"\xff\xfe invalid utf-8",
}

// parse parses one emitted line with the agent's parser.
func parse(t *testing.T, line string) *agentsim.Command {
	t.Helper()
	cmd, isCommand, err := agentsim.ParseLine(line)
	require.True(t, isCommand, "%q is not a command", line)
	require.NoError(t, err, line)
	return cmd
}

func TestRoundTrip(t *testing.T) {
	t.Parallel()
	for _, s := range hostile {
		t.Run("", func(t *testing.T) {
			t.Parallel()
			// Data the task must deliver exactly: outputs, variables, secrets.
			for _, emit := range []struct {
				name  string
				do    func(e *agent.Env)
				event string
			}{
				{"SetOutput", func(e *agent.Env) { e.SetOutput("out", s) }, "setvariable"},
				{"SetVariable", func(e *agent.Env) { e.SetVariable("v", s, true) }, "setvariable"},
				{"SetSecret", func(e *agent.Env) { e.SetSecret(s) }, "setsecret"},
			} {
				e, out := newEnv(t, nil)
				emit.do(e)
				if s == "" && emit.name == "SetSecret" {
					assert.Empty(t, out.String())
					continue
				}
				got := lines(t, out)
				require.Len(t, got, 1, emit.name)
				cmd := parse(t, got[0])
				assert.Equal(t, "task", cmd.Area, emit.name)
				assert.Equal(t, emit.event, cmd.Event, emit.name)
				assert.Equal(t, s, cmd.Data, emit.name)
			}

			// Property values (what FormatCommand escapes) come back as given. The
			// agent's parser drops leading '=' from a value, which no escape can help.
			if s != "" && !strings.HasPrefix(s, "=") {
				line := agent.FormatCommand("task.setvariable", map[string]string{"variable": s, "isOutput": "true"}, "d")
				cmd := parse(t, line)
				assert.Equal(t, map[string]string{"variable": s, "isoutput": "true"}, cmd.Props)
				assert.Equal(t, "d", cmd.Data)
			}

			// Messages from outside come back neutralised, on one line.
			e, out := newEnv(t, map[string]string{"SYSTEM_DEBUG": "true"})
			e.Warning("%s", s)
			e.Error("%s", s)
			e.Debug("%s", s)
			e.Progress(10, "%s", s)
			e.Complete(agent.Succeeded, s)
			got := lines(t, out)
			require.Len(t, got, 5)
			wantProps := []map[string]string{{"type": "warning"}, {"type": "error"}, {}, {"value": "10"}, {"result": "Succeeded"}}
			for i, l := range got {
				cmd := parse(t, l)
				assert.Equal(t, agent.Neutralize(s), cmd.Data, l)
				assert.Equal(t, wantProps[i], cmd.Props, l)
			}
		})
	}
}

func TestFinishRoundTrip(t *testing.T) {
	t.Parallel()
	for _, s := range hostile {
		e, out := newEnv(t, nil)
		require.Equal(t, 1, e.Finish(errors.New(s)))
		got := lines(t, out)
		require.Len(t, got, 2)
		issue := parse(t, got[0])
		assert.Equal(t, "logissue", issue.Event)
		assert.Equal(t, "error", issue.Props["type"])
		assert.Equal(t, agent.Neutralize(s), issue.Data)
		complete := parse(t, got[1])
		assert.Equal(t, "complete", complete.Event)
		assert.Equal(t, "Failed", complete.Props["result"])
	}
}
