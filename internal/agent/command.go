package agent

import (
	"maps"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"
)

// commandPrefix starts every logging command. The agent treats a line that contains it
// anywhere as a command (Command.cs), and only the first occurrence counts.
const commandPrefix = "##vso["

// Escaping mirrors azure-pipelines-task-lib node/taskcommand.ts (escape / escapedata):
// '%' first so the agent's final %AZP25 -> % step cannot decode anything twice.
var (
	propertyEscaper = strings.NewReplacer("%", "%AZP25", "\r", "%0D", "\n", "%0A", "]", "%5D", ";", "%3B")
	dataEscaper     = strings.NewReplacer("%", "%AZP25", "\r", "%0D", "\n", "%0A")
)

// EscapeProperty escapes a logging command property value: % -> %AZP25, CR -> %0D,
// LF -> %0A, ] -> %5D, ; -> %3B.
func EscapeProperty(s string) string { return propertyEscaper.Replace(s) }

// EscapeData escapes a logging command's data (message): % -> %AZP25, CR -> %0D, LF -> %0A.
// ']' and ';' need no escaping after the command's closing bracket.
func EscapeData(s string) string { return dataEscaper.Replace(s) }

// FormatCommand renders one logging command line (without newline):
// ##vso[command k=v;k=v;]data. Properties are sorted by key for deterministic output and
// empty values are omitted, as task-lib omits them.
func FormatCommand(command string, props map[string]string, data string) string {
	var b strings.Builder
	b.WriteString(commandPrefix)
	b.WriteString(command)
	sep := " "
	for _, k := range slices.Sorted(maps.Keys(props)) {
		v := props[k]
		if v == "" {
			continue
		}
		b.WriteString(sep)
		sep = ""
		b.WriteString(k)
		b.WriteByte('=')
		b.WriteString(EscapeProperty(v))
		b.WriteByte(';')
	}
	b.WriteByte(']')
	b.WriteString(EscapeData(data))
	return b.String()
}

// Neutralize makes outside text (API errors, names, user input) safe to print: it can no
// longer contain a logging command ("##vso[", or the bare keyword "##vso", which makes the
// agent log a warning) nor a "##[" formatting tag. A space goes after the "##", so the text
// stays readable: "##vso[task.complete]" becomes "## vso[task.complete]".
//
// The marker is matched more leniently than the agent's ordinal search, so that no
// comparison mode can see one: letters in any case (including 'ſ', which upper-cases to
// 'S'), with control and format characters (such as U+200B, which culture-aware .NET
// comparison ignores) in between; those hidden characters are dropped from the marker.
// CR and LF are left alone: callers print one line at a time or escape them.
func Neutralize(s string) string {
	var b strings.Builder
	last := 0
	for i := 0; i < len(s); i++ {
		if s[i] != '#' {
			continue
		}
		marker, end, ok := matchMarker(s, i)
		if !ok {
			continue
		}
		if last == 0 {
			b.Grow(len(s) + 8)
		}
		b.WriteString(s[last:i])
		b.WriteString("## ")
		b.WriteString(marker)
		last = end
		i = end - 1
	}
	if last == 0 {
		return s
	}
	b.WriteString(s[last:])
	return b.String()
}

// matchMarker reports whether a marker ("##" then "vso" or "[") starts at s[i]. It returns
// the visible characters after "##" and the end of the marker in s.
func matchMarker(s string, i int) (marker string, end int, ok bool) {
	j := skipIgnorable(s, i+1)
	if j >= len(s) || s[j] != '#' {
		return "", 0, false
	}
	k := skipIgnorable(s, j+1)
	if k < len(s) && s[k] == '[' {
		return "[", k + 1, true
	}
	var m strings.Builder
	for n, want := range []byte("vso") {
		r, size := utf8.DecodeRuneInString(s[k:])
		if !letterMatches(r, want) {
			return "", 0, false
		}
		m.WriteString(s[k : k+size])
		k += size
		if n < 2 {
			k = skipIgnorable(s, k)
		}
	}
	return m.String(), k, true
}

// letterMatches compares r with an ASCII lower-case letter the way .NET's case-insensitive
// comparison does (simple upper-case mapping: 'ſ' matches 's').
func letterMatches(r rune, want byte) bool {
	return r != utf8.RuneError && unicode.ToUpper(r) == unicode.ToUpper(rune(want))
}

// skipIgnorable skips characters a culture-aware comparison may ignore.
func skipIgnorable(s string, i int) int {
	for i < len(s) {
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError || !isIgnorable(r) {
			return i
		}
		i += size
	}
	return i
}

func isIgnorable(r rune) bool {
	if r == '\r' || r == '\n' {
		return false
	}
	return unicode.In(r, unicode.Cc, unicode.Cf, unicode.Other_Default_Ignorable_Code_Point, unicode.Variation_Selector)
}
