//go:build unix

package runtimeapi

import (
	"os/exec"
	"syscall"
)

// setProcessGroup puts the function in its own process group, so that a
// kill reaches whatever it started (a shell wrapper's children too).
func setProcessGroup(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
}

func killProcessGroup(cmd *exec.Cmd) {
	_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	_ = cmd.Process.Kill()
}
