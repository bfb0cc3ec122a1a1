package hnsw

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"slices"
	"testing"

	"github.com/hardneg/hardneg/internal/binfmt"
)

// persistFixture builds a small graph with live, deleted and compacted-away nodes.
func persistFixture(t testing.TB) (*Graph, *memSource) {
	src := clustered(600, 16, 8, 0.15, 31, true)
	g := newGraph(t, Options{M: 6, EfConstruction: 40, EfSearch: 20, Seed: 9}, negDot, src)
	g.InsertBatch(idRange(0, 500), 2)
	for id := uint32(0); id < 500; id += 7 {
		g.Delete(id)
	}
	g.Compact(1)
	for id := uint32(1); id < 500; id += 11 {
		g.Delete(id)
	}
	return g, src
}

func TestSaveLoadRoundTrip(t *testing.T) {
	g, src := persistFixture(t)
	var buf bytes.Buffer
	n, err := g.WriteTo(&buf)
	if err != nil || n != int64(buf.Len()) {
		t.Fatalf("WriteTo = %d, %v; wrote %d bytes", n, err, buf.Len())
	}
	saved := slices.Clone(buf.Bytes())
	buf.WriteString("trailing bytes that belong to someone else")

	h, err := Read(&buf, negDot, src)
	if err != nil {
		t.Fatal(err)
	}
	if rest := buf.String(); rest != "trailing bytes that belong to someone else" {
		t.Fatalf("Read consumed bytes past the graph; left %q", rest)
	}
	if h.Options() != g.Options() || h.Len() != g.Len() || h.Deleted() != g.Deleted() {
		t.Fatalf("loaded opts/Len/Deleted = %+v/%d/%d, want %+v/%d/%d",
			h.Options(), h.Len(), h.Deleted(), g.Options(), g.Len(), g.Deleted())
	}
	for i := uint32(500); i < 600; i++ {
		a := g.Search(src.Vector(i), 10, 0, nil, nil)
		b := h.Search(src.Vector(i), 10, 0, nil, nil)
		if !slices.Equal(a, b) {
			t.Fatalf("query %d: loaded graph returned %v, original %v", i, b, a)
		}
	}
	var again bytes.Buffer
	if _, err := h.WriteTo(&again); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(again.Bytes(), saved) {
		t.Fatal("saving the loaded graph gave different bytes")
	}
	h.InsertBatch(idRange(500, 600), 2) // a loaded graph keeps growing
	if h.Len() != g.Len()+100 {
		t.Fatalf("Len after inserts = %d", h.Len())
	}
}

func TestReadRejectsDamage(t *testing.T) {
	g, src := persistFixture(t)
	var buf bytes.Buffer
	if _, err := g.WriteTo(&buf); err != nil {
		t.Fatal(err)
	}
	good := buf.Bytes()
	for _, tc := range []struct {
		name string
		data []byte
	}{
		{"empty", nil},
		{"truncated_header", good[:20]},
		{"truncated_body", good[:len(good)/2]},
		{"missing_checksum", good[:len(good)-4]},
		{"flipped_bit_in_links", flip(good, len(good)/2)},
		{"flipped_bit_in_checksum", flip(good, len(good)-1)},
		{"wrong_magic", flip(good, 0)},
		{"future_version", flip(good, 9)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := Read(bytes.NewReader(tc.data), negDot, src); !errors.Is(err, ErrBadFormat) {
				t.Fatalf("err = %v, want ErrBadFormat", err)
			}
		})
	}
	t.Run("reader_error_is_passed_on", func(t *testing.T) {
		boom := errors.New("disk on fire")
		r := io.MultiReader(bytes.NewReader(good[:100]), errReader{boom})
		if _, err := Read(r, negDot, src); !errors.Is(err, boom) {
			t.Fatalf("err = %v, want %v", err, boom)
		}
	})
}

type errReader struct{ err error }

func (e errReader) Read([]byte) (int, error) { return 0, e.err }

func flip(b []byte, i int) []byte {
	c := slices.Clone(b)
	c[i] ^= 0x10
	return c
}

// anySource serves a deterministic vector for every id, so that any graph Read
// accepts can be searched.
type anySource struct{}

func (anySource) Vector(id uint32) []float32 {
	x := splitmix64(uint64(id))
	return []float32{float32(x & 0xff), float32(x >> 8 & 0xff), float32(x >> 16 & 0xff)}
}

func FuzzRead(f *testing.F) {
	g, _ := persistFixture(f)
	var buf bytes.Buffer
	if _, err := g.WriteTo(&buf); err != nil {
		f.Fatal(err)
	}
	f.Add(buf.Bytes())
	small := newGraph(f, Options{M: 2, EfConstruction: 2}, negDot, anySource{})
	small.InsertBatch(idRange(0, 5), 1)
	small.Delete(2)
	buf.Reset()
	small.WriteTo(&buf)
	f.Add(buf.Bytes())
	f.Add([]byte("hnswgrph"))
	f.Fuzz(func(t *testing.T, data []byte) {
		readAndUse(t, data)
		if len(data) > 4 { // the same bytes with a valid checksum reach the structural checks
			fixed := slices.Clone(data)
			body := fixed[:len(fixed)-4]
			binary.LittleEndian.PutUint32(fixed[len(body):], binfmt.Checksum(body))
			readAndUse(t, fixed)
		}
	})
}

func readAndUse(t *testing.T, data []byte) {
	h, err := Read(bytes.NewReader(data), negDot, anySource{})
	if err != nil {
		if !errors.Is(err, ErrBadFormat) {
			t.Fatalf("err = %v, want ErrBadFormat", err)
		}
		return
	}
	// Whatever loads must be usable.
	h.Search([]float32{1, 2, 3}, 5, 10, nil, nil)
	h.Insert(uint32(h.capacity()))
	h.Compact(1)
	var out bytes.Buffer
	if _, err := h.WriteTo(&out); err != nil {
		t.Fatal(err)
	}
}
