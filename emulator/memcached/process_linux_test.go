package memcached_test

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/uploadonce/uploadonce/emulator/memcached"
)

// orphanHelperEnv makes TestProcessDiesWithParent act as the parent that
// gets killed: it starts a process provider, prints memcached's pid and
// waits to be killed.
const orphanHelperEnv = "UPLOADONCE_TEST_ORPHAN_HELPER"

// TestProcessDiesWithParent: killing uploadonce (SIGKILL, or SIGHUP with no
// handler) kills its memcached child too, instead of leaving it under PID 1.
func TestProcessDiesWithParent(t *testing.T) {
	if os.Getenv(orphanHelperEnv) == "1" {
		orphanHelper(t)
		return
	}
	if _, err := lookMemcached(); err != nil {
		unavailable(t, memcached.KindProcess, err.Error())
	}
	for _, sig := range []syscall.Signal{syscall.SIGKILL, syscall.SIGHUP} {
		t.Run(sig.String(), func(t *testing.T) {
			helper := exec.Command(os.Args[0], "-test.run=^TestProcessDiesWithParent$", "-test.count=1")
			helper.Env = append(os.Environ(), orphanHelperEnv+"=1")
			helper.Stderr = os.Stderr
			out, err := helper.StdoutPipe()
			if err != nil {
				t.Fatal(err)
			}
			if err := helper.Start(); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = helper.Process.Kill(); _ = helper.Wait() })
			pid := readChildPid(t, out)
			if state := procState(pid); state == "" || state == "Z" {
				t.Fatalf("memcached %d is not running before the kill (state %q)", pid, state)
			}
			if err := helper.Process.Signal(sig); err != nil {
				t.Fatal(err)
			}
			_ = helper.Wait()
			deadline := time.Now().Add(5 * time.Second)
			for {
				state := procState(pid)
				if state == "" || state == "Z" {
					return // gone, or dead and waiting for PID 1 to reap it
				}
				if time.Now().After(deadline) {
					_ = syscall.Kill(pid, syscall.SIGKILL)
					t.Fatalf("memcached %d still running (state %s) 5 s after its parent got %v", pid, state, sig)
				}
				time.Sleep(20 * time.Millisecond)
			}
		})
	}
}

// readChildPid reads the helper's "memcached-pid N" line.
func readChildPid(t *testing.T, out interface{ Read([]byte) (int, error) }) int {
	t.Helper()
	lines := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if v, ok := strings.CutPrefix(sc.Text(), "memcached-pid "); ok {
				lines <- v
				return
			}
		}
		close(lines)
	}()
	select {
	case v, ok := <-lines:
		pid, err := strconv.Atoi(v)
		if !ok || err != nil {
			t.Fatalf("helper printed no memcached pid (%q, %v)", v, err)
		}
		return pid
	case <-time.After(60 * time.Second):
		t.Fatal("helper printed no memcached pid within 60 s")
	}
	return 0
}

func orphanHelper(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	srv, err := memcached.Start(ctx, memcached.Spec{Kind: memcached.KindProcess})
	if err != nil {
		t.Fatal(err)
	}
	pid := childNamed(t, "memcached")
	fmt.Printf("memcached-pid %d\n", pid)
	time.Sleep(60 * time.Second) // the parent test kills us first
	_ = srv.Close(context.Background())
	t.Fatal("helper was not killed")
}

// childNamed finds this process's child whose command is name.
func childNamed(t *testing.T, name string) int {
	stats, _ := filepath.Glob("/proc/[0-9]*/stat")
	for _, p := range stats {
		b, err := os.ReadFile(p)
		if err != nil {
			continue
		}
		comm, rest, ok := cutComm(string(b))
		if !ok || comm != name {
			continue
		}
		if f := strings.Fields(rest); len(f) > 1 && f[1] == strconv.Itoa(os.Getpid()) {
			pid, _ := strconv.Atoi(filepath.Base(filepath.Dir(p)))
			return pid
		}
	}
	t.Fatalf("no %s child of %d", name, os.Getpid())
	return 0
}

// procState is the state letter of pid, "" when there is no such process.
func procState(pid int) string {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return ""
	}
	_, rest, ok := cutComm(string(b))
	if f := strings.Fields(rest); ok && len(f) > 0 {
		return f[0]
	}
	return ""
}

// cutComm splits /proc/PID/stat around its parenthesised command name.
func cutComm(stat string) (comm, rest string, ok bool) {
	i, j := strings.IndexByte(stat, '('), strings.LastIndexByte(stat, ')')
	if i < 0 || j < i {
		return "", "", false
	}
	return stat[i+1 : j], stat[j+1:], true
}
