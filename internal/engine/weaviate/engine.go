package weaviate

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
	"github.com/weaviate/weaviate-go-client/v5/weaviate/schema"
	"github.com/weaviate/weaviate/entities/models"
	pb "github.com/weaviate/weaviate/grpc/generated/protocol/v1"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/hardneg/hardneg/internal/engine"
	"github.com/hardneg/hardneg/internal/validate"
)

// Engine is the Weaviate backend: every collection is a Weaviate collection, writer
// positions and false-negative verdicts live in one more (PrefixMeta), the miners'
// training-loop state in another (PrefixLoop), and the engine itself keeps no state a
// restart could lose. Safe for concurrent use.
type Engine struct {
	c *conn

	mu    sync.Mutex             // guards colls
	colls map[string]*Collection // collections seen, by hardneg name

	lsn    atomic.Uint64 // sequence numbers of acknowledged writes (this process)
	closed atomic.Bool

	sweepMu        sync.Mutex      // guards writersSwept and sweeping; orders the start of a goroutine against Close
	writersSwept   time.Time       // when this miner last started a sweep for expired writers
	sweeping       bool            // a sweep runs
	sweeps         sync.WaitGroup  // the running sweep, for Close
	writersExpired atomic.Uint64   // writer positions this miner deleted after Options.WriterTTL
	refreshes      sync.WaitGroup  // background estimates being measured (Collection.refreshBackground)
	stop           context.Context // cancelled by Close: ends reads Close would otherwise wait for
	cancel         context.CancelFunc

	loopMu   sync.Mutex                // guards loopGen and absorbed
	loopGen  int64                     // the generation of this miner's last loop state save
	absorbed map[string][]absorbedSave // by collection: other miners' saves loaded (LoadLoopStates)
}

var (
	_ engine.Engine                = (*Engine)(nil)
	_ engine.Retrier               = (*Engine)(nil)
	_ engine.ContextStreamAppender = (*Engine)(nil)
	_ engine.WriterExpirer         = (*Engine)(nil)
)

// Open connects to a Weaviate cluster and makes sure the metadata collection exists.
func Open(o Options) (*Engine, error) {
	o, err := o.withDefaults()
	if err != nil {
		return nil, err
	}
	c, err := dial(o)
	if err != nil {
		return nil, err
	}
	return newEngine(c), nil
}

// newEngine returns an engine on the connection c.
func newEngine(c *conn) *Engine {
	stop, cancel := context.WithCancel(context.Background())
	return &Engine{c: c, colls: map[string]*Collection{}, absorbed: map[string][]absorbedSave{}, stop: stop, cancel: cancel}
}

// RetryStats counts the attempts repeated after a transient failure and the calls that
// still failed when Options.RetryFor ran out, since Open.
func (e *Engine) RetryStats() (retries, gaveUp uint64) {
	return e.c.retries.Load(), e.c.gaveUp.Load()
}

// Calls counts the calls this engine made to Weaviate since Open, each attempt of a
// retried call once: every read, search and write, and the schema reads (creating and
// dropping a collection are not counted). It measures what a request costs the cluster
// (docs/BENCHMARKS.md counts the calls of one Mine and of one ingest batch).
func (e *Engine) Calls() uint64 { return e.c.calls.Load() }

// Options returns the options in effect (defaults filled in).
func (e *Engine) Options() Options { return e.c.opts }

// Recover creates the metadata and loop state collections when they are missing, and
// adds to an existing metadata collection the properties this version writes; there is
// nothing else to recover: the cluster holds every acknowledged write.
func (e *Engine) Recover() error {
	text := func(name string) *models.Property {
		return &models.Property{Name: name, DataType: []string{"text"}, Tokenization: "field"}
	}
	integer := func(name string) *models.Property {
		return &models.Property{Name: name, DataType: []string{"int"}}
	}
	no := false
	err := e.ensureClass(&models.Class{
		Class:       e.c.opts.Prefix + "Meta",
		Description: "hardneg: stream writer positions and false-negative verdicts",
		Properties:  []*models.Property{text(metaKind), text(metaCollection), text(metaKey), text(metaItem), integer(metaSeq), integer(metaUnix)},
	})
	if err != nil {
		return err
	}
	if err := e.ensureProperty(e.c.opts.Prefix+"Meta", integer(metaUnix)); err != nil {
		return err
	}
	return e.ensureClass(&models.Class{
		Class:       e.c.opts.Prefix + "Loop",
		Description: "hardneg: training-loop state, per collection and miner",
		Properties: []*models.Property{text(loopCollection), text(loopIncarnation), text(loopMiner), integer(loopGen),
			integer(loopPart), integer(loopParts), integer(loopSum),
			{Name: loopData, DataType: []string{"blob"}, IndexFilterable: &no, IndexSearchable: &no}},
	})
}

// ensureClass creates an internal collection without vectors (at the engine's
// replication factor) unless it exists.
func (e *Engine) ensureClass(class *models.Class) error {
	ctx, cancel := e.c.ctx(context.Background())
	defer cancel()
	var ok bool
	err := e.c.retry(ctx, func(ctx context.Context) (err error) {
		ok, err = e.c.rest.Schema().ClassExistenceChecker().WithClassName(class.Class).Do(ctx)
		return err
	})
	if err != nil {
		return fmt.Errorf("weaviate: %w", err)
	}
	if ok {
		return nil
	}
	class.Vectorizer = "none"
	class.VectorIndexConfig = map[string]any{"skip": true}
	class.ReplicationConfig = e.replication()
	err = e.c.rest.Schema().ClassCreator().WithClass(class).Do(ctx)
	if err != nil && !strings.Contains(err.Error(), "already exists") {
		return fmt.Errorf("weaviate: create %s: %w", class.Class, err)
	}
	return nil
}

// ensureProperty adds prop to the internal collection class unless it has it: a
// collection created by an earlier version gains what this one writes and filters on.
func (e *Engine) ensureProperty(class string, prop *models.Property) error {
	ctx, cancel := e.c.ctx(context.Background())
	defer cancel()
	has := func(ctx context.Context) (bool, error) {
		got, err := e.c.rest.Schema().ClassGetter().WithClassName(class).Do(ctx)
		if err != nil {
			return false, err
		}
		return slices.ContainsFunc(got.Properties, func(p *models.Property) bool { return strings.EqualFold(p.Name, prop.Name) }), nil
	}
	var ok bool
	err := e.c.retry(ctx, func(ctx context.Context) (err error) {
		ok, err = has(ctx)
		return err
	})
	if err != nil {
		return fmt.Errorf("weaviate: read %s: %w", class, err)
	}
	if ok {
		return nil
	}
	err = e.c.retry(ctx, func(ctx context.Context) error {
		err := e.c.rest.Schema().PropertyCreator().WithClassName(class).WithProperty(prop).Do(ctx)
		if err == nil {
			return nil
		}
		// Another miner starting at the same time may have added it (Weaviate then
		// answers 422 "already in use"): read the class again.
		if ok, gerr := has(ctx); gerr == nil && ok {
			return nil
		}
		return err
	})
	if err != nil {
		return fmt.Errorf("weaviate: add property %s to %s: %w", prop.Name, class, err)
	}
	return nil
}

// deleteWhere deletes the objects of class that f matches, at the consistency level,
// and returns how many it deleted. One batch delete reaches at most the cluster's
// QUERY_MAXIMUM_RESULTS objects, so it repeats while a round deleted fewer than it
// matched; a round that deletes nothing of what it matched fails.
func (e *Engine) deleteWhere(ctx context.Context, class string, f *pb.Filters) (int64, error) {
	var n int64
	for {
		var reply *pb.BatchDeleteReply
		err := e.c.retry(ctx, func(ctx context.Context) (err error) {
			reply, err = e.c.data.BatchDelete(ctx, &pb.BatchDeleteRequest{Collection: class, ConsistencyLevel: &e.c.level, Filters: f})
			return err
		})
		if err != nil {
			return n, err
		}
		n += reply.Successful
		switch {
		case reply.Successful >= reply.Matches: // Matches counts every match, not only the first QUERY_MAXIMUM_RESULTS
			return n, nil
		case reply.Successful == 0:
			return n, fmt.Errorf("%d objects of %s matched, none deleted (%d failed)", reply.Matches, class, reply.Failed)
		}
	}
}

// replication is the replication configuration of the collections this engine creates:
// the replication factor, and with more than one copy asynchronous replication (a node
// that was down catches up on the writes it missed) with conflicts between a write and
// a delete resolved by time.
func (e *Engine) replication() *models.ReplicationConfig {
	rc := &models.ReplicationConfig{Factor: int64(e.c.opts.ReplicationFactor)}
	if rc.Factor > 1 {
		rc.AsyncEnabled = true
		rc.DeletionStrategy = models.ReplicationConfigDeletionStrategyTimeBasedResolution
	}
	return rc
}

// Failed returns nil: a Weaviate engine has no local storage to fail; errors of the
// cluster fail the request that met them.
func (e *Engine) Failed() <-chan struct{} { return nil }

// Close closes the connections.
func (e *Engine) Close() error {
	if e.closed.Swap(true) {
		return nil
	}
	// A sweep or a refresh starts under sweepMu only while the engine is open: after
	// this, none does.
	e.sweepMu.Lock()
	e.sweepMu.Unlock()
	e.cancel()
	e.sweeps.Wait()
	e.refreshes.Wait()
	return e.c.close()
}

// stored is what a Weaviate collection's description holds: the hardneg configuration.
type stored struct {
	Name           string `json:"name"`
	Dim            int    `json:"dim"`
	Metric         string `json:"metric"`
	M              int    `json:"m"`
	EfConstruction int    `json:"ef_construction"`
	EfSearch       int    `json:"ef_search"`
	ExactThreshold int    `json:"exact_threshold"`
	// Incarnation is a random UUID drawn when the collection is created: it tells a
	// collection from an earlier one of the same name (loop state belongs to one).
	// Collections created before it was recorded have none.
	Incarnation string `json:"incarnation,omitempty"`
}

const descriptionPrefix = "hardneg collection "

var metrics = map[engine.Metric]string{engine.Cosine: "cosine", engine.Dot: "dot", engine.L2: "l2-squared"}

func metricNamed(s string) engine.Metric {
	for m, name := range metrics {
		if name == s {
			return m
		}
	}
	return engine.MetricUnspecified
}

// CreateCollection creates the Weaviate collection for cfg: its HNSW index with the
// collection's M, ef_construction and ef_search and the metric's distance, the
// engine's replication factor and shard count, and the item properties.
func (e *Engine) CreateCollection(cfg engine.Config) (engine.Collection, error) {
	if e.closed.Load() {
		return nil, engine.ErrClosed
	}
	cfg, err := cfg.Validate()
	if err != nil {
		return nil, err
	}
	if cfg.Ephemeral {
		return nil, validate.Field("ephemeral", "is not offered by -backend weaviate, where every collection is stored in the cluster")
	}
	// Weaviate runs its own search: the embedded index's quantization does not apply.
	cfg.Params.Quantization = engine.QuantizationUnspecified
	class := className(e.c.opts.Prefix, cfg.Name)
	ctx, cancel := e.c.ctx(context.Background())
	defer cancel()
	var exists bool
	err = e.c.retry(ctx, func(ctx context.Context) (err error) {
		exists, err = e.c.rest.Schema().ClassExistenceChecker().WithClassName(class).Do(ctx)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("weaviate: %w", err)
	}
	if exists {
		return nil, fmt.Errorf("%q: %w", cfg.Name, engine.ErrCollectionExists)
	}
	inc := uuid.NewString()
	desc, _ := json.Marshal(stored{Name: cfg.Name, Dim: cfg.Dim, Metric: metrics[cfg.Metric], M: cfg.Params.M,
		EfConstruction: cfg.Params.EfConstruction, EfSearch: cfg.Params.EfSearch, ExactThreshold: cfg.Params.ExactThreshold,
		Incarnation: inc})
	wc := &models.Class{
		Class:       class,
		Description: descriptionPrefix + string(desc),
		Vectorizer:  "none",
		VectorIndexConfig: map[string]any{
			"distance":       metrics[cfg.Metric],
			"maxConnections": cfg.Params.M,
			"efConstruction": cfg.Params.EfConstruction,
			"ef":             cfg.Params.EfSearch,
		},
		ReplicationConfig: e.replication(),
		Properties: []*models.Property{
			{Name: propID, DataType: []string{"text"}, Tokenization: "field"},
			{Name: propGroups, DataType: []string{"text[]"}, Tokenization: "field"},
			{Name: propVersion, DataType: []string{"int"}},
		},
	}
	if e.c.opts.Shards > 0 {
		wc.ShardingConfig = map[string]any{"desiredCount": e.c.opts.Shards}
	}
	if err := e.c.rest.Schema().ClassCreator().WithClass(wc).Do(ctx); err != nil {
		if strings.Contains(err.Error(), "already exists") {
			return nil, fmt.Errorf("%q: %w", cfg.Name, engine.ErrCollectionExists)
		}
		return nil, fmt.Errorf("weaviate: create collection %q: %w", cfg.Name, err)
	}
	return e.remember(cfg, inc), nil
}

// remember returns the Collection for cfg and incarnation inc, the same value for the
// same configuration and incarnation.
func (e *Engine) remember(cfg engine.Config, inc string) *Collection {
	e.mu.Lock()
	defer e.mu.Unlock()
	if c, ok := e.colls[cfg.Name]; ok && c.cfg == cfg && c.incarnation == inc {
		return c
	}
	c := &Collection{e: e, cfg: cfg, class: className(e.c.opts.Prefix, cfg.Name), incarnation: inc}
	e.colls[cfg.Name] = c
	return c
}

func (e *Engine) forget(name string) {
	e.mu.Lock()
	delete(e.colls, name)
	e.mu.Unlock()
}

// configOf parses a Weaviate collection's description into the configuration and
// incarnation; ok is false for collections this engine did not create.
func configOf(class *models.Class) (cfg engine.Config, incarnation string, ok bool) {
	rest, ok := strings.CutPrefix(class.Description, descriptionPrefix)
	if !ok {
		return engine.Config{}, "", false
	}
	var s stored
	if json.Unmarshal([]byte(rest), &s) != nil || s.Name == "" {
		return engine.Config{}, "", false
	}
	return engine.Config{Name: s.Name, Dim: s.Dim, Metric: metricNamed(s.Metric), Params: engine.Params{
		M: s.M, EfConstruction: s.EfConstruction, EfSearch: s.EfSearch, ExactThreshold: s.ExactThreshold}}, s.Incarnation, true
}

// Collection returns the named collection, asking the cluster for collections this
// process has not seen (another miner may have created them).
func (e *Engine) Collection(name string) (engine.Collection, error) {
	c, err := e.collection(name)
	if err != nil {
		return nil, err
	}
	return c, nil
}

func (e *Engine) collection(name string) (*Collection, error) {
	if e.closed.Load() {
		return nil, engine.ErrClosed
	}
	e.mu.Lock()
	c, ok := e.colls[name]
	e.mu.Unlock()
	if ok {
		return c, nil
	}
	if name == "" || len(name) > engine.MaxNameLen {
		return nil, fmt.Errorf("%q: %w", name, engine.ErrCollectionNotFound)
	}
	return e.lookup(name)
}

// lookup asks the cluster for the named collection (not the collections seen).
func (e *Engine) lookup(name string) (*Collection, error) {
	ctx, cancel := e.c.ctx(context.Background())
	defer cancel()
	var class *models.Class
	err := e.c.retry(ctx, func(ctx context.Context) (err error) {
		class, err = e.c.rest.Schema().ClassGetter().WithClassName(className(e.c.opts.Prefix, name)).Do(ctx)
		return err
	})
	if err != nil || class == nil {
		if err == nil || isNotFound(err) {
			return nil, fmt.Errorf("%q: %w", name, engine.ErrCollectionNotFound)
		}
		return nil, fmt.Errorf("weaviate: %w", err)
	}
	cfg, inc, ok := configOf(class)
	if !ok || cfg.Name != name {
		return nil, fmt.Errorf("%q: %w", name, engine.ErrCollectionNotFound)
	}
	return e.remember(cfg, inc), nil
}

func isNotFound(err error) bool {
	s := err.Error()
	return strings.Contains(s, "404") || strings.Contains(s, "not found") || strings.Contains(s, "could not find class") ||
		strings.Contains(s, "no such class")
}

// Collections lists the cluster's hardneg collections, ordered by name; it returns
// none when the cluster cannot be asked.
func (e *Engine) Collections() []engine.Collection {
	ctx, cancel := e.c.ctx(context.Background())
	defer cancel()
	var dump *schema.Dump
	err := e.c.once(ctx, func(ctx context.Context) (err error) {
		dump, err = e.c.rest.Schema().Getter().Do(ctx)
		return err
	})
	if err != nil {
		return nil
	}
	var out []engine.Collection
	for _, class := range dump.Classes {
		if _, ok := collectionName(e.c.opts.Prefix, class.Class); !ok {
			continue
		}
		if cfg, inc, ok := configOf(class); ok {
			out = append(out, e.remember(cfg, inc))
		}
	}
	slices.SortFunc(out, func(a, b engine.Collection) int { return strings.Compare(a.Name(), b.Name()) })
	return out
}

// DeleteCollection drops the Weaviate collection, the collection's verdicts and its
// loop state.
func (e *Engine) DeleteCollection(name string) error {
	c, err := e.collection(name)
	if err != nil && !errors.Is(err, engine.ErrCollectionNotFound) {
		return err
	}
	ctx, cancel := e.c.ctx(context.Background())
	defer cancel()
	e.forget(name)
	var missing error
	if c == nil {
		missing = err
	} else if err := e.c.rest.Schema().ClassDeleter().WithClassName(c.class).Do(ctx); err != nil {
		if !isNotFound(err) {
			return fmt.Errorf("weaviate: delete collection %q: %w", name, err)
		}
		missing = fmt.Errorf("%q: %w", name, engine.ErrCollectionNotFound)
	}
	// The collection's verdicts and loop state go with it, also when the collection is
	// already gone: a DeleteCollection that failed after dropping the class leaves them,
	// and the caller's retry (answered NOT_FOUND) removes them.
	if _, err := e.deleteWhere(ctx, e.c.opts.Prefix+"Meta", and(textIs(metaKind, "verdict"), textIs(metaCollection, name))); err != nil {
		return fmt.Errorf("weaviate: delete the verdicts of %q: %w", name, err)
	}
	if err := e.deleteLoopState(ctx, textIs(loopCollection, name)); err != nil {
		return fmt.Errorf("weaviate: delete the loop state of %q: %w", name, err)
	}
	return missing
}

// Upsert writes b at the engine's consistency level: every object is acknowledged by
// that many replicas before Upsert returns.
func (e *Engine) Upsert(name string, b *engine.Batch, prefix string) (engine.UpsertResult, error) {
	c, err := e.collection(name)
	if err != nil {
		return engine.UpsertResult{}, err
	}
	if err := engine.ValidateBatch(b, c.cfg.Dim, c.cfg.Metric, prefix); err != nil {
		return engine.UpsertResult{}, err
	}
	ctx, cancel := e.c.ctx(context.Background())
	defer cancel()
	res, err := c.upsert(ctx, b)
	if err != nil {
		return engine.UpsertResult{}, err
	}
	res.Sequence = e.lsn.Add(1)
	return res, nil
}

// Delete removes ids at the engine's consistency level.
func (e *Engine) Delete(name string, ids []string, field string) (engine.DeleteResult, error) {
	c, err := e.collection(name)
	if err != nil {
		return engine.DeleteResult{}, err
	}
	if err := engine.ValidateIDs(field, ids, false); err != nil {
		return engine.DeleteResult{}, err
	}
	ctx, cancel := e.c.ctx(context.Background())
	defer cancel()
	res, err := c.delete(ctx, ids)
	if err != nil {
		return engine.DeleteResult{}, err
	}
	res.Sequence = e.lsn.Add(1)
	return res, nil
}

// StreamAppend applies one stream batch and then records the writer's sequence in the
// metadata collection, both at the engine's consistency level, so any miner can take
// the stream over. A crash between the two leaves the batch applied but not recorded:
// the writer resends it and it is applied again, which upserts and deletes make
// harmless. Two miners must not serve one writer at the same time (a writer streams
// over one connection).
func (e *Engine) StreamAppend(writer string, seq uint64, name string, b *engine.Batch, deletes []string) (engine.StreamResult, error) {
	return e.StreamAppendContext(context.Background(), writer, seq, name, b, deletes)
}

// StreamAppendContext is StreamAppend bounded by ctx (the stream's context): once the
// writer's stream has ended, the batch is neither applied further nor retried, so a
// writer that resumed on another miner is not overtaken by a late retry here. Before
// recording the position it reads it again and fails if it moved past seq meanwhile.
func (e *Engine) StreamAppendContext(ctx context.Context, writer string, seq uint64, name string, b *engine.Batch, deletes []string) (engine.StreamResult, error) {
	c, err := e.collection(name)
	if err != nil {
		return engine.StreamResult{}, err
	}
	if b == nil {
		b = &engine.Batch{}
	}
	if err := engine.ValidateBatch(b, c.cfg.Dim, c.cfg.Metric, "items"); err != nil {
		return engine.StreamResult{}, err
	}
	if err := engine.ValidateIDs("delete_ids", deletes, true); err != nil {
		return engine.StreamResult{}, err
	}
	ctx, cancel := e.c.ctx(ctx)
	defer cancel()
	last, err := e.writerSequence(ctx, writer)
	if err != nil {
		return engine.StreamResult{}, err
	}
	switch {
	case seq <= last:
		return engine.StreamResult{Duplicate: true, LSN: e.lsn.Load(), WriterSequence: last, PrevSequence: last}, nil
	case seq > last+1:
		return engine.StreamResult{}, engine.SequenceGap(writer, seq, last, e.c.opts.WriterTTL)
	}
	res := engine.StreamResult{WriterSequence: seq, PrevSequence: last}
	if b.Len() > 0 {
		if res.Upsert, err = c.upsert(ctx, b); err != nil {
			return engine.StreamResult{}, err
		}
	}
	if len(deletes) > 0 {
		if res.Delete, err = c.delete(ctx, deletes); err != nil {
			return engine.StreamResult{}, err
		}
	}
	if now, err := e.writerSequence(ctx, writer); err != nil {
		return engine.StreamResult{}, err
	} else if now == 0 && last > 0 {
		// A sweep forgot the writer while its batch was applied (it had been idle for
		// about the TTL): it starts again at 1, as any forgotten writer.
		return engine.StreamResult{}, engine.SequenceGap(writer, seq, 0, e.c.opts.WriterTTL)
	} else if now != last {
		return engine.StreamResult{}, fmt.Errorf("writer %q: its position moved from %d to %d while batch %d was applied: %w", writer, last, now, seq, engine.ErrSequenceGap)
	}
	seqProps, _ := structpb.NewStruct(map[string]any{metaKind: "writer", metaKey: writer, metaSeq: float64(seq), metaUnix: float64(time.Now().Unix())})
	if err := e.writeObjects(ctx, []*pb.BatchObject{{Uuid: metaID("writer", writer), Collection: e.c.opts.Prefix + "Meta",
		Properties: &pb.BatchObject_Properties{NonRefProperties: seqProps}}}); err != nil {
		return engine.StreamResult{}, fmt.Errorf("writer %q: record sequence %d: %w", writer, seq, err)
	}
	res.LSN = e.lsn.Add(1)
	res.Upsert.Sequence, res.Delete.Sequence = res.LSN, res.LSN
	if last == 0 {
		e.sweepWritersSoon() // a new writer: sweep for expired ones now and then, in the background
	}
	return res, nil
}

// sweepWritersSoon starts a sweep for expired writers in the background unless one ran
// within engine.WriterSweepEvery or is running: a new writer's batch neither waits for
// it nor fails with it. Close waits for it.
func (e *Engine) sweepWritersSoon() {
	ttl := e.c.opts.WriterTTL
	if ttl < 0 {
		return
	}
	now := time.Now()
	e.sweepMu.Lock()
	defer e.sweepMu.Unlock()
	if e.closed.Load() || e.sweeping || now.Sub(e.writersSwept) < engine.WriterSweepEvery(ttl) {
		return
	}
	e.writersSwept, e.sweeping = now, true
	e.sweeps.Add(1)
	go func() {
		defer e.sweeps.Done()
		ctx, cancel := context.WithTimeout(context.Background(), e.c.opts.Timeout+max(e.c.opts.RetryFor, 0))
		defer cancel()
		if err := e.sweepWriters(ctx, now); err != nil && !e.closed.Load() {
			e.c.opts.Logger.Warn("stream writer sweep failed; the next new writer tries again", "err", err)
		}
		e.sweepMu.Lock()
		e.sweeping = false
		e.sweepMu.Unlock()
	}()
}

// sweepWriters deletes the position objects of the writers whose last batch was
// recorded more than Options.WriterTTL before now. (A writer idle for about the TTL
// whose batch races a sweep may lose the position that batch recorded; that batch, or
// its next one, then fails as a forgotten writer's.)
func (e *Engine) sweepWriters(ctx context.Context, now time.Time) error {
	ttl := e.c.opts.WriterTTL
	n, err := e.deleteWhere(ctx, e.c.opts.Prefix+"Meta",
		and(textIs(metaKind, "writer"), intIs(metaUnix, pb.Filters_OPERATOR_LESS_THAN, now.Add(-ttl).Unix())))
	e.writersExpired.Add(uint64(n))
	if n > 0 {
		e.c.opts.Logger.Info("stream writers expired", "writers", n, "ttl", ttl)
	}
	if err != nil {
		return fmt.Errorf("weaviate: forget the stream writers idle for %s: %w", ttl, err)
	}
	return nil
}

// StreamWritersExpired counts the stream writer positions this miner's sweeps deleted
// after Options.WriterTTL without a batch, since Open (sweeps of two miners that
// overlap may both count one object).
func (e *Engine) StreamWritersExpired() uint64 { return e.writersExpired.Load() }

// writerSequence reads a writer's last applied sequence (0 for a new writer, or one
// idle for longer than Options.WriterTTL) by its object id, at the consistency level.
func (e *Engine) writerSequence(ctx context.Context, writer string) (uint64, error) {
	uid := metaID("writer", writer)
	objs, err := e.c.getByID(ctx, e.c.opts.Prefix+"Meta", []string{uid}, false)
	if err != nil {
		return 0, fmt.Errorf("writer %q: %w", writer, err)
	}
	if o, ok := objs[uid]; ok {
		props, _ := o.Properties.(map[string]any)
		if ttl := e.c.opts.WriterTTL; ttl >= 0 && props[metaUnix] != nil && propInt(o, metaUnix) < time.Now().Add(-ttl).Unix() {
			// Idle past the TTL but not yet swept: forgotten, as a sweep would have, so
			// the writer starts again at 1 instead of seeing its batches dropped as
			// duplicates. (Objects written before writers carried a time are kept.)
			return 0, nil
		}
		return uint64(propInt(o, metaSeq)), nil
	}
	return 0, nil
}

// WaitLogged returns at once: every write is acknowledged at the consistency level
// before the call that made it returns.
func (e *Engine) WaitLogged(ctx context.Context, lsn uint64) error { return ctx.Err() }

// DurableLSN is the sequence number of the last acknowledged write of this process.
func (e *Engine) DurableLSN() uint64 { return e.lsn.Load() }

// ReportFalseNegatives stores each (anchor key, item id) verdict as an object of the
// metadata collection at the consistency level; recording a known pair again is a
// no-op.
func (e *Engine) ReportFalseNegatives(name string, reports []engine.FalseNegativeReport, field string) (int, error) {
	c, err := e.collection(name)
	if err != nil {
		return 0, err
	}
	if err := engine.ValidateFalseNegatives(reports, field); err != nil {
		return 0, err
	}
	ctx, cancel := e.c.ctx(context.Background())
	defer cancel()
	var objs []*pb.BatchObject
	queued := map[string]bool{}
	for _, r := range reports {
		known, err := c.falseNegatives(ctx, r.Key)
		if err != nil {
			return 0, err
		}
		for _, id := range r.IDs {
			uid := metaID("verdict", name, r.Key, id)
			if _, ok := known[id]; ok || queued[uid] {
				continue
			}
			queued[uid] = true
			props, _ := structpb.NewStruct(map[string]any{metaKind: "verdict", metaCollection: name, metaKey: r.Key, metaItem: id})
			objs = append(objs, &pb.BatchObject{Uuid: uid, Collection: e.c.opts.Prefix + "Meta", Properties: &pb.BatchObject_Properties{NonRefProperties: props}})
		}
	}
	if err := e.writeObjects(ctx, objs); err != nil {
		return 0, err
	}
	e.lsn.Add(1)
	return len(objs), nil
}

// writeObjects writes objects in one batch at the consistency level and fails when any
// of them failed; objects that failed transiently (a replica or the schema leader was
// unreachable) are written again, see conn.retry.
func (e *Engine) writeObjects(ctx context.Context, objs []*pb.BatchObject) error {
	if len(objs) == 0 {
		return nil
	}
	total := len(objs)
	err := e.c.retry(ctx, func(ctx context.Context) error {
		reply, err := e.c.data.BatchObjects(ctx, &pb.BatchObjectsRequest{Objects: objs, ConsistencyLevel: &e.c.level})
		if err != nil {
			return err
		}
		if len(reply.Errors) == 0 {
			return nil
		}
		var msgs []string
		failed := make([]*pb.BatchObject, 0, len(reply.Errors))
		for _, be := range reply.Errors {
			if len(msgs) < 3 {
				msgs = append(msgs, be.Error)
			}
			if int(be.Index) < len(objs) {
				failed = append(failed, objs[be.Index])
			}
		}
		err = fmt.Errorf("%d of %d objects failed: %w", len(reply.Errors)+total-len(objs), total, errors.New(strings.Join(msgs, "; ")))
		if len(failed) == len(reply.Errors) {
			objs = failed // the next attempt writes the failed objects only
		}
		return err
	})
	if err != nil {
		return fmt.Errorf("weaviate: batch write: %w", err)
	}
	return nil
}
