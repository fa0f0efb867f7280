//go:build unix

package agentsim

import (
	"os"
	"os/exec"
	"syscall"
)

// setProcessGroup puts the task in its own process group so that killTree reaches the
// launcher's child too.
func setProcessGroup(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
}

// interrupt and terminate signal the launcher only, as the agent does; the launcher
// forwards the signal to its child.
func interrupt(p *os.Process) { _ = p.Signal(os.Interrupt) }
func terminate(p *os.Process) { _ = p.Signal(syscall.SIGTERM) }

func killTree(p *os.Process) {
	if err := syscall.Kill(-p.Pid, syscall.SIGKILL); err != nil {
		_ = p.Kill()
	}
}
