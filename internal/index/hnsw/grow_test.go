package hnsw

import (
	"fmt"
	"math"
	"slices"
	"testing"
)

// readGrowing reads up to n neighbours of q from SearchOrderedGrowing (n < 0: all) and
// returns them with the distance evaluations it cost.
func readGrowing(f fixture, q []float32, ef, maxEf, lead, n int, accept func(uint32) bool) ([]Neighbor, int64) {
	var got []Neighbor
	e0 := f.evals.Load()
	f.g.SearchOrderedGrowing(q, ef, maxEf, lead, accept, func(nb Neighbor) bool {
		got = append(got, nb)
		return n < 0 || len(got) < n
	})
	return got, f.evals.Load() - e0
}

// A growing beam yields distinct, admitted nodes with their exact distances; while the
// caller reads no further than the start width less lead it is SearchOrdered at the
// start width, node for node (the data has no tied distances) and evaluation for
// evaluation; read further, it keeps the
// recall of a fixed beam lead wider than what was read (within 0.01) and, on floats,
// costs fewer distance evaluations than a fixed beam of the largest width; read to the end, it yields at least what the
// largest fixed beam holds, less a few.
func TestSearchOrderedGrowing(t *testing.T) {
	const lead, maxEf = 64, 320
	for _, codes := range []bool{true, false} {
		for _, acc := range []struct {
			name string
			f    func(uint32) bool
		}{{"all", nil}, {"half", rejectHalf}} {
			t.Run(fmt.Sprintf("codes=%v/%s", codes, acc.name), func(t *testing.T) {
				t.Parallel()
				m := metrics[0]
				f := buildFixtureOn(m, size(8000, 2000), 31, 7, codes)
				admit := acc.f
				if admit == nil {
					admit = func(uint32) bool { return true }
				}
				nq := size(100, 30)
				var hitGrow, hitFixed, total int
				var evGrow, evFixed, evMax int64
				for i := range nq {
					q := f.queries.Vector(uint32(i))
					// Read within the start width: no growth.
					start := 10 + lead
					got, ev := readGrowing(f, q, start, maxEf, lead, 10, acc.f)
					var want []Neighbor
					e0 := f.evals.Load()
					f.g.SearchOrdered(q, start, acc.f, func(nb Neighbor) bool { want = append(want, nb); return len(want) < 10 })
					if evWant := f.evals.Load() - e0; ev != evWant || !slices.Equal(got, want) {
						t.Fatalf("query %d, 10 read of a start width %d: %v in %d evaluations, SearchOrdered's %v in %d", i, start, got, ev, want, evWant)
					}
					// Read past it.
					const r = 120
					got, ev = readGrowing(f, q, start, maxEf, lead, r, acc.f)
					if len(got) != r {
						t.Fatalf("query %d: %d neighbours read, want %d", i, len(got), r)
					}
					seen := map[uint32]bool{}
					for _, nb := range got {
						if seen[nb.ID] || !admit(nb.ID) {
							t.Fatalf("query %d: node %d yielded twice or not admitted", i, nb.ID)
						}
						seen[nb.ID] = true
						if d := m.dist(q, f.data.Vector(nb.ID)); math.Float32bits(d) != math.Float32bits(nb.Dist) {
							t.Fatalf("query %d: node %d at %v, its distance is %v", i, nb.ID, nb.Dist, d)
						}
					}
					truth := bruteForce(f.data, m.dist, q, r, admit)
					var fixed []Neighbor
					e0 = f.evals.Load()
					f.g.SearchOrdered(q, r+lead, acc.f, func(nb Neighbor) bool { fixed = append(fixed, nb); return len(fixed) < r })
					evFixed += f.evals.Load() - e0
					evGrow += ev
					for _, nb := range got {
						if slices.Contains(truth, nb.ID) {
							hitGrow++
						}
					}
					for _, nb := range fixed {
						if slices.Contains(truth, nb.ID) {
							hitFixed++
						}
					}
					total += len(truth)
					_, ev = readGrowing(f, q, maxEf, maxEf, 0, r, acc.f)
					evMax += ev
					// Read to the end.
					all, _ := readGrowing(f, q, start, maxEf, lead, -1, acc.f)
					var whole []Neighbor
					f.g.SearchOrdered(q, maxEf, acc.f, func(nb Neighbor) bool { whole = append(whole, nb); return true })
					if len(all) < len(whole)*95/100 {
						t.Fatalf("query %d: read to the end, %d neighbours; a fixed beam of %d holds %d", i, len(all), maxEf, len(whole))
					}
				}
				rg, rf := float64(hitGrow)/float64(total), float64(hitFixed)/float64(total)
				t.Logf("codes %v, %s admitted: recall@%d: growing from %d %.4f in %.0f float distance evaluations per query; fixed at %d %.4f in %.0f; fixed at %d: %.0f",
					codes, acc.name, 120, 10+lead, rg, float64(evGrow)/float64(nq), 120+lead, rf, float64(evFixed)/float64(nq), maxEf, float64(evMax)/float64(nq))
				if rg < rf-0.01 {
					t.Errorf("recall@120 of the growing beam %.4f, of a fixed beam of %d %.4f", rg, 120+lead, rf)
				}
				// Evaluations count float distances: on codes, the re-scoring only.
				if !codes && evGrow >= evMax {
					t.Errorf("the growing beam cost %d evaluations, a fixed one of %d %d", evGrow, maxEf, evMax)
				}
			})
		}
	}
}
