package index

import (
	"context"
	"errors"
	"math"
	"strings"
	"testing"

	"github.com/hardneg/hardneg/internal/engine"
	"github.com/hardneg/hardneg/internal/index/vec"
	"github.com/hardneg/hardneg/internal/validate"
)

func finiteUnit(v []float32) bool {
	for _, x := range v {
		if math.IsNaN(float64(x)) || math.IsInf(float64(x), 0) {
			return false
		}
	}
	return math.Abs(vec.Norm(v)-1) < 1e-5
}

// extremeVectors have norms at the ends of float32's range: the reciprocal of the first
// two overflows float32, that of the last is subnormal.
var extremeVectors = map[string][]float32{
	"subnormal": {1e-45, 0, 0, 0},
	"tiny":      {1e-39, 1e-39, 1e-39, 1e-39},
	"huge":      {3e38, 3e38, 3e38, 3e38},
}

func TestCosineStoresExtremeNormsAsFiniteUnitVectors(t *testing.T) {
	db := testDB(t)
	c, err := db.create(engine.Config{Name: "c", Dim: 4, Metric: engine.Cosine, Params: fastParams})
	if err != nil {
		t.Fatal(err)
	}
	b := &engine.Batch{IDs: []string{"subnormal", "tiny", "huge", "x", "y"}}
	for _, id := range b.IDs[:3] {
		b.Vectors = append(b.Vectors, extremeVectors[id]...)
	}
	b.Vectors = append(b.Vectors, 0, 1, 0, 0, 0, 0, 1, 0)
	if _, err := db.Upsert("c", b, "items"); err != nil {
		t.Fatal(err)
	}
	items, _ := c.Get([]string{"subnormal", "tiny", "huge"}, true)
	for _, it := range items {
		if !finiteUnit(it.Vector) {
			t.Errorf("%s stored as %v", it.ID, it.Vector)
		}
	}
	for name, v := range map[string][]float32{"ordinary query": {0, 1, 0, 0}, "subnormal query": {0, 0, 1e-45, 0}, "tiny query": {1e-39, 0, 0, 0}} {
		q, err := c.PrepareQuery(v, "anchors[0].vector")
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if !finiteUnit(q) {
			t.Fatalf("%s prepared as %v", name, q)
		}
		var got []string
		if _, err := c.Search(context.Background(), q, engine.SearchOptions{}, func(cd engine.Candidate) bool {
			if math.IsNaN(float64(cd.Score)) || math.IsInf(float64(cd.Score), 0) {
				t.Errorf("%s: %s scored %v", name, cd.ID, cd.Score)
			}
			got = append(got, cd.ID)
			return true
		}); err != nil {
			t.Fatal(err)
		}
		if len(got) != 5 {
			t.Errorf("%s: search returned %v, want all 5 items", name, got)
		}
	}
	q, _ := c.PrepareQuery([]float32{0, 0, 1e-45, 0}, "q")
	var first string
	c.Search(context.Background(), q, engine.SearchOptions{}, func(cd engine.Candidate) bool { first = cd.ID; return false })
	if first != "y" {
		t.Errorf("best match of a subnormal query along y is %q, want y", first)
	}
}

func TestDotAndL2RejectNormsThatOverflowScores(t *testing.T) {
	for _, m := range []engine.Metric{engine.Dot, engine.L2} {
		t.Run(m.String(), func(t *testing.T) {
			db := testDB(t)
			c, err := db.create(engine.Config{Name: "c", Dim: 4, Metric: m, Params: fastParams})
			if err != nil {
				t.Fatal(err)
			}
			b := &engine.Batch{IDs: []string{"ok", "huge"}, Vectors: append([]float32{1, 2, 3, 4}, extremeVectors["huge"]...)}
			_, err = db.Upsert("c", b, "items")
			var v *validate.Error
			if !errors.As(err, &v) || v.Violations[0].Field != "items.vectors[1]" || !strings.Contains(v.Violations[0].Description, "norm") {
				t.Fatalf("upsert of a huge vector: %v", err)
			}
			if n := c.Stats().Items; n != 0 {
				t.Errorf("a rejected batch stored %d items", n)
			}
			if _, err := c.PrepareQuery(extremeVectors["huge"], "anchors[2].positive_vectors[0]"); !errors.As(err, &v) || v.Violations[0].Field != "anchors[2].positive_vectors[0]" {
				t.Errorf("huge query: %v", err)
			}
			if _, err := c.PrepareQuery(extremeVectors["subnormal"], "q"); err != nil {
				t.Errorf("tiny query under %s: %v", m, err)
			}
		})
	}
}
