package agent_test

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"unicode"

	"github.com/pbi-pipelines/azdo-extension/internal/agent"
	"github.com/pbi-pipelines/azdo-extension/internal/agentsim"
)

// FuzzOutsideText checks that outside text can never form a logging command or a
// formatting tag: plain lines contain no "##vso" at all, command lines contain "##vso["
// only at their start, and the agent parses each message back to Neutralize(s).
func FuzzOutsideText(f *testing.F) {
	for _, s := range hostile {
		f.Add(s)
	}
	f.Add("##\u200bvso[task.complete result=Succeeded]")
	f.Add("#\n#vso[")
	f.Add("##vso\r[")
	f.Fuzz(func(t *testing.T, s string) {
		want := agent.Neutralize(s)
		if got := agent.Neutralize(want); got != want {
			t.Fatalf("Neutralize is not idempotent: %q -> %q -> %q", s, want, got)
		}

		var out bytes.Buffer
		e := agent.New(func(string) string { return "" }, &out)
		e.Info("%s", s)
		info := splitAgentLines(out.String())
		if got := strings.Join(info, "\n"); got != strings.NewReplacer("\r\n", "\n", "\r", "\n").Replace(want) {
			t.Fatalf("Info(%q) wrote %q", s, got)
		}
		for _, l := range info {
			if containsFold(l, "##vso") || containsFold(l, "##[") {
				t.Fatalf("Info(%q) wrote a command-like line %q", s, l)
			}
			if _, isCommand, _ := agentsim.ParseLine(l); isCommand {
				t.Fatalf("Info(%q) wrote a command %q", s, l)
			}
		}

		out.Reset()
		e.Warning("%s", s)
		e.Error("%s", s)
		e.Finish(errors.New(s))
		cmds := splitAgentLines(out.String())
		if len(cmds) != 4 {
			t.Fatalf("want 4 command lines, got %q", cmds)
		}
		for i, l := range cmds {
			if !strings.HasPrefix(l, "##vso[task.") || containsFold(l[len("##vso["):], "##vso") {
				t.Fatalf("line %q has \"##vso\" beyond its own command", l)
			}
			cmd, isCommand, err := agentsim.ParseLine(l)
			if !isCommand || err != nil {
				t.Fatalf("ParseLine(%q) = %v, %v", l, isCommand, err)
			}
			if i < 3 && cmd.Data != want {
				t.Fatalf("data of %q = %q, want %q", l, cmd.Data, want)
			}
		}
	})
}

// splitAgentLines splits output as the agent reads it: at LF, CRLF or a lone CR.
func splitAgentLines(s string) []string {
	s = strings.TrimSuffix(s, "\n")
	return strings.Split(strings.NewReplacer("\r\n", "\n", "\r", "\n").Replace(s), "\n")
}

// containsFold reports whether s contains sub under the most lenient comparison the agent
// could apply: upper-cased (so 'ſ' counts as 's'), with control and format characters
// (which culture-aware comparison ignores) removed. CR and LF end lines and are kept.
func containsFold(s, sub string) bool {
	visible := strings.Map(func(r rune) rune {
		if r != '\r' && r != '\n' && unicode.In(r, unicode.Cc, unicode.Cf, unicode.Other_Default_Ignorable_Code_Point, unicode.Variation_Selector) {
			return -1
		}
		return r
	}, s)
	return strings.Contains(strings.ToUpper(visible), strings.ToUpper(sub))
}
