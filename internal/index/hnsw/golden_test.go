package hnsw

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden graph in testdata/")

// goldenGraph is the committed serialization (format version 1) of persistFixture's
// graph: live, deleted and compacted-away nodes. A build that can no longer read it, or
// reads it into a graph it writes back differently, has changed the on-disk format;
// go test -run TestGoldenGraph -update rewrites it when that is deliberate.
const goldenGraph = "graph-v1.golden"

func TestGoldenGraph(t *testing.T) {
	g, src := persistFixture(t)
	path := filepath.Join("testdata", goldenGraph)
	if *update {
		var buf bytes.Buffer
		if _, err := g.WriteTo(&buf); err != nil {
			t.Fatal(err)
		}
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	old, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	h, err := Read(bytes.NewReader(old), negDot, src)
	if err != nil {
		t.Fatalf("committed graph no longer loads: %v", err)
	}
	if h.Options() != g.Options() || h.Len() != g.Len() || h.Deleted() != g.Deleted() || h.Dropped() != g.Dropped() {
		t.Fatalf("loaded opts/Len/Deleted/Dropped = %+v/%d/%d/%d, the fixture's %+v/%d/%d/%d",
			h.Options(), h.Len(), h.Deleted(), h.Dropped(), g.Options(), g.Len(), g.Deleted(), g.Dropped())
	}
	var again bytes.Buffer
	if _, err := h.WriteTo(&again); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(again.Bytes(), old) {
		t.Fatalf("the loaded graph writes %d bytes that differ from the committed %d", again.Len(), len(old))
	}
	for i := uint32(500); i < 600; i++ {
		if res := h.Search(src.Vector(i), 10, 0, nil, nil); len(res) != 10 {
			t.Fatalf("query %d on the loaded graph: %d results, want 10", i, len(res))
		}
	}
}
