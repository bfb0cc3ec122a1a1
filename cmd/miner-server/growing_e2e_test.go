package main

import (
	"context"
	"math/rand/v2"
	"slices"
	"strconv"
	"testing"

	"google.golang.org/protobuf/proto"

	hardnegv1 "github.com/hardneg/hardneg/gen/go/hardneg/v1"
)

// TestMineFirstPassWidensThroughServer mines, through the real server, a graph-searched
// collection under a relative margin (a score filter: the window is 10·k + 1 ranks and
// the default first pass starts at the window of k, widening as each anchor reads) and
// the same request with ef_search set to the whole first pass's width (81 + 2·64,
// fixed: the window plus the default lead of twice the collection's ef_search). The
// negatives must agree for at least 98% of them, while the anchors read past the start
// width less the lead.
func TestMineFirstPassWidensThroughServer(t *testing.T) {
	ts := startServer(t, t.TempDir())
	ctx := context.Background()
	c := ts.client
	const dim, n, k = 32, 4000, 8
	if _, err := c.CreateCollection(ctx, &hardnegv1.CreateCollectionRequest{Name: "g", Dim: dim, Metric: hardnegv1.Metric_METRIC_COSINE, IndexParams: &hardnegv1.IndexParams{ExactThreshold: 1}}); err != nil {
		t.Fatal(err)
	}
	r := rand.New(rand.NewPCG(21, 22))
	centres := randVecs(r, 40, dim)
	items := &hardnegv1.ItemBatch{Dim: dim}
	vecs := make([][]float32, n)
	for i := range n {
		v := slices.Clone(centres[r.IntN(len(centres))])
		for j := range v {
			v[j] += float32(r.NormFloat64() * 0.25)
		}
		vecs[i] = v
		items.Ids = append(items.Ids, "i"+strconv.Itoa(i))
		items.Vectors = append(items.Vectors, f32bytes(v)...)
	}
	if _, err := c.Upsert(ctx, &hardnegv1.UpsertRequest{Collection: "g", Items: items}); err != nil {
		t.Fatal(err)
	}
	// Anchors: stored items with a near neighbour as their positive, so that the margin
	// (s < 0.95·s⁺) removes the candidates above 0.95 of it.
	var anchors []*hardnegv1.Anchor
	for a := range 64 {
		i := r.IntN(n)
		best := bestCosine(vecs, i, map[int]bool{i: true})
		anchors = append(anchors, &hardnegv1.Anchor{Id: "i" + strconv.Itoa(i), Key: "a" + strconv.Itoa(a), PositiveIds: []string{"i" + strconv.Itoa(best)}})
	}
	mine := func(ef uint32) *hardnegv1.MineResponse {
		t.Helper()
		mr, err := c.Mine(ctx, &hardnegv1.MineRequest{Collection: "g", Anchors: anchors, Policy: &hardnegv1.MiningPolicy{
			NumNegatives: k, RelativeMargin: proto.Float32(0.05), EfSearch: ef, InBatchExclusion: proto.Bool(false)}})
		if err != nil {
			t.Fatal(err)
		}
		return mr
	}
	growing, fixed := mine(0), mine(10*k+1+2*64)
	same, total, deep := 0, 0, 0
	for a := range anchors {
		g, f := growing.Results[a], fixed.Results[a]
		var want []string
		for _, nb := range f.Negatives {
			want = append(want, nb.Id)
		}
		for _, nb := range g.Negatives {
			if slices.Contains(want, nb.Id) {
				same++
			}
		}
		total += len(f.Negatives)
		if g.CandidatesExamined > uint64(k+1) { // past the start width less the lead
			deep++
		}
	}
	t.Logf("negatives shared with the fixed beam: %d of %d; %d of %d anchors read past the start width less the lead", same, total, deep, len(anchors))
	if total == 0 || float64(same) < 0.98*float64(total) {
		t.Errorf("the growing first pass shares %d of %d negatives with a fixed beam of the whole window", same, total)
	}
	if deep < len(anchors)/4 {
		t.Errorf("only %d of %d anchors read past the start width less the lead: the test does not exercise the widening", deep, len(anchors))
	}
}
