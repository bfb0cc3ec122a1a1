package weaviate

import (
	"context"
	"slices"

	pb "github.com/weaviate/weaviate/grpc/generated/protocol/v1"

	"github.com/hardneg/hardneg/internal/engine"
)

// versionEnd returns the lowest (ascending) or highest version stamp of a live item,
// and false when the collection is empty or cannot be read.
func (c *Collection) versionEnd(ascending bool) (int64, bool) {
	ctx, cancel := c.e.c.ctx(context.Background())
	defer cancel()
	rs, err := c.search(ctx, &pb.SearchRequest{Limit: 1, Properties: &pb.PropertiesRequest{NonRefProperties: []string{propVersion}},
		Metadata: &pb.MetadataRequest{Uuid: true}, SortBy: []*pb.SortBy{{Path: []string{propVersion}, Ascending: ascending}}})
	if err != nil || len(rs) == 0 {
		return 0, false
	}
	return intProp(rs[0], propVersion), true
}

// NewestVersion returns the largest version stamp of a live item (one sorted query).
func (c *Collection) NewestVersion() int64 {
	v, _ := c.versionEnd(false)
	return v
}

// RangeVersions walks every object with Weaviate's cursor (1,000 per request), from
// the nil UUID so that every page, the first too, is a cursor page in object-id order:
// its cost grows with the collection.
func (c *Collection) RangeVersions(fn func(id string, version int64) bool) {
	ctx, cancel := c.e.c.ctx(context.Background())
	defer cancel()
	after := cursorStart
	for {
		rs, err := c.search(ctx, &pb.SearchRequest{Limit: 1000, After: after,
			Properties: &pb.PropertiesRequest{NonRefProperties: []string{propID, propVersion}}, Metadata: &pb.MetadataRequest{Uuid: true}})
		if err != nil || len(rs) == 0 {
			return
		}
		for _, r := range rs {
			if !fn(textProp(r, propID), intProp(r, propVersion)) {
				return
			}
		}
		after = rs[len(rs)-1].GetMetadata().GetId()
	}
}

// VersionStats reports the item count and the oldest and newest stamps (three
// queries); the staleness histogram would need a pass over every object on every
// metrics scrape and is left empty.
func (c *Collection) VersionStats() engine.VersionStats {
	st := engine.VersionStats{Items: c.Stats().Items, Staleness: make([]uint64, len(engine.StalenessBounds))}
	st.Oldest, _ = c.versionEnd(true)
	st.Newest, _ = c.versionEnd(false)
	return st
}

// Versions summarises the stamps with one pass over the collection (RangeVersions).
func (c *Collection) Versions(limit int) engine.VersionSummary {
	counts := map[int64]int{}
	c.RangeVersions(func(_ string, v int64) bool {
		counts[v]++
		return true
	})
	var s engine.VersionSummary
	if len(counts) == 0 {
		return s
	}
	vs := make([]int64, 0, len(counts))
	for v := range counts {
		vs = append(vs, v)
	}
	slices.Sort(vs)
	s.Min, s.Max, s.Distinct = vs[0], vs[len(vs)-1], len(vs)
	for i := len(vs) - 1; i >= 0 && len(s.Newest) < limit; i-- {
		s.Newest = append(s.Newest, engine.VersionCount{Version: vs[i], Items: counts[vs[i]]})
	}
	return s
}
