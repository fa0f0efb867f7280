package agent_test

import (
	"bytes"
	"errors"
	"slices"
	"strconv"
	"strings"
	"testing"
	"unicode"

	"github.com/pbi-pipelines/azdo-extension/internal/agent"
	"github.com/pbi-pipelines/azdo-extension/internal/agentsim"
)

// The fuzz targets below check the agent contract from the agent's side: what a task writes is
// parsed with agentsim.ParseLine, the agent's parser. Seed corpora are in
// testdata/fuzz/<FuzzName>; scripts/fuzz.sh runs every target for a few seconds in `make test`.

// long is outside text far beyond any buffer a writer might use: nothing may be cut.
var long = strings.Repeat("é%AZP25;]\r\n##vso[task.complete result=Succeeded]", 300)

// FuzzOutsideText checks that outside text can never form a logging command or a
// formatting tag: plain lines contain no "##vso" at all, command lines contain "##vso["
// only at their start, the agent parses each message back to Neutralize(s), and
// Neutralize loses nothing but hidden characters inside a marker.
func FuzzOutsideText(f *testing.F) {
	for _, s := range hostile {
		f.Add(s)
	}
	f.Add("##\u200bvso[task.complete result=Succeeded]")
	f.Add("#\n#vso[")
	f.Add("##vso\r[")
	f.Add(long)
	f.Fuzz(func(t *testing.T, s string) {
		want := agent.Neutralize(s)
		if got := agent.Neutralize(want); got != want {
			t.Fatalf("Neutralize is not idempotent: %q -> %q -> %q", s, want, got)
		}
		if visible(want) != visible(s) {
			t.Fatalf("Neutralize(%q) = %q lost or changed visible text", s, want)
		}

		var out bytes.Buffer
		e := agent.New(func(k string) string { return map[string]string{"SYSTEM_DEBUG": "true"}[k] }, &out)
		e.Info("%s", s)
		info := splitAgentLines(out.String())
		if got := strings.Join(info, "\n"); got != lineBreaks.Replace(want) {
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
		end := e.Group(s)
		group := splitAgentLines(out.String())
		if len(group) != 1 || !strings.HasPrefix(group[0], "##[group]") {
			t.Fatalf("Group(%q) wrote %q, want one ##[group] line", s, group)
		}
		title := strings.TrimPrefix(group[0], "##[group]")
		if containsFold(title, "##vso") || containsFold(title, "##[") || visible(title) != visible(s) {
			t.Fatalf("Group(%q) wrote title %q", s, title)
		}
		end()

		out.Reset()
		e.Warning("%s", s)
		e.Error("%s", s)
		e.Debug("%s", s)
		e.Progress(50, "%s", s)
		e.Complete(agent.Succeeded, s)
		e.Finish(errors.New(s))
		cmds := splitAgentLines(out.String())
		wantProps := []map[string]string{{"type": "warning"}, {"type": "error"}, {}, {"value": "50"},
			{"result": "Succeeded"}, {"type": "error"}, {"result": "Failed"}}
		if len(cmds) != len(wantProps) {
			t.Fatalf("want %d command lines, got %q", len(wantProps), cmds)
		}
		for i, l := range cmds {
			if !strings.HasPrefix(l, "##vso[task.") || containsFold(l[len("##vso["):], "##vso") {
				t.Fatalf("line %q has \"##vso\" beyond its own command", l)
			}
			cmd, isCommand, err := agentsim.ParseLine(l)
			if !isCommand || err != nil {
				t.Fatalf("ParseLine(%q) = %v, %v", l, isCommand, err)
			}
			if i < 6 && cmd.Data != want {
				t.Fatalf("data of %q = %q, want %q", l, cmd.Data, want)
			}
			if !mapsEqual(cmd.Props, wantProps[i]) {
				t.Fatalf("properties of %q = %q, want %q", l, cmd.Props, wantProps[i])
			}
		}
	})
}

// FuzzCommandRoundTrip checks the encoder against the agent's parser: a property value and a
// message (data) the task sends come back exactly as given, on one line.
func FuzzCommandRoundTrip(f *testing.F) {
	for _, s := range hostile {
		f.Add(s, s)
	}
	f.Add("pipelineId", "0a6a0a67-61d5-4b5c-9a0e-7b0c3ad0a001")
	f.Add("a=b", "%AZP25%3B%5D%0D%0A")
	f.Add("x%3By", "]##vso[task.complete result=Failed]")
	f.Add(long, long)
	f.Fuzz(func(t *testing.T, value, data string) {
		line := agent.FormatCommand("task.setvariable", map[string]string{"variable": value, "isOutput": "true"}, data)
		if strings.ContainsAny(line, "\r\n") {
			t.Fatalf("FormatCommand wrote more than one line: %q", line)
		}
		cmd := mustParse(t, line)
		if cmd.Area != "task" || cmd.Event != "setvariable" || cmd.Data != data {
			t.Fatalf("%q parsed as %s.%s data %q, want data %q", line, cmd.Area, cmd.Event, cmd.Data, data)
		}
		want := map[string]string{"isoutput": "true"}
		switch {
		case value == "":
			// Empty values are left out, as task-lib leaves them out.
		case strings.HasPrefix(value, "="):
			// The agent's parser drops a value's leading '=' (Split('=', 2,
			// RemoveEmptyEntries)) and no escape exists for it; our own property values
			// never start with one.
			want["variable"] = strings.TrimLeft(value, "=")
		default:
			want["variable"] = value
		}
		if want["variable"] == "" {
			delete(want, "variable")
		}
		if !mapsEqual(cmd.Props, want) {
			t.Fatalf("%q parsed to properties %q, want %q", line, cmd.Props, want)
		}

		// The Env methods that carry data the agent must receive unchanged.
		var out bytes.Buffer
		e := agent.New(func(string) string { return "" }, &out)
		e.SetOutput("out", data)
		e.SetVariable("v", data, true)
		e.SetSecret(data)
		lines := splitAgentLines(out.String())
		wantLines := 3
		if data == "" {
			wantLines = 2 // an empty secret is not registered
		}
		if len(lines) != wantLines {
			t.Fatalf("want %d lines, got %q", wantLines, lines)
		}
		for _, l := range lines {
			if c := mustParse(t, l); c.Data != data {
				t.Fatalf("%q parsed to data %q, want %q", l, c.Data, data)
			}
		}
	})
}

// FuzzListInput checks list inputs: items are trimmed, non-empty and free of separators,
// nothing but separators and spacing is lost, and joining the items again with either
// separator gives the same list.
func FuzzListInput(f *testing.F) {
	for _, s := range []string{"", " ", ";", "Sales", "Sales; Finance\nHR", "a;;b\r\n\r\nc;", "  * ;Sales?\n", "\u00a0x\u3000;\ty ", "\xff;\xfe"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		items := agent.New(func(k string) string { return map[string]string{"INPUT_DATASETS": s}[k] }, &bytes.Buffer{}).ListInput("datasets")
		for _, it := range items {
			if it == "" || it != strings.TrimSpace(it) || strings.ContainsAny(it, ";\r\n") {
				t.Fatalf("ListInput(%q) gave item %q", s, it)
			}
		}
		squash := func(s string) string {
			return strings.Map(func(r rune) rune {
				if r == ';' || unicode.IsSpace(r) {
					return -1
				}
				return r
			}, s)
		}
		// Joined with ';' (which squash drops) so that two items' bytes cannot merge into one rune.
		if squash(strings.Join(items, ";")) != squash(s) {
			t.Fatalf("ListInput(%q) = %q lost text", s, items)
		}
		for _, sep := range []string{";", "\n", "\r\n", " ; "} {
			joined := strings.Join(items, sep)
			again := agent.New(func(k string) string { return map[string]string{"INPUT_DATASETS": joined}[k] }, &bytes.Buffer{}).ListInput("datasets")
			if !slices.Equal(again, items) {
				t.Fatalf("ListInput(%q) = %q, but joined with %q it gives %q", s, items, sep, again)
			}
		}
	})
}

// FuzzBoolInput checks boolean inputs: only "true" in any case is true, "false" in any case
// or an empty value give their value or the default, and anything else is an input error that
// names the input and quotes the value.
func FuzzBoolInput(f *testing.F) {
	for _, s := range []string{"", " ", "true", "TRUE", " True ", "false", "FALSE", "yes", "1", "on", "truee", "tru", "\ttrue\n", "true;", "ｔｒｕｅ", "falſe", "\xfftrue"} {
		f.Add(s, false)
		f.Add(s, true)
	}
	f.Fuzz(func(t *testing.T, s string, def bool) {
		const name = "createNewWS"
		got, err := agent.New(func(k string) string { return map[string]string{"INPUT_CREATENEWWS": s}[k] }, &bytes.Buffer{}).BoolInput(name, def)
		v := strings.TrimSpace(s)
		isTrue := len(v) == 4 && strings.ToLower(v) == "true" // ASCII only: no other letters fold to t, r, u or e
		switch {
		case v == "":
			if err != nil || got != def {
				t.Fatalf("BoolInput(%q, %v) = %v, %v; want the default", s, def, got, err)
			}
		case isTrue:
			if err != nil || !got {
				t.Fatalf("BoolInput(%q) = %v, %v; want true", s, got, err)
			}
		case strings.EqualFold(v, "false"):
			if err != nil || got {
				t.Fatalf("BoolInput(%q) = %v, %v; want false", s, got, err)
			}
		default:
			var ie *agent.InputError
			if !errors.As(err, &ie) || ie.Input != name || got {
				t.Fatalf("BoolInput(%q) = %v, %v; want an input error for %s", s, got, err, name)
			}
			if msg := err.Error(); !strings.Contains(msg, strconv.Quote(name)) || !strings.Contains(msg, strconv.Quote(v)) || !strings.Contains(msg, "true or false") {
				t.Fatalf("BoolInput(%q) error %q does not name the input, the value and what was expected", s, msg)
			}
		}
	})
}

func mustParse(t *testing.T, line string) *agentsim.Command {
	t.Helper()
	cmd, isCommand, err := agentsim.ParseLine(line)
	if !isCommand || err != nil {
		t.Fatalf("ParseLine(%q) = %v, %v", line, isCommand, err)
	}
	if i := strings.Index(strings.ToLower(line), "##vso["); i != 0 {
		t.Fatalf("%q: the command does not start the line", line)
	}
	return cmd
}

func mapsEqual(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

// lineBreaks turns every way the agent ends a line into "\n".
var lineBreaks = strings.NewReplacer("\r\n", "\n", "\r", "\n")

// splitAgentLines splits output as the agent reads it: at LF, CRLF or a lone CR.
func splitAgentLines(s string) []string {
	s = strings.TrimSuffix(s, "\n")
	return strings.Split(lineBreaks.Replace(s), "\n")
}

// visible is s without spaces, line breaks and the characters a culture-aware comparison
// ignores: what Neutralize may add (a space) or drop (hidden characters inside a marker).
func visible(s string) string {
	return strings.Map(func(r rune) rune {
		if r == ' ' || r == '\r' || r == '\n' || isHidden(r) {
			return -1
		}
		return r
	}, s)
}

func isHidden(r rune) bool {
	return r != '\r' && r != '\n' && unicode.In(r, unicode.Cc, unicode.Cf, unicode.Other_Default_Ignorable_Code_Point, unicode.Variation_Selector)
}

// containsFold reports whether s contains sub under the most lenient comparison the agent
// could apply: upper-cased (so 'ſ' counts as 's'), with control and format characters
// (which culture-aware comparison ignores) removed. CR and LF end lines and are kept.
func containsFold(s, sub string) bool {
	shown := strings.Map(func(r rune) rune {
		if isHidden(r) {
			return -1
		}
		return r
	}, s)
	return strings.Contains(strings.ToUpper(shown), strings.ToUpper(sub))
}
