package mining

import (
	"context"
	"math/rand/v2"
	"strconv"
	"testing"
)

// BenchmarkMineExplain measures what explain costs: the same graph mining as
// BenchmarkMineGraph (ef default, near-duplicates on) without and with explain.
func BenchmarkMineExplain(b *testing.B) {
	c, vecs := clusteredWorld(b, 20000, 128, 20, 1.5, 1)
	r := rand.New(rand.NewPCG(9, 9))
	var anchors []Anchor
	for range 256 {
		anchors = append(anchors, Anchor{ID: "i" + strconv.Itoa(r.IntN(len(vecs))), PositiveIDs: []string{"i" + strconv.Itoa(r.IntN(len(vecs)))}})
	}
	for _, explain := range []int{0, 200} {
		b.Run("explain="+strconv.Itoa(explain), func(b *testing.B) {
			pol := DefaultPolicy()
			pol.NumNegatives = 8
			for b.Loop() {
				if _, err := Mine(context.Background(), c, Request{Anchors: anchors, Policy: pol, Explain: explain}); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N*len(anchors)), "µs/anchor")
		})
	}
}
