package weaviate

import (
	"context"
	"fmt"
	"maps"
	"slices"

	pb "github.com/weaviate/weaviate/grpc/generated/protocol/v1"

	"github.com/hardneg/hardneg/internal/engine"
)

// ForRequest returns the collection as one Mine request sees it: the stored items among
// ids (the request's anchors, positives and exclusions) and the false-negative verdicts
// of keys (its anchor keys; none when the policy ignores feedback), together with the
// items those verdicts name, are read up front in a few calls (see readItems and
// verdictsOf) instead of one call per id and per key. The view serves Resolve,
// FalseNegatives and the ranking of Search's skipped ids from what it read, and reads
// anything else as the collection does. It sees every write acknowledged before
// ForRequest was called; use it for one request only.
func (c *Collection) ForRequest(ctx context.Context, ids, keys []string) (engine.Collection, error) {
	ctx, cancel := c.e.c.ctx(ctx)
	defer cancel()
	v := &requestView{Collection: c}
	if len(keys) > 0 {
		verdicts, err := c.verdictsOf(ctx, uniq(keys))
		if err != nil {
			return nil, err
		}
		v.verdicts = verdicts
		for _, fn := range verdicts {
			for id := range fn {
				ids = append(ids, id)
			}
		}
	}
	items, err := c.readItems(ctx, uniq(ids))
	if err != nil {
		return nil, err
	}
	v.items = items
	return v, nil
}

// requestView is a Collection with one request's items and verdicts read (ForRequest).
// Its maps are written before the view is returned and only read afterwards, so the
// request's anchors may use it concurrently.
type requestView struct {
	*Collection
	items    map[string]*engine.Item        // by id; nil: read and not stored
	verdicts map[string]map[string]struct{} // by anchor key, for the keys read; nil: none read
}

var _ engine.Collection = (*requestView)(nil)

// Resolve serves the ids read up front and reads the others as Collection.Resolve does.
func (v *requestView) Resolve(fn func(lookup engine.LookupFunc)) {
	v.Collection.Resolve(func(lookup engine.LookupFunc) {
		fn(func(id string) ([]float32, []string, bool) {
			it, ok := v.items[id]
			switch {
			case !ok:
				return lookup(id)
			case it == nil:
				return nil, nil, false
			}
			return it.Vector, it.Groups, true
		})
	})
}

// FalseNegatives returns the verdicts read up front for key, or reads them.
func (v *requestView) FalseNegatives(key string) map[string]struct{} {
	fn, ok := v.verdicts[key]
	if !ok {
		return v.Collection.FalseNegatives(key)
	}
	if len(fn) == 0 {
		return nil
	}
	return maps.Clone(fn)
}

// Search is Collection.Search ranking the skipped ids read up front without reading
// them again.
func (v *requestView) Search(ctx context.Context, q []float32, opts engine.SearchOptions, yield func(engine.Candidate) bool) (engine.SearchStats, error) {
	return v.Collection.rank(ctx, q, opts, v.items, yield)
}

// readItems reads the stored items among ids (distinct) with their vectors, at the
// consistency level, in as few calls as it can. First one filtered search per idChunk
// ids (ContainsAny on the id property) at the consistency level: Weaviate answers it
// from one replica per shard, then compares the objects found with as many replicas as
// the level asks, replaces stale copies by the newest and marks each object it found
// consistent that way (an object deleted meanwhile, or any object when the comparison
// failed or the collection has a single copy, is not marked). Then a read by object id
// (getByID) for each id the search did not return marked, since an object written a
// moment ago can still be missing on the replica the search asked. With replicated
// collections and stored ids (a request's anchors and positives) the second step
// makes no call. The result maps every id to its item, or to nil when it is not
// stored.
func (c *Collection) readItems(ctx context.Context, ids []string) (map[string]*engine.Item, error) {
	out := make(map[string]*engine.Item, len(ids))
	for lo := 0; lo < len(ids); lo += idChunk {
		chunk := ids[lo:min(lo+idChunk, len(ids))]
		rs, err := c.search(ctx, &pb.SearchRequest{Limit: uint32(len(chunk)), Filters: textIn(propID, pb.Filters_OPERATOR_CONTAINS_ANY, chunk),
			Properties: itemProps, Metadata: &pb.MetadataRequest{Uuid: true, Vector: true, IsConsistent: true}})
		if err != nil {
			return nil, err
		}
		for _, r := range rs {
			if !r.GetMetadata().GetIsConsistent() {
				continue // read by id below
			}
			it := engine.Item{ID: textProp(r, propID), Groups: textsProp(r, propGroups), Version: intProp(r, propVersion), Vector: vectorOf(r)}
			out[it.ID] = &it
		}
	}
	var missed []string
	for _, id := range ids {
		if _, ok := out[id]; !ok {
			missed = append(missed, id)
		}
	}
	if len(missed) == 0 {
		return out, nil
	}
	found, err := c.fetch(ctx, missed, true)
	if err != nil {
		return nil, err
	}
	for _, id := range missed {
		if it, ok := found[id]; ok {
			out[id] = &it
		} else {
			out[id] = nil
		}
	}
	return out, nil
}

// verdictsOf reads the false-negative verdicts of keys (distinct): one filtered search
// per idChunk keys, at the consistency level, like falseNegatives for one key. A chunk
// whose verdicts reach Weaviate's result limit is read again key by key. Every key is
// in the result, with an empty set when it has no verdicts.
func (c *Collection) verdictsOf(ctx context.Context, keys []string) (map[string]map[string]struct{}, error) {
	out := make(map[string]map[string]struct{}, len(keys))
	for lo := 0; lo < len(keys); lo += idChunk {
		chunk := keys[lo:min(lo+idChunk, len(keys))]
		var r *pb.SearchReply
		err := c.e.c.retry(ctx, func(ctx context.Context) (err error) {
			r, err = c.e.c.data.Search(ctx, &pb.SearchRequest{Collection: c.e.c.opts.Prefix + "Meta", ConsistencyLevel: &c.e.c.level, Limit: maxResults,
				Filters:    and(textIs(metaKind, "verdict"), textIs(metaCollection, c.cfg.Name), textIn(metaKey, pb.Filters_OPERATOR_CONTAINS_ANY, chunk)),
				Properties: &pb.PropertiesRequest{NonRefProperties: []string{metaKey, metaItem}}, Metadata: &pb.MetadataRequest{Uuid: true},
				Uses_123Api: true, Uses_125Api: true, Uses_127Api: true})
			return err
		})
		if err != nil {
			return nil, fmt.Errorf("weaviate: read verdicts: %w", err)
		}
		for _, k := range chunk {
			out[k] = map[string]struct{}{}
		}
		if len(r.Results) < maxResults {
			for _, x := range r.Results {
				if fn, ok := out[textProp(x, metaKey)]; ok {
					fn[textProp(x, metaItem)] = struct{}{}
				}
			}
			continue
		}
		for _, k := range chunk {
			fn, err := c.falseNegatives(ctx, k)
			if err != nil {
				return nil, err
			}
			out[k] = fn
		}
	}
	return out, nil
}

// uniq returns the distinct non-empty strings of xs, sorted.
func uniq(xs []string) []string {
	out := slices.Compact(slices.Sorted(slices.Values(xs)))
	if len(out) > 0 && out[0] == "" {
		out = out[1:]
	}
	return out
}
