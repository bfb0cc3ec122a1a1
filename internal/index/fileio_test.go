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
// reached through them and the vfs.FS the options carry.
func TestNoFileIO(t *testing.T) {
	forbidden := map[string]bool{"os": true, "io/ioutil": true, "io/fs": true, "path/filepath": true, "syscall": true, "golang.org/x/sys/unix": true}
	for _, dir := range []string{".", "hnsw", "vec"} {
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
				if p, _ := strconv.Unquote(imp.Path.Value); forbidden[p] {
					t.Errorf("%s imports %q: file I/O belongs to package storage or wal", name, p)
				}
			}
		}
		if n == 0 {
			t.Fatalf("no Go files in %s", dir)
		}
	}
}
