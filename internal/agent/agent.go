// Package agent is the task side of the Azure Pipelines agent contract: it reads the
// inputs, variables and service connections the agent exports to a task process, and
// writes the ##vso logging commands through which a task reports to the agent.
//
// The rules follow the agent (microsoft/azure-pipelines-agent, Handlers/Handler.cs,
// Util/VarUtil.cs, Command.cs) and azure-pipelines-task-lib (node/task.ts,
// node/taskcommand.ts). The package never touches the process environment or stdout
// itself: New takes a getenv function and a writer, so tests drive it directly.
package agent

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"sync"
)

// Env is one task run's view of the agent: its environment and its log stream.
// It is safe for concurrent use; every command is written with a single Write.
type Env struct {
	getenv func(string) string
	debug  bool

	mu     sync.Mutex
	w      io.Writer
	warned bool // a warning or an error issue was logged: Finish reports SucceededWithIssues

	secretsOnce sync.Once
	secretNames map[string]bool // normalised names listed in VSTS_SECRET_VARIABLES
}

// New returns an Env reading the agent's environment through getenv and writing
// logging commands to w (the task's stdout).
func New(getenv func(string) string, w io.Writer) *Env {
	e := &Env{getenv: getenv, w: w}
	e.debug = strings.EqualFold(strings.TrimSpace(getenv("SYSTEM_DEBUG")), "true")
	return e
}

// NormalizeName turns a variable or input name into the environment variable name the
// agent uses (VarUtil.ConvertToEnvVariableFormat): '.' and ' ' become '_', then upper-case.
func NormalizeName(name string) string {
	r := strings.NewReplacer(".", "_", " ", "_")
	return strings.ToUpper(r.Replace(name))
}

// InputError is a problem with one task input; its text names the input so the user
// knows which field of the YAML to fix.
type InputError struct {
	Input   string
	Problem string
}

func (e *InputError) Error() string {
	return fmt.Sprintf("input %q: %s", e.Input, e.Problem)
}

// InputErrorf returns an *InputError for input with a formatted problem.
func InputErrorf(input, format string, args ...any) error {
	return &InputError{Input: input, Problem: fmt.Sprintf(format, args...)}
}

// Input returns the trimmed value of input name; an empty value means unset. The agent
// already trims and fills task.json defaults, but a value produced by macro expansion
// is not re-trimmed, so we trim again.
func (e *Env) Input(name string) string {
	return strings.TrimSpace(e.getenv("INPUT_" + NormalizeName(name)))
}

// RequiredInput returns the value of input name or an *InputError when it is empty.
func (e *Env) RequiredInput(name string) (string, error) {
	v := e.Input(name)
	if v == "" {
		return "", InputErrorf(name, "a value is required")
	}
	return v, nil
}

// BoolInput parses a boolean input: empty gives def, "true"/"false" in any case give
// their value. task-lib reads anything but "true" as false; we reject other values
// instead, so that a typo such as "yes" does not silently mean false.
func (e *Env) BoolInput(name string, def bool) (bool, error) {
	v := e.Input(name)
	switch {
	case v == "":
		return def, nil
	case strings.EqualFold(v, "true"):
		return true, nil
	case strings.EqualFold(v, "false"):
		return false, nil
	}
	return false, InputErrorf(name, "expected true or false, got %q", v)
}

// ListInput splits a multi-line or ';'-separated input into trimmed, non-empty items.
func (e *Env) ListInput(name string) []string {
	fields := strings.FieldsFunc(e.Input(name), func(r rune) bool {
		return r == ';' || r == '\r' || r == '\n'
	})
	var items []string
	for _, f := range fields {
		if f = strings.TrimSpace(f); f != "" {
			items = append(items, f)
		}
	}
	return items
}

// Variable returns pipeline variable name: SECRET_<NAME> when the agent listed name in
// VSTS_SECRET_VARIABLES, else <NAME> (task-lib getVariable).
func (e *Env) Variable(name string) string {
	key := NormalizeName(name)
	if e.isSecretVariable(key) {
		return e.getenv("SECRET_" + key)
	}
	return e.getenv(key)
}

func (e *Env) isSecretVariable(key string) bool {
	e.secretsOnce.Do(func() {
		e.secretNames = map[string]bool{}
		var names []string
		// A malformed list only loses the secret lookup; public variables still work.
		if err := json.Unmarshal([]byte(e.getenv("VSTS_SECRET_VARIABLES")), &names); err != nil {
			return
		}
		for _, n := range names {
			e.secretNames[NormalizeName(n)] = true
		}
	})
	return e.secretNames[key]
}

// DebugEnabled reports whether the pipeline runs with System.Debug=true.
func (e *Env) DebugEnabled() bool { return e.debug }
