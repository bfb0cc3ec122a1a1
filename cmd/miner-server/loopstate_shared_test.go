package main

import (
	"errors"
	"log/slog"
	"slices"
	"sync"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/hardneg/hardneg/internal/engine"
	"github.com/hardneg/hardneg/internal/index"
	"github.com/hardneg/hardneg/internal/mining"
)

// sharedStore is an engine whose loop state several miners share, as the Weaviate
// engine's: the embedded index for the collections, and in memory one save per
// (collection, miner), in the order saved. The next failLoads calls of LoadLoopStates
// fail.
type sharedStore struct {
	*index.DB
	me        string
	mu        sync.Mutex
	saves     map[string][]minerSave
	failLoads int
}

type minerSave struct {
	miner string
	data  []byte
}

var _ engine.SharedLoopStateStore = (*sharedStore)(nil)

func (s *sharedStore) SaveLoopState(c engine.Collection, data []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.saves[c.Name()] = append(slices.DeleteFunc(s.saves[c.Name()], func(m minerSave) bool { return m.miner == s.me }), minerSave{s.me, data})
	return nil
}

func (s *sharedStore) LoadLoopState(c engine.Collection) ([]byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, m := range s.saves[c.Name()] {
		if m.miner == s.me {
			return m.data, nil
		}
	}
	return nil, nil
}

func (s *sharedStore) LoadLoopStates(c engine.Collection) ([][]byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.failLoads > 0 {
		s.failLoads--
		return nil, errors.New("cluster unavailable")
	}
	var out [][]byte
	for _, m := range s.saves[c.Name()] {
		out = append(out, m.data)
	}
	return out, nil
}

// sharedLoop returns the saver of a server over a shared store holding collection
// "c", and the collection.
func sharedLoop(t *testing.T, store *sharedStore) (*loopStates, engine.Collection) {
	t.Helper()
	db, err := index.Open(index.Options{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	c, err := db.CreateCollection(engine.Config{Name: "c", Dim: 2, Metric: engine.Dot})
	if err != nil {
		t.Fatal(err)
	}
	store.DB = db
	s := &Server{db: store, log: slog.New(slog.DiscardHandler), cal: newPerCollection(mining.NewCalibration),
		exp: newPerCollection(func() *mining.Exposure { return mining.NewExposure(0) }), hard: newPerCollection(mining.NewHardness)}
	return newLoopStates(s), c
}

// hardnessSave encodes a state whose hardness holds each key after its count of
// solved reports.
func hardnessSave(solved map[string]int) []byte {
	h := mining.NewHardness()
	for key, n := range solved {
		for range n {
			h.Report([]mining.Outcome{{Key: key, Solved: proto.Bool(true)}})
		}
	}
	return mining.LoopState{Hardness: h}.Encode()
}

func savedHardness(t *testing.T, store *sharedStore, c engine.Collection, key string) float64 {
	t.Helper()
	b, err := store.LoadLoopState(c)
	if err != nil || b == nil {
		t.Fatalf("no save of this miner (%v)", err)
	}
	st, err := mining.DecodeLoopState(b, 0)
	if err != nil {
		t.Fatal(err)
	}
	return st.Hardness.Of(key)
}

func TestSharedLoopStateMergesEveryMinersSave(t *testing.T) {
	store := &sharedStore{me: "c", saves: map[string][]minerSave{"c": {{"a", hardnessSave(map[string]int{"k": 2})}, {"b", hardnessSave(map[string]int{"j": 1})}}}}
	l, c := sharedLoop(t, store)
	l.load()
	if k, j := l.hard.get(c).Of("k"), l.hard.get(c).Of("j"); k != 0.5 || j != 0.25 {
		t.Fatalf("after loading: hardness k %v, j %v; want 0.5 and 0.25", k, j)
	}
	l.hard.get(c).Report([]mining.Outcome{{Key: "j", Solved: proto.Bool(true)}})
	l.save()
	if k, j := savedHardness(t, store, c, "k"), savedHardness(t, store, c, "j"); k != 0.5 || j != 0.5 {
		t.Fatalf("this miner saved hardness k %v, j %v; want 0.5 and 0.5", k, j)
	}
}

// TestSharedLoopStateUnreadAtStartIsNotOverwritten: when the saves cannot be read at
// start, the miner does not replace its earlier save with what it learned since until
// it has read and merged that save.
func TestSharedLoopStateUnreadAtStartIsNotOverwritten(t *testing.T) {
	store := &sharedStore{me: "a", saves: map[string][]minerSave{"c": {{"a", hardnessSave(map[string]int{"k": 2})}}}, failLoads: 2}
	l, c := sharedLoop(t, store)
	l.load()
	if h := l.hard.get(c).Of("k"); h != 0 {
		t.Fatalf("hardness %v loaded from a failing store", h)
	}
	l.hard.get(c).Report([]mining.Outcome{{Key: "j", Solved: proto.Bool(true)}})
	l.save() // the saves still cannot be read: nothing is saved
	if k, j := savedHardness(t, store, c, "k"), savedHardness(t, store, c, "j"); k != 0.5 || j != 0 {
		t.Fatalf("after a round that could not read the saves: saved hardness k %v, j %v; want the earlier save (0.5, 0)", k, j)
	}
	if st := l.stats(); st.Failed != 1 || st.Saved != 0 {
		t.Fatalf("stats %+v: want one failure", st)
	}
	l.save() // now they can: merged with what was learned since
	if k, j := savedHardness(t, store, c, "k"), savedHardness(t, store, c, "j"); k != 0.5 || j != 0.25 {
		t.Fatalf("saved hardness k %v, j %v; want 0.5 and 0.25", k, j)
	}
	if k := l.hard.get(c).Of("k"); k != 0.5 {
		t.Fatalf("the trackers hold hardness %v for k after the merge; want 0.5", k)
	}
}

// TestEphemeralCollectionLoopStateIsNotSaved: the loop state of an ephemeral collection
// stays in memory, like the collection: a save round neither writes it nor counts it
// as saved.
func TestEphemeralCollectionLoopStateIsNotSaved(t *testing.T) {
	store := &sharedStore{me: "a", saves: map[string][]minerSave{}}
	l, _ := sharedLoop(t, store)
	e, err := store.DB.CreateCollection(engine.Config{Name: "e", Dim: 2, Metric: engine.Dot, Ephemeral: true})
	if err != nil {
		t.Fatal(err)
	}
	l.hard.get(e).Report([]mining.Outcome{{Key: "j", Solved: proto.Bool(true)}})
	l.save()
	if n := l.saved.Load(); n != 0 {
		t.Fatalf("%d saves counted for an ephemeral collection", n)
	}
	if b, _ := store.LoadLoopState(e); b != nil {
		t.Fatal("an ephemeral collection's loop state was saved")
	}
}
