package index

import (
	"context"
	"flag"
	"io/fs"
	"maps"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/hardneg/hardneg/internal/engine"
)

var update = flag.Bool("update", false, "rewrite the golden data directory in testdata/")

// goldenDir is a committed data directory (snapshot format 2 holding an HNSW graph of
// format 1, log segments of format 1 holding every record type) written by
// writeGoldenDir. Each release must keep loading it into the state writeGoldenDir
// builds; go test -run TestGoldenDataDir -update rewrites it when a format change is
// deliberate.
const goldenDir = "testdata/datadir-v1"

// writeGoldenDir builds a data directory with every record type before and after a
// snapshot: collections created and dropped, upserts with groups and versions,
// deletes, stream batches of two writers, false-negative reports, and a collection
// large enough to have built its graph.
func writeGoldenDir(t *testing.T, dir string) {
	t.Helper()
	db, err := Open(Options{Dir: dir, SnapshotBytes: -1, SnapshotInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	r := rand.New(rand.NewPCG(7, 7))
	batch := func(prefix string, lo, hi, dim int) *engine.Batch {
		b := &engine.Batch{}
		for i := lo; i < hi; i++ {
			b.IDs = append(b.IDs, prefix+string(rune('a'+i%26))+string(rune('a'+i/26)))
			for range dim {
				b.Vectors = append(b.Vectors, float32(r.NormFloat64()))
			}
			b.Groups = append(b.Groups, []string{"g" + string(rune('0'+i%3))})
			b.Versions = append(b.Versions, int64(i%5))
		}
		return b
	}
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	for _, cfg := range []engine.Config{
		{Name: "graph", Dim: 8, Metric: engine.Cosine, Params: engine.Params{M: 4, EfConstruction: 16, ExactThreshold: 40}},
		{Name: "flat", Dim: 3, Metric: engine.L2},
		{Name: "dropped", Dim: 2, Metric: engine.Dot},
	} {
		_, err := db.CreateCollection(cfg)
		must(err)
	}
	_, err = db.Upsert("graph", batch("x", 0, 60, 8), "items")
	must(err)
	_, err = db.Upsert("flat", batch("y", 0, 10, 3), "items")
	must(err)
	_, err = db.Delete("graph", []string{"xaa", "xba", "nothere"}, "ids")
	must(err)
	_, err = db.ReportFalseNegatives("graph", []engine.FalseNegativeReport{{Key: "xca", IDs: []string{"xda", "xea"}}}, "reports")
	must(err)
	stream := func(writer string, seq uint64, name string, b *engine.Batch, deletes []string) {
		t.Helper()
		res, err := db.StreamAppend(writer, seq, name, b, deletes)
		must(err)
		must(db.WaitLogged(context.Background(), res.LSN))
	}
	stream("w1", 1, "graph", batch("s", 0, 5, 8), nil)
	stream("w1", 2, "graph", nil, []string{"sba"})
	must(db.DeleteCollection("dropped"))
	_, err = db.Snapshot(context.Background(), "graph")
	must(err)
	_, err = db.Snapshot(context.Background(), "flat")
	must(err)
	// After the snapshots: what recovery replays on top of them.
	_, err = db.Upsert("graph", batch("x", 55, 70, 8), "items")
	must(err)
	_, err = db.Delete("flat", []string{"yba"}, "ids")
	must(err)
	stream("w1", 3, "graph", batch("s", 5, 7, 8), []string{"sca"})
	stream("w2", 1, "flat", batch("t", 0, 2, 3), nil)
	_, err = db.ReportFalseNegatives("flat", []engine.FalseNegativeReport{{Key: "q", IDs: []string{"yca"}}}, "reports")
	must(err)
	_, err = db.CreateCollection(engine.Config{Name: "late", Dim: 2, Metric: engine.Dot})
	must(err)
	must(db.Close())
	must(os.Remove(filepath.Join(dir, "LOCK")))
}

// goldenState is what a data directory holds, as read through the engine.
type goldenState struct {
	Collections map[string]goldenColl
	Writers     map[string]uint64
	Recovery    engine.Recovery
}

type goldenColl struct {
	Config   engine.Config
	Items    map[string]engine.Item
	Feedback map[string][]string
	Stats    engine.Stats
}

func readGoldenState(t *testing.T, dir string) goldenState {
	t.Helper()
	db, err := Open(Options{Dir: dir, SnapshotBytes: -1, SnapshotInterval: -1})
	if err != nil {
		t.Fatalf("open %s: %v", dir, err)
	}
	defer db.Close()
	st := goldenState{Collections: map[string]goldenColl{}, Writers: map[string]uint64{}, Recovery: db.Recovery()}
	for _, w := range []string{"w1", "w2", "w3"} {
		st.Writers[w] = db.WriterSequence(w)
	}
	for _, c := range db.list() {
		cs := goldenColl{Config: c.Config(), Items: map[string]engine.Item{}, Feedback: map[string][]string{}, Stats: c.Stats()}
		var ids []string
		c.mu.RLock()
		ids = slices.Collect(maps.Keys(c.slots))
		c.mu.RUnlock()
		items, _ := c.Get(ids, true)
		for _, it := range items {
			cs.Items[it.ID] = it
		}
		c.RangeFalseNegatives(func(key string, ids []string) bool {
			cs.Feedback[key] = slices.Sorted(slices.Values(ids))
			return true
		})
		st.Collections[c.Name()] = cs
	}
	return st
}

func TestGoldenDataDir(t *testing.T) {
	fresh := t.TempDir()
	writeGoldenDir(t, fresh)
	if *update {
		if err := os.RemoveAll(goldenDir); err != nil {
			t.Fatal(err)
		}
		if err := os.CopyFS(goldenDir, os.DirFS(fresh)); err != nil {
			t.Fatal(err)
		}
	}
	old := t.TempDir() // a copy: Open writes (lock file, log padding)
	if err := os.CopyFS(old, os.DirFS(goldenDir)); err != nil {
		t.Fatal(err)
	}
	var files []string
	fs.WalkDir(os.DirFS(goldenDir), ".", func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			files = append(files, p)
		}
		return err
	})
	var snaps, segments int
	for _, f := range files {
		switch filepath.Dir(f) {
		case "snapshots":
			snaps++
		case "wal":
			segments++
		}
	}
	if snaps != 2 || segments == 0 {
		t.Fatalf("golden directory holds %v; want two snapshots and log segments", files)
	}
	got, want := readGoldenState(t, old), readGoldenState(t, fresh)
	if rec := got.Recovery; rec.SnapshotsLoaded != 2 || len(rec.SnapshotsRejected) != 0 || rec.RecordsSkipped == 0 || rec.RecordsReplayed == 0 || rec.Log.Truncated != nil {
		t.Fatalf("recovering the golden directory: %+v; want both snapshots loaded and log records skipped and replayed, nothing cut", rec)
	}
	if !graphBuilt(got) {
		t.Fatal("the golden data directory's collection \"graph\" has no graph")
	}
	if len(got.Collections) != 3 || got.Writers["w1"] != 3 || got.Writers["w2"] != 1 {
		t.Fatalf("golden directory loads collections %v, writers %v", slices.Sorted(maps.Keys(got.Collections)), got.Writers)
	}
	for name, w := range want.Collections {
		g, ok := got.Collections[name]
		if !ok {
			t.Errorf("collection %q missing from the committed directory", name)
			continue
		}
		if g.Config != w.Config || g.Stats.Items != w.Stats.Items || g.Stats.LastSequence != w.Stats.LastSequence || g.Stats.GraphBuilt != w.Stats.GraphBuilt {
			t.Errorf("%s: config/stats %+v/%+v, want %+v/%+v", name, g.Config, g.Stats, w.Config, w.Stats)
		}
		if !maps.EqualFunc(g.Items, w.Items, func(a, b engine.Item) bool {
			return a.ID == b.ID && a.Version == b.Version && slices.Equal(a.Groups, b.Groups) && slices.Equal(a.Vector, b.Vector)
		}) {
			t.Errorf("%s: items differ: %d loaded, %d written", name, len(g.Items), len(w.Items))
		}
		if !maps.EqualFunc(g.Feedback, w.Feedback, slices.Equal) {
			t.Errorf("%s: feedback %v, want %v", name, g.Feedback, w.Feedback)
		}
	}
	if !maps.Equal(got.Writers, want.Writers) {
		t.Errorf("writers %v, want %v", got.Writers, want.Writers)
	}
}

func graphBuilt(s goldenState) bool { return s.Collections["graph"].Stats.GraphBuilt }
