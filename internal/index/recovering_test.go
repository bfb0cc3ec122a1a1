package index

import (
	"errors"
	"math/rand/v2"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/hardneg/hardneg/internal/engine"
)

// Metrics scrapes read a DB while it recovers; they must see nothing rather than race
// with replay.
func TestReadsDuringRecoverSeeNothing(t *testing.T) {
	dir := t.TempDir()
	db, err := Open(Options{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	r := rand.New(rand.NewPCG(4, 4))
	for i := range 20 {
		name := "c" + strconv.Itoa(i)
		if _, err := db.create(engine.Config{Name: name, Dim: 8, Metric: engine.L2, Params: fastParams}); err != nil {
			t.Fatal(err)
		}
		if _, err := db.Upsert(name, randBatch(r, "x", 50, 8), "items"); err != nil {
			t.Fatal(err)
		}
	}
	db.Close()

	db, err = Lock(Options{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var stop atomic.Bool
	var wg sync.WaitGroup
	wg.Go(func() {
		for !stop.Load() {
			for _, c := range db.list() {
				c.Stats()
			}
			db.DurabilityStats()
			if _, err := db.lookup("c3"); err != nil && !errors.Is(err, engine.ErrRecovering) {
				t.Errorf("lookup during recovery: %v", err)
			}
		}
	})
	err = db.Recover()
	stop.Store(true)
	wg.Wait()
	if err != nil {
		t.Fatal(err)
	}
	if n := len(db.list()); n != 20 {
		t.Fatalf("%d collections after recovery, want 20", n)
	}
}
