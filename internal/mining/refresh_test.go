package mining

import (
	"context"
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
	w := randomWorld(r, 150, 8, engine.Cosine)
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
