package memcached

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"

	"github.com/moby/moby/client"
	"github.com/rs/zerolog"
)

// Labels on every container Start runs. testcontainers' reaper (Ryuk)
// cannot run here (DESIGN.md §7), so a run that is killed leaves its
// containers behind; the next container start removes those whose owner is
// dead, judged by these labels.
const (
	// LabelRun holds a random id of the uploadonce process that started the
	// container.
	LabelRun = "uploadonce.run"
	// LabelPID holds that process's pid.
	LabelPID = "uploadonce.pid"
	// LabelPIDStart holds the pid's start time (/proc/PID/stat field 22), so
	// that a reused pid is not taken for a live owner.
	LabelPIDStart = "uploadonce.pidstart"
	// LabelPIDNamespace holds the owner's pid namespace (/proc/self/ns/pid).
	// Only containers of this namespace are judged: a pid means nothing in
	// another one, such as another container sharing the Docker engine.
	LabelPIDNamespace = "uploadonce.pidns"
)

// runID identifies this process's containers.
var runID = func() string {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}()

// ownerLabels are the labels of a container owned by pid.
func ownerLabels(run string, pid int) map[string]string {
	return map[string]string{
		LabelRun:          run,
		LabelPID:          strconv.Itoa(pid),
		LabelPIDStart:     pidStart(pid),
		LabelPIDNamespace: pidNamespace(),
	}
}

// pidStart is pid's start time in clock ticks since boot, "" when unknown.
func pidStart(pid int) string {
	f, ok := procStat(pid)
	if !ok || len(f) < 20 {
		return ""
	}
	return f[19] // field 22 of stat; f starts at field 3, the state
}

// procStat returns the fields of /proc/PID/stat after the command name.
func procStat(pid int) ([]string, bool) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return nil, false
	}
	i := strings.LastIndexByte(string(b), ')')
	if i < 0 {
		return nil, false
	}
	return strings.Fields(string(b[i+1:])), true
}

func pidNamespace() string {
	ns, err := os.Readlink("/proc/self/ns/pid")
	if err != nil {
		return ""
	}
	return ns
}

// ownerDead reports whether the process the labels name has exited. It
// answers false whenever it cannot tell, so that a live run's containers
// are never removed.
func ownerDead(labels map[string]string) bool {
	if labels[LabelPIDNamespace] != pidNamespace() {
		return false
	}
	pid, err := strconv.Atoi(labels[LabelPID])
	if err != nil || pid <= 0 {
		return false
	}
	if pid == os.Getpid() {
		return labels[LabelRun] != runID && labels[LabelPIDStart] != pidStart(pid)
	}
	if f, ok := procStat(pid); ok {
		if len(f) > 0 && f[0] == "Z" {
			return true // exited, not yet reaped
		}
		start := labels[LabelPIDStart]
		return start != "" && start != pidStart(pid) // the pid was reused
	}
	if _, err := os.Stat("/proc/self/stat"); err == nil {
		return true // procfs works and has no such pid
	}
	return errors.Is(syscall.Kill(pid, 0), syscall.ESRCH)
}

// sweepOrphans removes the containers of dead uploadonce runs and returns
// how many it removed.
func sweepOrphans(ctx context.Context, logger zerolog.Logger) (int, error) {
	cli, err := client.New(client.FromEnv)
	if err != nil {
		return 0, fmt.Errorf("docker client: %w", err)
	}
	defer cli.Close()
	list, err := cli.ContainerList(ctx, client.ContainerListOptions{
		All:     true,
		Filters: make(client.Filters).Add("label", LabelRun),
	})
	if err != nil {
		return 0, fmt.Errorf("docker list containers: %w", err)
	}
	var errs []error
	removed := 0
	for _, c := range list.Items {
		if !ownerDead(c.Labels) {
			continue
		}
		if _, err := cli.ContainerRemove(ctx, c.ID, client.ContainerRemoveOptions{Force: true, RemoveVolumes: true}); err != nil {
			errs = append(errs, fmt.Errorf("remove %s: %w", shortID(c.ID), err))
			continue
		}
		removed++
		logger.Info().Str("id", shortID(c.ID)).Str("run", c.Labels[LabelRun]).Str("pid", c.Labels[LabelPID]).
			Msg("memcached container: removed a container left by a dead run")
	}
	return removed, errors.Join(errs...)
}
