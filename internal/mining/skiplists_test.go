package mining

import (
	"context"
	"slices"
	"sync"
	"testing"

	"github.com/hardneg/hardneg/internal/engine"
)

// skipRecorder is a collection that says it filters skips itself (as the Weaviate
// engine does) and records the lists each search is given; it searches like the
// embedded collection it wraps.
type skipRecorder struct {
	engine.Collection
	filters bool
	mu      sync.Mutex
	ids     [][]string
	groups  [][]string
}

func (s *skipRecorder) FiltersSkips() bool { return s.filters }

func (s *skipRecorder) Search(ctx context.Context, q []float32, opts engine.SearchOptions, yield func(engine.Candidate) bool) (engine.SearchStats, error) {
	s.mu.Lock()
	s.ids = append(s.ids, slices.Sorted(slices.Values(opts.SkipIDs)))
	s.groups = append(s.groups, slices.Sorted(slices.Values(opts.SkipGroups)))
	s.mu.Unlock()
	return s.Collection.Search(ctx, q, opts, yield)
}

func TestSkipListsGoOnlyToSearchersThatFilter(t *testing.T) {
	const dim = 4
	b := &engine.Batch{}
	for i, id := range []string{"a", "p", "x", "f", "o", "n1", "n2", "n3"} {
		b.IDs = append(b.IDs, id)
		b.Vectors = append(b.Vectors, 1, float32(i)/10, 0, 0.1)
		b.Groups = append(b.Groups, []string{"g-" + id})
	}
	c := newCollection(t, engine.Config{Name: "c", Dim: dim, Metric: engine.Cosine}, b, map[string][]string{"a": {"f"}}).(engine.Collection)
	pol := DefaultPolicy()
	pol.ExcludeSameGroup = true
	req := Request{Policy: pol, Anchors: []Anchor{
		{ID: "a", PositiveIDs: []string{"p"}, ExcludeIDs: []string{"x"}, Groups: []string{"req"}},
		{ID: "o"},
	}}
	for _, filters := range []bool{false, true} {
		s := &skipRecorder{Collection: c, filters: filters}
		got, err := Mine(context.Background(), s, req)
		if err != nil {
			t.Fatal(err)
		}
		want, err := Mine(context.Background(), c, req)
		if err != nil {
			t.Fatal(err)
		}
		for i := range got {
			if !slices.Equal(negIDs(got[i].Negatives), negIDs(want[i].Negatives)) {
				t.Errorf("filters %v, anchor %d: %v, want %v as without the wrapper", filters, i, negIDs(got[i].Negatives), negIDs(want[i].Negatives))
			}
		}
		for i := range s.ids {
			if !filters && (s.ids[i] != nil || s.groups[i] != nil) {
				t.Errorf("a searcher that does not filter got skip lists %v, %v", s.ids[i], s.groups[i])
			}
		}
		if !filters {
			continue
		}
		// Anchor a: its positive, exclusion and verdict, never itself nor the other
		// anchor's id; its own, its positive's and its request groups.
		i := slices.IndexFunc(s.groups, func(g []string) bool { return slices.Contains(g, "req") })
		if i < 0 {
			t.Fatalf("no search got anchor a's groups: %v", s.groups)
		}
		if !slices.Equal(s.ids[i], []string{"f", "p", "x"}) {
			t.Errorf("anchor a's skip ids = %v, want [f p x]", s.ids[i])
		}
		if !slices.Equal(s.groups[i], []string{"g-a", "g-p", "req"}) {
			t.Errorf("anchor a's skip groups = %v, want [g-a g-p req]", s.groups[i])
		}
	}
}
