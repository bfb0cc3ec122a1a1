package weaviate

import (
	"cmp"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"time"

	pb "github.com/weaviate/weaviate/grpc/generated/protocol/v1"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/hardneg/hardneg/internal/binfmt"
	"github.com/hardneg/hardneg/internal/engine"
)

// Loop state. Each miner saves each collection's training-loop state as objects of the
// PrefixLoop collection: one save is a generation (gen, the save's Unix time in
// milliseconds, above the miner's previous one) of parts objects, each holding
// loopChunk bytes of the blob at most (a blob property, base64 on the wire, not
// indexed), and a head object (part -1) naming the miner's current generation, its
// number of parts and the CRC-32C of the whole blob. Every object carries the
// collection name, its incarnation (stored.Incarnation) and the miner's name; object
// ids are derived from (collection, incarnation, miner, gen, part), the head's from
// (collection, incarnation, miner) alone, so a save replaces it in place. A save
// writes its parts at the consistency level, then the head, then deletes the miner's
// older parts: a save that stopped halfway leaves the previous one whole.
//
// Deleting by filter never names a head, and matches only on positive terms (equal,
// less than): Weaviate resolves a filtered delete to object ids on several replicas and
// deletes the union everywhere, so a replica that has not yet applied a head's
// replacement (a write acknowledged by a quorum reaches the last replica a moment
// later) would otherwise match the old head's gen, and the delete would remove the new
// head. Another miner's head is deleted by id, after a read at the consistency level
// shows it no newer than the save it stands for.
//
// A reader finds the miners by a filtered search for heads (which asks one replica per
// shard, so a miner whose first save is a moment old can be missed), then reads each
// head and its parts by object id at the consistency level, which sees every
// acknowledged save; its own head it reads by id even when the search missed it.
//
// Size: the blob of 100,000 rotation keys of 32 negatives is tens of MB. Weaviate
// checks only that a blob property is base64, but a gRPC message to it is at most
// GRPC_MAX_MESSAGE_SIZE (100 MiB by default), and a large object is replicated and
// compacted whole; parts of 4 MiB (5.3 MiB of base64) written loopBatch at a time keep
// every message far below that bound.

// Property names of a loop state object (the PrefixLoop collection).
const (
	loopCollection  = "collection"  // the hardneg collection
	loopIncarnation = "incarnation" // its incarnation
	loopMiner       = "miner"       // the saving miner (Options.Miner)
	loopGen         = "gen"         // the save: Unix milliseconds, increasing per miner
	loopPart        = "part"        // this object's part, from 0; -1 for the head
	loopParts       = "parts"       // the save's number of parts
	loopSum         = "sum"         // CRC-32C of the whole blob
	loopData        = "data"        // the part's bytes (blob)
)

const (
	// loopChunk is the most blob bytes one object holds.
	loopChunk = 4 << 20
	// loopBatch is the most objects written by one request.
	loopBatch = 4
	// loopReadTries bounds the attempts to read every miner's newest complete save
	// while saves replace them.
	loopReadTries = 3
)

var (
	_ engine.LoopStateStore       = (*Engine)(nil)
	_ engine.SharedLoopStateStore = (*Engine)(nil)
)

// savedState is one miner's newest complete save of a collection.
type savedState struct {
	miner string
	gen   int64
	data  []byte
}

// loopPartID is the object id of part of a save.
func loopPartID(collection, incarnation, miner string, gen int64, part int) string {
	return metaID("loop", collection, incarnation, miner, strconv.FormatInt(gen, 10), strconv.Itoa(part))
}

// loopHeadID is the object id of a miner's head object of a collection.
func loopHeadID(collection, incarnation, miner string) string {
	return metaID("loop-head", collection, incarnation, miner)
}

// current returns ec as the collection of its name in the cluster now (not a
// collection deleted, or replaced by another of the same name, since ec was had).
func (e *Engine) current(ec engine.Collection) (*Collection, error) {
	c, ok := ec.(*Collection)
	if !ok || c.e != e {
		return nil, errors.New("loop state: not a collection of this Weaviate engine")
	}
	cur, err := e.lookup(c.cfg.Name)
	if err != nil {
		return nil, err
	}
	if cur.incarnation != c.incarnation || cur.cfg != c.cfg {
		return nil, fmt.Errorf("%q: %w", c.cfg.Name, engine.ErrCollectionNotFound)
	}
	return c, nil
}

// SaveLoopState replaces this miner's loop state of c (Options.Miner) with data, at
// the consistency level; then it removes the other miners' saves it loaded
// (LoadLoopStates) and that were not replaced since: data absorbed them. It fails with
// ErrCollectionNotFound when c is no longer the collection of its name.
func (e *Engine) SaveLoopState(ec engine.Collection, data []byte) error {
	c, err := e.current(ec)
	if err != nil {
		return err
	}
	ctx, cancel := e.c.ctx(context.Background())
	defer cancel()
	name, miner := c.cfg.Name, e.c.opts.Miner
	e.loopMu.Lock()
	gen := max(time.Now().UnixMilli(), e.loopGen+1)
	e.loopGen = gen
	e.loopMu.Unlock()
	parts := max(1, (len(data)+loopChunk-1)/loopChunk)
	sum := float64(binfmt.Checksum(data))
	for lo := 0; lo < parts; lo += loopBatch {
		var objs []*pb.BatchObject
		for p := lo; p < min(lo+loopBatch, parts); p++ {
			chunk := data[min(p*loopChunk, len(data)):min((p+1)*loopChunk, len(data))]
			props, err := structpb.NewStruct(map[string]any{loopCollection: name, loopIncarnation: c.incarnation, loopMiner: miner,
				loopGen: float64(gen), loopPart: float64(p), loopParts: float64(parts), loopSum: sum,
				loopData: base64.StdEncoding.EncodeToString(chunk)})
			if err != nil {
				return err
			}
			objs = append(objs, &pb.BatchObject{Uuid: loopPartID(name, c.incarnation, miner, gen, p), Collection: e.c.opts.Prefix + "Loop",
				Properties: &pb.BatchObject_Properties{NonRefProperties: props}})
		}
		if err := e.writeObjects(ctx, objs); err != nil {
			return fmt.Errorf("loop state of %q: %w", name, err)
		}
	}
	head, err := structpb.NewStruct(map[string]any{loopCollection: name, loopIncarnation: c.incarnation, loopMiner: miner,
		loopGen: float64(gen), loopPart: float64(-1), loopParts: float64(parts), loopSum: sum})
	if err != nil {
		return err
	}
	if err := e.writeObjects(ctx, []*pb.BatchObject{{Uuid: loopHeadID(name, c.incarnation, miner), Collection: e.c.opts.Prefix + "Loop",
		Properties: &pb.BatchObject_Properties{NonRefProperties: head}}}); err != nil {
		return fmt.Errorf("loop state of %q: %w", name, err)
	}
	// The parts of the miner's earlier saves of this collection (and of earlier
	// incarnations, whose heads readLoopStates removes). Its head was replaced in place.
	err = e.deleteLoopState(ctx, and(textIs(loopCollection, name), textIs(loopMiner, miner),
		intIs(loopPart, pb.Filters_OPERATOR_GREATER_THAN_EQUAL, 0), intIs(loopGen, pb.Filters_OPERATOR_LESS_THAN, gen)))
	if err != nil {
		return fmt.Errorf("loop state of %q: remove earlier saves: %w", name, err)
	}
	e.loopMu.Lock()
	absorbed := e.absorbed[name]
	delete(e.absorbed, name)
	e.loopMu.Unlock()
	for i, s := range absorbed {
		if s.incarnation != c.incarnation {
			continue
		}
		// Its head unless it saved again since (a newer head), then the parts of that
		// save and earlier ones; parts of a newer save it did not finish stay until it
		// saves again or the collection is deleted.
		err := e.deleteHeadUpTo(ctx, loopHeadID(name, s.incarnation, s.miner), s.gen)
		if err == nil {
			err = e.deleteLoopState(ctx, and(textIs(loopCollection, name), textIs(loopIncarnation, s.incarnation),
				textIs(loopMiner, s.miner), intIs(loopPart, pb.Filters_OPERATOR_GREATER_THAN_EQUAL, 0),
				intIs(loopGen, pb.Filters_OPERATOR_LESS_THAN_EQUAL, s.gen)))
		}
		if err != nil {
			// Tried again after the next save.
			e.loopMu.Lock()
			if _, newer := e.absorbed[name]; !newer {
				e.absorbed[name] = absorbed[i:]
			}
			e.loopMu.Unlock()
			return fmt.Errorf("loop state of %q saved, but the save of miner %q it absorbed not removed: %w", name, s.miner, err)
		}
	}
	return nil
}

// absorbedSave is another miner's save that this miner loaded.
type absorbedSave struct {
	incarnation, miner string
	gen                int64
}

// LoadLoopState returns this miner's saved loop state of c, nil when it saved none.
func (e *Engine) LoadLoopState(ec engine.Collection) ([]byte, error) {
	saves, err := e.loadLoopStates(ec, false)
	if err != nil {
		return nil, err
	}
	for _, s := range saves {
		if s.miner == e.c.opts.Miner {
			return s.data, nil
		}
	}
	return nil, nil
}

// LoadLoopStates returns every miner's newest saved loop state of c, oldest save
// first (this miner's among them), and removes the saves of earlier collections of
// c's name. A later SaveLoopState removes the other miners' saves returned here
// unless they were replaced meanwhile.
func (e *Engine) LoadLoopStates(ec engine.Collection) ([][]byte, error) {
	saves, err := e.loadLoopStates(ec, true)
	if err != nil {
		return nil, err
	}
	out := make([][]byte, len(saves))
	for i, s := range saves {
		out[i] = s.data
	}
	return out, nil
}

func (e *Engine) loadLoopStates(ec engine.Collection, absorb bool) ([]savedState, error) {
	c, err := e.current(ec)
	if err != nil {
		return nil, err
	}
	ctx, cancel := e.c.ctx(context.Background())
	defer cancel()
	name := c.cfg.Name
	var saves []savedState
	for try := 1; ; try++ {
		saves, err = e.readLoopStates(ctx, c)
		if err == nil || try == loopReadTries || !errors.Is(err, errSaveReplaced) {
			break
		}
		select {
		case <-ctx.Done():
		case <-time.After(retryFirst):
		}
	}
	if err != nil {
		return nil, fmt.Errorf("loop state of %q: %w", name, err)
	}
	if absorb {
		var mine []absorbedSave
		for _, s := range saves {
			if s.miner != e.c.opts.Miner {
				mine = append(mine, absorbedSave{incarnation: c.incarnation, miner: s.miner, gen: s.gen})
			}
		}
		e.loopMu.Lock()
		e.absorbed[name] = mine
		e.loopMu.Unlock()
	}
	return saves, nil
}

// errSaveReplaced: a part of a save was gone when it was read (a newer save replaced
// it); the read starts again.
var errSaveReplaced = errors.New("a save was replaced while it was read")

// readLoopStates finds the miners that saved c's state (removing the saves of other
// incarnations) and reads each one's current save.
func (e *Engine) readLoopStates(ctx context.Context, c *Collection) ([]savedState, error) {
	name, class := c.cfg.Name, e.c.opts.Prefix+"Loop"
	var r *pb.SearchReply
	err := e.c.retry(ctx, func(ctx context.Context) (err error) {
		r, err = e.c.data.Search(ctx, &pb.SearchRequest{Collection: class, ConsistencyLevel: &e.c.level, Limit: maxResults,
			Filters:    and(textIs(loopCollection, name), intIs(loopPart, pb.Filters_OPERATOR_EQUAL, -1)),
			Properties: &pb.PropertiesRequest{NonRefProperties: []string{loopIncarnation, loopMiner}},
			Metadata:   &pb.MetadataRequest{Uuid: true}, Uses_123Api: true, Uses_125Api: true, Uses_127Api: true})
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("list saves: %w", err)
	}
	miners := []string{e.c.opts.Miner}
	var stale []string
	for _, x := range r.Results {
		if inc := textProp(x, loopIncarnation); inc != c.incarnation {
			if !slices.Contains(stale, inc) {
				stale = append(stale, inc)
			}
		} else if m := textProp(x, loopMiner); !slices.Contains(miners, m) {
			miners = append(miners, m)
		}
	}
	if len(stale) > 0 {
		// Left by a collection of the same name that was deleted (and its state not
		// removed with it) or replaced. Named, not "not c's incarnation": see the top of
		// this file.
		if err := e.deleteLoopState(ctx, and(textIs(loopCollection, name), textIn(loopIncarnation, pb.Filters_OPERATOR_CONTAINS_ANY, stale))); err != nil {
			return nil, fmt.Errorf("remove the saves of an earlier collection: %w", err)
		}
	}
	heads := make([]string, len(miners))
	for i, m := range miners {
		heads[i] = loopHeadID(name, c.incarnation, m)
	}
	found, err := e.c.getByID(ctx, class, heads, false)
	if err != nil {
		return nil, err
	}
	var out []savedState
	for i, m := range miners {
		h, ok := found[heads[i]]
		if !ok {
			continue // no save, or removed by a miner that absorbed it
		}
		gen, parts, sum := propInt(h, loopGen), int(propInt(h, loopParts)), propInt(h, loopSum)
		uuids := make([]string, parts)
		for p := range uuids {
			uuids[p] = loopPartID(name, c.incarnation, m, gen, p)
		}
		objs, err := e.c.getByID(ctx, class, uuids, false)
		if err != nil {
			return nil, err
		}
		var data []byte
		for _, u := range uuids {
			o, ok := objs[u]
			if !ok {
				return nil, fmt.Errorf("miner %q: %w", m, errSaveReplaced)
			}
			b, err := base64.StdEncoding.DecodeString(propText(o, loopData))
			if err != nil {
				return nil, fmt.Errorf("miner %q: part of save %d: %w", m, gen, err)
			}
			data = append(data, b...)
		}
		if int64(binfmt.Checksum(data)) != sum {
			return nil, fmt.Errorf("miner %q: save %d: checksum mismatch", m, gen)
		}
		out = append(out, savedState{miner: m, gen: gen, data: data})
	}
	slices.SortFunc(out, func(a, b savedState) int {
		return cmp.Or(cmp.Compare(a.gen, b.gen), cmp.Compare(a.miner, b.miner))
	})
	return out, nil
}

// deleteLoopState deletes the loop state objects that f matches, at the consistency
// level.
func (e *Engine) deleteLoopState(ctx context.Context, f *pb.Filters) error {
	_, err := e.deleteWhere(ctx, e.c.opts.Prefix+"Loop", f)
	return err
}

// deleteHeadUpTo deletes the head object id unless a read at the consistency level
// shows it names a save newer than gen. (A save that replaces the head between the read
// and the delete is lost with it; its miner's next save writes a new head.)
func (e *Engine) deleteHeadUpTo(ctx context.Context, id string, gen int64) error {
	class := e.c.opts.Prefix + "Loop"
	found, err := e.c.getByID(ctx, class, []string{id}, false)
	if err != nil {
		return err
	}
	h, ok := found[id]
	if !ok || propInt(h, loopGen) > gen {
		return nil
	}
	return e.c.deleteByID(ctx, class, id)
}
