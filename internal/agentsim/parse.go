package agentsim

import (
	"errors"
	"fmt"
	"strings"
)

// Command is a parsed logging command. Area, Event and property keys are lower-cased
// (the agent compares them case-insensitively); values and data are unescaped.
type Command struct {
	Area, Event string
	Props       map[string]string
	Data        string
}

const commandPrefix = "##vso["

// ParseLine parses one output line as the agent's Command.TryParse does. isCommand
// reports whether the line contains "##vso[" (any case); err is set when such a line is
// not a valid command (no ']', or a name that is not area.event), which the agent
// answers with a warning and by printing the line.
func ParseLine(line string) (cmd *Command, isCommand bool, err error) {
	start := indexFoldASCII(line, commandPrefix)
	if start < 0 {
		return nil, false, nil
	}
	rb := strings.IndexByte(line[start:], ']')
	if rb < 0 {
		return nil, true, errors.New("logging command has no closing ']'")
	}
	rb += start
	info := line[start+len(commandPrefix) : rb]
	name, props, hasProps := strings.Cut(info, " ")
	// The agent splits area.event with RemoveEmptyEntries, so "task..complete" is valid.
	var parts []string
	for p := range strings.SplitSeq(name, ".") {
		if p != "" {
			parts = append(parts, p)
		}
	}
	if len(parts) != 2 {
		return nil, true, fmt.Errorf("logging command name %q is not area.event", name)
	}
	cmd = &Command{
		Area:  strings.ToLower(parts[0]),
		Event: strings.ToLower(parts[1]),
		Props: map[string]string{},
		Data:  unescape(line[rb+1:]),
	}
	if hasProps && name != "" {
		for prop := range strings.SplitSeq(props, ";") {
			// .NET Split('=', 2, RemoveEmptyEntries): leading '=' are skipped before the
			// key and before the value; a pair with an empty side is ignored.
			prop = strings.TrimLeft(prop, "=")
			k, v, ok := strings.Cut(prop, "=")
			v = strings.TrimLeft(v, "=")
			if ok && k != "" && v != "" {
				cmd.Props[strings.ToLower(k)] = unescape(v)
			}
		}
	}
	return cmd, true, nil
}

// unescaper reverses task-lib's escaping in the agent's order: %3B, %0D, %0A, %5D,
// then %AZP25 (DECODE_PERCENTS, on by default).
var unescapers = []*strings.Replacer{
	strings.NewReplacer("%3B", ";"),
	strings.NewReplacer("%0D", "\r"),
	strings.NewReplacer("%0A", "\n"),
	strings.NewReplacer("%5D", "]"),
	strings.NewReplacer("%AZP25", "%"),
}

func unescape(s string) string {
	for _, r := range unescapers {
		s = r.Replace(s)
	}
	return s
}

// indexFoldASCII is strings.Index ignoring ASCII case; sub must be ASCII.
func indexFoldASCII(s, sub string) int {
	for i := 0; i+len(sub) <= len(s); i++ {
		j := 0
		for j < len(sub) && lowerASCII(s[i+j]) == lowerASCII(sub[j]) {
			j++
		}
		if j == len(sub) {
			return i
		}
	}
	return -1
}

func lowerASCII(c byte) byte {
	if 'A' <= c && c <= 'Z' {
		return c + 'a' - 'A'
	}
	return c
}
