//go:build scaleout

package weaviate

import (
	"math"
	"math/rand/v2"
	"strconv"
	"testing"
	"time"

	"github.com/hardneg/hardneg/internal/engine"
)

// TestScaleoutBackgroundRefreshesBehindMining: a collection's background is the exact
// mean cosine of its items while it holds fewer than 4,096; once this process has
// written enough items to make the estimate stale, Background still answers with the
// old estimate at once and a refresh measured in the background replaces it.
func TestScaleoutBackgroundRefreshesBehindMining(t *testing.T) {
	e := testCluster(t, time.Hour)
	const dim = 16
	name := "bg_" + strconv.FormatInt(time.Now().UnixNano(), 36)
	coll, err := e.CreateCollection(engine.Config{Name: name, Dim: dim, Metric: engine.Cosine})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.DeleteCollection(name) })
	c := coll.(*Collection)
	if _, ok := c.Background(); ok {
		t.Fatal("an empty collection reports a background")
	}

	r := rand.New(rand.NewPCG(5, 9))
	u := make([]float64, dim)
	for i := range u {
		u[i] = r.NormFloat64()
	}
	var unit [][]float64
	// add upserts n items, lift·u plus noise, and keeps their unit vectors.
	add := func(n int, lift float64) {
		b := &engine.Batch{}
		for range n {
			v := make([]float64, dim)
			var norm float64
			for j := range v {
				v[j] = lift*u[j] + r.NormFloat64()
				norm += v[j] * v[j]
			}
			for j := range v {
				v[j] /= math.Sqrt(norm)
				b.Vectors = append(b.Vectors, float32(v[j]))
			}
			b.IDs = append(b.IDs, "i"+strconv.Itoa(len(unit)))
			unit = append(unit, v)
		}
		if _, err := e.Upsert(name, b, "items"); err != nil {
			t.Fatal(err)
		}
	}
	exact := func() float64 {
		var sum float64
		for i := range unit {
			for j := range i {
				for d := range dim {
					sum += unit[i][d] * unit[j][d]
				}
			}
		}
		return sum / float64(len(unit)*(len(unit)-1)/2)
	}

	add(200, 3)
	b1, ok := c.Background()
	if want := exact(); !ok || math.Abs(b1-want) > 0.01 || want < 0.8 {
		t.Fatalf("after 200 items: background %.4f, %v; want %.4f (above 0.8)", b1, ok, want)
	}
	if b, ok := c.LastBackground(); !ok || b != b1 {
		t.Fatalf("LastBackground = %.4f, %v; want %.4f", b, ok, b1)
	}

	// 200 items without the common direction: the estimate is stale (200 writes ≥ 64).
	add(200, 0)
	if b, ok := c.Background(); !ok || b != b1 {
		t.Fatalf("right after more writes: background %.4f, %v; want the stale %.4f while a refresh runs", b, ok, b1)
	}
	want := exact()
	deadline := time.Now().Add(75 * time.Second) // past backgroundMaxAge: a read of a trailing replica is redone
	for {
		b, ok := c.Background()
		if ok && math.Abs(b-want) < 0.02 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("background %.4f, %v after the refresh; want %.4f", b, ok, want)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
