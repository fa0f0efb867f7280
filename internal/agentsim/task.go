// Package agentsim is the Azure Pipelines agent's side of the task contract, for the
// demo driver and end-to-end tests. It builds a task's environment as the agent's Node
// handler does, runs the packaged task, and interprets the task's output as the agent
// does: logging commands, result merging, output variables and secret masking.
//
// Sources mirrored: microsoft/azure-pipelines-agent src/Agent.Worker/Handlers/Handler.cs
// (environment), src/Microsoft.VisualStudio.Services.Agent/Command.cs (parsing),
// src/Agent.Worker/WorkerCommandManager.cs and TaskCommandExtension.cs (command effects),
// Util/TaskResultUtil.cs (result merging), Agent.Sdk/ProcessInvoker.cs (cancellation).
package agentsim

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
)

// Task is the subset of task.json the agent side needs.
type Task struct {
	ID              string
	Name            string
	FriendlyName    string
	Inputs          []TaskInput
	OutputVariables []struct{ Name, Description string }
	Execution       map[string]struct{ Target string } `json:"execution"`
	Dir             string                             `json:"-"`
}

// TaskInput is one input of task.json.
type TaskInput struct {
	Name         string
	Type         string
	Label        string
	Aliases      []string
	DefaultValue any // a string or a bool in task.json
	Required     bool
}

// LoadTask reads dir/task.json.
func LoadTask(dir string) (*Task, error) {
	b, err := os.ReadFile(filepath.Join(dir, "task.json"))
	if err != nil {
		return nil, err
	}
	b = bytes.TrimPrefix(b, []byte("\xef\xbb\xbf")) // editors on Windows add a BOM
	var t Task
	if err := json.Unmarshal(b, &t); err != nil {
		return nil, fmt.Errorf("%s: %w", filepath.Join(dir, "task.json"), err)
	}
	t.Dir = dir
	return &t, nil
}

// defaultString renders a task.json default value as the agent exports it.
func (in TaskInput) defaultString() string {
	switch v := in.DefaultValue.(type) {
	case nil:
		return ""
	case string:
		return v
	case bool:
		if v {
			return "true"
		}
		return "false"
	case float64:
		b, _ := json.Marshal(v)
		return string(b)
	default:
		return fmt.Sprint(v)
	}
}
