package main

import (
	"bytes"
	"crypto/rand"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// requireTool finds a client program. CI installs them and sets
// UPLOADONCE_REQUIRE_CLIENTS=1, which turns a missing one into a failure.
func requireTool(t *testing.T, name string, probe ...string) string {
	t.Helper()
	path, err := exec.LookPath(name)
	if err == nil && len(probe) > 0 {
		err = exec.Command(path, probe...).Run()
	}
	if err != nil {
		if os.Getenv("UPLOADONCE_REQUIRE_CLIENTS") == "1" {
			t.Fatalf("%s is required (UPLOADONCE_REQUIRE_CLIENTS=1): %v", name, err)
		}
		t.Skipf("%s not available: %v", name, err)
	}
	return path
}

func awsEnv(secret string) []string {
	return append(os.Environ(),
		"AWS_ACCESS_KEY_ID=uploadonce", "AWS_SECRET_ACCESS_KEY="+secret, "AWS_DEFAULT_REGION=us-east-1",
		"AWS_CONFIG_FILE=/dev/null", "AWS_SHARED_CREDENTIALS_FILE=/dev/null", "AWS_EC2_METADATA_DISABLED=true", "AWS_PAGER=")
}

func TestAWSCLIRoundTrip(t *testing.T) {
	aws := requireTool(t, "aws", "--version")
	base := serveForTest(t, "--memcached", "embedded", "--api-key", "k")
	dir := t.TempDir()
	src := filepath.Join(dir, "3mb.bin")
	data := make([]byte, 3<<20)
	_, _ = rand.Read(data)
	if err := os.WriteFile(src, data, 0o600); err != nil {
		t.Fatal(err)
	}
	awsRun := func(secret string, args ...string) (string, error) {
		cmd := exec.Command(aws, append([]string{"--endpoint-url", base}, args...)...)
		cmd.Env = awsEnv(secret)
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	if out, err := awsRun("uploadonce-secret", "s3", "cp", src, "s3://uploadonce/data/3mb.bin", "--no-progress"); err != nil {
		t.Fatalf("upload: %v\n%s", err, out)
	}
	back := filepath.Join(dir, "back.bin")
	if out, err := awsRun("uploadonce-secret", "s3", "cp", "s3://uploadonce/data/3mb.bin", back, "--no-progress"); err != nil {
		t.Fatalf("download: %v\n%s", err, out)
	}
	got, err := os.ReadFile(back)
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("round trip not byte-exact (%d bytes back, %v)", len(got), err)
	}
	out, err := awsRun("wrong-secret", "s3", "cp", src, "s3://uploadonce/data/refused.bin", "--no-progress")
	if err == nil || !strings.Contains(out, "SignatureDoesNotMatch") {
		t.Fatalf("wrong secret: err %v, output:\n%s", err, out)
	}
}

// pythonClient is the README's Python quickstart: the reference client.
const pythonClient = `
import sys, requests
api, key, times = sys.argv[1], sys.argv[2], int(sys.argv[3])
grant = requests.get(api, headers={"x-api-key": key}).json()["url"]
for _ in range(times):
    r = requests.post(grant["url"], data=grant["fields"], files={"file": ("myfile1.txt", b"hello\n")})
    print(r.status_code)
`

func TestPythonRequestsClient(t *testing.T) {
	// Debian's python3-requests serves /usr/bin/python3, which may not be
	// the python3 first on PATH.
	py := "/usr/bin/python3"
	if p, err := exec.LookPath("python3"); err == nil && exec.Command(p, "-c", "import requests").Run() == nil {
		py = p
	} else {
		py = requireTool(t, py, "-c", "import requests")
	}
	base := serveForTest(t, "--memcached", "embedded", "--api-key", "k")
	cmd := exec.Command(py, "-c", pythonClient, base+"/Prod/getpresignedurl", "k", "2")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if got := strings.Fields(string(out)); len(got) != 2 || got[0] != "204" || got[1] != "204" {
		t.Fatalf("statuses %q, want 204 204", out)
	}
	var decisions []struct{ Decision string }
	for range 200 {
		getJSON(t, base+"/_uploadonce/decisions", &decisions)
		if len(decisions) == 2 {
			break
		}
		sleepBriefly()
	}
	acc := 0
	for _, d := range decisions {
		if d.Decision == "accepted" {
			acc++
		}
	}
	if len(decisions) != 2 || acc != 1 {
		b, _ := json.Marshal(decisions)
		t.Fatalf("decisions %s, want one accepted of two", b)
	}
}
