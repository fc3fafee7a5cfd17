package main

import (
	"archive/zip"
	"bytes"
	"debug/buildinfo"
	"debug/elf"
	"io"
	"os/exec"
	"path/filepath"
	"testing"
)

// TestMakeLambda runs make lambda and checks each package the way Lambda's
// provided.al2023 runtime needs it: one executable bootstrap, for the
// package's machine, statically linked, built as DESIGN §4 says.
func TestMakeLambda(t *testing.T) {
	makeBin, err := exec.LookPath("make")
	if err != nil {
		t.Fatalf("make is needed to build the deployment packages: %v", err)
	}
	dist := t.TempDir()
	cmd := exec.Command(makeBin, "-C", "../..", "lambda", "DIST="+dist)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("make lambda: %v\n%s", err, out)
	}
	for _, tc := range []struct {
		zip     string
		machine elf.Machine
		goarch  string
	}{
		{"lambda-arm64.zip", elf.EM_AARCH64, "arm64"},
		{"lambda-x86_64.zip", elf.EM_X86_64, "amd64"},
	} {
		t.Run(tc.zip, func(t *testing.T) {
			checkPackage(t, filepath.Join(dist, tc.zip), tc.machine, tc.goarch)
		})
	}
}

func checkPackage(t *testing.T, path string, machine elf.Machine, goarch string) {
	zr, err := zip.OpenReader(path)
	if err != nil {
		t.Fatal(err)
	}
	defer zr.Close()
	if len(zr.File) != 1 || zr.File[0].Name != "bootstrap" {
		names := []string{}
		for _, f := range zr.File {
			names = append(names, f.Name)
		}
		t.Fatalf("members %q, want just bootstrap", names)
	}
	zf := zr.File[0]
	if zf.Mode()&0o111 == 0 {
		t.Fatalf("bootstrap mode %v is not executable", zf.Mode())
	}
	rc, err := zf.Open()
	if err != nil {
		t.Fatal(err)
	}
	data, err := io.ReadAll(rc)
	rc.Close()
	if err != nil {
		t.Fatal(err)
	}
	f, err := elf.NewFile(bytes.NewReader(data))
	if err != nil {
		t.Fatalf("bootstrap is not ELF: %v", err)
	}
	if f.Machine != machine {
		t.Fatalf("machine %v, want %v", f.Machine, machine)
	}
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP || p.Type == elf.PT_DYNAMIC {
			t.Fatalf("bootstrap has a %v segment: not static", p.Type)
		}
	}
	if libs, err := f.ImportedLibraries(); err != nil || len(libs) != 0 {
		t.Fatalf("bootstrap needs %v (%v): not static", libs, err)
	}
	bi, err := buildinfo.Read(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"-tags": "lambda.norpc", "-trimpath": "true", "CGO_ENABLED": "0", "GOOS": "linux", "GOARCH": goarch}
	got := map[string]string{}
	for _, s := range bi.Settings {
		got[s.Key] = s.Value
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("build setting %s=%q, want %q", k, got[k], v)
		}
	}
	if bi.Path != "github.com/uploadonce/uploadonce/cmd/lambda" {
		t.Errorf("built from %s", bi.Path)
	}
}
