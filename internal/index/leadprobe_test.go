package index

import (
	"bytes"
	"context"
	"log/slog"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/hardneg/hardneg/internal/engine"
	"github.com/hardneg/hardneg/internal/index/hnsw"
	"github.com/hardneg/hardneg/internal/index/vec"
)

// weakGraph creates a cosine collection of n random dim-dimensional vectors with a
// deliberately poor graph (M 4, ef_construction 16, ef_search 8: mining's fixed lead
// would be 16), in batches of 1,000, under opts.
func weakGraph(t *testing.T, opts Options, n, dim int) (*DB, *Collection) {
	t.Helper()
	db := openDB(t, opts)
	t.Cleanup(func() { db.Close() })
	ec, err := db.CreateCollection(engine.Config{Name: "weak", Dim: dim, Metric: engine.Cosine,
		Params: engine.Params{M: 4, EfConstruction: 16, EfSearch: 8, ExactThreshold: 1000}})
	if err != nil {
		t.Fatal(err)
	}
	c := ec.(*Collection)
	r := rand.New(rand.NewPCG(3, 3))
	b := randBatch(r, "x", n, dim)
	for lo := 0; lo < n; lo += 1000 {
		hi := min(lo+1000, n)
		part := &engine.Batch{IDs: b.IDs[lo:hi], Vectors: b.Vectors[lo*dim : hi*dim]}
		if _, err := db.Upsert("weak", part, "w"); err != nil {
			t.Fatal(err)
		}
	}
	c.WaitIdle()
	return db, c
}

// leadRecallOf is the recall@probeWindow of the graph at beam probeWindow + lead for the
// given items as queries (each hidden from its own search, as the probe does; an item
// that is the entry point is skipped), against bruteForce.
func leadRecallOf(c *Collection, items []uint32, lead int) float64 {
	hits, total := 0, 0
	var got []hnsw.Neighbor
	for _, slot := range items {
		q := c.vectorAt(slot)
		var want []string
		for _, id := range bruteForce(c, q) {
			if id != c.ids[slot] {
				want = append(want, id)
			}
			if len(want) == probeWindow {
				break
			}
		}
		c.mu.RLock()
		var ok bool
		got, ok = c.graph.SearchWithout(q, probeWindow, probeWindow+lead, []uint32{slot}, func(s uint32) bool { return c.ids[s] != "" }, got[:0])
		for _, nb := range got {
			if slices.Contains(want, c.ids[nb.ID]) {
				hits++
			}
		}
		c.mu.RUnlock()
		if ok {
			total += len(want)
		}
	}
	return float64(hits) / float64(total)
}

// TestLeadProbeWidensAWeakGraph checks the measured first-pass lead on a graph whose
// fixed lead finds too little: the probe reports a wider lead, and on other items than
// the probe's the graph's recall@10 at that lead is near the target (or, where no lead
// reaches it, near what the probe measured), while at the fixed lead it is far below.
func TestLeadProbeWidensAWeakGraph(t *testing.T) {
	n, others := 12000, 200
	if raceEnabled {
		n, others = 4000, 50
	}
	_, c := weakGraph(t, Options{Dir: t.TempDir(), LeadRecall: 0.99}, n, 32)
	lead, recall := c.FirstPassLead()
	t.Logf("measured lead %d, recall@10 %.4f", lead, recall)
	fixed := c.params.FixedLead()
	if lead <= fixed {
		t.Fatalf("lead %d: want wider than the fixed lead %d on this graph", lead, fixed)
	}
	r := rand.New(rand.NewPCG(9, 9))
	var items []uint32
	for len(items) < others {
		items = append(items, uint32(r.IntN(len(c.ids))))
	}
	atFixed, atLead := leadRecallOf(c, items, fixed), leadRecallOf(c, items, lead)
	t.Logf("other items: recall@10 %.4f at the fixed lead, %.4f at the measured one", atFixed, atLead)
	if want := min(0.99, recall) - 0.015; atLead < want {
		t.Errorf("recall@10 at the measured lead %d is %.4f on other items, want ≥ %.4f", lead, atLead, want)
	}
	if atFixed >= 0.99 {
		t.Errorf("recall@10 at the fixed lead is %.4f: the graph is not weak enough for this test", atFixed)
	}
	// What the lead is for: new queries from the same distribution, not stored items.
	fresh := randBatch(rand.New(rand.NewPCG(17, 17)), "q", others, 32)
	hits, total := 0, 0
	var got []hnsw.Neighbor
	for i := range others {
		q := slices.Clone(fresh.Vectors[i*32 : (i+1)*32])
		vec.Normalize(q)
		want := bruteForce(c, q)[:probeWindow]
		c.mu.RLock()
		got = c.graph.Search(q, probeWindow, probeWindow+lead, func(s uint32) bool { return c.ids[s] != "" }, got[:0])
		for _, nb := range got {
			if slices.Contains(want, c.ids[nb.ID]) {
				hits++
			}
		}
		c.mu.RUnlock()
		total += probeWindow
	}
	atLeadNew := float64(hits) / float64(total)
	t.Logf("new queries: recall@10 %.4f at the measured lead", atLeadNew)
	if want := min(0.99, recall) - 0.02; atLeadNew < want {
		t.Errorf("recall@10 of new queries at the measured lead %d is %.4f, want ≥ %.4f", lead, atLeadNew, want)
	}
	st := c.Stats()
	if st.FirstPassLead != lead || st.LeadRecall != recall {
		t.Errorf("Stats: lead %d recall %v, want %d %v", st.FirstPassLead, st.LeadRecall, lead, recall)
	}
	// A beam of at least a sixteenth of the items costs more than a scan: the collection
	// then searches exactly (and still keeps its graph).
	if scan := recall < scanRecall || lead*scanShare >= st.Items; st.GraphSearch == scan || c.SearchesExactly() != scan || !st.GraphBuilt {
		t.Errorf("lead %d of %d items: graph search %v, searches exactly %v, want %v", lead, st.Items, st.GraphSearch, c.SearchesExactly(), !scan)
	}
}

// TestLeadProbeWhen checks when a collection measures: not without a graph, once when
// the graph is built, again only once the live count has grown by a quarter since, never with
// LeadRecall -1, and again after a restart, at the recovered size.
func TestLeadProbeWhen(t *testing.T) {
	dir := t.TempDir()
	db, c := weakGraph(t, Options{Dir: dir, LeadRecall: DefaultLeadRecall}, 999, 16)
	if lead, _ := c.FirstPassLead(); lead != 0 {
		t.Fatalf("no graph yet: lead %d, want 0", lead)
	}
	add := func(prefix string, n int) {
		t.Helper()
		if _, err := db.Upsert("weak", randBatch(rand.New(rand.NewPCG(uint64(n), 1)), prefix, n, 16), "w"); err != nil {
			t.Fatal(err)
		}
		c.WaitIdle()
	}
	probedAt := func() int {
		c.writeMu.Lock()
		defer c.writeMu.Unlock()
		return c.probe.items
	}
	add("a", 1) // 1,000: the graph is built
	if lead, _ := c.FirstPassLead(); lead == 0 || probedAt() != 1000 {
		t.Fatalf("graph built: lead %d measured at %d items, want a lead at 1,000", lead, probedAt())
	}
	add("b", 249) // 1,249: not a quarter more
	if n := probedAt(); n != 1000 {
		t.Fatalf("1,249 items: last measured at %d, want 1,000", n)
	}
	add("c", 1) // 1,250
	if n := probedAt(); n != 1250 {
		t.Fatalf("1,250 items: last measured at %d, want 1,250", n)
	}
	add("e", 750) // 2,000, in one batch: measured once, at 2,000
	if n := probedAt(); n != 2000 {
		t.Fatalf("2,000 items: last measured at %d, want 2,000", n)
	}
	closeDB(t, db)

	db = openDB(t, Options{Dir: dir, LeadRecall: DefaultLeadRecall})
	c = db.collections["weak"]
	c.WaitIdle()
	if lead, _ := c.FirstPassLead(); lead == 0 || probedAt() != 2000 {
		t.Fatalf("after a restart: lead %d measured at %d items, want a lead at 2,000", lead, probedAt())
	}
	closeDB(t, db)

	db = openDB(t, Options{Dir: dir, LeadRecall: -1})
	c = db.collections["weak"]
	add("d", 2000)
	if lead, _ := c.FirstPassLead(); lead != 0 {
		t.Fatalf("LeadRecall -1: lead %d, want 0", lead)
	}
	closeDB(t, db)
}

func TestLeadRecallOption(t *testing.T) {
	for _, v := range []float64{-0.5, 1.5, -2} {
		if _, err := (Options{LeadRecall: v}).withDefaults(); err == nil {
			t.Errorf("LeadRecall %v: no error", v)
		}
	}
	if o, err := (Options{}).withDefaults(); err != nil || o.LeadRecall != DefaultLeadRecall {
		t.Errorf("default: %v, %v", o.LeadRecall, err)
	}
}

// BenchmarkMeasureLead times one measurement of the first-pass lead (measureLead) and
// its exact part alone, on 15,000 random 384-d vectors (default index parameters),
// where the graph needs the widest lead and every lead is tried.
//
//	go test ./internal/index -run '^$' -bench MeasureLead -benchtime 5x
func BenchmarkMeasureLead(b *testing.B) {
	db := openDB(b, Options{Dir: b.TempDir(), LeadRecall: -1})
	defer db.Close()
	ec, err := db.CreateCollection(engine.Config{Name: "c", Dim: 384, Metric: engine.Cosine})
	if err != nil {
		b.Fatal(err)
	}
	c := ec.(*Collection)
	r := rand.New(rand.NewPCG(1, 1))
	for i := range 3 {
		if _, err := db.Upsert("c", randBatch(r, "b"+strconv.Itoa(i)+"-", 5000, 384), "w"); err != nil {
			b.Fatal(err)
		}
	}
	b.Run("whole", func(b *testing.B) {
		for b.Loop() {
			lead, _, _, _, _ := c.measureLead(DefaultLeadRecall)
			b.ReportMetric(float64(lead), "lead")
		}
	})
	b.Run("exact", func(b *testing.B) {
		qs, self, n, _ := c.probeSample()
		for b.Loop() {
			c.probeExact(qs, self, n)
		}
	})
}

// shapedCollection creates a collection of n vectors of dimension dim, vector i given
// by gen, with ExactThreshold 1,000 and default graph parameters, in a DB opened with
// opts.
func shapedCollection(t *testing.T, opts Options, metric engine.Metric, n, dim int, gen func(i int, v []float32)) (*DB, *Collection) {
	t.Helper()
	db := openDB(t, opts)
	t.Cleanup(func() { db.Close() })
	ec, err := db.CreateCollection(engine.Config{Name: "shaped", Dim: dim, Metric: metric, Params: engine.Params{ExactThreshold: 1000}})
	if err != nil {
		t.Fatal(err)
	}
	b := &engine.Batch{Vectors: make([]float32, n*dim)}
	for i := range n {
		b.IDs = append(b.IDs, strconv.Itoa(i))
		gen(i, b.Vectors[i*dim:(i+1)*dim])
	}
	for lo := 0; lo < n; lo += 1000 {
		hi := min(lo+1000, n)
		if _, err := db.Upsert("shaped", &engine.Batch{IDs: b.IDs[lo:hi], Vectors: b.Vectors[lo*dim : hi*dim]}, "w"); err != nil {
			t.Fatal(err)
		}
	}
	c := ec.(*Collection)
	c.WaitIdle()
	return db, c
}

// Data the graph cannot order (here one tight cluster, whose items the int8 codes
// cannot tell apart: cosines of 0.9999 between them) measures a recall far below
// scanRecall at every lead; the collection then searches by exact scan, which finds
// every item, and says so in its stats and in the log.
func TestAGraphThatCannotFindTheNearestItemsIsReplacedByAScan(t *testing.T) {
	n, dim := 4000, 64
	r := rand.New(rand.NewPCG(5, 5))
	centre := make([]float32, dim)
	for i := range centre {
		centre[i] = float32(r.NormFloat64())
	}
	vec.Normalize(centre)
	logged := &lockedBuffer{}
	log := slog.New(slog.NewTextHandler(logged, nil))
	_, c := shapedCollection(t, Options{Dir: t.TempDir(), Logger: log, LeadRecall: DefaultLeadRecall}, engine.Cosine, n, dim, func(_ int, v []float32) {
		for i := range v {
			v[i] = centre[i] + 0.0025*float32(r.NormFloat64())
		}
	})
	_, recall, items, graph := measuredAndActual(t, c, r, n)
	if recall >= scanRecall || graph >= scanRecall {
		t.Fatalf("recall %.3f (other items %.3f): the graph is not poor enough on this data for the test", recall, graph)
	}
	st := c.Stats()
	if st.GraphSearch || !c.SearchesExactly() || !st.GraphBuilt {
		t.Fatalf("recall %.3f: graph search %v, searches exactly %v; want exact scans, graph kept", recall, st.GraphSearch, c.SearchesExactly())
	}
	if out := logged.String(); !strings.Contains(out, "searched by exact scan") || !strings.Contains(out, "collection=shaped") {
		t.Errorf("the switch was not logged:\n%s", out)
	}
	// Searches now find the exact nearest items.
	for _, slot := range items[:20] {
		q := c.vectorAt(slot)
		want := bruteForce(c, q)[:probeWindow]
		var got []string
		if _, err := c.Search(context.Background(), q, engine.SearchOptions{}, func(cd engine.Candidate) bool {
			got = append(got, cd.ID)
			return len(got) < probeWindow
		}); err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(got, want) {
			t.Fatalf("search for item %d: %v, want %v", slot, got, want)
		}
	}
}

// Under L2 the probe's exact scan scores in a form that cancels in float32 when every
// vector carries a large common offset; it centres the vectors first, so the recall it
// measures is the graph's (it read 0 for a graph that found 0.9 of the exact top 10).
func TestLeadProbeMeasuresL2WithALargeOffset(t *testing.T) {
	n, dim := 4000, 32
	r := rand.New(rand.NewPCG(6, 6))
	_, c := shapedCollection(t, Options{Dir: t.TempDir(), LeadRecall: DefaultLeadRecall}, engine.L2, n, dim, func(_ int, v []float32) {
		for i := range v {
			v[i] = 1e4 + float32(r.NormFloat64())
		}
	})
	_, recall, _, graph := measuredAndActual(t, c, r, n)
	if recall < graph-0.1 || recall > graph+0.1 {
		t.Fatalf("the probe measured recall %.3f where the graph finds %.3f of the exact top %d", recall, graph, probeWindow)
	}
}

// measuredAndActual returns the lead and recall c's probe measured, 128 random items
// other than the probe's, and the graph's recall@probeWindow for them at that lead.
func measuredAndActual(t *testing.T, c *Collection, r *rand.Rand, n int) (lead int, recall float64, items []uint32, graph float64) {
	lead, recall = c.FirstPassLead()
	for len(items) < 128 {
		items = append(items, uint32(r.IntN(n)))
	}
	graph = leadRecallOf(c, items, lead)
	t.Logf("measured lead %d, recall %.3f; other items through the graph %.3f", lead, recall, graph)
	return lead, recall, items, graph
}

// lockedBuffer is a bytes.Buffer safe for a logger in another goroutine.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// A collection re-encoded in place (the same ids, new vectors, as a training loop's
// refresh does) is measured again once a quarter of it was rewritten, although its live
// count never grew: well-ordered data re-encoded as one tight cluster goes to exact
// scans instead of mining the graph at its old measurement.
func TestLeadProbeMeasuresACollectionReencodedInPlace(t *testing.T) {
	n, dim := 4000, 64
	r := rand.New(rand.NewPCG(7, 7))
	opts := Options{Dir: t.TempDir(), LeadRecall: DefaultLeadRecall}
	centres := make([][]float32, 40)
	for k := range centres {
		centres[k] = make([]float32, dim)
		for i := range centres[k] {
			centres[k][i] = float32(r.NormFloat64())
		}
	}
	db, c := shapedCollection(t, opts, engine.Cosine, n, dim, func(item int, v []float32) {
		for i := range v {
			v[i] = centres[item%len(centres)][i] + 0.3*float32(r.NormFloat64())
		}
	})
	if _, recall := c.FirstPassLead(); recall < scanRecall || !c.Stats().GraphSearch {
		t.Fatalf("clustered vectors: recall %.3f, graph search %v; want the graph", recall, c.Stats().GraphSearch)
	}
	centre := make([]float32, dim)
	for i := range centre {
		centre[i] = float32(r.NormFloat64())
	}
	b := &engine.Batch{Vectors: make([]float32, n*dim)}
	for i := range n {
		b.IDs = append(b.IDs, strconv.Itoa(i))
		for j := range dim {
			b.Vectors[i*dim+j] = centre[j] + 0.0025*float32(r.NormFloat64())
		}
	}
	for lo := 0; lo < n; lo += 1000 {
		if _, err := db.Upsert("shaped", &engine.Batch{IDs: b.IDs[lo : lo+1000], Vectors: b.Vectors[lo*dim : (lo+1000)*dim]}, "w"); err != nil {
			t.Fatal(err)
		}
	}
	c.WaitIdle()
	_, recall := c.FirstPassLead()
	t.Logf("after the re-encoding: recall %.3f", recall)
	if recall >= scanRecall || c.Stats().GraphSearch {
		t.Fatalf("re-encoded as one tight cluster: recall %.3f, graph search %v; want a new measurement that sends it to exact scans", recall, c.Stats().GraphSearch)
	}
}

// An item's exact copies are hidden from its probe search along with it: they would
// lead the search straight to the item's neighbours, where a new query has no such
// node. On 20 copies each of 400 random 64-d vectors the probe read 0.992 at a lead of
// 256 with only the item hidden, where new queries found 0.815 of their top 10 (ties
// counted); what it reads now holds for new queries.
func TestLeadProbeHidesTheQuerysCopies(t *testing.T) {
	n, dim, copies := 8000, 64, 20
	r := rand.New(rand.NewPCG(9, 9))
	distinct := make([][]float32, n/copies)
	for i := range distinct {
		distinct[i] = make([]float32, dim)
		for j := range distinct[i] {
			distinct[i][j] = float32(r.NormFloat64())
		}
	}
	_, c := shapedCollection(t, Options{Dir: t.TempDir(), LeadRecall: DefaultLeadRecall}, engine.Cosine, n, dim, func(_ int, v []float32) {
		copy(v, distinct[r.IntN(len(distinct))])
	})
	lead, recall := c.FirstPassLead()
	hits, total := 0, 0
	var got []hnsw.Neighbor
	for range 200 {
		q := make([]float32, dim)
		for j := range q {
			q[j] = float32(r.NormFloat64())
		}
		vec.Normalize(q)
		kth := c.Similarity(q, c.vectorAt(c.slots[bruteForce(c, q)[probeWindow-1]]))
		c.mu.RLock()
		got = c.graph.Search(q, probeWindow, probeWindow+lead, func(s uint32) bool { return c.ids[s] != "" }, got[:0])
		for _, nb := range got {
			if c.Similarity(q, c.vectorAt(nb.ID)) >= kth {
				hits++
			}
		}
		c.mu.RUnlock()
		total += probeWindow
	}
	fresh := float64(hits) / float64(total)
	t.Logf("measured lead %d, recall %.3f; new queries at that lead %.3f", lead, recall, fresh)
	if recall > fresh+0.05 {
		t.Errorf("the probe read %.3f at lead %d where new queries find %.3f of their top %d", recall, lead, fresh, probeWindow)
	}
}

// clusteredRows fills item i with a point of cluster i mod k (k centres, spread 0.3):
// data whose graph the probe measures at a recall near 1.
func clusteredRows(seed uint64, k, dim int) func(int, []float32) {
	r := rand.New(rand.NewPCG(seed, seed))
	centres := make([][]float32, k)
	for j := range centres {
		centres[j] = make([]float32, dim)
		for i := range centres[j] {
			centres[j][i] = float32(r.NormFloat64())
		}
	}
	return func(item int, v []float32) {
		for i := range v {
			v[i] = centres[item%k][i] + 0.3*float32(r.NormFloat64())
		}
	}
}

// Items deleted or rewritten while a probe runs (between its exact scan and its graph
// searches) are in its exact results but can never be found through the graph; the
// probe counts only those still live, so a healthy graph is not read as a poor one and
// sent to exact scans (8% deleted read 0.91–0.94, below scanRecall, and the decision
// stuck: so few writes make no new probe due).
func TestLeadProbeIgnoresItemsWrittenWhileItMeasures(t *testing.T) {
	n, dim := 6000, 32
	if raceEnabled {
		n = 2000
	}
	for _, how := range []string{"delete", "rewrite"} {
		t.Run(how, func(t *testing.T) {
			gen := clusteredRows(11, 40, dim)
			db, c := shapedCollection(t, Options{Dir: t.TempDir(), LeadRecall: DefaultLeadRecall}, engine.Cosine, n, dim, gen)
			if _, recall := c.FirstPassLead(); recall < scanRecall || !c.Stats().GraphSearch {
				t.Fatalf("recall %.3f: the graph is not healthy enough for the test", recall)
			}
			// Every tenth item, so each probe query's exact top 10 loses some.
			m := n / 10
			ids := make([]string, m)
			b := &engine.Batch{IDs: ids, Vectors: make([]float32, m*dim)}
			for i := range m {
				ids[i] = strconv.Itoa(i * 10)
				gen(i*10, b.Vectors[i*dim:(i+1)*dim])
			}
			hooked := false
			probeExactHook = func(hc *Collection) {
				if hc != c || hooked {
					return
				}
				hooked = true
				var err error
				if how == "delete" {
					_, err = db.Delete("shaped", ids, "d")
				} else {
					_, err = db.Upsert("shaped", b, "d")
				}
				if err != nil {
					t.Error(err)
				}
			}
			defer func() { probeExactHook = nil }()
			c.writeMu.Lock()
			c.probe.items = 0 // a probe is due, as after growth
			c.maybeProbe()
			c.writeMu.Unlock()
			c.WaitIdle()
			if !hooked {
				t.Fatal("no probe ran")
			}
			lead, recall := c.FirstPassLead()
			if st := c.Stats(); recall < scanRecall || !st.GraphSearch {
				t.Fatalf("after a %s of %d items during the probe: recall %.3f at lead %d, graph search %v; want the graph kept", how, m, recall, lead, st.GraphSearch)
			}
		})
	}
}

// Which lead the probe keeps, and when it stops widening. A recall target below
// scanRecall (-lead-recall 0.9, to mine with a narrower beam) keeps the narrowest lead
// that meets it, but the probe widens on until a lead reaches scanRecall: the graph goes
// to exact scans only when none does. It stopped at the target's lead and judged the
// graph by that lead's recall, sending graphs that reach 1.0 at wider leads to scans
// (measured: 0.94 at lead 128 and 1.0 at 512 on 6,000 random 128-d vectors).
func TestChooseLead(t *testing.T) {
	for _, tc := range []struct {
		recalls []float64
		target  float64
		i       int
		stop    bool
	}{
		{[]float64{0.97, 0.996}, 0.995, 1, true},               // the default target: the first lead reaching it
		{[]float64{0.996}, 0.995, 0, true},                     // met at once
		{[]float64{0.94}, 0.9, 0, false},                       // met, but below scanRecall: widen on
		{[]float64{0.94, 0.99}, 0.9, 0, true},                  // the target's lead kept; the graph is not poor
		{[]float64{0.80, 0.84, 0.851, 0.853}, 0.995, 2, false}, // never met: the first within probeFlat of the best
		{[]float64{0.91, 0.93, 0.94}, 0.9, 0, false},           // met, and poor at every lead
	} {
		i, stop := chooseLead(tc.recalls, tc.target)
		if i != tc.i || stop != tc.stop {
			t.Errorf("chooseLead(%v, %v) = %d, %v; want %d, %v", tc.recalls, tc.target, i, stop, tc.i, tc.stop)
		}
	}
}

// TestProbeVerdict covers the decisions a measurement sets: scans for a poor graph,
// the graph for a lead no wider than the fixed one, single searches and groups of
// anchors by the lead's share of the live items, and groups from a far smaller share
// when the graph stays short of the target at every lead.
func TestProbeVerdict(t *testing.T) {
	const fixed = 128
	// A collection with ef_search 1,024 (a fixed lead of 2,048) on the 1M set decides as
	// one with the default ef_search does.
	if scan, batch := probeVerdict(2048, 2048, 1_000_000, 0.986, 0.986, 0.995); scan || !batch {
		t.Errorf("short at a fixed lead of 2,048 on 1M items: scan %v, groups %v; want false, true", scan, batch)
	}
	for _, tc := range []struct {
		name                 string
		lead, live           int
		recall, best, target float64
		scan, batch          bool
	}{
		{"poor at every lead", 2048, 1 << 30, 0.90, 0.93, 0.995, true, true},
		{"met at the fixed lead", fixed, 1000, 0.996, 0.996, 0.995, false, false},
		{"met, a 10th", 100, 1000, 0.996, 0.996, 0.995, false, false}, // not wider than the fixed lead
		{"met, a 16th", 256, 16 * 256, 0.996, 0.996, 0.995, true, true},
		{"met, a 17th", 256, 17 * 256, 0.996, 0.996, 0.995, false, true},
		{"met, a 48th", 256, 48 * 256, 0.996, 0.996, 0.995, false, true},
		{"met, a 49th", 256, 49 * 256, 0.996, 0.996, 0.995, false, false},
		{"met, 1M at 2,048", 2048, 1_000_000, 0.996, 0.996, 0.995, false, false},
		{"short, 1M at 2,048", 2048, 1_000_000, 0.9805, 0.9807, 0.995, false, true},
		{"short, a 512th", 256, scanShareShort * 256, 0.99, 0.99, 0.995, false, true},
		{"short, past a 512th", 256, scanShareShort*256 + 1, 0.99, 0.99, 0.995, false, false},
		{"short at the fixed lead", fixed, 1000, 0.99, 0.99, 0.995, false, true},
		{"short at the fixed lead, past a 512th", fixed, scanShareShort*fixed + 1, 0.99, 0.99, 0.995, false, false},
	} {
		scan, batch := probeVerdict(tc.lead, fixed, tc.live, tc.recall, tc.best, tc.target)
		if scan != tc.scan || batch != tc.batch {
			t.Errorf("%s: probeVerdict(lead %d, live %d, recall %v, best %v) = scan %v, groups %v; want %v, %v",
				tc.name, tc.lead, tc.live, tc.recall, tc.best, scan, batch, tc.scan, tc.batch)
		}
	}
}

// A probe that could search none of its queries (each one's copies include the
// graph's entry point, hidden from its search) measured nothing: it keeps the last
// decision instead of recording a recall of 0 and sending the collection to exact
// scans with a warning.
func TestAProbeThatSearchedNothingDecidesNothing(t *testing.T) {
	dim := 16
	logged := &lockedBuffer{}
	_, c := shapedCollection(t, Options{Dir: t.TempDir(), Logger: slog.New(slog.NewTextHandler(logged, nil)), LeadRecall: DefaultLeadRecall},
		engine.Cosine, 1200, dim, func(_ int, v []float32) {
			for i := range v {
				v[i] = float32(i + 1)
			}
		})
	lead, recall := c.FirstPassLead()
	if lead != 0 || recall != 0 || !c.Stats().GraphSearch || strings.Contains(logged.String(), "exact scan") {
		t.Fatalf("lead %d, recall %v, graph search %v; want nothing measured and the graph kept\n%s", lead, recall, c.Stats().GraphSearch, logged.String())
	}
}

// A probe query whose vector many items hold is left out (probeMaxCopies): hiding every
// copy would make each of its searches look through the list at every node, and the
// copies it found are bounded while it scans. The other queries still measure.
func TestLeadProbeLeavesOutQueriesWithManyCopies(t *testing.T) {
	const dim = 16
	gen := clusteredRows(21, 10, dim)
	heavy := make([]float32, dim)
	gen(0, heavy)
	_, c := shapedCollection(t, Options{Dir: t.TempDir(), LeadRecall: DefaultLeadRecall}, engine.Cosine, 3000, dim, func(i int, v []float32) {
		if i%2 == 0 {
			copy(v, heavy) // 1,500 copies of one vector
			return
		}
		gen(i, v)
	})
	qs, self, n, _ := c.probeSample()
	truth := c.probeExact(qs, self, n)
	left, kept := 0, 0
	for j, tr := range truth {
		switch {
		case slices.Equal(qs[j], c.vectorAt(0)):
			left++
			if len(tr.want) != 0 || len(tr.hide) != 0 {
				t.Fatalf("query %d (a vector of 1,500 items): want %d, hide %d; want it left out", j, len(tr.want), len(tr.hide))
			}
		default:
			kept++
			if len(tr.want) != probeWindow || len(tr.hide) > probeMaxCopies+1 {
				t.Fatalf("query %d: want %d, hide %d", j, len(tr.want), len(tr.hide))
			}
		}
	}
	if left == 0 || kept == 0 {
		t.Fatalf("%d queries left out, %d kept: the sample does not show both", left, kept)
	}
	// The others measured the graph (which such heavy duplication leaves poor: it went
	// to exact scans at 0.92).
	if lead, recall := c.FirstPassLead(); lead == 0 || recall == 0 {
		t.Fatalf("lead %d, recall %.3f: nothing measured", lead, recall)
	}
}
