package conformance

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"math"
	mrand "math/rand/v2"
	"slices"
	"strconv"
	"testing"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	hardnegv1 "github.com/hardneg/hardneg/gen/go/hardneg/v1"
)

// Factory boots a MinerService (or connects to a running one) for one test and returns
// a client. It registers its own cleanup with t. Servers may be shared between tests:
// every test uses collections of its own.
type Factory func(t *testing.T) hardnegv1.MinerServiceClient

// Run runs every contract test against the servers f provides, each as a subtest.
func Run(t *testing.T, f Factory) {
	for _, tc := range []struct {
		name string
		fn   func(*testing.T, hardnegv1.MinerServiceClient)
	}{
		{"Collections", testCollections},
		{"UpsertGetDelete", testUpsertGetDelete},
		{"RejectedBatchAppliesNothing", testRejectedBatch},
		{"Errors", testErrors},
		{"MiningRulesMatchReference", testMiningRules},
		{"FeedbackExcludesReportedIDs", testFeedback},
		{"UpsertStreamResumes", testUpsertStream},
		{"EphemeralOfferedOrRefused", testEphemeral},
		{"DefaultsOnTheCollectionsScale", testScoreScale},
	} {
		t.Run(tc.name, func(t *testing.T) { tc.fn(t, f(t)) })
	}
}

// ctx returns a context bounded generously (a cluster on a loaded machine is slow).
func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	return c
}

// name returns a fresh collection name and deletes that collection when t ends.
func name(t *testing.T, c hardnegv1.MinerServiceClient) string {
	var b [6]byte
	if _, err := rand.Read(b[:]); err != nil {
		t.Fatal(err)
	}
	n := "cf_" + hex.EncodeToString(b[:])
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		c.DeleteCollection(ctx, &hardnegv1.DeleteCollectionRequest{Name: n})
	})
	return n
}

func create(t *testing.T, c hardnegv1.MinerServiceClient, dim int, m hardnegv1.Metric) string {
	t.Helper()
	n := name(t, c)
	if _, err := c.CreateCollection(ctx(t), &hardnegv1.CreateCollectionRequest{Name: n, Dim: uint32(dim), Metric: m}); err != nil {
		t.Fatalf("create %s: %v", n, err)
	}
	return n
}

func toBytes(vs ...[]float32) []byte {
	var out []byte
	for _, v := range vs {
		for _, x := range v {
			out = binary.LittleEndian.AppendUint32(out, math.Float32bits(x))
		}
	}
	return out
}

func fromBytes(b []byte) []float32 {
	out := make([]float32, len(b)/4)
	for i := range out {
		out[i] = math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:]))
	}
	return out
}

func randVec(r *mrand.Rand, dim int) []float32 {
	v := make([]float32, dim)
	for i := range v {
		v[i] = float32(r.NormFloat64())
	}
	return v
}

func batch(items []item, dim int) *hardnegv1.ItemBatch {
	b := &hardnegv1.ItemBatch{Dim: uint32(dim)}
	for _, it := range items {
		b.Ids = append(b.Ids, it.id)
		b.Vectors = append(b.Vectors, toBytes(it.vec)...)
		b.Groups = append(b.Groups, &hardnegv1.GroupList{Groups: it.groups})
		b.Versions = append(b.Versions, it.version)
	}
	return b
}

func code(err error) codes.Code { return status.Code(err) }

// firstField returns the first field violation of err, or "".
func firstField(err error) string {
	for _, d := range status.Convert(err).Details() {
		if br, ok := d.(*errdetails.BadRequest); ok && len(br.FieldViolations) > 0 {
			return br.FieldViolations[0].Field
		}
	}
	return ""
}

func testCollections(t *testing.T, c hardnegv1.MinerServiceClient) {
	ctx := ctx(t)
	n := name(t, c)
	cr, err := c.CreateCollection(ctx, &hardnegv1.CreateCollectionRequest{Name: n, Dim: 8, Metric: hardnegv1.Metric_METRIC_L2,
		IndexParams: &hardnegv1.IndexParams{M: 24, EfConstruction: 100, EfSearch: 48}})
	if err != nil {
		t.Fatal(err)
	}
	got := cr.Collection
	if got.Name != n || got.Dim != 8 || got.Metric != hardnegv1.Metric_METRIC_L2 || got.IndexParams.GetM() != 24 || got.IndexParams.GetEfSearch() != 48 {
		t.Errorf("created %v", got)
	}
	if _, err := c.CreateCollection(ctx, &hardnegv1.CreateCollectionRequest{Name: n, Dim: 8, Metric: hardnegv1.Metric_METRIC_L2}); code(err) != codes.AlreadyExists {
		t.Errorf("create again: %v, want AlreadyExists", err)
	}
	gc, err := c.GetCollection(ctx, &hardnegv1.GetCollectionRequest{Name: n})
	if err != nil || gc.Collection.Dim != 8 || gc.Collection.Metric != hardnegv1.Metric_METRIC_L2 || gc.Collection.IndexParams.GetM() != 24 || gc.Collection.Stats.GetItemCount() != 0 {
		t.Errorf("get = %v, %v", gc, err)
	}
	lc, err := c.ListCollections(ctx, &hardnegv1.ListCollectionsRequest{})
	if err != nil || !slices.ContainsFunc(lc.Collections, func(x *hardnegv1.Collection) bool { return x.Name == n && x.Dim == 8 }) {
		t.Errorf("list = %v, %v; want %s in it", lc, err, n)
	}
	if _, err := c.DeleteCollection(ctx, &hardnegv1.DeleteCollectionRequest{Name: n}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.GetCollection(ctx, &hardnegv1.GetCollectionRequest{Name: n}); code(err) != codes.NotFound {
		t.Errorf("get after delete: %v, want NotFound", err)
	}
	if _, err := c.DeleteCollection(ctx, &hardnegv1.DeleteCollectionRequest{Name: n}); code(err) != codes.NotFound {
		t.Errorf("delete again: %v, want NotFound", err)
	}
	for _, tc := range []struct {
		req   *hardnegv1.CreateCollectionRequest
		field string
	}{
		{&hardnegv1.CreateCollectionRequest{Name: n, Dim: 4}, "metric"},
		{&hardnegv1.CreateCollectionRequest{Name: n, Metric: hardnegv1.Metric_METRIC_DOT}, "dim"},
		{&hardnegv1.CreateCollectionRequest{Name: "no/slash", Dim: 4, Metric: hardnegv1.Metric_METRIC_DOT}, "name"},
	} {
		_, err := c.CreateCollection(ctx, tc.req)
		if code(err) != codes.InvalidArgument || firstField(err) != tc.field {
			t.Errorf("create %v: %v (field %q), want InvalidArgument on %s", tc.req, err, firstField(err), tc.field)
		}
	}
}

// testEphemeral: a server either offers ephemeral collections, which then take writes
// and Mine like any other and say so, or refuses them naming the field, creating
// nothing.
func testEphemeral(t *testing.T, c hardnegv1.MinerServiceClient) {
	ctx := ctx(t)
	n := name(t, c)
	cr, err := c.CreateCollection(ctx, &hardnegv1.CreateCollectionRequest{Name: n, Dim: 4, Metric: hardnegv1.Metric_METRIC_L2, Ephemeral: true})
	if code(err) == codes.InvalidArgument {
		if firstField(err) != "ephemeral" {
			t.Fatalf("create: %v, want a refusal naming ephemeral", err)
		}
		if _, err := c.GetCollection(ctx, &hardnegv1.GetCollectionRequest{Name: n}); code(err) != codes.NotFound {
			t.Fatalf("get after the refusal: %v, want NotFound", err)
		}
		return
	}
	if err != nil || !cr.Collection.Ephemeral {
		t.Fatalf("create: %v, %v; want an ephemeral collection", cr, err)
	}
	items := []item{{id: "a", vec: []float32{1, 0, 0, 0}}, {id: "b", vec: []float32{0, 1, 0, 0}}, {id: "c", vec: []float32{0.9, 0.1, 0, 0}}}
	if _, err := c.Upsert(ctx, &hardnegv1.UpsertRequest{Collection: n, Items: batch(items, 4)}); err != nil {
		t.Fatal(err)
	}
	pol := basePolicy(1)
	pol.RangeMax = 3
	mr, err := c.Mine(ctx, &hardnegv1.MineRequest{Collection: n, Anchors: []*hardnegv1.Anchor{{Vector: toBytes([]float32{1, 0, 0, 0}), PositiveIds: []string{"a"}}},
		Policy: pol})
	if err != nil || len(mr.Results) != 1 || len(mr.Results[0].Negatives) != 1 || mr.Results[0].Negatives[0].Id == "a" {
		t.Fatalf("mine: %v, %v; want one negative other than the positive", mr, err)
	}
	gc, err := c.GetCollection(ctx, &hardnegv1.GetCollectionRequest{Name: n})
	if err != nil || !gc.Collection.Ephemeral || gc.Collection.Stats.GetItemCount() != 3 {
		t.Fatalf("get: %v, %v", gc, err)
	}
}

func testUpsertGetDelete(t *testing.T, c hardnegv1.MinerServiceClient) {
	ctx := ctx(t)
	const dim = 8
	for _, m := range []hardnegv1.Metric{hardnegv1.Metric_METRIC_COSINE, hardnegv1.Metric_METRIC_DOT, hardnegv1.Metric_METRIC_L2} {
		t.Run(m.String(), func(t *testing.T) {
			n := create(t, c, dim, m)
			r := mrand.New(mrand.NewPCG(1, uint64(m)))
			items := make([]item, 40)
			for i := range items {
				items[i] = item{id: "doc-" + strconv.Itoa(i), vec: randVec(r, dim), groups: []string{"g" + strconv.Itoa(i%7), "all"}, version: int64(i)}
			}
			up, err := c.Upsert(ctx, &hardnegv1.UpsertRequest{Collection: n, Items: batch(items, dim)})
			if err != nil || up.Inserted != 40 || up.Replaced != 0 {
				t.Fatalf("upsert = %v, %v", up, err)
			}
			// Replace ten with new vectors, groups and versions, and add five.
			var again []item
			for i := 30; i < 45; i++ {
				it := item{id: "doc-" + strconv.Itoa(i), vec: randVec(r, dim), groups: []string{"new"}, version: 100 + int64(i)}
				again = append(again, it)
				if i < 40 {
					items[i] = it
				} else {
					items = append(items, it)
				}
			}
			up, err = c.Upsert(ctx, &hardnegv1.UpsertRequest{Collection: n, Items: batch(again, dim)})
			if err != nil || up.Inserted != 5 || up.Replaced != 10 {
				t.Fatalf("second upsert = %v, %v; want 5 inserted, 10 replaced", up, err)
			}
			ref := newCorpus(m, items)
			ids := []string{"doc-3", "nope", "doc-35", "doc-44"}
			gi, err := c.GetItems(ctx, &hardnegv1.GetItemsRequest{Collection: n, Ids: ids, IncludeVectors: true})
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(gi.MissingIds, []string{"nope"}) {
				t.Errorf("missing = %v, want [nope]", gi.MissingIds)
			}
			if gi.Items.GetDim() != dim || !slices.Equal(gi.Items.Ids, []string{"doc-3", "doc-35", "doc-44"}) {
				t.Fatalf("items = %v", gi.Items)
			}
			vecs := fromBytes(gi.Items.Vectors)
			for i, id := range gi.Items.Ids {
				want := ref.items[ref.byID[id]]
				for j, x := range vecs[i*dim : (i+1)*dim] {
					if math.Abs(float64(x-want.vec[j])) > 1e-5 {
						t.Errorf("%s: vector[%d] = %v, want %v", id, j, x, want.vec[j])
						break
					}
				}
				if !slices.Equal(gi.Items.Groups[i].GetGroups(), want.groups) {
					t.Errorf("%s: groups %v, want %v", id, gi.Items.Groups[i].GetGroups(), want.groups)
				}
				if gi.Items.Versions[i] != want.version {
					t.Errorf("%s: version %d, want %d", id, gi.Items.Versions[i], want.version)
				}
			}
			dr, err := c.Delete(ctx, &hardnegv1.DeleteRequest{Collection: n, Ids: []string{"doc-0", "doc-44", "ghost"}})
			if err != nil || dr.Deleted != 2 || dr.NotFound != 1 {
				t.Fatalf("delete = %v, %v; want 2 deleted, 1 not found", dr, err)
			}
			gi, err = c.GetItems(ctx, &hardnegv1.GetItemsRequest{Collection: n, Ids: []string{"doc-0", "doc-1"}})
			if err != nil || !slices.Equal(gi.MissingIds, []string{"doc-0"}) {
				t.Errorf("after delete: %v, %v", gi, err)
			}
			waitItemCount(t, c, n, 43)
			// A deleted item is never mined (once the engine's searches see the delete).
			mineUntil(t, c, &hardnegv1.MineRequest{Collection: n, Anchors: []*hardnegv1.Anchor{{Vector: toBytes(items[0].vec)}},
				Policy: &hardnegv1.MiningPolicy{NumNegatives: 43, RangeMax: 43, MaxRank: math.MaxUint32}},
				func(mr *hardnegv1.MineResponse) []string {
					var d []string
					for _, neg := range mr.Results[0].Negatives {
						if neg.Id == "doc-0" || neg.Id == "doc-44" {
							d = append(d, fmt.Sprintf("deleted %s mined", neg.Id))
						}
					}
					if got := len(mr.Results[0].Negatives); got != 43 {
						d = append(d, fmt.Sprintf("%d negatives, want all 43 live items", got))
					}
					return d
				})
		})
	}
}

func testRejectedBatch(t *testing.T, c hardnegv1.MinerServiceClient) {
	ctx := ctx(t)
	const dim = 4
	n := create(t, c, dim, hardnegv1.Metric_METRIC_COSINE)
	good := []float32{1, 2, 3, 4}
	nan := []float32{1, float32(math.NaN()), 0, 0}
	for _, tc := range []struct {
		name  string
		b     *hardnegv1.ItemBatch
		field string
	}{
		{"zero vector under cosine", &hardnegv1.ItemBatch{Ids: []string{"a", "b"}, Dim: dim, Vectors: toBytes(good, make([]float32, dim))}, "items.vectors[1]"},
		{"NaN", &hardnegv1.ItemBatch{Ids: []string{"a", "b"}, Dim: dim, Vectors: toBytes(good, nan)}, "items.vectors[1]"},
		{"duplicate id", &hardnegv1.ItemBatch{Ids: []string{"a", "a"}, Dim: dim, Vectors: toBytes(good, good)}, "items.ids[1]"},
		{"empty id", &hardnegv1.ItemBatch{Ids: []string{"a", ""}, Dim: dim, Vectors: toBytes(good, good)}, "items.ids[1]"},
		{"wrong dim", &hardnegv1.ItemBatch{Ids: []string{"a"}, Dim: 3, Vectors: toBytes(good[:3])}, "items.dim"},
		{"short vectors", &hardnegv1.ItemBatch{Ids: []string{"a", "b"}, Dim: dim, Vectors: toBytes(good)}, "items.vectors"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := c.Upsert(ctx, &hardnegv1.UpsertRequest{Collection: n, Items: tc.b})
			if code(err) != codes.InvalidArgument || firstField(err) != tc.field {
				t.Errorf("upsert: %v (field %q), want InvalidArgument on %s", err, firstField(err), tc.field)
			}
		})
	}
	gi, err := c.GetItems(ctx, &hardnegv1.GetItemsRequest{Collection: n, Ids: []string{"a", "b"}})
	if err != nil || len(gi.MissingIds) != 2 {
		t.Errorf("after rejected batches: %v, %v; want a and b missing", gi, err)
	}
	waitItemCount(t, c, n, 0)
}

func testErrors(t *testing.T, c hardnegv1.MinerServiceClient) {
	ctx := ctx(t)
	const dim = 4
	n := create(t, c, dim, hardnegv1.Metric_METRIC_DOT)
	if _, err := c.Upsert(ctx, &hardnegv1.UpsertRequest{Collection: n, Items: &hardnegv1.ItemBatch{Ids: []string{"a", "b"}, Dim: dim, Vectors: toBytes([]float32{1, 0, 0, 0}, []float32{0, 1, 0, 0})}}); err != nil {
		t.Fatal(err)
	}
	missing := "missing_" + n
	for _, tc := range []struct {
		name  string
		call  func() error
		code  codes.Code
		field string
	}{
		{"mine unknown collection", func() error {
			_, err := c.Mine(ctx, &hardnegv1.MineRequest{Collection: missing, Anchors: []*hardnegv1.Anchor{{Id: "a"}}})
			return err
		}, codes.NotFound, ""},
		{"upsert unknown collection", func() error {
			_, err := c.Upsert(ctx, &hardnegv1.UpsertRequest{Collection: missing, Items: &hardnegv1.ItemBatch{Ids: []string{"x"}, Dim: dim, Vectors: toBytes([]float32{1, 0, 0, 0})}})
			return err
		}, codes.NotFound, ""},
		{"get items unknown collection", func() error {
			_, err := c.GetItems(ctx, &hardnegv1.GetItemsRequest{Collection: missing, Ids: []string{"a"}})
			return err
		}, codes.NotFound, ""},
		{"k too large", func() error {
			_, err := c.Mine(ctx, &hardnegv1.MineRequest{Collection: n, Anchors: []*hardnegv1.Anchor{{Id: "a"}}, Policy: &hardnegv1.MiningPolicy{NumNegatives: 5000}})
			return err
		}, codes.InvalidArgument, "policy.num_negatives"},
		{"anchor without id or vector", func() error {
			_, err := c.Mine(ctx, &hardnegv1.MineRequest{Collection: n, Anchors: []*hardnegv1.Anchor{{}}})
			return err
		}, codes.InvalidArgument, "anchors[0]"},
		{"anchor vector of wrong length", func() error {
			_, err := c.Mine(ctx, &hardnegv1.MineRequest{Collection: n, Anchors: []*hardnegv1.Anchor{{Vector: toBytes([]float32{1})}}})
			return err
		}, codes.InvalidArgument, "anchors[0].vector"},
		{"unknown anchor id", func() error {
			_, err := c.Mine(ctx, &hardnegv1.MineRequest{Collection: n, Anchors: []*hardnegv1.Anchor{{Id: "zzz"}}})
			return err
		}, codes.InvalidArgument, "anchors[0].id"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.call()
			if code(err) != tc.code {
				t.Fatalf("code = %v (%v), want %v", code(err), err, tc.code)
			}
			if tc.field != "" && firstField(err) != tc.field {
				t.Errorf("field = %q, want %s", firstField(err), tc.field)
			}
		})
	}
}

// clustered returns n items of dimension dim around a few centres, each in one of
// ngroups groups, with near-copies of the first items (duplicates under other ids).
func clustered(r *mrand.Rand, n, dim, ngroups int, metric hardnegv1.Metric) []item {
	centres := make([][]float32, 12)
	for i := range centres {
		centres[i] = randVec(r, dim)
	}
	items := make([]item, 0, n)
	for i := 0; len(items) < n; i++ {
		c := centres[i%len(centres)]
		v := make([]float32, dim)
		scale := float32(1)
		if metric == hardnegv1.Metric_METRIC_DOT {
			scale = 0.5 + r.Float32()*1.5
		}
		for j := range v {
			v[j] = scale * (c[j] + 0.6*float32(r.NormFloat64()))
		}
		items = append(items, item{id: "i" + strconv.Itoa(i), vec: v, groups: []string{"g" + strconv.Itoa(i%ngroups)}, version: int64(i % 5)})
		if i < 8 && len(items) < n {
			d := slices.Clone(v)
			for j := range d {
				d[j] += 0.01 * float32(r.NormFloat64())
			}
			items = append(items, item{id: "dup" + strconv.Itoa(i), vec: d, groups: []string{"d" + strconv.Itoa(i)}})
		}
	}
	return items
}

// load creates a collection of metric m holding items.
func load(t *testing.T, c hardnegv1.MinerServiceClient, items []item, dim int, m hardnegv1.Metric) string {
	t.Helper()
	n := create(t, c, dim, m)
	for lo := 0; lo < len(items); lo += 100 {
		if _, err := c.Upsert(ctx(t), &hardnegv1.UpsertRequest{Collection: n, Items: batch(items[lo:min(lo+100, len(items))], dim)}); err != nil {
			t.Fatal(err)
		}
	}
	return n
}

// basePolicy turns every default rule off, so that a test case turns on exactly the
// rules it names; the window is the top k survivors and there is no hardness floor.
func basePolicy(k uint32) *hardnegv1.MiningPolicy {
	return &hardnegv1.MiningPolicy{
		NumNegatives:          k,
		RangeMax:              k,
		MaxRank:               math.MaxUint32,
		ExcludeSameGroup:      proto.Bool(false),
		ExcludeNearDuplicates: proto.Bool(false),
		InBatchExclusion:      proto.Bool(false),
		UseFeedback:           proto.Bool(false),
	}
}

// quantile returns the q-quantile of the similarities of the anchors' query vectors to
// every item, for thresholds that bite on this corpus whatever the metric.
func quantile(ref *corpus, anchors []int, q float64) float32 {
	var all []float32
	for _, a := range anchors {
		for _, it := range ref.items {
			all = append(all, ref.sim(ref.items[a].vec, it.vec))
		}
	}
	slices.Sort(all)
	return all[int(q*float64(len(all)-1))]
}

func testMiningRules(t *testing.T, c hardnegv1.MinerServiceClient) {
	const dim, n, k = 16, 400, 6
	for _, m := range []hardnegv1.Metric{hardnegv1.Metric_METRIC_COSINE, hardnegv1.Metric_METRIC_DOT, hardnegv1.Metric_METRIC_L2} {
		t.Run(m.String(), func(t *testing.T) {
			r := mrand.New(mrand.NewPCG(7, uint64(m)))
			items := clustered(r, n, dim, 40, m)
			ref := newCorpus(m, items)
			coll := load(t, c, items, dim, m)
			// Anchors: stored items with positives from their cluster (one of them has a
			// near-copy, dup0/dup1, among the candidates), an exclusion, request groups,
			// and a raw vector anchor (a query that is not in the corpus).
			anchors := []*hardnegv1.Anchor{
				{Id: "i0", PositiveIds: []string{"i12"}, ExcludeIds: []string{"i24"}},
				{Id: "i1", PositiveIds: []string{"i13", "i25"}},
				{Id: "i2", PositiveIds: []string{"i14"}, Groups: []string{"g5", "g6"}},
				{Vector: toBytes(randVec(r, dim)), Key: "q0", PositiveIds: []string{"i3"}},
				{Id: "i40", PositiveIds: []string{"dup4"}},
			}
			idx := []int{ref.byID["i0"], ref.byID["i1"], ref.byID["i2"]}
			hi, lo := quantile(ref, idx, 0.9), quantile(ref, idx, 0.5)
			dupT := quantile(ref, idx, 0.97)
			cases := []struct {
				name string
				set  func(p *hardnegv1.MiningPolicy)
			}{
				{"anchor, positives and exclusions only", func(p *hardnegv1.MiningPolicy) {}},
				{"same group", func(p *hardnegv1.MiningPolicy) { p.ExcludeSameGroup = proto.Bool(true) }},
				{"in-batch exclusion", func(p *hardnegv1.MiningPolicy) { p.InBatchExclusion = proto.Bool(true) }},
				{"near-duplicate threshold", func(p *hardnegv1.MiningPolicy) {
					p.ExcludeNearDuplicates = proto.Bool(true)
					p.DuplicateThreshold = proto.Float32(dupT)
					// The default false-negative budget that comes with the near-duplicate
					// rules under cosine is left out: its reference is in internal/mining.
					p.PfnBudget = proto.Uint32(0)
				}},
				{"absolute margin", func(p *hardnegv1.MiningPolicy) { p.AbsoluteMargin = proto.Float32(0) }},
				{"relative margin", func(p *hardnegv1.MiningPolicy) { p.RelativeMargin = proto.Float32(0.05); p.RangeMax = k }},
				{"score band", func(p *hardnegv1.MiningPolicy) { p.MaxScore = proto.Float32(hi); p.MinScore = proto.Float32(lo) }},
				{"rank window on survivors", func(p *hardnegv1.MiningPolicy) { p.RangeMin = 5; p.RangeMax = 5 + k }},
				{"rank window on raw ranks", func(p *hardnegv1.MiningPolicy) {
					p.RankMode = hardnegv1.RankMode_RANK_MODE_RAW
					p.RangeMin = 3
					p.RangeMax = 30
				}},
				{"every rule at once", func(p *hardnegv1.MiningPolicy) {
					p.ExcludeSameGroup = proto.Bool(true)
					p.InBatchExclusion = proto.Bool(true)
					p.ExcludeNearDuplicates = proto.Bool(true)
					p.DuplicateThreshold = proto.Float32(dupT)
					p.PfnBudget = proto.Uint32(0)
					p.AbsoluteMargin = proto.Float32(0)
					p.MinScore = proto.Float32(lo)
					p.RangeMin = 2
					p.RangeMax = 2 + k
				}},
			}
			for _, tc := range cases {
				t.Run(tc.name, func(t *testing.T) {
					p := basePolicy(k)
					tc.set(p)
					req := &hardnegv1.MineRequest{Collection: coll, Anchors: anchors, Policy: p, IncludeVectors: true}
					mineMatching(t, c, ref, req)
				})
			}
		})
	}
}

// mineMatching runs req and checks the response against the reference (diff). An
// engine's candidate searches may ask one replica, which can trail an acknowledged
// write for a moment (docs/SCALE.md, Reads), so a mismatch is asked again until it has
// lasted 30 seconds; only then is it reported. It returns the last response.
func mineMatching(t *testing.T, c hardnegv1.MinerServiceClient, ref *corpus, req *hardnegv1.MineRequest) *hardnegv1.MineResponse {
	t.Helper()
	return mineUntil(t, c, req, func(mr *hardnegv1.MineResponse) []string { return diff(ref, req, mr) })
}

// mineUntil asks Mine again while check finds problems with its response, for up to
// 30 s (an engine's searches may trail an acknowledged write on one replica), then
// reports the last problems found. It returns the last response.
func mineUntil(t *testing.T, c hardnegv1.MinerServiceClient, req *hardnegv1.MineRequest, check func(*hardnegv1.MineResponse) []string) *hardnegv1.MineResponse {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		mr, err := c.Mine(ctx(t), req)
		if err != nil {
			t.Fatal(err)
		}
		d := check(mr)
		if len(d) == 0 {
			return mr
		}
		if time.Now().After(deadline) {
			for _, msg := range d {
				t.Error(msg)
			}
			return mr
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// diff compares a Mine response with the reference: the same negatives in the same
// order with exact scores and ranks (at most the exact rank when the anchor was not
// searched exactly), the positive score and the shortfall. It returns the differences.
func diff(ref *corpus, req *hardnegv1.MineRequest, mr *hardnegv1.MineResponse) []string {
	var out []string
	want := ref.mine(req)
	if len(mr.Results) != len(want) {
		return []string{fmt.Sprintf("%d results, want %d", len(mr.Results), len(want))}
	}
	near := func(a, b float32) bool {
		return math.Abs(float64(a-b)) <= 1e-4*max(1, math.Abs(float64(b)))
	}
	for i, res := range mr.Results {
		w := want[i]
		var got, exp []string
		for _, n := range res.Negatives {
			got = append(got, fmt.Sprintf("%s:%.4f@%d", n.Id, n.Score, n.Rank))
		}
		for _, n := range w.negatives {
			exp = append(exp, fmt.Sprintf("%s:%.4f@%d", n.id, n.score, n.rank))
		}
		ok := len(res.Negatives) == len(w.negatives)
		for j := 0; ok && j < len(res.Negatives); j++ {
			// Ranks are exact after an exact scan; after an index search they count what
			// the search produced, so they can be lower (Negative.rank).
			r, wr := int(res.Negatives[j].Rank), w.negatives[j].rank
			ok = res.Negatives[j].Id == w.negatives[j].id && near(res.Negatives[j].Score, w.negatives[j].score) &&
				(r == wr || !res.ExactScan && r < wr)
		}
		if !ok {
			out = append(out, fmt.Sprintf("anchor %d: negatives %v, want %v", i, got, exp))
		}
		if int(res.Shortfall) != w.shortfall {
			out = append(out, fmt.Sprintf("anchor %d: shortfall %d, want %d", i, res.Shortfall, w.shortfall))
		}
		if w.hasPositive != (res.PositiveScore != nil) || (w.hasPositive && !near(res.GetPositiveScore(), w.positiveScore)) {
			out = append(out, fmt.Sprintf("anchor %d: positive score %v, want %v (%v)", i, res.PositiveScore, w.positiveScore, w.hasPositive))
		}
		if req.IncludeVectors {
			vecs := fromBytes(res.NegativeVectors)
			dim := len(ref.items[0].vec)
			if len(vecs) != dim*len(res.Negatives) {
				out = append(out, fmt.Sprintf("anchor %d: %d vector values for %d negatives", i, len(vecs), len(res.Negatives)))
				continue
			}
			for j, n := range res.Negatives {
				it := ref.items[ref.byID[n.Id]]
				if !near(ref.sim(vecs[j*dim:(j+1)*dim], it.vec), ref.sim(it.vec, it.vec)) {
					out = append(out, fmt.Sprintf("anchor %d: vector of %s differs from the stored one", i, n.Id))
				}
			}
		}
	}
	return out
}

func testFeedback(t *testing.T, c hardnegv1.MinerServiceClient) {
	const dim, k = 8, 4
	r := mrand.New(mrand.NewPCG(11, 12))
	m := hardnegv1.Metric_METRIC_COSINE
	items := clustered(r, 120, dim, 30, m)
	ref := newCorpus(m, items)
	coll := load(t, c, items, dim, m)
	p := basePolicy(k)
	p.UseFeedback = proto.Bool(true)
	anchors := []*hardnegv1.Anchor{{Id: "i0", PositiveIds: []string{"i12"}}, {Vector: toBytes(items[5].vec), Key: "query-5"}}
	req := &hardnegv1.MineRequest{Collection: coll, Anchors: anchors, Policy: p}
	before := mineMatching(t, c, ref, req)
	// Report the two hardest negatives of each anchor; they never come back for that
	// anchor key, and reporting them again records nothing new.
	var reports []*hardnegv1.FalseNegativeReport
	for i, key := range []string{"i0", "query-5"} {
		ids := []string{before.Results[i].Negatives[0].Id, before.Results[i].Negatives[1].Id}
		reports = append(reports, &hardnegv1.FalseNegativeReport{AnchorKey: key, ItemIds: ids})
		ref.feedback[key] = map[string]bool{ids[0]: true, ids[1]: true}
	}
	rr, err := c.ReportFalseNegatives(ctx(t), &hardnegv1.ReportFalseNegativesRequest{Collection: coll, Reports: reports})
	if err != nil || rr.Recorded != 4 {
		t.Fatalf("report = %v, %v; want 4 recorded", rr, err)
	}
	rr, err = c.ReportFalseNegatives(ctx(t), &hardnegv1.ReportFalseNegativesRequest{Collection: coll, Reports: reports})
	if err != nil || rr.Recorded != 0 {
		t.Fatalf("report again = %v, %v; want 0 recorded", rr, err)
	}
	after := mineMatching(t, c, ref, req)
	for i, res := range after.Results {
		if res.Removed.GetFeedback() == 0 {
			t.Errorf("anchor %d: no candidate removed by feedback", i)
		}
	}
	// use_feedback = false ignores the verdicts.
	p.UseFeedback = proto.Bool(false)
	mineUntil(t, c, req, func(ignored *hardnegv1.MineResponse) []string {
		var d []string
		for i := range ignored.Results {
			if ignored.Results[i].Negatives[0].Id != before.Results[i].Negatives[0].Id {
				d = append(d, fmt.Sprintf("anchor %d: with use_feedback off the hardest negative is %s, want %s", i, ignored.Results[i].Negatives[0].Id, before.Results[i].Negatives[0].Id))
			}
		}
		return d
	})
}

func testUpsertStream(t *testing.T, c hardnegv1.MinerServiceClient) {
	const dim = 4
	n := create(t, c, dim, hardnegv1.Metric_METRIC_L2)
	r := mrand.New(mrand.NewPCG(3, 4))
	var b [4]byte
	rand.Read(b[:])
	writer := "trainer-" + hex.EncodeToString(b[:])
	req := func(seq uint64) *hardnegv1.UpsertStreamRequest {
		items := make([]item, 10)
		for i := range items {
			items[i] = item{id: fmt.Sprintf("w%d-%d", seq, i), vec: randVec(r, dim)}
		}
		return &hardnegv1.UpsertStreamRequest{Collection: n, WriterId: writer, Sequence: seq, Items: batch(items, dim)}
	}
	send := func(st hardnegv1.MinerService_UpsertStreamClient, q *hardnegv1.UpsertStreamRequest) (*hardnegv1.UpsertStreamResponse, error) {
		if err := st.Send(q); err != nil {
			return nil, err
		}
		return st.Recv()
	}
	st, err := c.UpsertStream(ctx(t))
	if err != nil {
		t.Fatal(err)
	}
	b1, b2 := req(1), req(2)
	for _, q := range []*hardnegv1.UpsertStreamRequest{b1, b2} {
		ack, err := send(st, q)
		if err != nil || ack.Sequence != q.Sequence || ack.Duplicate || ack.DurableSequence != q.Sequence || ack.ItemsApplied != 10 || ack.NextSequence != q.Sequence+1 {
			t.Fatalf("ack for %d = %v, %v", q.Sequence, ack, err)
		}
	}
	st.CloseSend()
	// A new stream (a reconnecting writer) resends what it is unsure of: the replay is
	// acknowledged as a duplicate and not applied again; the next batch follows.
	st, err = c.UpsertStream(ctx(t))
	if err != nil {
		t.Fatal(err)
	}
	ack, err := send(st, proto.Clone(b2).(*hardnegv1.UpsertStreamRequest))
	if err != nil || !ack.Duplicate || ack.Sequence != 2 || ack.DurableSequence != 2 || ack.NextSequence != 3 {
		t.Fatalf("replayed ack = %v, %v; want a duplicate", ack, err)
	}
	if ack, err := send(st, req(3)); err != nil || ack.Duplicate || ack.DurableSequence != 3 {
		t.Fatalf("ack for 3 = %v, %v", ack, err)
	}
	if _, err := send(st, req(5)); code(err) != codes.FailedPrecondition {
		t.Fatalf("gap: %v, want FailedPrecondition", err)
	}
	gi, err := c.GetItems(ctx(t), &hardnegv1.GetItemsRequest{Collection: n, Ids: []string{"w1-0", "w2-9", "w3-5", "w5-0"}})
	if err != nil || !slices.Equal(gi.MissingIds, []string{"w5-0"}) {
		t.Fatalf("get = %v, %v; want only the gap's w5-0 missing", gi, err)
	}
	waitItemCount(t, c, n, 30)
}

// waitItemCount waits until the collection's item count is want. An engine may count
// from one replica, which can trail acknowledged writes for a moment; it fails when the
// count has not converged after a minute.
func waitItemCount(t *testing.T, c hardnegv1.MinerServiceClient, n string, want uint64) {
	t.Helper()
	var got *hardnegv1.GetCollectionResponse
	var err error
	for range 600 {
		got, err = c.GetCollection(ctx(t), &hardnegv1.GetCollectionRequest{Name: n})
		if err == nil && got.Collection.Stats.GetItemCount() == want {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("item count = %v, %v; want %d", got, err, want)
}

// testScoreScale: a cosine collection whose items share a strong common direction (a
// background similarity near 0.9, as models like E5 give) reports that background
// through GetCalibration, and an empty policy reads its default near-duplicate
// threshold on the collection's scale (mining.BackgroundReference): every anchor gets
// its k negatives, where a raw 0.80 would drop most candidates as near-duplicates of
// the positive.
func testScoreScale(t *testing.T, c hardnegv1.MinerServiceClient) {
	const dim, n, k = 32, 400, 6
	r := mrand.New(mrand.NewPCG(11, 3))
	u := randVec(r, dim)
	items := make([]item, n)
	unit := make([][]float64, n)
	for i := range items {
		v := make([]float32, dim)
		for j := range v {
			v[j] = 3*u[j]/float32(math.Sqrt(float64(dim))) + float32(r.NormFloat64())/float32(math.Sqrt(float64(dim)))
		}
		items[i] = item{id: "i" + strconv.Itoa(i), vec: v}
		var norm float64
		for _, x := range v {
			norm += float64(x) * float64(x)
		}
		unit[i] = make([]float64, dim)
		for j, x := range v {
			unit[i][j] = float64(x) / math.Sqrt(norm)
		}
	}
	// The exact background: the mean cosine of two distinct items.
	var sum float64
	for i := range unit {
		for j := range i {
			for d := range dim {
				sum += unit[i][d] * unit[j][d]
			}
		}
	}
	b := sum / float64(n*(n-1)/2)
	if b < 0.85 || b > 0.95 {
		t.Fatalf("test corpus: background %.3f, want 0.85–0.95", b)
	}
	const ref, def = 0.25, 0.80 // mining.BackgroundReference, DefaultCosineDuplicateThreshold
	wantT := b + (def-ref)*(1-b)/(1-ref)
	coll := load(t, c, items, dim, hardnegv1.Metric_METRIC_COSINE)

	// GetCalibration: the background and the default threshold read on it. An engine
	// whose estimate can be read from a replica that trails the writes keeps it up to a
	// minute (the Weaviate backend): the deadline is past that.
	deadline := time.Now().Add(75 * time.Second)
	for {
		cal, err := c.GetCalibration(ctx(t), &hardnegv1.GetCalibrationRequest{Collection: coll})
		if err != nil {
			t.Fatal(err)
		}
		got, thr := cal.BackgroundSimilarity, cal.DefaultDuplicateThreshold
		if got != nil && thr != nil && math.Abs(*got-b) < 0.005 && math.Abs(float64(*thr)-wantT) < 0.005 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("GetCalibration: background_similarity %v, default_duplicate_threshold %v; want %.4f and %.4f", fmtOpt(got), fmtOpt(thr), b, wantT)
		}
		time.Sleep(200 * time.Millisecond)
	}

	// Mine with the defaults: each anchor's positive is an item a raw 0.80 would call a
	// near-duplicate of most candidates.
	var anchors []*hardnegv1.Anchor
	for a := range 8 {
		pos := n - 1 - a
		close := 0
		for i := range unit {
			var s float64
			for d := range dim {
				s += unit[i][d] * unit[pos][d]
			}
			if i != pos && i != a && s >= def {
				close++
			}
		}
		if close < n*9/10 {
			t.Fatalf("test corpus: only %d of %d items score ≥ %.2f against positive %d", close, n, def, pos)
		}
		anchors = append(anchors, &hardnegv1.Anchor{Id: items[a].id, PositiveIds: []string{items[pos].id}})
	}
	req := &hardnegv1.MineRequest{Collection: coll, Anchors: anchors, Policy: &hardnegv1.MiningPolicy{NumNegatives: k}}
	mineUntil(t, c, req, func(mr *hardnegv1.MineResponse) []string {
		var d []string
		for i, res := range mr.Results {
			if len(res.Negatives) != k || res.Shortfall != 0 {
				d = append(d, fmt.Sprintf("anchor %d: %d negatives, shortfall %d; want %d (removed: %v)", i, len(res.Negatives), res.Shortfall, k, res.Removed))
			}
			if thr := res.DuplicateThreshold; thr == nil || math.Abs(float64(*thr)-wantT) > 0.005 {
				d = append(d, fmt.Sprintf("anchor %d: duplicate_threshold %v, want %.4f", i, fmtOpt(thr), wantT))
			}
		}
		return d
	})
}

// fmtOpt prints an optional number, or "unset".
func fmtOpt[T float32 | float64](p *T) string {
	if p == nil {
		return "unset"
	}
	return strconv.FormatFloat(float64(*p), 'f', 4, 64)
}
