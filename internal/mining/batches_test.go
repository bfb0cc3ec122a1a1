package mining

import (
	"context"
	"errors"
	"math"
	"math/rand/v2"
	"reflect"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/hardneg/hardneg/internal/engine"
	"github.com/hardneg/hardneg/internal/validate"
)

// adversarialBatchWorld makes a cosine corpus built to break in-batch guarantees:
// tight clusters of near-duplicate copies (cosine ≈ 1 inside a cluster), anchors whose
// positives are shared with other anchors, positives that are other anchors, and
// reported false negatives that are other anchors' positives. It returns the
// collection, the request's anchors and the feedback recorded.
func adversarialBatchWorld(t *testing.T, r *rand.Rand, nAnchors int) (Searcher, []BatchAnchor, map[string][]string) {
	t.Helper()
	const dim = 12
	b := &engine.Batch{}
	var raw [][]float32
	add := func(id string, v []float32) {
		b.IDs = append(b.IDs, id)
		b.Vectors = append(b.Vectors, v...)
		raw = append(raw, v)
	}
	centres := make([][]float32, 5)
	for i := range centres {
		centres[i] = randVec(r, dim, 1)
	}
	// Near-duplicate families: a base vector and copies of it under other ids.
	var families [][]string
	for f := range 12 {
		base := jitter(r, centres[f%len(centres)], 0.5)
		var fam []string
		for c := range 1 + r.IntN(4) {
			id := "d" + strconv.Itoa(f) + "_" + strconv.Itoa(c)
			add(id, jitter(r, base, 0.003))
			fam = append(fam, id)
		}
		families = append(families, fam)
	}
	for i := range nAnchors {
		add("a"+strconv.Itoa(i), jitter(r, centres[r.IntN(len(centres))], 0.4))
	}
	for i := range 30 {
		add("p"+strconv.Itoa(i), jitter(r, centres[r.IntN(len(centres))], 0.4))
	}
	anchors := make([]BatchAnchor, nAnchors)
	fb := map[string][]string{}
	for i := range anchors {
		a := BatchAnchor{ID: "a" + strconv.Itoa(i)}
		switch r.IntN(5) {
		case 0: // a positive shared with other anchors
			a.PositiveIDs = append(a.PositiveIDs, "p"+strconv.Itoa(r.IntN(4)))
		case 1: // a member of a near-duplicate family: its copies are near-duplicates
			fam := families[r.IntN(len(families))]
			a.PositiveIDs = append(a.PositiveIDs, fam[r.IntN(len(fam))])
		case 2: // another anchor as positive
			a.PositiveIDs = append(a.PositiveIDs, "a"+strconv.Itoa(r.IntN(nAnchors)))
		case 3: // a positive that is not in the collection
			a.PositiveIDs = append(a.PositiveIDs, "unknown"+strconv.Itoa(r.IntN(3)))
		default:
			a.PositiveIDs = append(a.PositiveIDs, "p"+strconv.Itoa(r.IntN(30)))
		}
		if a.PositiveIDs[0] == a.ID {
			a.PositiveIDs[0] = "p0"
		}
		if r.IntN(3) == 0 {
			fam := families[r.IntN(len(families))]
			a.PositiveIDs = append(a.PositiveIDs, fam[0])
		}
		if r.IntN(4) == 0 {
			fb[a.ID] = append(fb[a.ID], "a"+strconv.Itoa(r.IntN(nAnchors)), "p"+strconv.Itoa(r.IntN(30)))
		}
		if r.IntN(4) == 0 { // one copy of a family reported: its other copies are near-duplicates
			fb[a.ID] = append(fb[a.ID], families[r.IntN(len(families))][0])
		}
		anchors[i] = a
	}
	s := newCollection(t, engine.Config{Name: "b", Dim: dim, Metric: engine.Cosine}, b, fb)
	return s, anchors, fb
}

// batchOracle says, independently of the builder, whether two rows may share a batch:
// neither brings an item that is a positive, a reported false negative or a
// near-duplicate (cosine ≥ 0.80) of a positive of the other.
type batchOracle struct {
	s       Searcher
	anchors []BatchAnchor
	fb      map[string][]string
	vec     func(id string) ([]float32, bool)
}

func (o *batchOracle) bad(i, j int) bool {
	ai, aj := o.anchors[i], o.anchors[j]
	items := append([]string{aj.ID}, aj.PositiveIDs...)
	for _, x := range items {
		if slices.Contains(ai.PositiveIDs, x) || slices.Contains(o.fb[ai.ID], x) {
			return true
		}
	}
	var pvs [][]float32
	for _, p := range ai.PositiveIDs {
		if pv, ok := o.vec(p); ok {
			pvs = append(pvs, pv)
		}
	}
	// The default threshold on the collection's scale (these corpora's items share a
	// few centres, so their background similarity is above BackgroundReference):
	// what the batches must keep apart.
	thr, _ := scaledDuplicateThreshold(&Policy{NearDuplicates: true}, engine.Cosine, scaleOf(o.s))
	for _, x := range items {
		xv, ok := o.vec(x)
		if !ok {
			continue
		}
		for _, pv := range pvs {
			if o.s.Similarity(xv, pv) >= thr {
				return true
			}
		}
		for _, f := range o.fb[ai.ID] {
			if fv, ok := o.vec(f); ok && o.s.Similarity(xv, fv) >= thr {
				return true
			}
		}
	}
	return false
}

func collect(t *testing.T, s Searcher, req BatchRequest) []Batch {
	t.Helper()
	var out []Batch
	if err := BuildBatches(context.Background(), s, req, func(b Batch) error {
		out = append(out, b)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return out
}

// TestBatchGuaranteeHoldsOnAdversarialData builds batches with both strategies and
// random sizes on adversarial corpora and checks every batch against the oracle, that
// every anchor is in exactly one batch per epoch, that the same seed gives the same
// batches, and that the repair counts add up.
func TestBatchGuaranteeHoldsOnAdversarialData(t *testing.T) {
	for seed := range uint64(8) {
		r := rand.New(rand.NewPCG(seed, 77))
		n := 60 + r.IntN(120)
		s, anchors, fb := adversarialBatchWorld(t, r, n)
		o := &batchOracle{s: s, anchors: anchors, fb: fb}
		s.Resolve(func(lookup engine.LookupFunc) {
			vecs := map[string][]float32{}
			for _, a := range anchors {
				for _, id := range append(append([]string{a.ID}, a.PositiveIDs...), fb[a.ID]...) {
					if v, _, ok := lookup(id); ok {
						vecs[id] = slices.Clone(v)
					}
				}
			}
			o.vec = func(id string) ([]float32, bool) { v, ok := vecs[id]; return v, ok }
		})
		req := DefaultBatchRequest()
		req.Anchors = anchors
		req.BatchSize = 2 + r.IntN(24)
		req.Epochs = 1 + r.IntN(3)
		req.Seed = seed
		req.Strategy = BatchStrategy(seed % 2)
		if req.Strategy == BatchClusters {
			req.ClusterSizeStart = 1 + r.IntN(req.BatchSize)
		} else {
			req.NumNearest = r.IntN(req.BatchSize)
			req.NumSampled = r.IntN(req.BatchSize - req.NumNearest)
		}
		got := collect(t, s, req)
		if again := collect(t, s, req); !reflect.DeepEqual(got, again) {
			t.Fatalf("seed %d: the same request built different batches", seed)
		}
		placed := map[int]map[int]int{}
		deferred, swappedIn := 0, 0
		for _, b := range got {
			if len(b.Rows) == 0 || len(b.Rows) > req.BatchSize {
				t.Fatalf("seed %d: batch %d/%d has %d rows (batch size %d)", seed, b.Epoch, b.Index, len(b.Rows), req.BatchSize)
			}
			if placed[b.Epoch] == nil {
				placed[b.Epoch] = map[int]int{}
			}
			for x, i := range b.Rows {
				placed[b.Epoch][i]++
				for _, j := range b.Rows[x+1:] {
					if o.bad(i, j) || o.bad(j, i) {
						t.Fatalf("seed %d: batch %d/%d holds %s and %s, which conflict", seed, b.Epoch, b.Index, anchors[i].ID, anchors[j].ID)
					}
				}
			}
			deferred += b.Deferred
			swappedIn += b.SwappedIn
		}
		if len(placed) != req.Epochs {
			t.Fatalf("seed %d: %d epochs built, want %d", seed, len(placed), req.Epochs)
		}
		for e, m := range placed {
			if len(m) != n {
				t.Fatalf("seed %d epoch %d: %d anchors placed, want %d", seed, e, len(m), n)
			}
			for i, c := range m {
				if c != 1 {
					t.Fatalf("seed %d epoch %d: %s placed %d times", seed, e, anchors[i].ID, c)
				}
			}
		}
		if deferred != swappedIn {
			t.Fatalf("seed %d: %d rows deferred but %d swapped in", seed, deferred, swappedIn)
		}
		if deferred == 0 {
			t.Fatalf("seed %d: the adversarial data needed no repair; the test does not test it", seed)
		}
	}
}

// TestBatchRepairIsNeededWithoutIt checks the oracle is not vacuous: the plain
// cluster order of an adversarial corpus, cut into batches without repair, holds
// conflicting rows.
func TestBatchRepairIsNeededWithoutIt(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 77))
	s, anchors, fb := adversarialBatchWorld(t, r, 120)
	req := DefaultBatchRequest()
	req.Anchors, req.BatchSize = anchors, 16
	b, err := newBatchBuilder(context.Background(), s, &req)
	if err != nil {
		t.Fatal(err)
	}
	order := b.clusterOrder(rand.New(rand.NewPCG(0, 0)), 16)
	conflicts := 0
	for lo := 0; lo < len(order); lo += 16 {
		rows := order[lo:min(lo+16, len(order))]
		for x, i := range rows {
			for _, j := range rows[x+1:] {
				if b.conflict(i, j) {
					conflicts++
				}
			}
		}
	}
	if conflicts == 0 {
		t.Fatal("no conflicting pair in the unrepaired batches")
	}
	_ = fb
}

// TestClusterSplitIsBalanced checks the recursive balanced 2-means: every cluster
// holds at most the cluster size and more than half of it (when the anchors exceed
// it), and the clusters partition the anchors.
func TestClusterSplitIsBalanced(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 5))
	w := randomWorld(r, 301, 8, engine.Cosine)
	s := newCollection(t, w.cfg, w.batchCopy(), nil)
	req := DefaultBatchRequest()
	for _, id := range w.batch.IDs {
		req.Anchors = append(req.Anchors, BatchAnchor{ID: id})
	}
	req.BatchSize = 64
	b, err := newBatchBuilder(context.Background(), s, &req)
	if err != nil {
		t.Fatal(err)
	}
	for _, size := range []int{1, 2, 7, 16, 37, 64} {
		all := make([]int, len(b.rows))
		for i := range all {
			all[i] = i
		}
		var clusters [][]int
		b.split(rand.New(rand.NewPCG(uint64(size), 1)), all, size, &clusters)
		seen := map[int]bool{}
		for _, c := range clusters {
			if len(c) > size || len(c) < (size+1)/2 {
				t.Fatalf("size %d: a cluster of %d", size, len(c))
			}
			for _, x := range c {
				if seen[x] {
					t.Fatalf("size %d: anchor %d in two clusters", size, x)
				}
				seen[x] = true
			}
		}
		if len(seen) != len(all) {
			t.Fatalf("size %d: %d anchors clustered, want %d", size, len(seen), len(all))
		}
	}
}

// meanInBatchSimilarity is the mean anchor–anchor similarity over pairs sharing a
// batch.
func meanInBatchSimilarity(s Searcher, vecs map[string][]float32, anchors []BatchAnchor, batches []Batch) float64 {
	var sum float64
	n := 0
	for _, b := range batches {
		for x, i := range b.Rows {
			for _, j := range b.Rows[x+1:] {
				sum += float64(s.Similarity(vecs[anchors[i].ID], vecs[anchors[j].ID]))
				n++
			}
		}
	}
	return sum / float64(n)
}

// TestHardBatchesAreHarderThanRandom checks what the strategies are for: anchors that
// share a batch are more similar to each other than in shuffled batches (cluster size
// = batch size, and neighbour groups that fill the batch).
func TestHardBatchesAreHarderThanRandom(t *testing.T) {
	r := rand.New(rand.NewPCG(9, 9))
	w := randomWorld(r, 400, 16, engine.Cosine)
	s := newCollection(t, w.cfg, w.batchCopy(), nil)
	vecs := map[string][]float32{}
	s.Resolve(func(lookup engine.LookupFunc) {
		for _, id := range w.batch.IDs {
			v, _, _ := lookup(id)
			vecs[id] = slices.Clone(v)
		}
	})
	base := DefaultBatchRequest()
	for _, id := range w.batch.IDs {
		base.Anchors = append(base.Anchors, BatchAnchor{ID: id})
	}
	base.BatchSize = 16
	var random []Batch
	perm := r.Perm(len(base.Anchors))
	for lo := 0; lo < len(perm); lo += 16 {
		random = append(random, Batch{Rows: perm[lo:min(lo+16, len(perm))]})
	}
	rnd := meanInBatchSimilarity(s, vecs, base.Anchors, random)
	clu := base
	nb := base
	nb.Strategy, nb.NumNearest, nb.NumSampled = BatchNeighbours, 11, 4
	for _, req := range []BatchRequest{clu, nb} {
		got := meanInBatchSimilarity(s, vecs, base.Anchors, collect(t, s, req))
		if !(got > rnd+0.1) {
			t.Fatalf("strategy %d: mean in-batch similarity %.3f, random batches %.3f", req.Strategy, got, rnd)
		}
	}
}

// TestNeighbourGroupTakesTheNearestAndSamplesTheWindow checks a Sample4Geo group
// against exact search: the first batch's first row starts a group, the next
// NumNearest rows are its nearest anchors, and the NumSampled after them lie in the
// neighbour ranks [SampleRangeMin, SampleRangeMax).
func TestNeighbourGroupTakesTheNearestAndSamplesTheWindow(t *testing.T) {
	r := rand.New(rand.NewPCG(11, 11))
	w := randomWorld(r, 200, 8, engine.Cosine)
	s := newCollection(t, w.cfg, w.batchCopy(), nil)
	vecs := map[string][]float32{}
	s.Resolve(func(lookup engine.LookupFunc) {
		for _, id := range w.batch.IDs {
			v, _, _ := lookup(id)
			vecs[id] = slices.Clone(v)
		}
	})
	req := DefaultBatchRequest()
	req.NearDuplicates = false
	for _, id := range w.batch.IDs {
		req.Anchors = append(req.Anchors, BatchAnchor{ID: id})
	}
	req.Strategy, req.NumNearest, req.NumSampled, req.SampleRangeMin, req.SampleRangeMax = BatchNeighbours, 3, 2, 10, 20
	req.BatchSize = 6
	for seed := range uint64(5) {
		req.Seed = seed
		b := collect(t, s, req)[0]
		seedID := req.Anchors[b.Rows[0]].ID
		others := slices.Clone(w.batch.IDs)
		others = slices.DeleteFunc(others, func(id string) bool { return id == seedID })
		sort.SliceStable(others, func(i, j int) bool {
			return s.Similarity(vecs[seedID], vecs[others[i]]) > s.Similarity(vecs[seedID], vecs[others[j]])
		})
		for k := 1; k <= 3; k++ {
			if got := req.Anchors[b.Rows[k]].ID; got != others[k-1] {
				t.Fatalf("seed %d: row %d is %s, want the %d-th nearest %s", seed, k, got, k, others[k-1])
			}
		}
		for _, x := range b.Rows[4:] {
			rank := slices.Index(others, req.Anchors[x].ID)
			if rank < 10 || rank >= 20 {
				t.Fatalf("seed %d: sampled neighbour %s at rank %d, outside [10, 20)", seed, req.Anchors[x].ID, rank)
			}
		}
	}
}

// TestClusterSizeSchedule checks the linear schedule from ClusterSizeStart to
// ClusterSizeEnd over the epochs, and FirstEpoch / NumEpochs selecting epochs with the
// same batches as the whole run.
func TestClusterSizeSchedule(t *testing.T) {
	r := rand.New(rand.NewPCG(12, 12))
	w := randomWorld(r, 100, 8, engine.Cosine)
	s := newCollection(t, w.cfg, w.batchCopy(), nil)
	req := DefaultBatchRequest()
	for _, id := range w.batch.IDs {
		req.Anchors = append(req.Anchors, BatchAnchor{ID: id})
	}
	req.BatchSize, req.Epochs, req.ClusterSizeStart, req.ClusterSizeEnd = 32, 5, 4, 32
	all := collect(t, s, req)
	want := []int{4, 11, 18, 25, 32}
	for _, b := range all {
		if b.ClusterSize != want[b.Epoch] {
			t.Fatalf("epoch %d: cluster size %d, want %d", b.Epoch, b.ClusterSize, want[b.Epoch])
		}
	}
	one := req
	one.FirstEpoch, one.NumEpochs = 2, 1
	var sub []Batch
	for _, b := range all {
		if b.Epoch == 2 {
			sub = append(sub, b)
		}
	}
	if got := collect(t, s, one); !reflect.DeepEqual(got, sub) {
		t.Fatal("epoch 2 alone differs from epoch 2 of the whole run")
	}
}

// TestBuildBatchesValidation checks that bad requests name their fields.
func TestBuildBatchesValidation(t *testing.T) {
	r := rand.New(rand.NewPCG(13, 13))
	w := randomWorld(r, 20, 4, engine.Cosine)
	s := newCollection(t, w.cfg, w.batchCopy(), nil)
	ok := func() BatchRequest {
		q := DefaultBatchRequest()
		q.Anchors = []BatchAnchor{{ID: "i0"}, {ID: "i1", PositiveIDs: []string{"i2"}}}
		q.BatchSize = 2
		return q
	}
	for _, c := range []struct {
		field string
		mod   func(*BatchRequest)
		says  string
	}{
		{"anchors", func(q *BatchRequest) { q.Anchors = nil }, ""},
		{"anchors[1].id", func(q *BatchRequest) { q.Anchors[1].ID = "i0" }, ""},
		{"anchors[1].id", func(q *BatchRequest) { q.Anchors[1].ID = "nope" }, ""},
		{"anchors[0].positive_ids[0]", func(q *BatchRequest) { q.Anchors[0].PositiveIDs = []string{""} }, ""},
		{"batch_size", func(q *BatchRequest) { q.BatchSize = 0 }, ""},
		{"cluster_size_start", func(q *BatchRequest) { q.ClusterSizeStart = 3 }, ""},
		{"first_epoch", func(q *BatchRequest) { q.FirstEpoch = 1 }, ""},
		{"num_nearest", func(q *BatchRequest) { q.Strategy, q.NumNearest = BatchNeighbours, 2 }, ""},
		{"sample_range_max", func(q *BatchRequest) {
			q.Strategy, q.BatchSize, q.NumSampled, q.SampleRangeMax = BatchNeighbours, 4, 2, 1
		}, ""},
		{"strategy", func(q *BatchRequest) { q.Strategy = 7 }, ""},
		{"duplicate_threshold", func(q *BatchRequest) { q.DuplicateThreshold = ptr(2) }, ""},
		{"duplicate_threshold", func(q *BatchRequest) { q.DuplicateThreshold = ptr(float32(math.NaN())) }, "must be finite"},
		{"duplicate_margin", func(q *BatchRequest) { q.DuplicateMargin = ptr(float32(math.NaN())) }, "must be finite"},
		{"duplicate_margin", func(q *BatchRequest) { q.DuplicateMargin = ptr(3) }, "is wider than the cosine score range"},
	} {
		q := ok()
		c.mod(&q)
		err := BuildBatches(context.Background(), s, q, func(Batch) error { return nil })
		var v *validate.Error
		if !errors.As(err, &v) {
			t.Fatalf("%s: got %v, want a validation error", c.field, err)
		}
		found := false
		for _, f := range v.Violations {
			found = found || f.Field == c.field && strings.Contains(f.Description, c.says)
		}
		if !found {
			t.Fatalf("%s: violations %v do not name it (saying %q)", c.field, v.Violations, c.says)
		}
	}
	if err := BuildBatches(context.Background(), s, ok(), func(Batch) error { return nil }); err != nil {
		t.Fatal(err)
	}
}

// TestVectorAnchorsNeedNotBeStored builds batches of anchors sent with their own
// vectors (queries not in the collection) whose positives are stored: every anchor once
// per epoch, anchors sharing a positive apart, Sample4Geo groups taken from exact
// anchor-to-anchor neighbours, and a wrong dimension rejected by field.
func TestVectorAnchorsNeedNotBeStored(t *testing.T) {
	r := rand.New(rand.NewPCG(14, 14))
	w := randomWorld(r, 120, 8, engine.Cosine)
	s := newCollection(t, w.cfg, w.batchCopy(), nil)
	req := DefaultBatchRequest()
	qs := make([][]float32, 60)
	for i := range qs {
		qs[i] = jitter(r, w.raw[i], 0.05)
		req.Anchors = append(req.Anchors, BatchAnchor{ID: "q" + strconv.Itoa(i), Vector: qs[i], PositiveIDs: []string{"i" + strconv.Itoa(i%40)}})
	}
	req.Strategy, req.NumNearest, req.BatchSize = BatchNeighbours, 3, 4
	req.NearDuplicates = false // only the shared positives conflict
	got := collect(t, s, req)
	placed := map[int]int{}
	for _, b := range got {
		pos := map[string]bool{}
		for _, x := range b.Rows {
			placed[x]++
			p := req.Anchors[x].PositiveIDs[0]
			if pos[p] {
				t.Fatalf("batch %d holds two anchors with positive %s", b.Index, p)
			}
			pos[p] = true
		}
	}
	if len(placed) != 60 {
		t.Fatalf("%d anchors placed, want 60", len(placed))
	}
	// The first group: its seed's 3 nearest anchors by exact scoring, but for those
	// sharing a positive with a row taken before them (moved to a later batch).
	b := got[0]
	seed := b.Rows[0]
	prepared := func(v []float32) []float32 { q, _ := s.PrepareQuery(v, "v"); return q }
	var others []int
	for j := range qs {
		if j != seed {
			others = append(others, j)
		}
	}
	sort.SliceStable(others, func(x, y int) bool {
		return s.Similarity(prepared(qs[seed]), prepared(qs[others[x]])) > s.Similarity(prepared(qs[seed]), prepared(qs[others[y]]))
	})
	var want []int
	taken := map[string]bool{req.Anchors[seed].PositiveIDs[0]: true}
	for _, j := range others[:3] {
		if p := req.Anchors[j].PositiveIDs[0]; !taken[p] {
			taken[p] = true
			want = append(want, j)
		}
	}
	for _, j := range want {
		if !slices.Contains(b.Rows, j) {
			t.Fatalf("first batch %v lacks %d, one of the seed %d's nearest %v", b.Rows, j, seed, others[:3])
		}
	}
	bad := req
	bad.Anchors = slices.Clone(req.Anchors)
	bad.Anchors[2].Vector = []float32{1, 2}
	err := BuildBatches(context.Background(), s, bad, func(Batch) error { return nil })
	var v *validate.Error
	if !errors.As(err, &v) || !slices.ContainsFunc(v.Violations, func(f validate.Violation) bool { return f.Field == "anchors[2].vector" }) {
		t.Fatalf("wrong dimension: %v", err)
	}
}
