package main

import (
	"bufio"
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/uploadonce/uploadonce/emulator/runtimeapi"
)

// readmeCommand is one command line of a ```sh block in a README.
type readmeCommand struct {
	file, line string
	args       []string // uploadonce's arguments
	wantExit   int      // from a "exits N" comment; 0 otherwise
}

// heavyReadmeCommands are run only with UPLOADONCE_README_ALL=1: what they
// check, TestEveryScenario checks on every run, and they take minutes.
var heavyReadmeCommands = []string{
	"run scenarios/fault-*.yaml scenarios/event-*.yaml scenarios/overwrite.yaml",
	"run --memcached container --report-json out/ scenarios/*.yaml",
	"run --clock real scenarios/upload_with_delay.yaml",
	"run scenarios/fault-memcached-scale-out*.yaml scenarios/mixed-hashing.yaml",
}

// makeVars maps make loadtest's variables to uploadonce's flags, as the
// Makefile does.
var makeVars = map[string]string{"CONCURRENCY": "--concurrency", "URLS": "--urls", "DUPLICATES": "--duplicates",
	"DELAYED": "--delayed", "RATE": "--rate", "STRATEGY": "--strategy", "MEMCACHED": "--memcached", "REPORT_JSON": "--report-json"}

var exitsRE = regexp.MustCompile(`exits (\d)`)

// readmeCommands extracts the uploadonce commands of file's sh blocks.
// serve never ends by itself, so it is left to its own tests.
func readmeCommands(t *testing.T, file string) []readmeCommand {
	t.Helper()
	f, err := os.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []readmeCommand
	sc := bufio.NewScanner(f)
	inSh, cont := false, ""
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "```sh"):
			inSh = true
			continue
		case strings.HasPrefix(line, "```"):
			inSh = false
			continue
		case !inSh:
			continue
		}
		if strings.HasSuffix(line, "\\") {
			cont += strings.TrimSuffix(line, "\\") + " "
			continue
		}
		line, cont = cont+line, ""
		cmd, comment, _ := strings.Cut(line, " #")
		cmd = strings.TrimSpace(cmd)
		if c, ok := parseReadmeCommand(t, cmd); ok {
			c.file, c.line = file, line
			if m := exitsRE.FindStringSubmatch(comment); m != nil {
				c.wantExit, _ = strconv.Atoi(m[1])
			}
			out = append(out, c)
		}
	}
	return out
}

func parseReadmeCommand(t *testing.T, cmd string) (readmeCommand, bool) {
	words, err := runtimeapi.Split(cmd)
	if err != nil || len(words) == 0 {
		return readmeCommand{}, false
	}
	switch {
	case words[0] == "make" && len(words) > 1 && words[1] == "loadtest":
		args := []string{"loadtest"}
		for _, w := range words[2:] {
			k, v, _ := strings.Cut(w, "=")
			if k == "ARGS" {
				extra, err := runtimeapi.Split(v)
				if err != nil {
					t.Fatalf("%s: ARGS %q: %v", cmd, v, err)
				}
				args = append(args, extra...)
			} else if flag, ok := makeVars[k]; ok {
				args = append(args, flag, v)
			}
		}
		return readmeCommand{args: args}, true
	case words[0] == "uploadonce" || words[0] == "./bin/uploadonce":
		words = words[1:]
	case len(words) > 2 && words[0] == "go" && words[1] == "run" && words[2] == "./cmd/uploadonce":
		words = words[3:]
	default:
		return readmeCommand{}, false
	}
	if len(words) == 0 || words[0] == "serve" || strings.Contains(cmd, "$") {
		return readmeCommand{}, false
	}
	return readmeCommand{args: words}, true
}

// TestReadmeCommands runs the commands the READMEs show, with their paths
// taken from the repository's root as a user's would be, and checks the
// exit code each one's comment states (0 when it states none), so that the
// README cannot drift from what the tool does. Report paths go to a
// temporary directory; the commands run two at a time.
func TestReadmeCommands(t *testing.T) {
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	cmds := append(readmeCommands(t, filepath.Join(root, "README.md")), readmeCommands(t, filepath.Join(root, "scenarios", "README.md"))...)
	if len(cmds) < 10 {
		t.Fatalf("found only %d commands in the READMEs", len(cmds))
	}
	for _, c := range cmds {
		joined := strings.Join(c.args, " ")
		t.Run(joined, func(t *testing.T) {
			t.Parallel()
			for _, h := range heavyReadmeCommands {
				if joined == h && os.Getenv("UPLOADONCE_README_ALL") != "1" {
					t.Skipf("%s: TestEveryScenario covers it; UPLOADONCE_README_ALL=1 runs it", c.line)
				}
			}
			args := expandReadmeArgs(t, c.args, root, t.TempDir())
			ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
			defer cancel()
			var out, errOut syncBuffer
			code := exitCode(run(ctx, args, &out, &errOut), &errOut)
			if code != c.wantExit {
				t.Fatalf("%s: %q exited %d, the README says %d\nstdout:\n%s\nstderr:\n%s", c.file, c.line, code, c.wantExit,
					out.String(), errOut.String())
			}
		})
	}
}

// expandReadmeArgs expands globs, as the shell would, makes the paths
// of files under root absolute, and sends report files to dir.
func expandReadmeArgs(t *testing.T, args []string, root, dir string) []string {
	var out []string
	for i := 0; i < len(args); i++ {
		a := args[i]
		switch {
		case (a == "--report-json" || a == "--report-html") && i+1 < len(args):
			name := filepath.Base(args[i+1])
			if strings.HasSuffix(args[i+1], "/") {
				name += "/"
			}
			out = append(out, a, filepath.Join(dir, name))
			i++
		case strings.ContainsAny(a, "*?["):
			m, err := filepath.Glob(filepath.Join(root, a))
			if err != nil || len(m) == 0 {
				t.Fatalf("glob %q matches nothing", a)
			}
			out = append(out, m...)
		case strings.HasPrefix(a, "scenarios/"):
			out = append(out, filepath.Join(root, a))
		default:
			out = append(out, a)
		}
	}
	return out
}
