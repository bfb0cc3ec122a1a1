package storage

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"testing"

	"github.com/hardneg/hardneg/internal/binfmt"
	"github.com/hardneg/hardneg/internal/engine"
)

// memCollection is a collection's content as the snapshot format sees it; it is
// both the source and (through memSink) the sink of a round trip.
type memCollection struct {
	ids      []string
	versions []int64
	groups   [][]string
	vectors  [][]float32
	feedback map[string][]string
	graph    []byte // nil: no graph
}

func (m *memCollection) Slots() int { return len(m.ids) }
func (m *memCollection) Slot(i int) (string, int64, []string, []float32) {
	return m.ids[i], m.versions[i], m.groups[i], m.vectors[i]
}
func (m *memCollection) RangeFalseNegatives(fn func(string, []string) bool) {
	for k, ids := range m.feedback {
		if !fn(k, slices.Clone(ids)) {
			return
		}
	}
}
func (m *memCollection) HasGraph() bool { return m.graph != nil }
func (m *memCollection) WriteGraph(w io.Writer) error {
	_, err := w.Write(m.graph)
	return err
}

type memSink struct {
	m        *memCollection
	dim      int
	graphLen int
}

func (s *memSink) AddSlot(slot int, id string, version int64, groups []string) ([]float32, error) {
	if slices.Contains(s.m.ids, id) && id != "" {
		return nil, fmt.Errorf("repeated id %q", id)
	}
	s.m.ids = append(s.m.ids, id)
	s.m.versions = append(s.m.versions, version)
	s.m.groups = append(s.m.groups, groups)
	s.m.vectors = append(s.m.vectors, make([]float32, s.dim))
	return s.m.vectors[slot], nil
}
func (s *memSink) AddFalseNegatives(key string, ids []string) { s.m.feedback[key] = ids }
func (s *memSink) ReadGraph(r io.Reader) error {
	s.m.graph = make([]byte, s.graphLen)
	_, err := io.ReadFull(r, s.m.graph)
	return err
}
func (s *memSink) NoGraph() {}

func snapshotFixture(graph []byte) (SnapshotHeader, *memCollection) {
	h := SnapshotHeader{
		Config:    engine.Config{Name: "c", Dim: 2, Metric: engine.L2, Params: engine.Params{}.WithDefaults()},
		CreateLSN: 3, LSN: 17, Through: 20,
		Writers: map[string]WriterState{"w1": {Seq: 4, LSN: 9}, "w0": {Seq: 1, LSN: 5}},
	}
	m := &memCollection{
		ids:      []string{"a", "", "b"},
		versions: []int64{-2, 0, 7},
		groups:   [][]string{{"g", "h"}, nil, nil},
		vectors:  [][]float32{{1, 2}, {3, 4}, {-5, 0.5}},
		feedback: map[string][]string{"a": {"b"}, "q": {"a", "b"}},
		graph:    graph,
	}
	return h, m
}

func readInto(p []byte, graphLen int) (SnapshotHeader, *memCollection, error) {
	got := &memCollection{feedback: map[string][]string{}}
	h, err := ReadSnapshot(bytes.NewReader(p), func(h SnapshotHeader, slots int) (SnapshotSink, error) {
		return &memSink{m: got, dim: h.Config.Dim, graphLen: graphLen}, nil
	})
	return h, got, err
}

func TestSnapshotRoundTrip(t *testing.T) {
	for _, graph := range [][]byte{nil, []byte("GRAPH")} {
		h, m := snapshotFixture(graph)
		var buf bytes.Buffer
		if err := WriteSnapshot(&buf, h, m); err != nil {
			t.Fatal(err)
		}
		gh, got, err := readInto(buf.Bytes(), len(graph))
		if err != nil {
			t.Fatalf("graph %q: %v", graph, err)
		}
		if gh.Config != h.Config || gh.CreateLSN != h.CreateLSN || gh.LSN != h.LSN || gh.Through != h.Through || !maps.Equal(gh.Writers, h.Writers) {
			t.Fatalf("header %+v, want %+v", gh, h)
		}
		if !slices.Equal(got.ids, m.ids) || !slices.Equal(got.versions, []int64{-2, 0, 7}) ||
			!slices.EqualFunc(got.vectors, m.vectors, slices.Equal) || !slices.EqualFunc(got.groups, m.groups, slices.Equal) ||
			!maps.EqualFunc(got.feedback, m.feedback, slices.Equal) || !bytes.Equal(got.graph, m.graph) {
			t.Fatalf("content %+v, want %+v", got, m)
		}
		var again bytes.Buffer
		if err := WriteSnapshot(&again, gh, got); err != nil || !bytes.Equal(again.Bytes(), buf.Bytes()) {
			t.Fatalf("re-encoding differs (%v)", err)
		}
	}
}

func TestSnapshotDamageWrapsErrSnapshot(t *testing.T) {
	h, m := snapshotFixture([]byte("GRAPH"))
	var buf bytes.Buffer
	if err := WriteSnapshot(&buf, h, m); err != nil {
		t.Fatal(err)
	}
	good := buf.Bytes()
	for n := range len(good) {
		if _, _, err := readInto(good[:n], 5); !errors.Is(err, ErrSnapshot) {
			t.Fatalf("prefix of %d bytes: %v, want ErrSnapshot", n, err)
		}
	}
	flipped := slices.Clone(good)
	flipped[len(flipped)-10] ^= 1
	if _, _, err := readInto(flipped, 5); !errors.Is(err, ErrSnapshot) {
		t.Fatalf("flipped byte: %v, want ErrSnapshot", err)
	}
	if _, _, err := readInto(append(slices.Clone(good), 0), 5); !errors.Is(err, ErrSnapshot) {
		t.Fatalf("trailing byte: %v, want ErrSnapshot", err)
	}
	m.ids[2] = "a"
	buf.Reset()
	if err := WriteSnapshot(&buf, h, m); err != nil {
		t.Fatal(err)
	}
	if _, _, err := readInto(buf.Bytes(), 5); !errors.Is(err, ErrSnapshot) {
		t.Fatalf("repeated id: %v, want ErrSnapshot", err)
	}
}

// A snapshot keeps the collection's quantization; one of version 2, written before
// quantization existed, reads as unspecified (the metric's default) with its content
// intact.
func TestSnapshotQuantization(t *testing.T) {
	h, m := snapshotFixture(nil)
	h.Config.Metric = engine.Cosine
	h.Config.Params.Quantization = engine.QuantizationNone
	h.Writers = nil // version 2 has no writer times either: TestSnapshotWriterTimes
	var buf bytes.Buffer
	if err := WriteSnapshot(&buf, h, m); err != nil {
		t.Fatal(err)
	}
	gh, _, err := readInto(buf.Bytes(), 0)
	if err != nil || gh.Config.Params.Quantization != engine.QuantizationNone {
		t.Fatalf("quantization %v (%v), want none", gh.Config.Params.Quantization, err)
	}
	// Version 2: the same bytes without the quantization uvarint and the through LSN,
	// CRC recomputed.
	p := buf.Bytes()
	at := len(snapMagic) + 4 + 1 + len(h.Config.Name) + 1 + 1 + 1 + 2 + 1 + 2 // ExactThreshold 10,000 takes 2 bytes
	if p[at] != byte(engine.QuantizationNone) {
		t.Fatalf("byte %d is %d, not the quantization", at, p[at])
	}
	through := at + 1 + 16 // after the created and last applied LSNs
	gh, got, err := readInto(asVersion(2, p[:at], p[at+1:through], p[through+8:len(p)-4]), 0)
	if err != nil {
		t.Fatal(err)
	}
	if gh.Config.Params.Quantization != engine.QuantizationUnspecified || gh.Through != gh.LSN || !slices.EqualFunc(got.vectors, m.vectors, slices.Equal) {
		t.Fatalf("version 2: quantization %v, vectors %v", gh.Config.Params.Quantization, got.vectors)
	}
}

// A snapshot keeps when each stream writer last applied a batch; one of version 3,
// written before that was stored, reads its writers with the time unknown (0) and the
// rest intact.
func TestSnapshotWriterTimes(t *testing.T) {
	h, m := snapshotFixture(nil)
	h.Writers = map[string]WriterState{"w0": {Seq: 1, LSN: 5, Unix: 1_790_000_000}, "w1": {Seq: 4, LSN: 9, Unix: -3}}
	var buf bytes.Buffer
	if err := WriteSnapshot(&buf, h, m); err != nil {
		t.Fatal(err)
	}
	gh, _, err := readInto(buf.Bytes(), 0)
	if err != nil || !maps.Equal(gh.Writers, h.Writers) {
		t.Fatalf("writers %v (%v), want %v", gh.Writers, err, h.Writers)
	}
	// Version 3: the same bytes without the two times (one byte each when 0).
	h.Writers = map[string]WriterState{"w0": {Seq: 1, LSN: 5}, "w1": {Seq: 4, LSN: 9}}
	buf.Reset()
	if err := WriteSnapshot(&buf, h, m); err != nil {
		t.Fatal(err)
	}
	p := buf.Bytes()
	// magic, version, config (the quantization uvarint included), created and last
	// applied LSNs, through LSN, writer count
	through := len(snapMagic) + 4 + 1 + len(h.Config.Name) + 1 + 1 + 1 + 2 + 1 + 2 + 1 + 16
	at := through + 8
	if p[at] != 2 {
		t.Fatalf("byte %d is %d, not the writer count", at, p[at])
	}
	w0 := at + 1 + 1 + 2 + 1 + 1 // "w0": length, bytes, sequence, LSN; then its time
	w1 := w0 + 1 + 1 + 2 + 1 + 1
	if p[w0] != 0 || p[w1] != 0 || p[w0-1] != 5 || p[w1-1] != 9 {
		t.Fatalf("writer times not at bytes %d and %d: % x", w0, w1, p[at:w1+1])
	}
	gh, got, err := readInto(asVersion(3, p[:through], p[through+8:w0], p[w0+1:w1], p[w1+1:len(p)-4]), 0)
	if err != nil {
		t.Fatal(err)
	}
	if !maps.Equal(gh.Writers, h.Writers) || !slices.EqualFunc(got.vectors, m.vectors, slices.Equal) {
		t.Fatalf("version 3: writers %v, vectors %v", gh.Writers, got.vectors)
	}
}

// asVersion joins the parts of a snapshot without its trailer (bytes cut out of a
// current one), sets its format version and appends the CRC over it: the snapshot an
// older version wrote.
func asVersion(version uint32, parts ...[]byte) []byte {
	b := slices.Concat(parts...)
	binary.LittleEndian.PutUint32(b[len(snapMagic):], version)
	sum := binfmt.NewHash()
	sum.Write(b)
	return binary.LittleEndian.AppendUint32(b, sum.Sum32())
}

// A snapshot complete through an LSN below its own last write is damage.
func TestSnapshotThroughBelowItsLastWriteIsRejected(t *testing.T) {
	h, m := snapshotFixture(nil)
	var buf bytes.Buffer
	if err := WriteSnapshot(&buf, h, m); err != nil {
		t.Fatal(err)
	}
	p := buf.Bytes()
	lsn := len(snapMagic) + 4 + 1 + len(h.Config.Name) + 1 + 1 + 1 + 2 + 1 + 2 + 1 + 8
	if binary.LittleEndian.Uint64(p[lsn:]) != 17 || binary.LittleEndian.Uint64(p[lsn+8:]) != 20 {
		t.Fatalf("LSNs not at byte %d: % x", lsn, p[lsn:lsn+16])
	}
	binary.LittleEndian.PutUint64(p[lsn+8:], 16)
	if _, _, err := readInto(asVersion(SnapshotVersion, p[:len(p)-4]), 0); !errors.Is(err, ErrSnapshot) || !strings.Contains(err.Error(), "below its last write") {
		t.Fatalf("through 16 below lsn 17: %v, want ErrSnapshot", err)
	}
}

// SnapshotItems reads a snapshot's header as ReadSnapshot does, in every version it
// reads, and counts the live items.
func TestSnapshotItemsCountsLiveItems(t *testing.T) {
	h, m := snapshotFixture(nil)
	h.Writers = nil // so that the version 2 bytes need no writer times cut out
	var buf bytes.Buffer
	if err := WriteSnapshot(&buf, h, m); err != nil {
		t.Fatal(err)
	}
	p := buf.Bytes()
	quant := len(snapMagic) + 4 + 1 + len(h.Config.Name) + 1 + 1 + 1 + 2 + 1 + 2
	through := quant + 1 + 16
	for _, v := range []struct {
		version uint32
		bytes   []byte
	}{
		{SnapshotVersion, p},
		{2, asVersion(2, p[:quant], p[quant+1:through], p[through+8:len(p)-4])},
	} {
		if n, err := SnapshotItems(bytes.NewReader(v.bytes)); err != nil || n != 2 {
			t.Errorf("version %d: %d items, %v; want 2", v.version, n, err)
		}
	}
}
