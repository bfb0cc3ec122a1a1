package weaviate

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	pb "github.com/weaviate/weaviate/grpc/generated/protocol/v1"
	"google.golang.org/grpc"

	"github.com/hardneg/hardneg/internal/engine"
)

// cursorCluster answers Search in Weaviate's cursor mode (objects after the given id,
// in id order, at most Limit) and Aggregate's object count, from objects sorted by id.
type cursorCluster struct {
	pb.WeaviateClient
	ids      []string
	vecs     [][]float32
	searches atomic.Int32
	fail     atomic.Bool
	block    chan struct{} // when set, Search waits for it (or for its context)
}

func newCursorCluster(n, dim int, seed uint64) *cursorCluster {
	r := rand.New(rand.NewPCG(seed, 1))
	f := &cursorCluster{}
	for i := range n {
		v := make([]float32, dim)
		var norm float32
		for j := range v {
			v[j] = float32(r.NormFloat64()) + 1.5
			norm += v[j] * v[j]
		}
		for j := range v {
			v[j] /= float32(math.Sqrt(float64(norm)))
		}
		f.ids = append(f.ids, objectID("c", fmt.Sprint(i)))
		f.vecs = append(f.vecs, v)
	}
	order := make([]int, n)
	for i := range order {
		order[i] = i
	}
	slices.SortFunc(order, func(a, b int) int { return strings.Compare(f.ids[a], f.ids[b]) })
	ids, vecs := make([]string, n), make([][]float32, n)
	for i, o := range order {
		ids[i], vecs[i] = f.ids[o], f.vecs[o]
	}
	f.ids, f.vecs = ids, vecs
	return f
}

func (f *cursorCluster) Search(ctx context.Context, in *pb.SearchRequest, _ ...grpc.CallOption) (*pb.SearchReply, error) {
	f.searches.Add(1)
	if f.block != nil {
		select {
		case <-f.block:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	if f.fail.Load() {
		return nil, errors.New("unavailable")
	}
	if in.After == "" || in.Properties == nil || len(in.Properties.NonRefProperties) > 0 || in.Limit > backgroundPage {
		return nil, fmt.Errorf("want a cursor page of at most %d objects without properties, got after %q, limit %d, properties %v", backgroundPage, in.After, in.Limit, in.Properties)
	}
	lo, _ := slices.BinarySearch(f.ids, in.After)
	if lo < len(f.ids) && f.ids[lo] == in.After {
		lo++
	}
	r := &pb.SearchReply{}
	for i := lo; i < len(f.ids) && len(r.Results) < int(in.Limit); i++ {
		r.Results = append(r.Results, &pb.SearchResult{Metadata: &pb.MetadataResult{Id: f.ids[i], Vector: f.vecs[i]}})
	}
	return r, nil
}

func (f *cursorCluster) Aggregate(context.Context, *pb.AggregateRequest, ...grpc.CallOption) (*pb.AggregateReply, error) {
	n := int64(len(f.ids))
	return &pb.AggregateReply{Result: &pb.AggregateReply_SingleResult{SingleResult: &pb.AggregateReply_Single{ObjectsCount: &n}}}, nil
}

func cursorCollection(f *cursorCluster, dim int) (*Engine, *Collection) {
	e := newEngine(&conn{opts: Options{Timeout: time.Minute}, data: f})
	return e, &Collection{e: e, cfg: engine.Config{Name: "c", Dim: dim, Metric: engine.Cosine}, class: "C"}
}

// The sample is the first 4,096 objects in id order, read a page at a time, and the
// staleness rule counts the collection's objects, not the sample's.
func TestBackgroundReadsTheFirstObjectsInPages(t *testing.T) {
	const n, dim = 5000, 8
	f := newCursorCluster(n, dim, 3)
	_, c := cursorCollection(f, dim)
	b, ok := c.Background()
	want := engine.NewPairMean(dim)
	for _, v := range f.vecs[:engine.BackgroundSample] {
		want.Add(v)
	}
	wb, _ := want.Mean()
	if !ok || b != wb {
		t.Fatalf("background %v, %v; want %v from the first %d objects", b, ok, wb, engine.BackgroundSample)
	}
	if got, want := int(f.searches.Load()), engine.BackgroundSample/backgroundPage; got != want {
		t.Errorf("%d search calls, want %d pages", got, want)
	}
	if e := c.bg.est.Load(); e.items != n {
		t.Errorf("estimate made at %d items, want the collection's %d", e.items, n)
	}
	// n/16 = 312 writes make it stale; 300 do not.
	c.bg.writes.Add(300)
	if _, due := c.bg.current(time.Now()); due {
		t.Error("300 writes of 5,000 items made the estimate stale")
	}
	c.bg.writes.Add(20)
	if _, due := c.bg.current(time.Now()); !due {
		t.Error("320 writes of 5,000 items left the estimate fresh")
	}
}

// A failed read is tried once for all the callers waiting on it, and not again before
// backgroundRetry; a stale estimate is returned at once while its refresh runs, and
// Close cancels that refresh.
func TestBackgroundFailuresAndRefreshes(t *testing.T) {
	const dim = 4
	f := newCursorCluster(300, dim, 4)
	e, c := cursorCollection(f, dim)
	f.fail.Store(true)
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, ok := c.Background(); ok {
				t.Error("a background while the cluster fails")
			}
		}()
	}
	wg.Wait()
	if got := f.searches.Load(); got != 1 {
		t.Fatalf("8 callers made %d reads of a failing cluster, want 1", got)
	}
	f.fail.Store(false)
	if _, ok := c.Background(); ok || f.searches.Load() != 1 {
		t.Fatalf("read again within backgroundRetry of a failure (%d reads)", f.searches.Load())
	}
	c.bg.retryAt.Store(0) // backgroundRetry has passed
	b1, ok := c.Background()
	if !ok {
		t.Fatal("no background after the cluster recovered")
	}

	// Stale: answered at once from the old estimate while the refresh waits.
	f.block = make(chan struct{})
	before := f.searches.Load()
	c.bg.writes.Add(1000)
	if b, ok := c.Background(); !ok || b != b1 {
		t.Fatalf("stale estimate: got %v, %v; want the old %v at once", b, ok, b1)
	}
	deadline := time.Now().Add(10 * time.Second)
	for f.searches.Load() == before {
		if time.Now().After(deadline) {
			t.Fatal("no refresh started")
		}
		time.Sleep(time.Millisecond)
	}
	if b, ok := c.Background(); !ok || b != b1 || f.searches.Load() != before+1 {
		t.Fatalf("while a refresh runs: %v, %v, %d reads; want the old estimate and no second read", b, ok, f.searches.Load()-before)
	}
	done := make(chan struct{})
	go func() { e.Close(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Close waited for the refresh's read instead of cancelling it")
	}
}
