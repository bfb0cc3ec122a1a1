package deploy

import (
	"bufio"
	"os"
	"strings"
	"testing"
)

// TestDockerfileImagesFullyQualified checks that every base image of the published
// Dockerfile names its registry: buildah and podman refuse short names such as
// "golang:1.26" unless the machine has a registries.conf alias for them.
func TestDockerfileImagesFullyQualified(t *testing.T) {
	for _, name := range []string{"Dockerfile", "Containerfile.local"} {
		refs := baseImages(t, name)
		if len(refs) == 0 {
			t.Fatalf("%s: no FROM lines", name)
		}
		for _, ref := range refs {
			if !fullyQualified(ref) {
				t.Errorf("%s: base image %q has no registry host (write e.g. docker.io/library/%s)", name, ref, ref)
			}
		}
	}
}

func TestFullyQualified(t *testing.T) {
	for ref, want := range map[string]bool{
		"scratch":                          true,
		"docker.io/library/golang:1.26":    true,
		"gcr.io/distroless/static:nonroot": true,
		"localhost:5000/x":                 true,
		"golang:1.26":                      false,
		"library/golang":                   false,
		"distroless/static":                false,
	} {
		if got := fullyQualified(ref); got != want {
			t.Errorf("fullyQualified(%q) = %v, want %v", ref, got, want)
		}
	}
}

// baseImages returns the image references of the FROM lines of a Dockerfile, with
// ${VAR} build arguments left in place and references to earlier stages left out.
func baseImages(t *testing.T, name string) []string {
	t.Helper()
	f, err := os.Open(name)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	stages := map[string]bool{}
	var refs []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 2 || !strings.EqualFold(fields[0], "FROM") {
			continue
		}
		args := fields[1:]
		for len(args) > 0 && strings.HasPrefix(args[0], "--") {
			args = args[1:] // --platform=…
		}
		if len(args) == 0 {
			t.Fatalf("%s: FROM without an image: %q", name, sc.Text())
		}
		if !stages[args[0]] {
			refs = append(refs, args[0])
		}
		if len(args) == 3 && strings.EqualFold(args[1], "AS") {
			stages[args[2]] = true
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return refs
}

// fullyQualified reports whether an image reference starts with a registry host (a
// first path component with a dot or a port, or localhost), or is scratch.
func fullyQualified(ref string) bool {
	if ref == "scratch" {
		return true
	}
	host, _, ok := strings.Cut(ref, "/")
	return ok && (strings.ContainsAny(host, ".:") || host == "localhost")
}
