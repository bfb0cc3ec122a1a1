package mining

import (
	"context"
	"math/rand/v2"
	"reflect"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hardneg/hardneg/internal/engine"
	"golang.org/x/sync/semaphore"
)

// unbatched hides a collection's ScoreExact, so that Mine scans once per anchor.
type unbatched struct{ engine.Collection }

func (unbatched) ScoreExact([][]float32, []engine.ExactScores) bool { return false }

// countingScorer counts the groups a collection scored together.
type countingScorer struct {
	engine.Collection
	groups atomic.Int64
}

func (c *countingScorer) ScoreExact(qs [][]float32, out []engine.ExactScores) bool {
	ok := c.Collection.ScoreExact(qs, out)
	if ok {
		c.groups.Add(1)
	}
	return ok
}

// TestMineScoresAnchorGroupsIdentically checks that requests with many anchors on an
// exactly searched collection give exactly the same results (scores bit for bit)
// whether the anchors are scored together or scanned one by one, for every metric and
// a collection spanning several storage chunks.
func TestMineScoresAnchorGroupsIdentically(t *testing.T) {
	for seed := range uint64(6) {
		metric := []engine.Metric{engine.Cosine, engine.Dot, engine.L2}[seed%3]
		t.Run(metric.String()+"/"+strconv.Itoa(int(seed)), func(t *testing.T) {
			r := rand.New(rand.NewPCG(seed, 11))
			n := 300
			if seed >= 3 {
				n = 2600
			}
			w := randomWorld(r, n, 8+r.IntN(40), metric)
			w.cfg.Params = engine.Params{ExactThreshold: 1 << 20}
			c := newCollection(t, w.cfg, w.batchCopy(), w.feedback).(engine.Collection)
			rc := w.corpus(t, c)
			batched := &countingScorer{Collection: c}
			for q := range 4 {
				req := w.randomRequest(r, c, rc)
				for len(req.Anchors) < 20+q*7 {
					req.Anchors = append(req.Anchors, w.randomRequest(r, c, rc).Anchors...)
				}
				before := batched.groups.Load()
				got, err := Mine(context.Background(), batched, req)
				if err != nil {
					t.Fatal(err)
				}
				if batched.groups.Load() == before {
					t.Fatal("no anchor group was scored together")
				}
				want, err := Mine(context.Background(), unbatched{c}, req)
				if err != nil {
					t.Fatal(err)
				}
				if !reflect.DeepEqual(got, want) {
					if err := compareResults(got, want); err != nil {
						t.Fatalf("request %d: %v", q, err)
					}
					t.Fatalf("request %d: results differ", q)
				}
				for i := range got {
					if !got[i].ExactScan {
						t.Fatalf("anchor %d was not searched exactly", i)
					}
				}
			}
		})
	}
}

// TestMineFullScoreGroupsMatchScans mines requests large enough to fill whole groups
// of maxScoreGroup anchors, scored as matrix products, and checks the results against
// one scan per anchor, bit for bit.
func TestMineFullScoreGroupsMatchScans(t *testing.T) {
	for _, metric := range []engine.Metric{engine.Cosine, engine.Dot} {
		t.Run(metric.String(), func(t *testing.T) {
			r := rand.New(rand.NewPCG(uint64(metric), 12))
			w := randomWorld(r, 1500, 48, metric)
			w.cfg.Params = engine.Params{ExactThreshold: 1 << 20}
			c := newCollection(t, w.cfg, w.batchCopy(), w.feedback).(engine.Collection)
			rc := w.corpus(t, c)
			req := w.randomRequest(r, c, rc)
			for len(req.Anchors) < 2*maxScoreGroup*parallelism(c)+5 {
				req.Anchors = append(req.Anchors, w.randomRequest(r, c, rc).Anchors...)
			}
			batched := &countingScorer{Collection: c}
			got, err := Mine(context.Background(), batched, req)
			if err != nil {
				t.Fatal(err)
			}
			if g, most := batched.groups.Load(), int64(len(req.Anchors)/maxScoreGroup+1); g > most {
				t.Fatalf("%d anchors scored in %d groups, want at most %d", len(req.Anchors), g, most)
			}
			want, err := Mine(context.Background(), unbatched{c}, req)
			if err != nil {
				t.Fatal(err)
			}
			if err := compareResults(got, want); err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, want) {
				t.Fatal("results differ")
			}
		})
	}
}

// overlapScorer notes whether a group was scored while another group's anchors were
// still being mined: each ScoreExact adds its queries to pending, each anchor's search
// takes one away.
type overlapScorer struct {
	engine.Collection
	mu       sync.Mutex
	pending  int
	overlaps int
	groups   int
}

func (c *overlapScorer) ScoreExact(qs [][]float32, out []engine.ExactScores) bool {
	c.mu.Lock()
	if c.pending > 0 {
		c.overlaps++
	}
	c.pending += len(qs)
	c.groups++
	c.mu.Unlock()
	time.Sleep(time.Millisecond) // widen the window another request could score in
	return c.Collection.ScoreExact(qs, out)
}

func (c *overlapScorer) Search(ctx context.Context, q []float32, opts engine.SearchOptions, yield func(engine.Candidate) bool) (engine.SearchStats, error) {
	st, err := c.Collection.Search(ctx, q, opts, yield)
	if opts.Scores != nil {
		c.mu.Lock()
		c.pending--
		c.mu.Unlock()
	}
	return st, err
}

// TestConcurrentRequestsShareTheScoreSlots: score groups of concurrent requests wait
// for a slot (scoreSlots, one per CPU), so that no more groups' score buffers are held
// than there are slots. With one slot, no group is scored while another is mined.
func TestConcurrentRequestsShareTheScoreSlots(t *testing.T) {
	defer func(f func() *semaphore.Weighted) { scoreSlots = f }(scoreSlots)
	one := semaphore.NewWeighted(1)
	scoreSlots = func() *semaphore.Weighted { return one }
	r := rand.New(rand.NewPCG(4, 2))
	w := randomWorld(r, 500, 16, engine.Cosine)
	w.cfg.Params = engine.Params{ExactThreshold: 1 << 20}
	c := &overlapScorer{Collection: newCollection(t, w.cfg, w.batchCopy(), nil).(engine.Collection)}
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	// Enough anchors per request for groups of at least 2 on every core.
	per := max(40, 4*runtime.GOMAXPROCS(0))
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var anchors []Anchor
			for i := range per {
				anchors = append(anchors, Anchor{ID: "i" + strconv.Itoa((g*per+i)%500)})
			}
			if _, err := Mine(context.Background(), c, Request{Anchors: anchors, Policy: DefaultPolicy()}); err != nil {
				errs <- err
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if c.groups < 8 || c.overlaps != 0 || c.pending != 0 {
		t.Fatalf("%d groups scored, %d while another was being mined (pending %d); want ≥ 8, 0, 0", c.groups, c.overlaps, c.pending)
	}
}
