package weaviate

import (
	"context"
	"slices"

	pb "github.com/weaviate/weaviate/grpc/generated/protocol/v1"

	"github.com/hardneg/hardneg/internal/engine"
)

// Search streams the collection's items best-first for the prepared query q with
// Weaviate's nearVector search, every candidate re-scored exactly from its returned
// vector with Similarity.
//
// opts.SkipIDs and opts.SkipGroups go into the search's filter (ContainsNone on the id
// and group properties), so that the HNSW traversal itself passes over them. The
// skipped ids are still presented to opts.Skip at their exact rank (the engine reads
// their vectors and scores them), so ranks and rule counts are those of a search
// without the filter; items skipped for their groups are not: they take no rank and
// Skip never sees them.
//
// The first request asks for opts.Ef results (at least the collection's ef_search);
// while yield keeps asking, each next request asks for twice as many more with an
// offset, until the collection is exhausted or Weaviate's limit of 10,000 results
// (offset + limit) is reached. Weaviate answers a filtered search on fewer than its
// flat-search cutoff (40,000 by default) matching objects with an exact scan.
func (c *Collection) Search(ctx context.Context, q []float32, opts engine.SearchOptions, yield func(engine.Candidate) bool) (engine.SearchStats, error) {
	return c.rank(ctx, q, opts, nil, yield)
}

// rank is Search with some items already read (known, by id; nil: read, not stored):
// the skipped ids among them are ranked from it, the others read with one filtered
// search.
func (c *Collection) rank(ctx context.Context, q []float32, opts engine.SearchOptions, known map[string]*engine.Item, yield func(engine.Candidate) bool) (engine.SearchStats, error) {
	var st engine.SearchStats
	// The pushed-down ids, scored exactly and ordered best-first.
	type pushed struct {
		it    engine.Item
		score float32
	}
	var replay []pushed
	if len(opts.SkipIDs) > 0 {
		var unread []string
		taken := make(map[string]bool, len(opts.SkipIDs))
		for _, id := range opts.SkipIDs {
			if taken[id] {
				continue
			}
			taken[id] = true
			it, ok := known[id]
			switch {
			case !ok:
				unread = append(unread, id)
			case it != nil:
				replay = append(replay, pushed{*it, c.Similarity(q, it.Vector)})
			}
		}
		if len(unread) > 0 {
			// One filtered read: these items only get ranked and counted, so the
			// one-replica view of a search is enough.
			rs, err := c.search(ctx, &pb.SearchRequest{Limit: uint32(len(unread)), Filters: textIn(propID, pb.Filters_OPERATOR_CONTAINS_ANY, unread),
				Properties: itemProps, Metadata: &pb.MetadataRequest{Uuid: true, Vector: true}})
			if err != nil {
				return st, err
			}
			for _, r := range rs {
				it := engine.Item{ID: textProp(r, propID), Groups: textsProp(r, propGroups), Version: intProp(r, propVersion), Vector: vectorOf(r)}
				replay = append(replay, pushed{it, c.Similarity(q, it.Vector)})
			}
		}
		slices.SortFunc(replay, func(a, b pushed) int {
			switch {
			case a.score > b.score:
				return -1
			case a.score < b.score:
				return 1
			}
			return 0
		})
	}
	var filter *pb.Filters
	if len(opts.SkipIDs) > 0 {
		filter = textIn(propID, pb.Filters_OPERATOR_CONTAINS_NONE, opts.SkipIDs)
	}
	if len(opts.SkipGroups) > 0 {
		filter = and(filter, textIn(propGroups, pb.Filters_OPERATOR_CONTAINS_NONE, opts.SkipGroups))
	}
	seen := map[string]bool{}
	full := func() bool { return opts.MaxCandidates > 0 && st.Ordered >= opts.MaxCandidates }
	// emit offers one item to Skip and yield; it reports whether the search goes on.
	emit := func(id string, groups []string, v []float32, version int64, score float32) bool {
		slot := uint32(st.Ordered)
		rank := st.Ordered
		st.Ordered++
		if opts.Skip != nil && opts.Skip(slot, id, groups) {
			return true
		}
		return yield(engine.Candidate{Slot: slot, ID: id, Score: score, Rank: rank, Groups: groups, Vector: v, Version: version})
	}
	// flush emits the pushed-down items scoring above bound (all of them at the end).
	flush := func(bound float32, all bool) bool {
		for len(replay) > 0 && (all || replay[0].score > bound) {
			if full() {
				return false
			}
			p := replay[0]
			replay = replay[1:]
			if !emit(p.it.ID, p.it.Groups, p.it.Vector, p.it.Version, p.score) {
				return false
			}
		}
		return true
	}
	page := max(opts.Ef, c.cfg.Params.EfSearch)
	offset := 0
	for {
		limit := min(page, maxResults-offset)
		if limit <= 0 {
			return st, nil
		}
		if err := ctx.Err(); err != nil {
			return st, err
		}
		req := &pb.SearchRequest{Limit: uint32(limit), Offset: uint32(offset), Properties: itemProps, ConsistencyLevel: &one,
			Metadata:   &pb.MetadataRequest{Uuid: true, Vector: true},
			NearVector: &pb.NearVector{Vectors: []*pb.Vectors{{VectorBytes: toBytes(q), Type: pb.Vectors_VECTOR_TYPE_SINGLE_FP32}}}}
		if filter != nil {
			req.Filters = filter
		}
		rs, err := c.search(ctx, req)
		if err != nil {
			return st, err
		}
		for _, r := range rs {
			id := textProp(r, propID)
			if seen[id] {
				continue
			}
			seen[id] = true
			v := vectorOf(r)
			s := c.Similarity(q, v)
			if !flush(s, false) || full() {
				return st, nil
			}
			if !emit(id, textsProp(r, propGroups), v, intProp(r, propVersion), s) {
				return st, nil
			}
		}
		if len(rs) < limit {
			// The collection is exhausted: what remains are the pushed-down items.
			flush(0, true)
			return st, nil
		}
		if opts.NoWiden {
			return st, nil
		}
		offset += limit
		page *= 2
		st.Widenings++
	}
}

// one is the consistency level of candidate searches: the index part of a search asks
// one replica per shard whatever the level, and a higher level only makes the
// coordinator compare the returned objects with other replicas, which costs a round
// trip per replica for every page of candidates.
var one = pb.ConsistencyLevel_CONSISTENCY_LEVEL_ONE

// FiltersSkips reports that Search puts SearchOptions.SkipIDs and SkipGroups into
// Weaviate's filter, so mining fills them (see internal/mining).
func (c *Collection) FiltersSkips() bool { return true }

// SearchConcurrency tells mining how many anchors to search at once: a search mostly
// waits on the cluster, so more than one per CPU.
func (c *Collection) SearchConcurrency() int { return searchConcurrency }

// searchConcurrency is the anchors one Mine request searches at once.
const searchConcurrency = 32
