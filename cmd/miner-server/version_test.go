package main

import (
	"bytes"
	"context"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

func TestVersionFlagPrintsVersionAndExits(t *testing.T) {
	var out, errOut bytes.Buffer
	// HARDNEG_VERSION must not turn -version on: the flag has no variable.
	getenv := func(k string) string {
		if k == "HARDNEG_VERSION" {
			return "true"
		}
		return ""
	}
	if cfg, err := parseConfig(nil, getenv, &errOut); err != nil || cfg.ShowVersion {
		t.Fatalf("HARDNEG_VERSION set -version: %+v, %v", cfg.ShowVersion, err)
	}
	// -data-dir points nowhere usable: -version must return before opening storage.
	err := Main(context.Background(), []string{"-version", "-data-dir=/dev/null/x"}, func(string) string { return "" }, nil, &out, &errOut)
	if err != nil {
		t.Fatal(err)
	}
	if got := out.String(); !strings.HasPrefix(got, "miner-server ") || !strings.Contains(got, runtime.Version()) {
		t.Errorf("-version printed %q", got)
	}
}

// TestMakeBuildStampsVersionAndRevision builds the server with make build and checks
// that the binary reports the checkout's revision, not "unknown".
func TestMakeBuildStampsVersionAndRevision(t *testing.T) {
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	head, err := exec.Command("git", "-C", root, "rev-parse", "HEAD").Output()
	if err != nil {
		t.Fatalf("git rev-parse HEAD: %v", err)
	}
	bin := filepath.Join(t.TempDir(), "miner-server")
	if out, err := exec.Command("make", "-s", "-C", root, "build", "BIN="+bin).CombinedOutput(); err != nil {
		t.Fatalf("make build: %v\n%s", err, out)
	}
	out, err := exec.Command(bin, "-version").Output()
	if err != nil {
		t.Fatalf("%s -version: %v", bin, err)
	}
	got := string(out)
	if strings.Contains(got, "unknown") || !strings.Contains(got, "revision "+strings.TrimSpace(string(head))) {
		t.Errorf("-version of a make build printed %q; want revision %s and no unknown field", got, head)
	}
}
