//go:build unix

package agentsim

import (
	"os"
	"os/exec"
	"runtime"
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

// peakRSS is the process's peak resident memory in bytes (getrusage's maxrss: KiB on Linux,
// bytes on macOS); with node in between it is node's or the task's, whichever is larger.
func peakRSS(ps *os.ProcessState) int64 {
	ru, ok := ps.SysUsage().(*syscall.Rusage)
	if !ok {
		return 0
	}
	if runtime.GOOS == "darwin" {
		return int64(ru.Maxrss)
	}
	return int64(ru.Maxrss) * 1024
}
