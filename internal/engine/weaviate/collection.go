package weaviate

import (
	"context"
	"fmt"
	"slices"

	pb "github.com/weaviate/weaviate/grpc/generated/protocol/v1"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/hardneg/hardneg/internal/engine"
	"github.com/hardneg/hardneg/internal/index/vec"
	"github.com/hardneg/hardneg/internal/validate"
)

// Collection is one hardneg collection stored as a Weaviate collection.
type Collection struct {
	e           *Engine
	cfg         engine.Config // validated, defaults filled in
	class       string        // the Weaviate collection name
	incarnation string        // drawn at creation (stored.Incarnation)
	bg          backgroundState
}

var _ engine.Collection = (*Collection)(nil)

// maxResults is Weaviate's default QUERY_MAXIMUM_RESULTS: a search reaches at most
// this many results (offset + limit).
const maxResults = 10000

// idChunk bounds the ids of one ContainsAny lookup.
const idChunk = 1000

func (c *Collection) Name() string          { return c.cfg.Name }
func (c *Collection) Dim() int              { return c.cfg.Dim }
func (c *Collection) Metric() engine.Metric { return c.cfg.Metric }
func (c *Collection) Params() engine.Params { return c.cfg.Params }
func (c *Collection) Config() engine.Config { return c.cfg }

// Stats counts the collection's objects; the other counters have no Weaviate
// equivalent and are zero, except GraphSearch (Weaviate always searches its index).
func (c *Collection) Stats() engine.Stats {
	ctx, cancel := c.e.c.ctx(context.Background())
	defer cancel()
	st := engine.Stats{GraphBuilt: true, GraphSearch: true, LastSequence: c.e.lsn.Load()}
	if n, err := c.count(ctx); err == nil {
		st.Items = n
	}
	st.VectorBytes = int64(st.Items) * int64(c.cfg.Dim) * 4
	return st
}

// count returns Weaviate's object count of the collection (one try: from one replica
// per shard, so it can trail the last writes by a moment).
func (c *Collection) count(ctx context.Context) (int, error) {
	var r *pb.AggregateReply
	err := c.e.c.once(ctx, func(ctx context.Context) (err error) {
		r, err = c.e.c.data.Aggregate(ctx, &pb.AggregateRequest{Collection: c.class, ObjectsCount: true})
		return err
	})
	if err != nil {
		return 0, err
	}
	return int(r.GetSingleResult().GetObjectsCount()), nil
}

// PrepareQuery checks v and returns a copy, normalised under cosine.
func (c *Collection) PrepareQuery(v []float32, field string) ([]float32, error) {
	q := slices.Clone(v)
	if msg := engine.PrepareVector(q, c.cfg.Dim, c.cfg.Metric); msg != "" {
		return nil, validate.Field(field, "%s", msg)
	}
	return q, nil
}

// Similarity scores two prepared vectors exactly as the embedded engine does; Search
// re-scores every candidate with it.
func (c *Collection) Similarity(a, b []float32) float32 {
	if c.cfg.Metric == engine.L2 {
		return -vec.L2Sq(a, b)
	}
	return vec.Dot(a, b)
}

// ScoreExact returns false: a Weaviate collection is never scanned here.
func (c *Collection) ScoreExact([][]float32, []engine.ExactScores) bool { return false }

// SearchesExactly returns false: searches go to the engine's index.
func (c *Collection) SearchesExactly() bool { return false }

// ClaimGuideRole accepts both roles: the role rule exists so that two requests of one
// embedded server never wait on each other's collection locks, and a Weaviate
// collection has no lock here.
func (c *Collection) ClaimGuideRole(bool) (func(bool), error) { return func(bool) {}, nil }

// itemProps are the properties every read asks for.
var itemProps = &pb.PropertiesRequest{NonRefProperties: []string{propID, propGroups, propVersion}}

// search runs one Search request on the collection, retried while it fails
// transiently.
func (c *Collection) search(ctx context.Context, req *pb.SearchRequest) ([]*pb.SearchResult, error) {
	return c.searchBy(ctx, req, c.e.c.retry)
}

// searchBy runs one Search request on the collection through call (conn.retry or
// conn.once).
func (c *Collection) searchBy(ctx context.Context, req *pb.SearchRequest, call func(context.Context, func(context.Context) error) error) ([]*pb.SearchResult, error) {
	req.Collection = c.class
	if req.ConsistencyLevel == nil {
		req.ConsistencyLevel = &c.e.c.level
	}
	req.Uses_123Api, req.Uses_125Api, req.Uses_127Api = true, true, true
	var r *pb.SearchReply
	err := call(ctx, func(ctx context.Context) (err error) {
		r, err = c.e.c.data.Search(ctx, req)
		return err
	})
	if err != nil {
		if isNotFound(err) {
			c.e.forget(c.cfg.Name)
			return nil, fmt.Errorf("%q: %w", c.cfg.Name, engine.ErrCollectionNotFound)
		}
		return nil, fmt.Errorf("weaviate: search %q: %w", c.cfg.Name, err)
	}
	return r.Results, nil
}

// fetch returns the stored items among ids, by id (vectors when withVectors), read
// by object id at the consistency level (see getByID).
func (c *Collection) fetch(ctx context.Context, ids []string, withVectors bool) (map[string]engine.Item, error) {
	uuids := make([]string, len(ids))
	for i, id := range ids {
		uuids[i] = objectID(c.cfg.Name, id)
	}
	objs, err := c.e.c.getByID(ctx, c.class, uuids, withVectors)
	if err != nil {
		return nil, err
	}
	out := make(map[string]engine.Item, len(objs))
	for _, o := range objs {
		it := engine.Item{ID: propText(o, propID), Groups: propTexts(o, propGroups), Version: propInt(o, propVersion)}
		if withVectors {
			it.Vector = []float32(o.Vector)
		}
		out[it.ID] = it
	}
	return out, nil
}

// exactCounts is the largest batch whose stored items upsert looks up by id; larger
// batches are counted with a filtered search (one request per 1,000 ids), which asks
// one replica per shard and can miss writes acknowledged a moment before.
const exactCounts = 256

// existing returns which of ids are stored (see exactCounts).
func (c *Collection) existing(ctx context.Context, ids []string) (map[string]bool, error) {
	out := map[string]bool{}
	if len(ids) <= exactCounts {
		found, err := c.fetch(ctx, ids, false)
		for id := range found {
			out[id] = true
		}
		return out, err
	}
	for lo := 0; lo < len(ids); lo += idChunk {
		chunk := ids[lo:min(lo+idChunk, len(ids))]
		rs, err := c.search(ctx, &pb.SearchRequest{Limit: uint32(len(chunk)), Filters: textIn(propID, pb.Filters_OPERATOR_CONTAINS_ANY, chunk),
			Properties: &pb.PropertiesRequest{NonRefProperties: []string{propID}}, Metadata: &pb.MetadataRequest{Uuid: true}})
		if err != nil {
			return nil, err
		}
		for _, r := range rs {
			out[textProp(r, propID)] = true
		}
	}
	return out, nil
}

// Get returns the items with the given ids in order and the missing ids. When the
// cluster cannot be read, every id is reported missing.
func (c *Collection) Get(ids []string, withVectors bool) ([]engine.Item, []string) {
	ctx, cancel := c.e.c.ctx(context.Background())
	defer cancel()
	found, err := c.fetch(ctx, ids, withVectors)
	if err != nil {
		return nil, slices.Clone(ids)
	}
	var items []engine.Item
	var missing []string
	for _, id := range ids {
		if it, ok := found[id]; ok {
			items = append(items, it)
		} else {
			missing = append(missing, id)
		}
	}
	return items, missing
}

// Resolve gives fn a lookup that reads items from the cluster, each id once per call.
func (c *Collection) Resolve(fn func(lookup engine.LookupFunc)) {
	ctx, cancel := c.e.c.ctx(context.Background())
	defer cancel()
	cache := map[string]*engine.Item{}
	fn(func(id string) ([]float32, []string, bool) {
		it, ok := cache[id]
		if !ok {
			found, err := c.fetch(ctx, []string{id}, true)
			if f, hit := found[id]; err == nil && hit {
				it = &f
			}
			cache[id] = it
		}
		if it == nil {
			return nil, nil, false
		}
		return it.Vector, it.Groups, true
	})
}

// upsert writes a validated batch and counts inserts and replacements.
func (c *Collection) upsert(ctx context.Context, b *engine.Batch) (engine.UpsertResult, error) {
	existing, err := c.existing(ctx, b.IDs)
	if err != nil {
		return engine.UpsertResult{}, err
	}
	objs := make([]*pb.BatchObject, b.Len())
	for i, id := range b.IDs {
		props := map[string]any{propID: id}
		if b.Versions != nil {
			props[propVersion] = float64(b.Versions[i])
		} else {
			props[propVersion] = float64(0)
		}
		s, err := structpb.NewStruct(props)
		if err != nil {
			return engine.UpsertResult{}, err
		}
		bp := &pb.BatchObject_Properties{NonRefProperties: s}
		if b.Groups != nil && len(b.Groups[i]) > 0 {
			bp.TextArrayProperties = []*pb.TextArrayProperties{{PropName: propGroups, Values: b.Groups[i]}}
		} else {
			bp.EmptyListProps = []string{propGroups}
		}
		objs[i] = &pb.BatchObject{Uuid: objectID(c.cfg.Name, id), Collection: c.class, Properties: bp,
			VectorBytes: toBytes(b.Row(i, c.cfg.Dim))}
	}
	if err := c.e.writeObjects(ctx, objs); err != nil {
		if isNotFound(err) {
			return engine.UpsertResult{}, fmt.Errorf("%q: %w", c.cfg.Name, engine.ErrCollectionNotFound)
		}
		return engine.UpsertResult{}, err
	}
	c.bg.writes.Add(uint64(b.Len()))
	return engine.UpsertResult{Inserted: b.Len() - len(existing), Replaced: len(existing)}, nil
}

// delete removes the stored items among ids.
func (c *Collection) delete(ctx context.Context, ids []string) (engine.DeleteResult, error) {
	uniq := slices.Compact(slices.Sorted(slices.Values(ids)))
	existing, err := c.existing(ctx, uniq)
	if err != nil {
		return engine.DeleteResult{}, err
	}
	res := engine.DeleteResult{Deleted: len(existing), NotFound: len(ids) - len(existing)}
	for lo := 0; lo < len(uniq); lo += idChunk {
		chunk := uniq[lo:min(lo+idChunk, len(uniq))]
		err := c.e.c.retry(ctx, func(ctx context.Context) error {
			_, err := c.e.c.data.BatchDelete(ctx, &pb.BatchDeleteRequest{Collection: c.class, ConsistencyLevel: &c.e.c.level,
				Filters: textIn(propID, pb.Filters_OPERATOR_CONTAINS_ANY, chunk)})
			return err
		})
		if err != nil {
			return engine.DeleteResult{}, fmt.Errorf("weaviate: delete from %q: %w", c.cfg.Name, err)
		}
	}
	c.bg.writes.Add(uint64(res.Deleted))
	return res, nil
}

// FalseNegatives reads the verdicts recorded for an anchor key; nil when there are
// none or the cluster cannot be read.
func (c *Collection) FalseNegatives(key string) map[string]struct{} {
	ctx, cancel := c.e.c.ctx(context.Background())
	defer cancel()
	fn, err := c.falseNegatives(ctx, key)
	if err != nil || len(fn) == 0 {
		return nil
	}
	return fn
}

func (c *Collection) falseNegatives(ctx context.Context, key string) (map[string]struct{}, error) {
	var r *pb.SearchReply
	err := c.e.c.retry(ctx, func(ctx context.Context) (err error) {
		r, err = c.e.c.data.Search(ctx, &pb.SearchRequest{Collection: c.e.c.opts.Prefix + "Meta", ConsistencyLevel: &c.e.c.level, Limit: maxResults,
			Filters:    and(textIs(metaKind, "verdict"), textIs(metaCollection, c.cfg.Name), textIs(metaKey, key)),
			Properties: &pb.PropertiesRequest{NonRefProperties: []string{metaItem}}, Metadata: &pb.MetadataRequest{Uuid: true},
			Uses_123Api: true, Uses_125Api: true, Uses_127Api: true})
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("weaviate: read verdicts of %q: %w", key, err)
	}
	out := make(map[string]struct{}, len(r.Results))
	for _, x := range r.Results {
		out[textProp(x, metaItem)] = struct{}{}
	}
	return out, nil
}
