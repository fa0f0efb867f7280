//go:build !unix

package agentsim

import (
	"os"
	"os/exec"
)

// Without Unix signals (Windows) the agent's Ctrl+C emulation is out of reach here:
// every step ends the process.
func setProcessGroup(*exec.Cmd) {}
func interrupt(p *os.Process)   { _ = p.Kill() }
func terminate(p *os.Process)   { _ = p.Kill() }
func killTree(p *os.Process)    { _ = p.Kill() }

// peakRSS is not measured here.
func peakRSS(*os.ProcessState) int64 { return 0 }
