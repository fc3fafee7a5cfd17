//go:build !linux

package memcached

import "os/exec"

// childDropsRoot is false: memcached drops root itself with -u.
const childDropsRoot = false

// dieWithParent has no portable equivalent of Linux's Pdeathsig; elsewhere
// a killed parent can leave its memcached child running.
func dieWithParent(*exec.Cmd) {}
