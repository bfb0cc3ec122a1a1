package mining

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"

	"github.com/hardneg/hardneg/internal/engine"
	"github.com/hardneg/hardneg/internal/validate"
)

// Limits of a BuildBatches request.
const (
	MaxBatchAnchors       = 65536
	MaxBatchAnchorPos     = 64
	MaxBatchSize          = 4096
	MaxBatchEpochs        = 10000
	MaxNeighbourRank      = 4096
	defaultBatchSampleMul = 8
	// twoMeansIterations is the number of assignment rounds of each balanced 2-means
	// split.
	twoMeansIterations = 6
	// maxDeferredScan bounds, in multiples of the batch size, how many deferred anchors
	// a batch tries before taking new ones, so adversarial inputs stay O(n·batch).
	maxDeferredScan = 8
)

// BatchStrategy says how BuildBatches groups anchors into batches.
type BatchStrategy int

// Batch strategies.
const (
	// BatchClusters is NGAME-style: each epoch, the anchors are split by recursive
	// balanced 2-means on their vectors into clusters of ClusterSize(epoch) or fewer
	// (and more than half of it), and batches are filled with whole clusters in a
	// seeded random order, so in-batch negatives are near neighbours.
	BatchClusters BatchStrategy = iota
	// BatchNeighbours is Sample4Geo-style: each epoch, in a seeded random order, an
	// anchor not yet placed starts a group with its NumNearest nearest anchors not yet
	// placed and NumSampled sampled uniformly among those at neighbour ranks
	// [SampleRangeMin, SampleRangeMax), and batches are filled with the groups.
	BatchNeighbours
)

// BatchAnchor is one training pair: an anchor and its positives.
type BatchAnchor struct {
	// ID names the anchor (unique in the request; the key of its reported false
	// negatives). Without Vector it must be an item of the collection, whose stored
	// vector places it.
	ID string
	// Vector, when set, is the anchor's raw vector (e.g. a query that is not an item of
	// the collection), used instead of a stored one.
	Vector []float32
	// PositiveIDs are its positives (ids; those in the collection also count for the
	// near-duplicate rule).
	PositiveIDs []string
}

// BatchRequest asks for training batches. Zero fields take the defaults named.
type BatchRequest struct {
	Anchors []BatchAnchor
	// BatchSize is the number of anchors per batch, 1–MaxBatchSize. The last batch of
	// an epoch, and batches after repairs, can be smaller.
	BatchSize int
	Strategy  BatchStrategy
	// Epochs is the length of the schedule (default 1); FirstEpoch and NumEpochs
	// select the epochs to build (default: FirstEpoch through the last).
	Epochs, FirstEpoch, NumEpochs int
	// Seed makes every epoch reproducible: epoch e draws from PCG(Seed, e).
	Seed uint64
	// ClusterSizeStart and ClusterSizeEnd are the cluster size of the first and the
	// last epoch (BatchClusters), interpolated linearly between (NGAME grows its
	// clusters during training); 0: BatchSize. At most BatchSize.
	ClusterSizeStart, ClusterSizeEnd int
	// NumNearest and NumSampled are the neighbours per group (BatchNeighbours);
	// 1 + NumNearest + NumSampled must fit in BatchSize. SampleRangeMin and
	// SampleRangeMax bound the neighbour ranks sampled from (0-based among the other
	// anchors, nearest first); defaults NumNearest and SampleRangeMin +
	// 8·NumSampled, at most MaxNeighbourRank.
	NumNearest, NumSampled         int
	SampleRangeMin, SampleRangeMax int
	// NearDuplicates, DuplicateThreshold and DuplicateMargin are Mine's near-duplicate
	// rule (see Policy; defaults as there): with it on, no batch holds an anchor or
	// positive of one row whose similarity to a positive of another row is at or above
	// that row's threshold min(threshold, s⁺ + margin).
	NearDuplicates                      bool
	DuplicateThreshold, DuplicateMargin *float32
	// UseFeedback keeps items reported as false negatives for an anchor (its id is the
	// key) out of its batches.
	UseFeedback bool
}

// DefaultBatchRequest returns the defaults of the switches (near-duplicates and
// feedback on).
func DefaultBatchRequest() BatchRequest {
	return BatchRequest{NearDuplicates: true, UseFeedback: true}
}

// Batch is one built batch.
type Batch struct {
	// Epoch and Index (within the epoch) place the batch.
	Epoch, Index int
	// Rows are positions in BatchRequest.Anchors.
	Rows []int
	// Deferred counts anchors this batch's grouping proposed but that conflicted with
	// a row already in it: each was moved to a later batch (a swap with the next
	// anchor that fits). SwappedIn counts rows that were moved here from an earlier
	// batch.
	Deferred, SwappedIn int
	// ClusterSize is the epoch's cluster size (BatchClusters) or group size
	// (BatchNeighbours).
	ClusterSize int
}

// batchRow is an anchor resolved for batch building.
type batchRow struct {
	id      string
	vec     []float32
	members []string            // the anchor id and its positive ids: what the row brings to a batch
	forbid  map[string]struct{} // its positives and reported false negatives
	posVecs [][]float32         // stored vectors of its positives
	dup     float32             // near-duplicate threshold against posVecs, valid when hasDup
	hasDup  bool
	// fnVecs are the stored vectors of the anchor's reported false negatives, when the
	// near-duplicate rule has a threshold (fnDup): their near-duplicates are kept apart
	// too, as Mine excludes them.
	fnVecs  [][]float32
	fnDup   float32
	memVecs [][]float32 // stored vectors of members (nil entries when not stored)
}

// batchBuilder holds a request's resolved rows.
type batchBuilder struct {
	s    Searcher
	req  *BatchRequest
	rows []batchRow
	// neighbours[i] are the other anchors nearest to anchor i, best first, up to the
	// neighbour window's end (BatchNeighbours only).
	neighbours [][]int
	// exactNeighbours: some anchor came with its own vector, so neighbours are found by
	// scoring the anchors against each other rather than by the collection's search.
	exactNeighbours bool
}

// validate checks a request; it does not look at the collection.
func (r *BatchRequest) validate(e *validate.Error, m engine.Metric) {
	if n := len(r.Anchors); n == 0 || n > MaxBatchAnchors {
		e.Add("anchors", "must hold 1–%d anchors, got %d", MaxBatchAnchors, n)
	}
	seen := make(map[string]int, len(r.Anchors))
	for i, a := range r.Anchors {
		f := fmt.Sprintf("anchors[%d]", i)
		if engine.CheckID(e, f+".id", a.ID) {
			if j, dup := seen[a.ID]; dup {
				e.Add(f+".id", "%q is also anchors[%d]; an id is one row", a.ID, j)
			} else {
				seen[a.ID] = i
			}
		}
		if len(a.PositiveIDs) > MaxBatchAnchorPos {
			e.Add(f+".positive_ids", "at most %d, got %d", MaxBatchAnchorPos, len(a.PositiveIDs))
		}
		for j, p := range a.PositiveIDs {
			engine.CheckID(e, fmt.Sprintf("%s.positive_ids[%d]", f, j), p)
		}
	}
	if r.BatchSize < 1 || r.BatchSize > MaxBatchSize {
		e.Add("batch_size", "must be 1–%d, got %d", MaxBatchSize, r.BatchSize)
	}
	if r.Epochs < 0 || r.Epochs > MaxBatchEpochs {
		e.Add("epochs", "must be 0–%d, got %d", MaxBatchEpochs, r.Epochs)
	}
	epochs := max(r.Epochs, 1)
	if r.FirstEpoch < 0 || r.FirstEpoch >= epochs {
		e.Add("first_epoch", "must be below epochs (%d), got %d", epochs, r.FirstEpoch)
	}
	if r.NumEpochs < 0 {
		e.Add("num_epochs", "must not be negative")
	} else if r.FirstEpoch >= 0 && r.FirstEpoch < epochs && r.NumEpochs > epochs-r.FirstEpoch {
		e.Add("num_epochs", "%d epochs from first_epoch %d run past the schedule of %d epochs: at most %d (or 0 for through the last)",
			r.NumEpochs, r.FirstEpoch, epochs, epochs-r.FirstEpoch)
	}
	switch r.Strategy {
	case BatchClusters:
		for _, f := range []struct {
			name string
			v    int
		}{{"cluster_size_start", r.ClusterSizeStart}, {"cluster_size_end", r.ClusterSizeEnd}} {
			if f.v < 0 || (r.BatchSize >= 1 && f.v > r.BatchSize) {
				e.Add(f.name, "must be 0–batch_size (%d), got %d", r.BatchSize, f.v)
			}
		}
	case BatchNeighbours:
		if r.NumNearest < 0 || r.NumSampled < 0 {
			e.Add("num_nearest", "num_nearest and num_sampled must not be negative")
		} else if 1+r.NumNearest+r.NumSampled > r.BatchSize && r.BatchSize >= 1 {
			e.Add("num_nearest", "1 + num_nearest + num_sampled (%d) must fit in batch_size (%d)", 1+r.NumNearest+r.NumSampled, r.BatchSize)
		}
		lo, hi := r.sampleRange()
		if r.SampleRangeMin < 0 || hi > MaxNeighbourRank {
			e.Add("sample_range_max", "the neighbour ranks must lie in [0, %d), got [%d, %d)", MaxNeighbourRank, lo, hi)
		} else if r.NumSampled > 0 && hi-lo < r.NumSampled {
			e.Add("sample_range_max", "%d neighbours cannot be sampled from the %d ranks of [%d, %d)", r.NumSampled, max(hi-lo, 0), lo, hi)
		}
	default:
		e.Add("strategy", "unknown strategy %d", int(r.Strategy))
	}
	lo, hi := scoreRange(m)
	if t := r.DuplicateThreshold; t != nil && !finite(*t) {
		e.Add("duplicate_threshold", "must be finite")
	} else if t != nil && (*t < lo || *t > hi) {
		e.Add("duplicate_threshold", "%v is outside the %s score range %s", *t, m, rangeText(lo, hi))
	}
	if d := r.DuplicateMargin; d != nil && !finite(*d) {
		e.Add("duplicate_margin", "must be finite")
	} else if d != nil && (*d < lo-hi || *d > hi-lo) {
		e.Add("duplicate_margin", "%v is wider than the %s score range %s", *d, m, rangeText(lo, hi))
	}
}

// sampleRange returns the effective neighbour ranks sampled from.
func (r *BatchRequest) sampleRange() (lo, hi int) {
	lo = r.SampleRangeMin
	if lo == 0 {
		lo = r.NumNearest
	}
	hi = r.SampleRangeMax
	if hi == 0 {
		hi = lo + defaultBatchSampleMul*r.NumSampled
	}
	return lo, hi
}

// clusterSize returns the cluster size of epoch e.
func (r *BatchRequest) clusterSize(e int) int {
	start, end := r.ClusterSizeStart, r.ClusterSizeEnd
	if start == 0 {
		start = r.BatchSize
	}
	if end == 0 {
		end = r.BatchSize
	}
	epochs := max(r.Epochs, 1)
	if epochs == 1 {
		return start
	}
	return max(1, int(math.Round(float64(start)+float64(end-start)*float64(e)/float64(epochs-1))))
}

// BuildBatches builds the training batches of req's epochs from the anchors' vectors in
// s (or sent) and calls emit with each, in order. It guarantees that within a batch no
// row's anchor or positive is a positive, a reported false negative (feedback) or a
// near-duplicate of a positive or of a reported false negative (Mine's near-duplicate
// rules 8 and 9) of another row, and that
// each anchor is in exactly one batch per epoch. A row that its grouping put with a
// conflicting one is moved to a later batch (Batch.Deferred, SwappedIn). Invalid input
// returns a *validate.Error before any batch.
func BuildBatches(ctx context.Context, s Searcher, req BatchRequest, emit func(Batch) error) error {
	b, err := newBatchBuilder(ctx, s, &req)
	if err != nil {
		return err
	}
	epochs := max(req.Epochs, 1)
	last := epochs
	if req.NumEpochs > 0 {
		last = min(epochs, req.FirstEpoch+req.NumEpochs)
	}
	for e := req.FirstEpoch; e < last; e++ {
		if err := ctx.Err(); err != nil {
			return err
		}
		rng := rand.New(rand.NewPCG(req.Seed, uint64(e)))
		var order []int
		size := 0
		if req.Strategy == BatchClusters {
			size = req.clusterSize(e)
			order = b.clusterOrder(rng, size)
		} else {
			size = 1 + req.NumNearest + req.NumSampled
			order = b.neighbourOrder(rng)
		}
		if err := b.pack(ctx, e, size, order, emit); err != nil {
			return err
		}
	}
	return nil
}

// newBatchBuilder validates req and resolves its rows.
func newBatchBuilder(ctx context.Context, s Searcher, req *BatchRequest) (*batchBuilder, error) {
	var e validate.Error
	m := s.Metric()
	req.validate(&e, m)
	if err := e.Err(); err != nil {
		return nil, err
	}
	pol := Policy{NearDuplicates: req.NearDuplicates, DuplicateThreshold: req.DuplicateThreshold, DuplicateMargin: req.DuplicateMargin}
	thr, hasThr := scaledDuplicateThreshold(&pol, m, scaleOf(s))
	margin, hasMargin := pol.EffectiveDuplicateMargin()
	b := &batchBuilder{s: s, req: req, rows: make([]batchRow, len(req.Anchors))}
	s.Resolve(func(lookup engine.LookupFunc) {
		stored := func(id string) []float32 {
			if v, _, ok := lookup(id); ok {
				return slices.Clone(v)
			}
			return nil
		}
		for i, a := range req.Anchors {
			r := &b.rows[i]
			r.id = a.ID
			if a.Vector != nil {
				v, err := s.PrepareQuery(a.Vector, fmt.Sprintf("anchors[%d].vector", i))
				if err != nil {
					e.Merge(asValidation(err))
					continue
				}
				r.vec = v
				b.exactNeighbours = true
			} else if r.vec = stored(a.ID); r.vec == nil {
				e.Add(fmt.Sprintf("anchors[%d].id", i), "%q is not in the collection (send its vector to use it anyway)", a.ID)
				continue
			}
			r.members = append([]string{a.ID}, a.PositiveIDs...)
			r.memVecs = append(r.memVecs, r.vec)
			r.forbid = make(map[string]struct{}, len(a.PositiveIDs))
			for _, p := range a.PositiveIDs {
				r.forbid[p] = struct{}{}
				pv := stored(p)
				r.memVecs = append(r.memVecs, pv)
				if pv != nil {
					r.posVecs = append(r.posVecs, pv)
				}
			}
		}
	})
	if err := e.Err(); err != nil {
		return nil, err
	}
	fns := make([][]string, len(b.rows))
	for i := range b.rows {
		r := &b.rows[i]
		if req.UseFeedback {
			for id := range s.FalseNegatives(r.id) {
				r.forbid[id] = struct{}{}
				fns[i] = append(fns[i], id)
			}
		}
	}
	if hasThr {
		// Near-duplicates of a reported false negative are excluded too (Mine's rule 9).
		s.Resolve(func(lookup engine.LookupFunc) {
			for i, ids := range fns {
				slices.Sort(ids)
				for _, id := range ids {
					if v, _, ok := lookup(id); ok {
						b.rows[i].fnVecs = append(b.rows[i].fnVecs, slices.Clone(v))
					}
				}
				b.rows[i].fnDup = thr
			}
		})
	}
	for i := range b.rows {
		r := &b.rows[i]
		if len(r.posVecs) == 0 {
			continue
		}
		r.dup, r.hasDup = thr, hasThr
		if hasMargin {
			sPos := float32(math.Inf(1))
			for _, pv := range r.posVecs {
				sPos = min(sPos, s.Similarity(r.vec, pv))
			}
			if t := sPos + margin; !r.hasDup || t < r.dup {
				r.dup, r.hasDup = t, true
			}
		}
	}
	if req.Strategy == BatchNeighbours {
		if err := b.findNeighbours(ctx); err != nil {
			return nil, err
		}
	}
	return b, nil
}

// conflict reports whether rows i and j may not share a batch: a member of one is a
// positive or reported false negative of the other, or a near-duplicate of one of the
// other's positives.
func (b *batchBuilder) conflict(i, j int) bool {
	return b.oneWay(i, j) || b.oneWay(j, i)
}

// oneWay reports whether a member of row j is forbidden for row i.
func (b *batchBuilder) oneWay(i, j int) bool {
	ri, rj := &b.rows[i], &b.rows[j]
	for k, id := range rj.members {
		if _, bad := ri.forbid[id]; bad {
			return true
		}
		if rj.memVecs[k] == nil {
			continue
		}
		for _, fv := range ri.fnVecs {
			if b.s.Similarity(rj.memVecs[k], fv) >= ri.fnDup {
				return true
			}
		}
		if !ri.hasDup {
			continue
		}
		for _, pv := range ri.posVecs {
			if b.s.Similarity(rj.memVecs[k], pv) >= ri.dup {
				return true
			}
		}
	}
	return false
}

// pack cuts an epoch's order into batches of the request's size, moving each anchor
// that conflicts with a row already in its batch to a later one, and emits them.
func (b *batchBuilder) pack(ctx context.Context, epoch, size int, order []int, emit func(Batch) error) error {
	bs := b.req.BatchSize
	var deferred, spare []int // spare is reused for the next batch's deferred anchors
	next, idx := 0, 0
	for next < len(order) || len(deferred) > 0 {
		if err := ctx.Err(); err != nil {
			return err
		}
		bt := Batch{Epoch: epoch, Index: idx, ClusterSize: size, Rows: make([]int, 0, bs)}
		fits := func(x int) bool {
			for _, y := range bt.Rows {
				if b.conflict(x, y) {
					return false
				}
			}
			return true
		}
		still := spare[:0]
		for n, x := range deferred {
			if len(bt.Rows) < bs && n < maxDeferredScan*bs && fits(x) {
				bt.Rows = append(bt.Rows, x)
				bt.SwappedIn++
			} else {
				still = append(still, x)
			}
		}
		for len(bt.Rows) < bs && next < len(order) {
			x := order[next]
			next++
			if fits(x) {
				bt.Rows = append(bt.Rows, x)
			} else {
				still = append(still, x)
				bt.Deferred++
			}
		}
		deferred, spare = still, deferred
		if err := emit(bt); err != nil {
			return err
		}
		idx++
	}
	return nil
}

// clusterOrder returns the epoch's anchors cluster by cluster: balanced clusters of at
// most size anchors in a random order, each cluster's anchors in a random order.
func (b *batchBuilder) clusterOrder(rng *rand.Rand, size int) []int {
	all := make([]int, len(b.rows))
	for i := range all {
		all[i] = i
	}
	var clusters [][]int
	b.split(rng, all, size, &clusters)
	rng.Shuffle(len(clusters), func(i, j int) { clusters[i], clusters[j] = clusters[j], clusters[i] })
	order := make([]int, 0, len(all))
	for _, c := range clusters {
		rng.Shuffle(len(c), func(i, j int) { c[i], c[j] = c[j], c[i] })
		order = append(order, c...)
	}
	return order
}

// split divides set recursively by balanced 2-means until every part holds at most size
// anchors; each split halves a part exactly (the larger half gets the odd one).
func (b *batchBuilder) split(rng *rand.Rand, set []int, size int, out *[][]int) {
	if len(set) <= size {
		*out = append(*out, slices.Clone(set))
		return
	}
	left, right := b.twoMeans(rng, set)
	b.split(rng, left, size, out)
	b.split(rng, right, size, out)
}

// twoMeans splits set into halves of sizes ⌈n/2⌉ and ⌊n/2⌋ by balanced 2-means: two
// seeded starting centres, then rounds of assigning the half with the largest
// preference for the first centre to it and recomputing the centres.
func (b *batchBuilder) twoMeans(rng *rand.Rand, set []int) ([]int, []int) {
	n := len(set)
	dim := len(b.rows[set[0]].vec)
	i := rng.IntN(n)
	j := rng.IntN(n - 1)
	if j >= i {
		j++
	}
	c1 := slices.Clone(b.rows[set[i]].vec)
	c2 := slices.Clone(b.rows[set[j]].vec)
	pref := make([]float64, n)
	idx := make([]int, n)
	half := (n + 1) / 2
	for range twoMeansIterations {
		for k, x := range set {
			v := b.rows[x].vec
			pref[k] = b.centreScore(v, c1) - b.centreScore(v, c2)
			idx[k] = k
		}
		slices.SortStableFunc(idx, func(x, y int) int {
			switch {
			case pref[x] > pref[y]:
				return -1
			case pref[x] < pref[y]:
				return 1
			}
			return set[x] - set[y]
		})
		c1, c2 = make([]float32, dim), make([]float32, dim)
		for r, k := range idx {
			c, w := c2, float32(1)/float32(n-half)
			if r < half {
				c, w = c1, float32(1)/float32(half)
			}
			for d, x := range b.rows[set[k]].vec {
				c[d] += w * x
			}
		}
	}
	left := make([]int, 0, half)
	right := make([]int, 0, n-half)
	for r, k := range idx {
		if r < half {
			left = append(left, set[k])
		} else {
			right = append(right, set[k])
		}
	}
	return left, right
}

// centreScore scores a vector against a cluster centre (the mean of its vectors):
// under cosine the cosine to the centre (spherical k-means), under dot and L2 the
// negated squared distance to it without the |v|² term, which is the same for both
// centres (Euclidean k-means).
func (b *batchBuilder) centreScore(v, c []float32) float64 {
	var dot, cc float64
	for i := range v {
		dot += float64(v[i]) * float64(c[i])
		cc += float64(c[i]) * float64(c[i])
	}
	if b.s.Metric() == engine.Cosine {
		if cc == 0 {
			return 0
		}
		return dot / math.Sqrt(cc)
	}
	return 2*dot - cc
}

// findNeighbours lists, for every anchor, the other anchors nearest to it (by the
// collection's search), up to the end of the sampled neighbour ranks.
func (b *batchBuilder) findNeighbours(ctx context.Context) error {
	_, hi := b.req.sampleRange()
	want := max(hi, b.req.NumNearest)
	pos := make(map[string]int, len(b.rows))
	for i, r := range b.rows {
		pos[r.id] = i
	}
	b.neighbours = make([][]int, len(b.rows))
	if want == 0 {
		return nil
	}
	if b.exactNeighbours {
		return b.exactNeighbourLists(ctx, want)
	}
	for i := range b.rows {
		self := b.rows[i].id
		list := make([]int, 0, want)
		_, err := b.s.Search(ctx, b.rows[i].vec, engine.SearchOptions{
			Skip: func(_ uint32, id string, _ []string) bool {
				_, ok := pos[id]
				return !ok || id == self
			},
		}, func(c engine.Candidate) bool {
			list = append(list, pos[c.ID])
			return len(list) < want
		})
		if err != nil {
			return err
		}
		b.neighbours[i] = list
	}
	return nil
}

// exactNeighbourLists scores every anchor against every other (O(n²·dim)) and keeps
// each one's want nearest, best first (ties by position).
func (b *batchBuilder) exactNeighbourLists(ctx context.Context, want int) error {
	n := len(b.rows)
	scores := make([]float32, n)
	idx := make([]int, 0, n)
	for i := range b.rows {
		if i%256 == 0 {
			if err := ctx.Err(); err != nil {
				return err
			}
		}
		idx = idx[:0]
		for j := range b.rows {
			if j != i {
				scores[j] = b.s.Similarity(b.rows[i].vec, b.rows[j].vec)
				idx = append(idx, j)
			}
		}
		slices.SortFunc(idx, func(x, y int) int {
			switch {
			case scores[x] > scores[y]:
				return -1
			case scores[x] < scores[y]:
				return 1
			}
			return x - y
		})
		b.neighbours[i] = slices.Clone(idx[:min(want, len(idx))])
	}
	return nil
}

// asValidation returns err as a *validate.Error (PrepareQuery's errors are).
func asValidation(err error) *validate.Error {
	var v *validate.Error
	if errors.As(err, &v) {
		return v
	}
	var out validate.Error
	out.Add("anchors", "%v", err)
	return &out
}

// neighbourOrder returns the epoch's anchors group by group (BatchNeighbours).
func (b *batchBuilder) neighbourOrder(rng *rand.Rand) []int {
	n := len(b.rows)
	placed := make([]bool, n)
	order := make([]int, 0, n)
	lo, hi := b.req.sampleRange()
	for _, a := range rng.Perm(n) {
		if placed[a] {
			continue
		}
		placed[a] = true
		order = append(order, a)
		took := 0
		for _, x := range b.neighbours[a] {
			if took == b.req.NumNearest {
				break
			}
			if !placed[x] {
				placed[x] = true
				order = append(order, x)
				took++
			}
		}
		if b.req.NumSampled == 0 {
			continue
		}
		var pool []int
		for r := lo; r < min(hi, len(b.neighbours[a])); r++ {
			if x := b.neighbours[a][r]; !placed[x] {
				pool = append(pool, x)
			}
		}
		for k := 0; k < b.req.NumSampled && len(pool) > 0; k++ {
			j := rng.IntN(len(pool))
			x := pool[j]
			pool[j] = pool[len(pool)-1]
			pool = pool[:len(pool)-1]
			placed[x] = true
			order = append(order, x)
		}
	}
	return order
}
