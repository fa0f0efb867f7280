package agentsim

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
)

// Issue is an error or warning on the step's timeline record.
type Issue struct{ Type, Message string }

// Run is what the agent makes of one task run.
type Run struct {
	ExitCode  int
	Result    string // Succeeded, SucceededWithIssues, Failed (or Canceled, Skipped, Abandoned if the task set them)
	Issues    []Issue
	Outputs   map[string]string // output variables, by the name the task set
	Variables map[string]string // other variables the task set
	Secrets   []string          // values the task registered with setsecret or issecret=true
	Summaries []string          // files attached with task.uploadsummary
	PeakRSS   int64             // peak resident memory of the process started, in bytes (Unix)
	// Log is the step log as the agent's viewer shows it: "##[error]msg" and
	// "##[warning]msg" for issues, "##[debug]msg" only when debug, formatting lines and
	// plain lines as written, hidden commands left out, secrets masked as "***".
	Log []string
}

// Interpret applies the agent's rules to a finished task's output. stdout is read
// before stderr (the agent interleaves them as they arrive; Exec does that).
// initialSecrets are masked from the start, as the agent's masker already knows secret
// variables and endpoint parameters (see Step.InitialSecrets).
func Interpret(task *Task, stdout, stderr []byte, exitCode int, debug bool, initialSecrets []string) *Run {
	in := newInterpreter(task, debug, initialSecrets)
	for _, out := range [][]byte{stdout, stderr} {
		for _, line := range splitLines(string(out)) {
			in.line(line)
		}
	}
	return in.finish(exitCode)
}

// splitLines splits at LF, CRLF or a lone CR, like .NET's ReadLine; a final line
// without a terminator counts, an empty remainder after the last terminator does not.
func splitLines(s string) []string {
	var lines []string
	for s != "" {
		i := strings.IndexAny(s, "\r\n")
		if i < 0 {
			lines = append(lines, s)
			break
		}
		lines = append(lines, s[:i])
		if s[i] == '\r' && i+1 < len(s) && s[i+1] == '\n' {
			i++
		}
		s = s[i+1:]
	}
	return lines
}

// Task results in the order of the agent's TaskResult enum.
var resultNames = []string{"Succeeded", "SucceededWithIssues", "Failed", "Canceled", "Skipped", "Abandoned"}

const (
	resultSucceeded = 0
	resultFailed    = 2
)

// parseResult accepts what Enum.TryParse<TaskResult>(s) accepts in practice: an exact
// (case-sensitive) name or its number, surrounded by optional whitespace.
func parseResult(s string) (int, bool) {
	s = strings.TrimSpace(s)
	for i, n := range resultNames {
		if s == n {
			return i, true
		}
	}
	if n, err := strconv.Atoi(s); err == nil && n >= 0 && n < len(resultNames) {
		return n, true
	}
	return 0, false
}

// mergeResult is TaskResultUtil.MergeTaskResults: the worse result wins, and once a
// result is worse than Failed (Canceled, Skipped, Abandoned) it sticks.
func mergeResult(current *int, coming int) int {
	switch {
	case current == nil:
		return coming
	case *current > resultFailed:
		return *current
	case coming >= *current:
		return coming
	}
	return *current
}

// Known command areas (WorkerCommandManager extensions) and task-area events
// (TaskCommandExtension); an unknown area only warns, an unknown task event fails.
var (
	knownAreas = map[string]bool{
		"artifact": true, "build": true, "codecoverage": true, "plugininternal": true,
		"release": true, "results": true, "task": true, "telemetry": true,
	}
	taskEvents = map[string]bool{
		"addattachment": true, "complete": true, "debug": true, "issue": true, "logissue": true,
		"logdetail": true, "prependpath": true, "setendpoint": true, "setprogress": true,
		"setsecret": true, "settaskvariable": true, "setvariable": true, "uploadfile": true,
		"uploadlog": true, "uploadsummary": true,
	}
)

const docLink = "Please reference documentation (http://go.microsoft.com/fwlink/?LinkId=817296)"

type interpreter struct {
	mu            sync.Mutex
	debug         bool
	outputNames   map[string]bool // task.json outputVariables, lower-case
	masks         []string
	result        *int // from task.complete
	commandFailed bool // a command handler threw: the step fails
	run           *Run
}

func newInterpreter(task *Task, debug bool, initialSecrets []string) *interpreter {
	in := &interpreter{
		debug:       debug,
		outputNames: map[string]bool{},
		run:         &Run{Outputs: map[string]string{}, Variables: map[string]string{}},
	}
	if task != nil {
		for _, o := range task.OutputVariables {
			in.outputNames[strings.ToLower(o.Name)] = true
		}
	}
	for _, s := range initialSecrets {
		in.addMask(s)
	}
	return in
}

func (in *interpreter) addMask(s string) {
	if s != "" {
		in.masks = append(in.masks, s)
	}
}

// mask replaces every occurrence of every secret with "***", merging overlaps as the
// agent's SecretMasker does.
func (in *interpreter) mask(s string) string {
	if len(in.masks) == 0 || s == "" {
		return s
	}
	hidden := make([]bool, len(s))
	found := false
	for _, m := range in.masks {
		for off := 0; ; {
			i := strings.Index(s[off:], m)
			if i < 0 {
				break
			}
			for j := off + i; j < off+i+len(m); j++ {
				hidden[j] = true
			}
			found = true
			off += i + 1
		}
	}
	if !found {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if !hidden[i] {
			b.WriteByte(s[i])
			continue
		}
		if i == 0 || !hidden[i-1] {
			b.WriteString("***")
		}
	}
	return b.String()
}

func (in *interpreter) output(line string) { in.run.Log = append(in.run.Log, in.mask(line)) }

func (in *interpreter) addIssue(typ, msg string) {
	msg = in.mask(msg)
	in.run.Issues = append(in.run.Issues, Issue{Type: typ, Message: msg})
	in.run.Log = append(in.run.Log, "##["+typ+"]"+msg)
}

func (in *interpreter) debugLine(msg string) {
	if in.debug {
		in.output("##[debug]" + msg)
	}
}

// commandError is the agent's reaction to an exception in a command handler.
func (in *interpreter) commandError(msg string) {
	in.addIssue("error", msg)
	in.commandFailed = true
}

// line handles one output line (WorkerCommandManager.TryProcessCommand).
func (in *interpreter) line(line string) {
	in.mu.Lock()
	defer in.mu.Unlock()
	cmd, isCommand, err := ParseLine(line)
	if !isCommand || err != nil {
		if isCommand || indexFoldASCII(line, "##vso") >= 0 {
			in.addIssue("warning", fmt.Sprintf("'%s' contains logging command keyword '##vso', but it's not a legal command. %s", line, docLink))
		}
		in.output(line)
		return
	}
	if !knownAreas[cmd.Area] {
		// The agent warns and still counts the line as a command: it is not printed.
		in.addIssue("warning", fmt.Sprintf("Can't find command extension for ##vso[%s.command]. %s", cmd.Area, docLink))
		return
	}
	if cmd.Area == "task" {
		in.taskCommand(cmd)
	}
	if !(cmd.Area == "task" && cmd.Event == "debug") {
		in.debugLine("Processed: " + unescape(line))
	}
}

func (in *interpreter) taskCommand(cmd *Command) {
	switch cmd.Event {
	case "complete":
		r, ok := parseResult(cmd.Props["result"])
		if !ok {
			in.commandError(fmt.Sprintf("Command doesn't have a valid value for the result property: %q", cmd.Props["result"]))
			return
		}
		merged := mergeResult(in.result, r)
		in.result = &merged
	case "logissue", "issue":
		typ := strings.ToLower(strings.TrimSpace(cmd.Props["type"]))
		if typ != "error" && typ != "warning" {
			in.commandError(fmt.Sprintf("Invalid issue type %q", cmd.Props["type"]))
			return
		}
		in.addIssue(typ, cmd.Data)
	case "setsecret":
		in.registerSecret(cmd.Data)
	case "setvariable":
		name := cmd.Props["variable"]
		if strings.TrimSpace(name) == "" {
			in.commandError("Required property 'variable' is missing for ##vso[task.setvariable]")
			return
		}
		secret := dotnetBool(cmd.Props["issecret"])
		if secret && strings.Contains(cmd.Data, "\n") {
			in.commandError(fmt.Sprintf("Secret variable %q contains a newline; the agent rejects multi-line secrets", name))
			return
		}
		if secret {
			in.registerSecret(cmd.Data)
		}
		if dotnetBool(cmd.Props["isoutput"]) || in.outputNames[strings.ToLower(name)] {
			in.run.Outputs[name] = cmd.Data
		} else {
			in.run.Variables[name] = cmd.Data
		}
	case "debug":
		in.debugLine(cmd.Data)
	case "uploadsummary":
		// The agent refuses a path that is not an existing file, and uploads it later.
		if st, err := os.Stat(cmd.Data); err != nil || st.IsDir() || !filepath.IsAbs(cmd.Data) {
			in.commandError(fmt.Sprintf("##vso[task.uploadsummary] needs the full path of an existing file, got %q", cmd.Data))
			return
		}
		in.run.Summaries = append(in.run.Summaries, cmd.Data)
	default:
		if !taskEvents[cmd.Event] {
			in.commandError(fmt.Sprintf("##vso[task.%s] is not a recognized command for Task command extension. %s", cmd.Event, docLink))
		}
	}
}

func (in *interpreter) registerSecret(s string) {
	if s == "" {
		return
	}
	in.addMask(s)
	in.run.Secrets = append(in.run.Secrets, s)
}

// dotnetBool is bool.TryParse with failure read as false.
func dotnetBool(s string) bool { return strings.EqualFold(strings.TrimSpace(s), "true") }

// finish applies the end-of-step rules (StepsRunner, Handler): a non-zero exit fails
// the step whatever it reported; otherwise task.complete results and command failures
// merge; nothing reported means Succeeded.
func (in *interpreter) finish(exitCode int) *Run {
	in.mu.Lock()
	defer in.mu.Unlock()
	r := in.run
	r.ExitCode = exitCode
	result := resultSucceeded
	if in.result != nil {
		result = *in.result
	}
	if in.commandFailed {
		result = mergeResult(&result, resultFailed)
	}
	if exitCode != 0 {
		in.addIssue("error", fmt.Sprintf("Exit code %d returned from process.", exitCode))
		result = resultFailed
	}
	r.Result = resultNames[result]
	return r
}
