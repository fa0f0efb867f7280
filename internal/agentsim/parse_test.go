package agentsim

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestParseLine(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		line      string
		isCommand bool
		wantErr   string
		want      *Command
	}{
		{name: "plain", line: "hello world"},
		{name: "formatting tag", line: "##[error]not a command"},
		{name: "keyword without bracket", line: "##vso task.complete"},
		{name: "spaced", line: "## vso[task.complete result=Failed]"},
		{
			name: "simple", line: "##vso[task.setsecret]abc", isCommand: true,
			want: &Command{Area: "task", Event: "setsecret", Props: map[string]string{}, Data: "abc"},
		},
		{
			name: "anywhere in the line, any case", line: "prefix ##VSO[Task.Complete Result=Succeeded;]done", isCommand: true,
			want: &Command{Area: "task", Event: "complete", Props: map[string]string{"result": "Succeeded"}, Data: "done"},
		},
		{
			name: "first marker counts", line: "##vso[task.debug]x ##vso[task.complete result=Failed]", isCommand: true,
			want: &Command{Area: "task", Event: "debug", Props: map[string]string{}, Data: "x ##vso[task.complete result=Failed]"},
		},
		{
			name: "escaped props", line: "##vso[task.setvariable variable=a%3Bb%5Dc%AZP25d;isOutput=true]v", isCommand: true,
			want: &Command{Area: "task", Event: "setvariable", Props: map[string]string{"variable": "a;b]c%d", "isoutput": "true"}, Data: "v"},
		},
		{
			name: "data unescaped, ] and ; literal", line: "##vso[task.logissue type=error]a%0Ab%0Dc%3Bd%5De]f;g%AZP25", isCommand: true,
			want: &Command{Area: "task", Event: "logissue", Props: map[string]string{"type": "error"}, Data: "a\nb\rc;d]e]f;g%"},
		},
		{
			name: "percent decoded last, once", line: "##vso[task.debug]%AZP250A %AZP25AZP25", isCommand: true,
			want: &Command{Area: "task", Event: "debug", Props: map[string]string{}, Data: "%0A %AZP25"},
		},
		{
			name: "value split at first '='", line: "##vso[task.setvariable variable=a=b]", isCommand: true,
			want: &Command{Area: "task", Event: "setvariable", Props: map[string]string{"variable": "a=b"}, Data: ""},
		},
		{
			name: "empty and valueless props dropped", line: "##vso[task.logissue ;;type=warning;;novalue;=x;empty=;]m", isCommand: true,
			want: &Command{Area: "task", Event: "logissue", Props: map[string]string{"type": "warning"}, Data: "m"},
		},
		{
			name: "later duplicate wins, keys case-insensitive", line: "##vso[task.complete result=Failed;Result=Succeeded]", isCommand: true,
			want: &Command{Area: "task", Event: "complete", Props: map[string]string{"result": "Succeeded"}, Data: ""},
		},
		{
			name: "empty name parts dropped", line: "##vso[.task..complete.]", isCommand: true,
			want: &Command{Area: "task", Event: "complete", Props: map[string]string{}, Data: ""},
		},
		{name: "missing bracket", line: "##vso[task.complete result=Succeeded", isCommand: true, wantErr: "']'"},
		{name: "one part", line: "##vso[complete]x", isCommand: true, wantErr: "area.event"},
		{name: "three parts", line: "##vso[a.b.c]x", isCommand: true, wantErr: "area.event"},
		{name: "no name", line: "##vso[ result=Succeeded]", isCommand: true, wantErr: "area.event"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			cmd, isCommand, err := ParseLine(tt.line)
			assert.Equal(t, tt.isCommand, isCommand)
			if tt.wantErr != "" {
				require.ErrorContains(t, err, tt.wantErr)
				assert.Nil(t, cmd)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.want, cmd)
		})
	}
}

func TestSplitLines(t *testing.T) {
	t.Parallel()
	tests := map[string][]string{
		"":              nil,
		"a":             {"a"},
		"a\n":           {"a"},
		"a\r\nb\rc\nd":  {"a", "b", "c", "d"},
		"\n\n":          {"", ""},
		"a\r\r\nb":      {"a", "", "b"},
		"x\r":           {"x"},
		"##vso[x]\r\ny": {"##vso[x]", "y"},
	}
	for in, want := range tests {
		assert.Equal(t, want, splitLines(in), "%q", in)
	}
}
