package agent_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pbi-pipelines/azdo-extension/internal/agent"
)

func TestEscaping(t *testing.T) {
	t.Parallel()
	tests := []struct{ in, prop, data string }{
		{"plain", "plain", "plain"},
		{"100%", "100%AZP25", "100%AZP25"},
		{"a;b]c", "a%3Bb%5Dc", "a;b]c"},
		{"l1\r\nl2\rl3\n", "l1%0D%0Al2%0Dl3%0A", "l1%0D%0Al2%0Dl3%0A"},
		// '%' is escaped first: an escape sequence already in the text survives.
		{"%0A%3B%AZP25", "%AZP250A%AZP253B%AZP25AZP25", "%AZP250A%AZP253B%AZP25AZP25"},
		{"", "", ""},
	}
	for _, tt := range tests {
		assert.Equal(t, tt.prop, agent.EscapeProperty(tt.in), "property %q", tt.in)
		assert.Equal(t, tt.data, agent.EscapeData(tt.in), "data %q", tt.in)
	}
}

func TestFormatCommand(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		command string
		props   map[string]string
		data    string
		want    string
	}{
		{"no props", "task.setsecret", nil, "x", "##vso[task.setsecret]x"},
		{"sorted", "task.setvariable", map[string]string{"variable": "v", "isOutput": "true"}, "1", "##vso[task.setvariable isOutput=true;variable=v;]1"},
		{"empty omitted", "task.logissue", map[string]string{"type": "error", "code": ""}, "m", "##vso[task.logissue type=error;]m"},
		{"all empty", "task.complete", map[string]string{"result": ""}, "", "##vso[task.complete]"},
		{"escaped", "task.setvariable", map[string]string{"variable": "a;b]c%"}, "x\ny;z]", "##vso[task.setvariable variable=a%3Bb%5Dc%AZP25;]x%0Ay;z]"},
	}
	for _, tt := range tests {
		assert.Equal(t, tt.want, agent.FormatCommand(tt.command, tt.props, tt.data), tt.name)
	}
}

func TestNeutralize(t *testing.T) {
	t.Parallel()
	tests := []struct{ in, want string }{
		{"nothing to do", "nothing to do"},
		{"##vso[task.complete result=Succeeded]", "## vso[task.complete result=Succeeded]"},
		{"##VSO[task.complete]", "## VSO[task.complete]"},
		{"##vSo[", "## vSo["},
		{"x##vso[task.setvariable variable=a]b", "x## vso[task.setvariable variable=a]b"},
		{"x\n##vso[task.complete result=Failed]", "x\n## vso[task.complete result=Failed]"},
		{"x\r##vso[task.complete]", "x\r## vso[task.complete]"},
		{"%0A##vso[task.complete]", "%0A## vso[task.complete]"},
		{"###vso[", "### vso["},
		{"##vso##vso[", "## vso## vso["},
		{"##vso without bracket", "## vso without bracket"},
		{"##[error]fake", "## [error]fake"},
		{"##[group]x", "## [group]x"},
		{"####[", "#### ["},
		{"#[not a tag] # [x] issue #12", "#[not a tag] # [x] issue #12"},
		{"##\u200Bvso[hidden]", "## vso[hidden]"},
		{"#\u00AD#vso[", "## vso["},
		{"##\x00vso[", "## vso["},
		{"##v\uFE0Fso[", "## vso["},
		{"##vſo[", "## vſo["}, // long s folds to s
		{"tab\tkept", "tab\tkept"},
		{"bad utf8 \xff##vso[", "bad utf8 \xff## vso["},
		{"Ünïcödé ✓", "Ünïcödé ✓"},
	}
	for _, tt := range tests {
		assert.Equal(t, tt.want, agent.Neutralize(tt.in), "%q", tt.in)
	}
}

func TestCommands(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		debug bool
		do    func(e *agent.Env)
		want  string
	}{
		{"info", false, func(e *agent.Env) { e.Info("hello %s", "world") }, "hello world\n"},
		{"info multi-line", false, func(e *agent.Env) { e.Info("a\r\nb\rc\n##vso[task.complete result=Failed]") },
			"a\nb\nc\n## vso[task.complete result=Failed]\n"},
		{"info empty", false, func(e *agent.Env) { e.Info("") }, "\n"},
		{"info hostile arg", false, func(e *agent.Env) { e.Info("name: %s", "x\n##[error]y") }, "name: x\n## [error]y\n"},
		{"debug off", false, func(e *agent.Env) { e.Debug("hidden") }, ""},
		{"debug on", true, func(e *agent.Env) { e.Debug("GET %s\n%d%%", "/v1.0/myorg/pipelines", 100) },
			"##vso[task.debug]GET /v1.0/myorg/pipelines%0A100%AZP25\n"},
		{"warning", false, func(e *agent.Env) { e.Warning("legacy %s", "auth") }, "##vso[task.logissue type=warning;]legacy auth\n"},
		{"error", false, func(e *agent.Env) { e.Error("bad: %s", "##vso[x.y]z\r\nq") }, "##vso[task.logissue type=error;]bad: ## vso[x.y]z%0D%0Aq\n"},
		{"setsecret", false, func(e *agent.Env) { e.SetSecret("p@ss;w]rd%\n##vso[") }, "##vso[task.setsecret]p@ss;w]rd%AZP25%0A##vso[\n"},
		{"setsecret empty", false, func(e *agent.Env) { e.SetSecret("") }, ""},
		{"setoutput", false, func(e *agent.Env) { e.SetOutput("pipelineId", "42") }, "##vso[task.setvariable isOutput=true;variable=pipelineId;]42\n"},
		{"setvariable", false, func(e *agent.Env) { e.SetVariable("a.b", "v", false) }, "##vso[task.setvariable variable=a.b;]v\n"},
		{"setvariable secret", false, func(e *agent.Env) { e.SetVariable("tok", "s", true) }, "##vso[task.setvariable issecret=true;variable=tok;]s\n"},
		{"progress", false, func(e *agent.Env) { e.Progress(50, "step %d", 2) }, "##vso[task.setprogress value=50;]step 2\n"},
		{"progress clamp low", false, func(e *agent.Env) { e.Progress(-5, "x") }, "##vso[task.setprogress value=0;]x\n"},
		{"progress clamp high", false, func(e *agent.Env) { e.Progress(150, "x") }, "##vso[task.setprogress value=100;]x\n"},
		{"group", false, func(e *agent.Env) {
			end := e.Group("Deploy ##[x]\n##vso[y")
			e.Info("inside")
			end()
			end() // ending twice writes once
		}, "##[group]Deploy ## [x] ## vso[y\ninside\n##[endgroup]\n"},
		{"complete", false, func(e *agent.Env) { e.Complete(agent.SucceededWithIssues, "done") }, "##vso[task.complete result=SucceededWithIssues;]done\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			vars := map[string]string{}
			if tt.debug {
				vars["SYSTEM_DEBUG"] = "true"
			}
			e, out := newEnv(t, vars)
			tt.do(e)
			assert.Equal(t, tt.want, out.String())
		})
	}
}

func TestFinish(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		before   func(e *agent.Env)
		err      error
		wantCode int
		want     string
	}{
		{"success", nil, nil, 0, "##vso[task.complete result=Succeeded;]\n"},
		{"warning", func(e *agent.Env) { e.Warning("w") }, nil, 0,
			"##vso[task.logissue type=warning;]w\n##vso[task.complete result=SucceededWithIssues;]\n"},
		{"error issue without failing", func(e *agent.Env) { e.Error("e") }, nil, 0,
			"##vso[task.logissue type=error;]e\n##vso[task.complete result=SucceededWithIssues;]\n"},
		{"error", nil, errors.New("deploy failed:\nstep 1: ##vso[task.complete result=Succeeded]"), 1,
			"##vso[task.logissue type=error;]deploy failed:%0Astep 1: ## vso[task.complete result=Succeeded]\n##vso[task.complete result=Failed;]\n"},
		{"error after warning", func(e *agent.Env) { e.Warning("w") }, errors.New("boom"), 1,
			"##vso[task.logissue type=warning;]w\n##vso[task.logissue type=error;]boom\n##vso[task.complete result=Failed;]\n"},
		{"cancelled", nil, context.Canceled, 1,
			"##vso[task.logissue type=error;]the task was cancelled\n##vso[task.complete result=Failed;]\n"},
		{"cancelled wrapped", nil, fmt.Errorf("wait for deployment: %w", context.Canceled), 1,
			"##vso[task.logissue type=error;]the task was cancelled: wait for deployment: context canceled\n##vso[task.complete result=Failed;]\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e, out := newEnv(t, nil)
			if tt.before != nil {
				tt.before(e)
			}
			assert.Equal(t, tt.wantCode, e.Finish(tt.err))
			assert.Equal(t, tt.want, out.String())
			assert.NotContains(t, out.String(), "Cancelled")
		})
	}
}

func TestConcurrentWritesStayWhole(t *testing.T) {
	t.Parallel()
	e, out := newEnv(t, nil)
	var wg sync.WaitGroup
	for i := range 50 {
		wg.Go(func() {
			e.Info("line %d\nsecond %d", i, i)
			e.Warning("warn %d", i)
		})
	}
	wg.Wait()
	got := lines(t, out)
	require.Len(t, got, 150)
	for i, l := range got {
		if strings.HasPrefix(l, "line ") {
			require.Less(t, i+1, len(got))
			assert.Equal(t, "second "+strings.TrimPrefix(l, "line "), got[i+1], "a multi-line Info is written in one piece")
		}
	}
}
