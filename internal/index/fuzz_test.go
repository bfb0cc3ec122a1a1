package index

import (
	"bytes"
	"errors"
	"math/rand/v2"
	"testing"

	"github.com/hardneg/hardneg/internal/engine"
	"github.com/hardneg/hardneg/internal/storage"
)

// FuzzReadSnapshot checks that snapshot decoding never panics, rejects with
// storage.ErrSnapshot, and that what it accepts encodes again into a readable snapshot.
func FuzzReadSnapshot(f *testing.F) {
	// One seed without a graph (below the exact threshold), one with.
	for _, threshold := range []int{0, 1} {
		r := rand.New(rand.NewPCG(2, 2))
		c, err := newCollection(engine.Config{Name: "c", Dim: 3, Metric: engine.L2, Params: engine.Params{ExactThreshold: threshold}.WithDefaults()})
		if err != nil {
			f.Fatal(err)
		}
		b := randBatch(r, "id", 4, 3)
		b.Groups = [][]string{{"g"}, nil, nil, {"a", "b"}}
		b.Versions = []int64{1, 2, 3, -4}
		var w graphWork
		c.applyUpsertLocked(b, 5, &w)
		c.applyGraph(&w)
		w = graphWork{}
		c.applyDeleteLocked([]string{"id1"}, 6, &w)
		c.applyGraph(&w)
		if c.graphOn != (threshold == 1) {
			f.Fatalf("threshold %d: graph built = %v", threshold, c.graphOn)
		}
		c.createLSN = 2
		c.AddFalseNegatives("id0", []string{"id2", "id3"})
		var buf bytes.Buffer
		if err := c.writeSnapshot(&buf, map[string]storage.WriterState{"w": {Seq: 3, LSN: 4, Unix: 1_790_000_000}}, 9); err != nil {
			f.Fatal(err)
		}
		f.Add(buf.Bytes())
		f.Add(buf.Bytes()[:40])
	}
	f.Add([]byte("hnsnapsh")) // the magic alone
	f.Fuzz(func(t *testing.T, p []byte) {
		c, sd, err := readSnapshot(bytes.NewReader(p))
		if err != nil {
			if !errors.Is(err, storage.ErrSnapshot) {
				t.Fatalf("error %v does not wrap storage.ErrSnapshot", err)
			}
			return
		}
		var out bytes.Buffer
		if err := c.writeSnapshot(&out, sd.Writers, sd.Through); err != nil {
			t.Fatal(err)
		}
		if _, _, err := readSnapshot(bytes.NewReader(out.Bytes())); err != nil {
			t.Fatalf("re-encoded snapshot does not read: %v", err)
		}
	})
}
