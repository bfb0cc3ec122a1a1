package hnsw

import (
	"math/rand/v2"
	"testing"
)

// TestVisitedSet checks the bitset against a map over many searches, sparse ones
// (cleared word by word) and dense ones (cleared whole), and that a set grown during a
// search keeps its marks.
func TestVisitedSet(t *testing.T) {
	const capacity = 20_000
	rng := rand.New(rand.NewPCG(3, 4))
	var s searcher
	for round := range 300 {
		s.reset(capacity)
		n := 1 + rng.IntN(50)
		if round%5 == 0 {
			n = capacity // more than an eighth of the words: the next reset clears all
		}
		seen := make(map[uint32]bool, n)
		for range n {
			id := uint32(rng.IntN(capacity))
			if got := s.visit(id, nil); got == seen[id] {
				t.Fatalf("round %d: visit(%d) = %v after %d marks, want %v", round, id, got, len(seen), !seen[id])
			}
			seen[id] = true
		}
		for range 200 { // ids this search did not mark read as unvisited
			id := uint32(rng.IntN(capacity))
			if !seen[id] && !s.visit(id, nil) {
				t.Fatalf("round %d: %d reads as visited, never marked in this search", round, id)
			}
			seen[id] = true
		}
	}

	g, err := New(Options{Seed: 1}, negDot, clustered(1, 8, 1, 0.1, 1, true))
	if err != nil {
		t.Fatal(err)
	}
	g.Insert(0)
	var small searcher
	small.reset(64) // one word and a quarter: 64 ids
	far := uint32(g.capacity() - 1)
	if !small.visit(3, g) || !small.visit(far, g) {
		t.Fatal("first visits reported as seen")
	}
	if small.visit(3, g) || small.visit(far, g) {
		t.Fatal("marks lost when the set grew during the search")
	}
	small.reset(64)
	if !small.visit(3, g) || !small.visit(far, g) {
		t.Fatal("reset after growth left marks behind")
	}
}
