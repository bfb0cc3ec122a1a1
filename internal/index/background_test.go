package index

import (
	"math"
	"math/rand/v2"
	"strconv"
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

// largeCosine returns an exact-search cosine collection "c" of dim in a new DB (no
// graph: the tests write thousands of items).
func largeCosine(t *testing.T, dim int) (*DB, *Collection) {
	t.Helper()
	db := testDB(t)
	if _, err := db.CreateCollection(engine.Config{Name: "c", Dim: dim, Metric: engine.Cosine, Params: engine.Params{ExactThreshold: 1 << 30}}); err != nil {
		t.Fatal(err)
	}
	c, _ := db.lookup("c")
	return db, c
}

// pairMeanFromSum is the mean cosine over distinct pairs of c's live (unit) items,
// from the sum of all of them: (‖Σv‖² − n) / (n(n − 1)); the oracle for collections too
// large for meanPairCosine.
func pairMeanFromSum(c *Collection) float64 {
	sum := make([]float64, c.dim)
	for _, slot := range c.slots {
		for i, x := range c.vectorAt(slot) {
			sum[i] += float64(x)
		}
	}
	var sq float64
	for _, x := range sum {
		sq += x * x
	}
	n := float64(len(c.slots))
	return (sq - n) / (n * (n - 1))
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
	const dim = 16
	db, c := largeCosine(t, dim)
	r := rand.New(rand.NewPCG(3, 4))
	for range 3 {
		if _, err := db.Upsert("c", shifted(r, "x"+string(rune('a'+r.IntN(26)))+"-", 5000, dim, 1.5), "items"); err != nil {
			t.Fatal(err)
		}
	}
	b, ok := c.Background()
	if want := pairMeanFromSum(c); !ok || math.Abs(b-want) > 0.02 {
		t.Fatalf("background %v/%v of %d items, want about %v", b, ok, len(c.slots), pairMeanFromSum(c))
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

// TestBackgroundSampleCoversTheWholeCollection: with more live items than the sample,
// the estimate must not depend on the order items were written in, nor on a pattern of
// deletes that lines up with a stride over the slots.
func TestBackgroundSampleCoversTheWholeCollection(t *testing.T) {
	const dim = 16
	r := rand.New(rand.NewPCG(7, 8))
	t.Run("items written in order of kind", func(t *testing.T) {
		db, c := largeCosine(t, dim)
		// 4,096 lifted items, then 4,095 centred ones: a stride sample that stops
		// after 4,096 items would read the lifted ones only.
		if _, err := db.Upsert("c", shifted(r, "l", 4096, dim, 8), "items"); err != nil {
			t.Fatal(err)
		}
		if _, err := db.Upsert("c", shifted(r, "z", 4095, dim, 0), "items"); err != nil {
			t.Fatal(err)
		}
		b, ok := c.Background()
		if want := pairMeanFromSum(c); !ok || math.Abs(b-want) > 0.03 {
			t.Fatalf("background %v/%v, want about %v", b, ok, want)
		}
	})
	t.Run("alternate items deleted", func(t *testing.T) {
		db, c := largeCosine(t, dim)
		// Interleaved: lifted items in even slots, centred ones in odd slots.
		b := &engine.Batch{}
		lifted, centred := shifted(r, "l", 4100, dim, 8), shifted(r, "z", 4100, dim, 0)
		for i := range 4100 {
			b.IDs = append(b.IDs, lifted.IDs[i], centred.IDs[i])
			b.Vectors = append(b.Vectors, lifted.Vectors[i*dim:(i+1)*dim]...)
			b.Vectors = append(b.Vectors, centred.Vectors[i*dim:(i+1)*dim]...)
		}
		if _, err := db.Upsert("c", b, "items"); err != nil {
			t.Fatal(err)
		}
		if got, ok := c.Background(); !ok || math.Abs(got-pairMeanFromSum(c)) > 0.03 {
			t.Fatalf("interleaved: background %v/%v, want about %v", got, ok, pairMeanFromSum(c))
		}
		// Deleting every lifted item leaves the centred ones, every other slot.
		if _, err := db.Delete("c", lifted.IDs, "ids"); err != nil {
			t.Fatal(err)
		}
		if got, ok := c.Background(); !ok || math.Abs(got-pairMeanFromSum(c)) > 0.03 {
			t.Fatalf("after the deletes: background %v/%v, want about %v", got, ok, pairMeanFromSum(c))
		}
	})
}

func TestBackgroundStaysAMeanCosine(t *testing.T) {
	db := testDB(t)
	if _, err := db.CreateCollection(engine.Config{Name: "c", Dim: 8, Metric: engine.Cosine}); err != nil {
		t.Fatal(err)
	}
	// 500 copies of one vector whose rounding put the estimate at 1 + 2.8e-8.
	b := &engine.Batch{}
	for i := range 500 {
		b.IDs = append(b.IDs, "x"+strconv.Itoa(i))
		b.Vectors = append(b.Vectors, 1.0963355, 1.1835862, -0.76862615, -0.3823501, -2.6683607, 0.027526941, 1.4988495, 0.16611111)
	}
	if _, err := db.Upsert("c", b, "items"); err != nil {
		t.Fatal(err)
	}
	c, _ := db.lookup("c")
	if got, ok := c.Background(); !ok || got > 1 || got < 0.999 {
		t.Fatalf("identical items: background %v/%v, want 1", got, ok)
	}
}

// TestBackgroundIsUnsetBelow64ItemsAtOnce: the estimate kept for a second while writes
// go on does not carry across the 64-item boundary.
func TestBackgroundIsUnsetBelow64ItemsAtOnce(t *testing.T) {
	db := testDB(t)
	if _, err := db.CreateCollection(engine.Config{Name: "c", Dim: 4, Metric: engine.Cosine}); err != nil {
		t.Fatal(err)
	}
	c, _ := db.lookup("c")
	r := rand.New(rand.NewPCG(9, 9))
	if _, err := db.Upsert("c", randBatch(r, "a", 63, 4), "items"); err != nil {
		t.Fatal(err)
	}
	if _, ok := c.Background(); ok {
		t.Fatal("63 items: a background")
	}
	if _, err := db.Upsert("c", randBatch(r, "b", 1, 4), "items"); err != nil {
		t.Fatal(err)
	}
	if _, ok := c.Background(); !ok {
		t.Fatal("64 items: no background")
	}
	if _, err := db.Delete("c", []string{"b0"}, "ids"); err != nil {
		t.Fatal(err)
	}
	if b, ok := c.Background(); ok {
		t.Fatalf("63 items again: background %v", b)
	}
}
