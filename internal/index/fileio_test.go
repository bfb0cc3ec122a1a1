package index

import (
	"go/parser"
	"go/token"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestNoFileIO checks that the in-memory engine (this package, hnsw and vec) does no
// file I/O of its own: their non-test files import no package that reaches files or
// paths. Files, their names and formats are package storage's and package wal's,
// reached through them and the vfs.FS the options carry. Package hugepage, which their
// arrays come from, is held to the same, except that its advise_linux.go makes the one
// system call it exists for (madvise, through golang.org/x/sys/unix), and so does vec's
// amx_linux.go (arch_prctl, asking for the AMX tile state).
func TestNoFileIO(t *testing.T) {
	forbidden := map[string]bool{"os": true, "io/ioutil": true, "io/fs": true, "path/filepath": true, "syscall": true, "golang.org/x/sys/unix": true}
	for _, dir := range []string{".", "hnsw", "vec", "../hugepage"} {
		files, err := filepath.Glob(filepath.Join(dir, "*.go"))
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for _, name := range files {
			if strings.HasSuffix(name, "_test.go") {
				continue
			}
			n++
			f, err := parser.ParseFile(token.NewFileSet(), name, nil, parser.ImportsOnly)
			if err != nil {
				t.Fatal(err)
			}
			for _, imp := range f.Imports {
				p, _ := strconv.Unquote(imp.Path.Value)
				if rel := filepath.ToSlash(name); p == "golang.org/x/sys/unix" && (rel == "../hugepage/advise_linux.go" || rel == "vec/amx_linux.go") {
					continue
				}
				if forbidden[p] {
					t.Errorf("%s imports %q: file I/O belongs to package storage or wal", name, p)
				}
			}
		}
		if n == 0 {
			t.Fatalf("no Go files in %s", dir)
		}
	}
}
