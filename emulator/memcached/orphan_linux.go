package memcached

import (
	"os"
	"os/exec"
	"syscall"
)

// nobodyID is the uid and gid of nobody on Debian.
const nobodyID = 65534

// childDropsRoot says that dieWithParent starts a root parent's memcached as
// nobody, so memcached needs no -u.
const childDropsRoot = true

// dieWithParent makes the kernel SIGKILL the child when the thread that
// started it exits, so that a SIGKILLed or SIGHUPed uploadonce never leaves
// memcached running under PID 1. spawn keeps that thread alive for the
// child's lifetime.
//
// memcached's own -u would undo this: the kernel clears the parent-death
// signal when a process changes its user id. So under root the child is
// started as nobody, before the signal is set, instead.
func dieWithParent(cmd *exec.Cmd) {
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	cmd.SysProcAttr.Pdeathsig = syscall.SIGKILL
	if os.Geteuid() == 0 {
		cmd.SysProcAttr.Credential = &syscall.Credential{Uid: nobodyID, Gid: nobodyID}
	}
}
