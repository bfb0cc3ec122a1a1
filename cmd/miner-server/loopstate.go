package main

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hardneg/hardneg/internal/engine"
	"github.com/hardneg/hardneg/internal/metrics"
	"github.com/hardneg/hardneg/internal/mining"
)

// loopStates keeps each collection's training-loop state (the service's Exposure,
// Hardness and Calibration trackers) across restarts in an engine that offers it
// (engine.LoopStateStore: the embedded index; and the Weaviate engine, where each miner
// saves its own and a starting miner merges every miner's, mining.MergeLoopStates): it
// is loaded after recovery, before the service answers, and saved every
// -loop-state-interval when it changed, and once more at shutdown after the last call
// has finished. A crash loses what changed since the last save; a damaged or
// unreadable file is logged and the collection starts without it (the next save
// replaces the file). When a shared store's saves cannot be read at start, the
// collection's state is not saved until a later round has read and merged them.
type loopStates struct {
	store         engine.LoopStateStore
	db            engine.Engine
	log           *slog.Logger
	cal           *perCollection[*mining.Calibration]
	exp           *perCollection[*mining.Exposure]
	hard          *perCollection[*mining.Hardness]
	saved, failed atomic.Uint64
	// unloaded holds the collections whose saves a shared store could not read
	// (loadShared); guarded by mu.
	unloaded      map[engine.Collection]bool
	lastRound     atomic.Int64 // Unix nanoseconds of the last round without a failure
	mu            sync.Mutex   // serialises rounds; guards changesAtSave and unloaded
	changesAtSave map[engine.Collection]uint64
}

// newLoopStates returns the saver of s's trackers, or nil when the engine does not
// keep loop state.
func newLoopStates(s *Server) *loopStates {
	store, ok := s.db.(engine.LoopStateStore)
	if !ok {
		return nil
	}
	return &loopStates{store: store, db: s.db, log: s.log.With("component", "loop-state"), cal: s.cal, exp: s.exp, hard: s.hard, changesAtSave: map[engine.Collection]uint64{}, unloaded: map[engine.Collection]bool{}}
}

// load installs every collection's saved state. Call it once, after recovery and
// before the service answers.
func (l *loopStates) load() {
	l.mu.Lock()
	defer l.mu.Unlock()
	loaded := 0
	shared, _ := l.store.(engine.SharedLoopStateStore)
	for _, c := range l.db.Collections() {
		if shared != nil {
			ok, err := l.loadShared(shared, c, nil)
			if err != nil {
				l.log.Warn("loop state not loaded; the collection starts without it and its state is not saved until the saves can be read", "collection", c.Name(), "err", err)
			}
			if ok {
				loaded++
			}
			continue
		}
		b, err := l.store.LoadLoopState(c)
		if err == nil && b != nil {
			var st mining.LoopState
			if st, err = mining.DecodeLoopState(b, 0); err == nil {
				l.install(c, st)
				l.changesAtSave[c] = st.Changes()
				loaded++
				continue
			}
		}
		if err != nil {
			l.log.Warn("loop state not loaded; the collection starts without it", "collection", c.Name(), "err", err)
		}
	}
	if loaded > 0 {
		l.log.Info("loop state loaded", "collections", loaded)
	}
}

// loadShared installs the merge of every miner's saved state of c (an engine shared
// by several miners) and live, the state c's trackers hold now (nil at start: none),
// as the newest; a save that does not decode is logged and left out. It reports
// whether it installed a state. When the saves cannot be read, c is marked unloaded:
// its state is not saved (which would replace this miner's earlier save with a state
// that lacks it) until a later round reads them (see save).
func (l *loopStates) loadShared(store engine.SharedLoopStateStore, c engine.Collection, live *mining.LoopState) (bool, error) {
	blobs, err := store.LoadLoopStates(c)
	if err != nil {
		if !errors.Is(err, engine.ErrCollectionNotFound) {
			l.unloaded[c] = true
		}
		return false, err
	}
	delete(l.unloaded, c)
	var states []mining.LoopState
	for _, b := range blobs {
		st, err := mining.DecodeLoopState(b, 0)
		if err != nil {
			l.log.Warn("a miner's saved loop state is damaged and left out", "collection", c.Name(), "err", err)
			continue
		}
		states = append(states, st)
	}
	if live != nil {
		states = append(states, *live)
	}
	if len(states) == 0 {
		return false, nil
	}
	st := mining.MergeLoopStates(states, 0)
	l.install(c, st)
	if live == nil {
		l.changesAtSave[c] = st.Changes()
	}
	return true, nil
}

// save writes the state of every collection whose trackers changed since it was last
// saved (or loaded).
func (l *loopStates) save() {
	l.mu.Lock()
	defer l.mu.Unlock()
	live := map[engine.Collection]bool{}
	for _, p := range []interface{ keys() []engine.Collection }{l.cal, l.exp, l.hard} {
		for _, c := range p.keys() {
			live[c] = true
		}
	}
	clean := true
	skip := l.retryLoads(live)
	for c := range live {
		if skip[c] {
			clean = false
			continue
		}
		if c.Config().Ephemeral {
			continue // kept in memory only, like the collection: nothing to save
		}
		st := l.current(c)
		n := st.Changes()
		if was, ok := l.changesAtSave[c]; ok && was == n {
			continue
		}
		err := l.store.SaveLoopState(c, st.Encode())
		switch {
		case err == nil:
			l.saved.Add(1)
			l.changesAtSave[c] = n
		case errors.Is(err, engine.ErrCollectionNotFound):
			// Deleted (or replaced by a restore) since: its state went with it.
		default:
			clean = false
			l.failed.Add(1)
			l.log.Warn("saving loop state failed", "collection", c.Name(), "err", err)
		}
	}
	for c := range l.changesAtSave {
		if !live[c] {
			delete(l.changesAtSave, c)
		}
	}

	if clean {
		l.lastRound.Store(time.Now().UnixNano())
	}
}

// retryLoads reads the saves of the collections a shared store could not read before
// (l.unloaded) and merges them into what their trackers learned since (calls in flight
// meanwhile may update the replaced trackers and be lost). It returns the live
// collections whose saves still cannot be read: they are not saved this round. l.mu
// must be held.
func (l *loopStates) retryLoads(live map[engine.Collection]bool) map[engine.Collection]bool {
	shared, _ := l.store.(engine.SharedLoopStateStore)
	skip := map[engine.Collection]bool{}
	for c := range l.unloaded {
		var cur *mining.LoopState
		if live[c] {
			st := l.current(c)
			cur = &st
		}
		_, err := l.loadShared(shared, c, cur)
		if err != nil && !errors.Is(err, engine.ErrCollectionNotFound) && live[c] {
			skip[c] = true
			l.failed.Add(1)
			l.log.Warn("saving loop state failed: the saved state still cannot be read", "collection", c.Name(), "err", err)
		}
		if errors.Is(err, engine.ErrCollectionNotFound) {
			delete(l.unloaded, c)
		}
	}
	return skip
}

// install replaces the trackers of c with those of st.
func (l *loopStates) install(c engine.Collection, st mining.LoopState) {
	l.exp.set(c, st.Exposure)
	l.hard.set(c, st.Hardness)
	l.cal.set(c, st.Calibration)
}

// current returns the trackers c has now (nil where it has none).
func (l *loopStates) current(c engine.Collection) mining.LoopState {
	var st mining.LoopState
	st.Exposure, _ = l.exp.lookup(c)
	st.Hardness, _ = l.hard.lookup(c)
	st.Calibration, _ = l.cal.lookup(c)
	return st
}

// run saves every interval until ctx ends; interval 0 leaves saving to shutdown.
func (l *loopStates) run(ctx context.Context, interval time.Duration) {
	if interval <= 0 {
		return
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			l.save()
		}
	}
}

// stats returns the saver's counters for metrics.
func (l *loopStates) stats() metrics.LoopStateStats {
	st := metrics.LoopStateStats{Saved: l.saved.Load(), Failed: l.failed.Load()}
	if ns := l.lastRound.Load(); ns != 0 {
		st.LastRound = time.Unix(0, ns)
	}
	return st
}
