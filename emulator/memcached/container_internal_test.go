package memcached

import (
	"context"
	"errors"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/moby/moby/client"
	"github.com/rs/zerolog"
	"github.com/testcontainers/testcontainers-go"
	tclog "github.com/testcontainers/testcontainers-go/log"
)

// needContainers skips unless Docker answers and the image to test is
// present; it fails instead when $UPLOADONCE_REQUIRE_MEMCACHED names
// container (as the conformance suite does).
func needContainers(t *testing.T) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	img := os.Getenv(ImageEnv)
	if img == "" {
		img = LocalImage
	}
	why := ""
	if !DockerAvailable(ctx) {
		why = "docker engine does not answer"
	} else if ok, err := ImagePresent(ctx, img); !ok {
		why = "image " + img + " not present: " + errString(err)
	}
	if why == "" {
		return img
	}
	if strings.Contains(","+os.Getenv("UPLOADONCE_REQUIRE_MEMCACHED")+",", ",container,") {
		t.Fatalf("memcached container required but unavailable: %s", why)
	}
	t.Skip(why)
	return ""
}

func errString(err error) string {
	if err == nil {
		return "<nil>"
	}
	return err.Error()
}

func TestChooseImage(t *testing.T) {
	errEngine := errors.New("engine down")
	for _, tc := range []struct {
		name, image, env string
		local            bool
		localErr         error
		want             string
		wantErr          error
	}{
		{name: "an explicit image wins", image: "a:1", env: "b:2", local: true, want: "a:1"},
		{name: "then the environment", env: "b:2", local: true, want: "b:2"},
		{name: "then the local build when present", local: true, want: LocalImage},
		{name: "else the public image", local: false, want: DefaultImage},
		{name: "an engine error is an error", localErr: errEngine, wantErr: errEngine},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := chooseImage(tc.image, tc.env, func() (bool, error) { return tc.local, tc.localErr })
			if got != tc.want || !errors.Is(err, tc.wantErr) {
				t.Fatalf("chooseImage = %q, %v; want %q, %v", got, err, tc.want, tc.wantErr)
			}
		})
	}
}

// labelled starts a bare memcached container with labels, as a run that is
// now dead or still alive would have left it.
func labelled(t *testing.T, img string, labels map[string]string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	c, err := testcontainers.Run(ctx, img,
		testcontainers.WithLogger(tclog.NewNoopLogger()),
		testcontainers.WithCmd("-m", "8", "-U", "0"),
		testcontainers.WithLabels(labels))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Terminate(context.Background()) })
	return c.GetContainerID()
}

func containerLabels(t *testing.T, id string) (map[string]string, bool) {
	t.Helper()
	cli, err := client.New(client.FromEnv)
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	res, err := cli.ContainerInspect(context.Background(), id, client.ContainerInspectOptions{})
	if cerrdefs.IsNotFound(err) {
		return nil, false
	}
	if err != nil {
		t.Fatal(err)
	}
	return res.Container.Config.Labels, true
}

// TestContainerStartSweepsDeadRuns: a container start removes the
// containers of runs whose process is dead, and keeps those of live runs,
// of runs in another pid namespace, and its own; its containers carry the
// run's labels.
func TestContainerStartSweepsDeadRuns(t *testing.T) {
	img := needContainers(t)
	if err := setTestcontainersEnv(); err != nil {
		t.Fatal(err)
	}
	dead := exec.Command("true")
	if err := dead.Run(); err != nil {
		t.Fatal(err)
	}
	live := exec.Command("sleep", "120")
	if err := live.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = live.Process.Kill(); _ = live.Wait() })

	deadRun := labelled(t, img, ownerLabels("deadrun", dead.Process.Pid))
	liveRun := labelled(t, img, ownerLabels("liverun", live.Process.Pid))
	foreign := ownerLabels("foreign", dead.Process.Pid)
	foreign[LabelPIDNamespace] = "pid:[1]"
	foreignRun := labelled(t, img, foreign)

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	srv, err := Start(ctx, Spec{Kind: KindContainer}, WithImage(img),
		WithLogger(zerolog.New(zerolog.NewTestWriter(t))))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Close(context.Background()) })

	if _, ok := containerLabels(t, deadRun); ok {
		t.Errorf("the dead run's container %s is still there", shortID(deadRun))
	}
	for name, id := range map[string]string{"live": liveRun, "foreign namespace": foreignRun} {
		if _, ok := containerLabels(t, id); !ok {
			t.Errorf("the %s run's container %s was removed", name, shortID(id))
		}
	}
	own, ok := containerLabels(t, srv.node.(*containerNode).ctrs[0].GetContainerID())
	if !ok || own[LabelRun] != runID || own[LabelPID] != strconv.Itoa(os.Getpid()) || own[LabelPIDStart] == "" {
		t.Fatalf("own container labels = %v (run %s, pid %d)", own, runID, os.Getpid())
	}
	if srv.Image() != img {
		t.Fatalf("Image() = %q, want %q", srv.Image(), img)
	}
}

const bannerHelperEnv = "UPLOADONCE_TEST_BANNER_HELPER"

// TestContainerStartPrintsNoBanner: a container start prints nothing of
// testcontainers' own ("Connected to docker: ..." and its 10 lines) on the
// process's output. It runs the start in a fresh test process, because the
// banner is printed once per process.
func TestContainerStartPrintsNoBanner(t *testing.T) {
	if os.Getenv(bannerHelperEnv) == "1" {
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		srv, err := Start(ctx, Spec{Kind: KindContainer}, WithImage(os.Getenv(ImageEnv)))
		if err != nil {
			t.Fatal(err)
		}
		if err := srv.Close(ctx); err != nil {
			t.Fatal(err)
		}
		return
	}
	img := needContainers(t)
	helper := exec.Command(os.Args[0], "-test.run=^TestContainerStartPrintsNoBanner$", "-test.count=1")
	helper.Env = append(os.Environ(), bannerHelperEnv+"=1", ImageEnv+"="+img)
	out, err := helper.CombinedOutput()
	if err != nil {
		t.Fatalf("helper: %v\n%s", err, out)
	}
	if strings.Contains(string(out), "Connected to docker") || strings.Contains(string(out), "Testcontainers for Go Version") {
		t.Fatalf("a container start printed testcontainers' banner:\n%s", out)
	}
	if got := strings.TrimSpace(string(out)); got != "PASS" {
		t.Fatalf("helper output = %q, want only PASS", got)
	}
}

// TestContainerRestartWaitsForItsPort: when another process takes the host
// port while the container is stopped, Restart retries until the port is
// free, and the container comes back on the same address.
func TestContainerRestartWaitsForItsPort(t *testing.T) {
	img := needContainers(t)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	srv, err := Start(ctx, Spec{Kind: KindContainer}, WithImage(img), WithStartTimeout(30*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Close(context.Background()) })
	cn := srv.node.(*containerNode)
	grace := time.Second
	if err := cn.ctrs[0].Stop(ctx, &grace); err != nil {
		t.Fatal(err)
	}
	squatter, err := net.Listen("tcp", srv.Addrs()[0])
	if err != nil {
		t.Fatal(err)
	}
	const held = time.Second
	time.AfterFunc(held, func() { _ = squatter.Close() })
	start := time.Now()
	if err := srv.Restart(ctx); err != nil {
		t.Fatalf("Restart while the port was held for %v: %v", held, err)
	}
	if took := time.Since(start); took < held {
		t.Fatalf("Restart returned after %v, before the port was freed at %v", took, held)
	}
	if _, err := Probe(ctx, srv.Addrs()[0]); err != nil {
		t.Fatalf("memcached after Restart: %v", err)
	}
}
