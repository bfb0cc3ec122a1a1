package index

import (
	"bytes"
	"errors"
	"math/rand/v2"
	"testing"

	"github.com/hardneg/hardneg/internal/engine"
)

// FuzzDecodeRecord checks that log record decoding never panics, rejects with
// errRecord, and that what it accepts re-encodes to the same bytes.
func FuzzDecodeRecord(f *testing.F) {
	r := rand.New(rand.NewPCG(1, 1))
	b := randBatch(r, "id", 3, 4)
	b.Groups = [][]string{{"g"}, nil, {"a", "b"}}
	b.Versions = []int64{-1, 0, 7}
	for _, rec := range [][]byte{
		encodeCreate(engine.Config{Name: "c", Dim: 4, Metric: engine.Cosine, Params: engine.Params{}.WithDefaults()}),
		encodeDrop("c"),
		encodeUpsert("c", b, 4),
		encodeDelete("c", []string{"x", "y"}),
		encodeStream("w", 9, "c", b, 4, []string{"z"}),
		encodeStream("w", 10, "c", nil, 4, nil),
		encodeFeedback("c", []engine.FalseNegativeReport{{Key: "k", IDs: []string{"a", "b"}}}),
		{},
		{99},
	} {
		f.Add(rec)
	}
	f.Fuzz(func(t *testing.T, p []byte) {
		rec, err := decodeRecord(p)
		if err != nil {
			if !errors.Is(err, errRecord) {
				t.Fatalf("error %v does not wrap errRecord", err)
			}
			return
		}
		again := encodeRecord(rec)
		rec2, err := decodeRecord(again)
		if err != nil {
			t.Fatalf("re-encoded record does not decode: %v", err)
		}
		if rec2.op != rec.op || rec2.name != rec.name || rec2.writer != rec.writer || rec2.seq != rec.seq || len(rec2.ids) != len(rec.ids) {
			t.Fatalf("round trip changed the record:\n%+v\n%+v", rec, rec2)
		}
		if !bytes.Equal(encodeRecord(rec2), again) {
			t.Fatalf("encoding is not stable across a round trip")
		}
	})
}

// encodeRecord encodes a decoded record again.
func encodeRecord(rec record) []byte {
	switch rec.op {
	case opCreate:
		return encodeCreate(rec.cfg)
	case opDrop:
		return encodeDrop(rec.name)
	case opUpsert:
		return encodeUpsert(rec.name, rec.batch, batchDim(rec.batch))
	case opDelete:
		return encodeDelete(rec.name, rec.ids)
	case opFeedback:
		return encodeFeedback(rec.name, rec.reports)
	default:
		return encodeStream(rec.writer, rec.seq, rec.name, rec.batch, batchDim(rec.batch), rec.ids)
	}
}

func batchDim(b *engine.Batch) int {
	if b == nil || b.Len() == 0 {
		return 0
	}
	return len(b.Vectors) / b.Len()
}

// FuzzReadSnapshot checks that snapshot decoding never panics, rejects with
// errSnapshot, and that what it accepts encodes again into a readable snapshot.
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
		if err := c.writeSnapshot(&buf, map[string]writerState{"w": {seq: 3, lsn: 4}}); err != nil {
			f.Fatal(err)
		}
		f.Add(buf.Bytes())
		f.Add(buf.Bytes()[:40])
	}
	f.Add([]byte(snapMagic))
	f.Fuzz(func(t *testing.T, p []byte) {
		c, sd, err := readSnapshot(bytes.NewReader(p))
		if err != nil {
			if !errors.Is(err, errSnapshot) {
				t.Fatalf("error %v does not wrap errSnapshot", err)
			}
			return
		}
		var out bytes.Buffer
		if err := c.writeSnapshot(&out, sd.writers); err != nil {
			t.Fatal(err)
		}
		if _, _, err := readSnapshot(bytes.NewReader(out.Bytes())); err != nil {
			t.Fatalf("re-encoded snapshot does not read: %v", err)
		}
	})
}
