package agent_test

import (
	"bytes"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pbi-pipelines/azdo-extension/internal/agent"
)

// newEnv returns an Env over vars and the buffer it writes to.
func newEnv(t *testing.T, vars map[string]string) (*agent.Env, *bytes.Buffer) {
	t.Helper()
	var out bytes.Buffer
	return agent.New(func(k string) string { return vars[k] }, &out), &out
}

// lines splits written output into lines, checking that it ends with a newline.
func lines(t *testing.T, out *bytes.Buffer) []string {
	t.Helper()
	s := out.String()
	if s == "" {
		return nil
	}
	require.True(t, strings.HasSuffix(s, "\n"), "output must end with a newline: %q", s)
	return strings.Split(strings.TrimSuffix(s, "\n"), "\n")
}

func TestNormalizeName(t *testing.T) {
	t.Parallel()
	tests := map[string]string{
		"fooBar":                "FOOBAR",
		"System.TeamProjectId":  "SYSTEM_TEAMPROJECTID",
		"my var.name":           "MY_VAR_NAME",
		"already_UPPER":         "ALREADY_UPPER",
		"dash-stays":            "DASH-STAYS",
		"":                      "",
		"system.oidcRequestUri": "SYSTEM_OIDCREQUESTURI",
	}
	for in, want := range tests {
		assert.Equal(t, want, agent.NormalizeName(in), in)
	}
}

func TestInput(t *testing.T) {
	t.Parallel()
	e, _ := newEnv(t, map[string]string{
		"INPUT_DISPLAYNAME": "  My pipeline \n",
		"INPUT_BLANK":       "   ",
		"INPUT_STAGEORDER":  "Test",
	})
	assert.Equal(t, "My pipeline", e.Input("displayName"))
	assert.Equal(t, "Test", e.Input("stageOrder"))
	assert.Equal(t, "", e.Input("blank"))
	assert.Equal(t, "", e.Input("missing"))

	v, err := e.RequiredInput("displayName")
	require.NoError(t, err)
	assert.Equal(t, "My pipeline", v)

	for _, name := range []string{"blank", "missing"} {
		_, err := e.RequiredInput(name)
		var ie *agent.InputError
		require.ErrorAs(t, err, &ie, name)
		assert.Equal(t, name, ie.Input)
		assert.Equal(t, `input "`+name+`": a value is required`, err.Error())
	}
}

func TestInputErrorf(t *testing.T) {
	t.Parallel()
	err := agent.InputErrorf("stageOrder", "expected 0, 1 or 2, got %q", "9")
	assert.EqualError(t, err, `input "stageOrder": expected 0, 1 or 2, got "9"`)
	var ie *agent.InputError
	require.ErrorAs(t, err, &ie)
	assert.Equal(t, "stageOrder", ie.Input)
}

func TestBoolInput(t *testing.T) {
	t.Parallel()
	tests := []struct {
		value   string
		def     bool
		want    bool
		wantErr bool
	}{
		{value: "", def: true, want: true},
		{value: "", def: false, want: false},
		{value: "   ", def: true, want: true},
		{value: "true", want: true},
		{value: "TRUE", want: true},
		{value: " True ", want: true},
		{value: "false", def: true, want: false},
		{value: "FALSE", def: true, want: false},
		{value: "yes", wantErr: true},
		{value: "1", wantErr: true},
		{value: "no", def: true, wantErr: true},
	}
	for _, tt := range tests {
		e, _ := newEnv(t, map[string]string{"INPUT_WAITFORCOMPLETION": tt.value})
		got, err := e.BoolInput("waitForCompletion", tt.def)
		if tt.wantErr {
			var ie *agent.InputError
			require.ErrorAs(t, err, &ie, tt.value)
			assert.Equal(t, "waitForCompletion", ie.Input)
			assert.Contains(t, err.Error(), "expected true or false")
			assert.Contains(t, err.Error(), tt.value)
			continue
		}
		require.NoError(t, err, tt.value)
		assert.Equal(t, tt.want, got, tt.value)
	}
}

func TestListInput(t *testing.T) {
	t.Parallel()
	tests := []struct {
		value string
		want  []string
	}{
		{"", nil},
		{"a", []string{"a"}},
		{"a;b; c ;;", []string{"a", "b", "c"}},
		{"Sales report\r\nFinance*\n\n  ; Other ", []string{"Sales report", "Finance*", "Other"}},
		{"one\rtwo", []string{"one", "two"}},
		{" ; \n ", nil},
	}
	for _, tt := range tests {
		e, _ := newEnv(t, map[string]string{"INPUT_REPORTS": tt.value})
		assert.Equal(t, tt.want, e.ListInput("reports"), "%q", tt.value)
	}
}

func TestVariable(t *testing.T) {
	t.Parallel()
	e, _ := newEnv(t, map[string]string{
		"SYSTEM_TEAMPROJECTID":  "proj",
		"MY_SECRET":             "public-shadow",
		"SECRET_MY_SECRET":      "s3cret",
		"SECRET_NOT_LISTED":     "hidden",
		"VSTS_SECRET_VARIABLES": `["my.secret"]`,
	})
	assert.Equal(t, "proj", e.Variable("System.TeamProjectId"))
	assert.Equal(t, "proj", e.Variable("system.teamProjectId"))
	assert.Equal(t, "s3cret", e.Variable("my.secret"))
	assert.Equal(t, "s3cret", e.Variable("MY SECRET"))
	assert.Equal(t, "", e.Variable("not.listed"), "a SECRET_ variable is read only when listed")
	assert.Equal(t, "", e.Variable("missing"))

	bad, _ := newEnv(t, map[string]string{"VSTS_SECRET_VARIABLES": "not json", "A": "1"})
	assert.Equal(t, "1", bad.Variable("a"))
}

func TestDebugEnabled(t *testing.T) {
	t.Parallel()
	for value, want := range map[string]bool{"true": true, "True": true, "TRUE": true, "": false, "false": false, "1": false} {
		e, out := newEnv(t, map[string]string{"SYSTEM_DEBUG": value})
		assert.Equal(t, want, e.DebugEnabled(), value)
		e.Debug("step %d", 1)
		if want {
			assert.Equal(t, "##vso[task.debug]step 1\n", out.String())
		} else {
			assert.Empty(t, out.String(), value)
		}
	}
}
