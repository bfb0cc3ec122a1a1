package storage

import (
	"bytes"
	"errors"
	"math/rand/v2"
	"testing"

	"github.com/hardneg/hardneg/internal/engine"
)

// FuzzDecodeRecord checks that log record decoding never panics, rejects with
// ErrRecord, and that what it accepts re-encodes to the same bytes.
func FuzzDecodeRecord(f *testing.F) {
	r := rand.New(rand.NewPCG(1, 1))
	b := &engine.Batch{IDs: []string{"id0", "id1", "id2"}, Vectors: make([]float32, 3*4)}
	for i := range b.Vectors {
		b.Vectors[i] = float32(r.NormFloat64())
	}
	b.Groups = [][]string{{"g"}, nil, {"a", "b"}}
	b.Versions = []int64{-1, 0, 7}
	for _, rec := range [][]byte{
		EncodeCreate(engine.Config{Name: "c", Dim: 4, Metric: engine.Cosine, Params: engine.Params{}.WithDefaults()}),
		EncodeDrop("c"),
		EncodeUpsert("c", b, 4),
		EncodeDelete("c", []string{"x", "y"}),
		EncodeStream("w", 9, "c", b, 4, []string{"z"}),
		EncodeStream("w", 10, "c", nil, 4, nil),
		EncodeFeedback("c", []engine.FalseNegativeReport{{Key: "k", IDs: []string{"a", "b"}}}),
		{},
		{99},
	} {
		f.Add(rec)
	}
	f.Fuzz(func(t *testing.T, p []byte) {
		rec, err := DecodeRecord(p)
		if err != nil {
			if !errors.Is(err, ErrRecord) {
				t.Fatalf("error %v does not wrap ErrRecord", err)
			}
			return
		}
		again := encodeRecord(rec)
		rec2, err := DecodeRecord(again)
		if err != nil {
			t.Fatalf("re-encoded record does not decode: %v", err)
		}
		if rec2.Op != rec.Op || rec2.Name != rec.Name || rec2.Writer != rec.Writer || rec2.Seq != rec.Seq || len(rec2.IDs) != len(rec.IDs) {
			t.Fatalf("round trip changed the record:\n%+v\n%+v", rec, rec2)
		}
		if !bytes.Equal(encodeRecord(rec2), again) {
			t.Fatalf("encoding is not stable across a round trip")
		}
	})
}

// encodeRecord encodes a decoded record again.
func encodeRecord(rec Record) []byte {
	switch rec.Op {
	case OpCreate:
		return EncodeCreate(rec.Config)
	case OpDrop:
		return EncodeDrop(rec.Name)
	case OpUpsert:
		return EncodeUpsert(rec.Name, rec.Batch, batchDim(rec.Batch))
	case OpDelete:
		return EncodeDelete(rec.Name, rec.IDs)
	case OpFeedback:
		return EncodeFeedback(rec.Name, rec.Reports)
	default:
		return EncodeStream(rec.Writer, rec.Seq, rec.Name, rec.Batch, batchDim(rec.Batch), rec.IDs)
	}
}

func batchDim(b *engine.Batch) int {
	if b == nil || b.Len() == 0 {
		return 0
	}
	return len(b.Vectors) / b.Len()
}

// A create record keeps the collection's quantization; one written before quantization
// existed (no trailing uvarint) decodes as unspecified, the metric's default.
func TestCreateRecordQuantization(t *testing.T) {
	cfg := engine.Config{Name: "c", Dim: 4, Metric: engine.Dot, Params: engine.Params{Quantization: engine.QuantizationNone}.WithDefaults()}
	p := EncodeCreate(cfg)
	r, err := DecodeRecord(p)
	if err != nil || r.Config != cfg {
		t.Fatalf("decoded %+v (%v), want %+v", r.Config, err, cfg)
	}
	if p[len(p)-1] != byte(engine.QuantizationNone) {
		t.Fatalf("last byte %d is not the quantization", p[len(p)-1])
	}
	r, err = DecodeRecord(p[:len(p)-1])
	want := cfg
	want.Params.Quantization = engine.QuantizationUnspecified
	if err != nil || r.Config != want {
		t.Fatalf("older record decoded %+v (%v), want %+v", r.Config, err, want)
	}
}

// A restore's create record carries a trailing 1; other create records, old or new,
// decode as not a restore, and the flag takes no other value.
func TestCreateRecordRestoreFlag(t *testing.T) {
	cfg := engine.Config{Name: "c", Dim: 4, Metric: engine.Cosine, Params: engine.Params{}.WithDefaults()}
	for _, tc := range []struct {
		p    []byte
		want bool
	}{{EncodeCreate(cfg), false}, {EncodeRestoreCreate(cfg), true}} {
		r, err := DecodeRecord(tc.p)
		if err != nil || r.Config != cfg || r.Restore != tc.want {
			t.Fatalf("decoded %+v restore %v (%v), want %+v restore %v", r.Config, r.Restore, err, cfg, tc.want)
		}
	}
	bad := append(EncodeCreate(cfg), 2)
	if _, err := DecodeRecord(bad); !errors.Is(err, ErrRecord) {
		t.Fatalf("restore flag 2: %v, want ErrRecord", err)
	}
}
