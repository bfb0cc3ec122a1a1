package mining

import (
	"context"
	"math"
	"math/rand/v2"
	"slices"
	"sort"
	"strconv"
	"testing"

	"github.com/hardneg/hardneg/internal/engine"
)

var _ VersionRanger = engine.Collection(nil)

// TestRefreshQueueOrdersByStalenessAndExposure mines a random corpus so that some items
// are served often, then checks the refresh queue against a brute-force ordering of
// every item: exactly the items below the target, by staleness × (1 + exposures)
// descending, version, id; and a limit returns that order's prefix.
func TestRefreshQueueOrdersByStalenessAndExposure(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	// 500 items: the 400 negatives asked for stay within one exposure window.
	w := randomWorld(r, 500, 8, engine.Cosine)
	s := newCollection(t, w.cfg, w.batchCopy(), nil)
	x := NewExposure(0)
	for range 20 {
		req := Request{Policy: DefaultPolicy(), Exposure: x}
		req.Policy.NumNegatives = 5
		for range 4 {
			req.Anchors = append(req.Anchors, Anchor{ID: w.batch.IDs[r.IntN(len(w.batch.IDs))]})
		}
		if _, err := Mine(context.Background(), s, req); err != nil {
			t.Fatal(err)
		}
	}
	recent := x.Recent()
	if len(recent) == 0 {
		t.Fatal("nothing counted")
	}
	var total uint64
	for _, n := range recent {
		total += n
	}
	if total != 20*4*5 {
		t.Errorf("counted %d negatives, want %d", total, 20*4*5)
	}
	vr := s.(VersionRanger)
	for _, target := range []*int64{nil, ptr64(10), ptr64(0)} {
		tgt := vr.NewestVersion()
		if target != nil {
			tgt = *target
		}
		var want []RefreshItem
		for i, id := range w.batch.IDs {
			if v := w.batch.Versions[i]; v < tgt {
				want = append(want, RefreshItem{ID: id, Version: v, Staleness: tgt - v, RecentExposures: recent[id]})
			}
		}
		sort.Slice(want, func(i, j int) bool {
			a, b := want[i], want[j]
			pa, pb := float64(a.Staleness)*float64(1+a.RecentExposures), float64(b.Staleness)*float64(1+b.RecentExposures)
			if pa != pb {
				return pa > pb
			}
			if a.Version != b.Version {
				return a.Version < b.Version
			}
			return a.ID < b.ID
		})
		for _, limit := range []int{0, 1, 7, 1000} {
			got, err := RefreshQueue(vr, x, RefreshRequest{Limit: limit, Target: target})
			if err != nil {
				t.Fatal(err)
			}
			n := min(len(want), limit)
			if limit == 0 {
				n = min(len(want), DefaultRefreshLimit)
			}
			if got.Target != tgt || got.Due != len(want) || !slices.Equal(got.Items, want[:n]) {
				t.Fatalf("target %d limit %d: got %d items (due %d, target %d), want %d of %d\n got %v\nwant %v", tgt, limit, len(got.Items), got.Due, got.Target, n, len(want), got.Items, want[:n])
			}
		}
	}
	if _, err := RefreshQueue(vr, x, RefreshRequest{Limit: MaxRefreshLimit + 1}); err == nil {
		t.Error("limit above the maximum accepted")
	}
}

func ptr64(v int64) *int64 { return &v }

// TestExposureWindowTumbles checks that the current window restarts after window served
// negatives and that the previous window still counts as recent.
func TestExposureWindowTumbles(t *testing.T) {
	x := NewExposure(4)
	x.record([]Result{{Negatives: []Negative{{ID: "a"}, {ID: "a"}, {ID: "b"}}}})
	if st := x.Stats(); st.Served != 3 || st.Max != 2 || st.Items != 2 || st.Windows != 0 {
		t.Fatalf("stats %+v", st)
	}
	x.record([]Result{{Negatives: []Negative{{ID: "c"}}}, {Negatives: []Negative{{ID: "c"}}}})
	if st := x.Stats(); st.Served != 1 || st.Max != 1 || st.Items != 1 || st.Windows != 1 {
		t.Fatalf("after the window turned: %+v", st)
	}
	rec := x.Recent()
	if rec["a"] != 2 || rec["b"] != 1 || rec["c"] != 2 || len(rec) != 3 {
		t.Errorf("recent %v", rec)
	}
	for i := range 8 {
		x.record([]Result{{Negatives: []Negative{{ID: "z" + strconv.Itoa(i)}}}})
	}
	if rec := x.Recent(); rec["a"] != 0 || len(rec) > 8 {
		t.Errorf("after two more windows: %v", rec)
	}
}

// TestVersionsAtTheEndsOfTheRange: versions span the whole int64 range. The freshness
// rule's newest − max_staleness and the refresh queue's target − version saturate
// instead of wrapping: the largest max_staleness makes nothing stale, and the item at
// the bottom of the range is the stalest.
func TestVersionsAtTheEndsOfTheRange(t *testing.T) {
	cfg := engine.Config{Name: "v", Dim: 2, Metric: engine.Cosine}
	items := &engine.Batch{
		IDs:      []string{"a", "b", "c"},
		Vectors:  []float32{1, 0, 1, 0.1, 1, 0.2},
		Versions: []int64{-10, -5, -6},
	}
	s := newCollection(t, cfg, items, nil)
	req := Request{Policy: DefaultPolicy(), Anchors: []Anchor{{Vector: []float32{1, 0}}}}
	req.Policy.NumNegatives = 3
	req.Policy.NearDuplicates = false
	for _, ms := range []int64{math.MaxInt64, math.MaxInt64 - 4, 5} {
		req.Policy.MaxStaleness = &ms
		res, err := Mine(context.Background(), s, req)
		if err != nil {
			t.Fatal(err)
		}
		if a := res[0]; len(a.Negatives) != 3 || a.Removed.Stale != 0 {
			t.Errorf("max_staleness %d: %d negatives, %d stale; want 3, 0", ms, len(a.Negatives), a.Removed.Stale)
		}
	}
	ms := int64(4) // newest −5: −10 is stale, −6 is not
	req.Policy.MaxStaleness = &ms
	if res, err := Mine(context.Background(), s, req); err != nil || res[0].Removed.Stale != 1 {
		t.Errorf("max_staleness 4: %+v, %v; want 1 stale", res, err)
	}

	ends := &engine.Batch{
		IDs:      []string{"min", "neg", "max"},
		Vectors:  []float32{1, 0, 0, 1, 1, 1},
		Versions: []int64{math.MinInt64, -5, math.MaxInt64},
	}
	s = newCollection(t, engine.Config{Name: "e", Dim: 2, Metric: engine.Cosine}, ends, nil)
	for _, target := range []*int64{ptr64(0), nil} {
		res, err := RefreshQueue(s.(VersionRanger), nil, RefreshRequest{Target: target})
		if err != nil {
			t.Fatal(err)
		}
		if len(res.Items) != 2 || res.Items[0].ID != "min" || res.Items[0].Staleness != math.MaxInt64 || res.Items[1].ID != "neg" {
			t.Errorf("target %v: %+v; want min (staleness MaxInt64), then neg", target, res.Items)
		}
	}
	if res, _ := RefreshQueue(s.(VersionRanger), nil, RefreshRequest{Target: ptr64(0)}); res.Items[1].Staleness != 5 {
		t.Errorf("neg's staleness %d, want 5", res.Items[1].Staleness)
	}
}
