package index

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/hardneg/hardneg/internal/engine"
)

// meanPairCosine is the oracle: the mean cosine over distinct pairs of live items.
func meanPairCosine(c *Collection) float64 {
	var vs [][]float32
	for _, slot := range c.slots {
		vs = append(vs, c.vectorAt(slot))
	}
	var sum float64
	for i := range vs {
		for j := range vs {
			if i != j {
				sum += float64(c.Similarity(vs[i], vs[j]))
			}
		}
	}
	return sum / float64(len(vs)*(len(vs)-1))
}

// shifted returns n random vectors around a common direction, scaled by off.
func shifted(r *rand.Rand, prefix string, n, dim int, off float32) *engine.Batch {
	b := randBatch(r, prefix, n, dim)
	for i := range n {
		b.Vectors[i*dim] += off
	}
	return b
}

func TestBackgroundIsTheMeanCosineOfTwoItems(t *testing.T) {
	db := testDB(t)
	const dim = 8
	if _, err := db.CreateCollection(engine.Config{Name: "c", Dim: dim, Metric: engine.Cosine}); err != nil {
		t.Fatal(err)
	}
	c, _ := db.lookup("c")
	r := rand.New(rand.NewPCG(1, 2))
	if _, err := db.Upsert("c", shifted(r, "a", 63, dim, 3), "items"); err != nil {
		t.Fatal(err)
	}
	if b, ok := c.Background(); ok {
		t.Fatalf("63 items: background %v, want none yet", b)
	}
	if _, err := db.Upsert("c", shifted(r, "b", 300, dim, 3), "items"); err != nil {
		t.Fatal(err)
	}
	b, ok := c.Background()
	if want := meanPairCosine(c); !ok || math.Abs(b-want) > 1e-6 || want < 0.5 {
		t.Fatalf("background %v/%v, want %v (every item is in the sample)", b, ok, want)
	}
	// Writes that change the live count by more than a quarter are seen at once: the
	// items that point every way bring the background down.
	if _, err := db.Upsert("c", shifted(r, "z", 2000, dim, 0), "items"); err != nil {
		t.Fatal(err)
	}
	if b2, ok := c.Background(); !ok || b2 > b/2 {
		t.Fatalf("after 2,000 centred items: background %v/%v, was %v", b2, ok, b)
	}
	// Deletes too.
	var gone []string
	for id := range c.slots {
		if id[0] == 'z' {
			gone = append(gone, id)
		}
	}
	if _, err := db.Delete("c", gone, "ids"); err != nil {
		t.Fatal(err)
	}
	if b3, ok := c.Background(); !ok || math.Abs(b3-b) > 1e-6 {
		t.Fatalf("after deleting them: background %v/%v, want %v again", b3, ok, b)
	}
}

func TestBackgroundSamplesLargeCollections(t *testing.T) {
	db := testDB(t)
	const dim = 16
	if _, err := db.CreateCollection(engine.Config{Name: "c", Dim: dim, Metric: engine.Cosine, Params: engine.Params{ExactThreshold: 1 << 30}}); err != nil {
		t.Fatal(err)
	}
	c, _ := db.lookup("c")
	r := rand.New(rand.NewPCG(3, 4))
	for range 3 {
		if _, err := db.Upsert("c", shifted(r, "x"+string(rune('a'+r.IntN(26)))+"-", 5000, dim, 1.5), "items"); err != nil {
			t.Fatal(err)
		}
	}
	b, ok := c.Background()
	// The whole collection's mean cosine, from its mean vector (n large).
	mean := make([]float64, dim)
	for _, slot := range c.slots {
		for i, x := range c.vectorAt(slot) {
			mean[i] += float64(x) / float64(len(c.slots))
		}
	}
	var want float64
	for _, x := range mean {
		want += x * x
	}
	if !ok || math.Abs(b-want) > 0.02 {
		t.Fatalf("background %v/%v of %d items, want about %v", b, ok, len(c.slots), want)
	}
}

func TestBackgroundNeedsCosine(t *testing.T) {
	db := testDB(t)
	for _, m := range []engine.Metric{engine.Dot, engine.L2} {
		name := "c" + m.String()
		if _, err := db.CreateCollection(engine.Config{Name: name, Dim: 4, Metric: m}); err != nil {
			t.Fatal(err)
		}
		if _, err := db.Upsert(name, randBatch(rand.New(rand.NewPCG(1, 1)), "i", 200, 4), "items"); err != nil {
			t.Fatal(err)
		}
		c, _ := db.lookup(name)
		if b, ok := c.Background(); ok {
			t.Fatalf("%v: background %v, want none (no fixed scale)", m, b)
		}
	}
}
