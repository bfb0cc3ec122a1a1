package index

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

// TestSelectBestMatchesFullSort checks that selectBest returns exactly the
// exactFirstBatch best live entries, best first (ties to the lower slot), whether a sampled
// threshold finds them or every score is offered: random scores, heavy ties at the
// threshold, dead slots, a sample whose best scores are few outliers (so the threshold
// admits too few entries and the selection falls back), mostly dead slots, and a
// short list; and the same with the entries above a threshold given (ExactScores.Above).
func TestSelectBestMatchesFullSort(t *testing.T) {
	r := rand.New(rand.NewPCG(11, 12))
	cases := []struct {
		name    string
		n       int
		score   func(i int) float32
		dead    func(i int) bool
		sampled bool
	}{
		{"random", 50_000, func(int) float32 { return float32(r.NormFloat64()) }, func(i int) bool { return r.IntN(10) == 0 }, true},
		{"ties", 50_000, func(int) float32 { return float32(r.IntN(40)) }, func(i int) bool { return i%7 == 3 }, true},
		{"sample outliers", 50_000, func(i int) float32 {
			if i%preselectStride == 0 && i < 20*preselectStride {
				return 5
			}
			return r.Float32()
		}, func(int) bool { return false }, false},
		{"mostly dead", 50_000, func(int) float32 { return float32(r.NormFloat64()) }, func(i int) bool { return i%500 != 0 }, false},
		{"small", preselectMin, func(int) float32 { return float32(r.NormFloat64()) }, func(i int) bool { return r.IntN(10) == 0 }, true},
		{"short", preselectMin - 1, func(int) float32 { return float32(r.NormFloat64()) }, func(int) bool { return false }, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			pre := make([]float32, c.n)
			dead := make([]bool, c.n)
			var want []scored
			for i := range pre {
				pre[i] = c.score(i)
				dead[i] = c.dead(i)
				if !dead[i] {
					want = append(want, scored{uint32(i), pre[i]})
				}
			}
			slices.SortFunc(want, cmpBetter)
			want = want[:min(len(want), exactFirstBatch)]
			top, _, _, sampled := selectBest(pre, nil, func(slot uint32) bool { return !dead[slot] }, make([]scored, 3), []uint32{5}, []uint64{7})
			if sampled != c.sampled {
				t.Fatalf("sampled threshold used: %v, want %v", sampled, c.sampled)
			}
			if !slices.Equal(top, want) { // best first, as selected
				t.Fatal(fmt.Sprintf("selected %d entries, first %v; want %d, first %v", len(top), top[:min(3, len(top))], len(want), want[:min(3, len(want))]))
			}
			// With the entries above a threshold chosen beforehand (ExactScores.Above,
			// from a sample at either stride), the selection is the same.
			for _, stride := range []int{preselectStride, 37} {
				thr, ok := sampleThreshold(pre, stride)
				if !ok {
					continue
				}
				var above []uint64
				for i, x := range pre {
					if x >= thr {
						above = append(above, scoredKey(scored{uint32(i), x}))
					}
				}
				top, _, _, _ := selectBest(pre, above, func(slot uint32) bool { return !dead[slot] }, nil, nil, nil)
				if !slices.Equal(top, want) {
					t.Fatalf("stride %d, %d above the threshold: selected %d entries, first %v; want %d, first %v",
						stride, len(above), len(top), top[:min(3, len(top))], len(want), want[:min(3, len(want))])
				}
			}
		})
	}
}

// cmpBetter orders entries best first (better's order) for slices.SortFunc.
func cmpBetter(a, b scored) int {
	switch {
	case better(a, b):
		return -1
	case better(b, a):
		return 1
	}
	return 0
}

// TestSortBestIsBettersOrder checks the key sort against slices.SortFunc with
// cmpBetter on entries with ties, −0 and +0, and extreme scores, and that every score
// comes back bit for bit (−0 as +0).
func TestSortBestIsBettersOrder(t *testing.T) {
	r := rand.New(rand.NewPCG(21, 22))
	special := []float32{0, float32(math.Copysign(0, -1)), 1, -1, math.MaxFloat32, -math.MaxFloat32,
		math.SmallestNonzeroFloat32, -math.SmallestNonzeroFloat32, 1e-30, -1e-30}
	var keys []uint64
	for trial := range 300 {
		es := make([]scored, r.IntN(300))
		for i := range es {
			var sc float32
			switch r.IntN(3) {
			case 0:
				sc = special[r.IntN(len(special))]
			case 1:
				sc = float32(r.NormFloat64())
			default:
				sc = float32(r.IntN(4)) // ties
			}
			es[i] = scored{slot: uint32(r.IntN(1 << 22)), score: sc}
		}
		want := slices.Clone(es)
		slices.SortFunc(want, cmpBetter)
		keys = sortBest(es, keys)
		for i := range es {
			same := math.Float32bits(es[i].score) == math.Float32bits(want[i].score) || es[i].score == 0 && want[i].score == 0
			if es[i].slot != want[i].slot || !same {
				t.Fatalf("trial %d, position %d: got %+v, want %+v", trial, i, es[i], want[i])
			}
		}
	}
}
