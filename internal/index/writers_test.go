package index

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/hardneg/hardneg/internal/engine"
)

// A stream writer idle for longer than WriterTTL is forgotten: by the sweep a new
// writer runs, by a snapshot, and at recovery (where one collection's older snapshot
// can still hold it). Resuming it past sequence 1 then fails with a gap that says so,
// starting it again at 1 applies the batch, and writers with recent batches, or every
// writer under WriterTTL -1, are kept.
func TestStreamWritersExpire(t *testing.T) {
	dir := t.TempDir()
	t0 := time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)
	clock := t0
	open := func(ttl time.Duration) *DB { return openAt(t, Options{Dir: dir, WriterTTL: ttl}, &clock) }
	db := open(time.Hour)
	for _, name := range []string{"a", "b"} {
		if _, err := db.CreateCollection(engine.Config{Name: name, Dim: 2, Metric: engine.Cosine}); err != nil {
			t.Fatal(err)
		}
	}
	batch := func(id string) *engine.Batch { return &engine.Batch{IDs: []string{id}, Vectors: []float32{1, 0}} }
	stream := func(writer string, seq uint64, col string) (engine.StreamResult, error) {
		t.Helper()
		return db.StreamBatch(context.Background(), writer, seq, col, batch(writer+"-"+col), nil)
	}
	mustStream := func(writer string, seq uint64, col string) {
		t.Helper()
		if res, err := stream(writer, seq, col); err != nil || res.Duplicate {
			t.Fatalf("writer %s batch %d: %+v, %v", writer, seq, res, err)
		}
	}
	want := func(when string, seqs map[string]uint64, expired uint64) {
		t.Helper()
		for w, seq := range seqs {
			if got := db.WriterSequence(w); got != seq {
				t.Errorf("%s: writer %s at %d, want %d", when, w, got, seq)
			}
		}
		if held, exp := db.StreamWriters(); held != len(seqs)-countZero(seqs) || exp != expired {
			t.Errorf("%s: %d writers held, %d expired; want %d, %d", when, held, exp, len(seqs)-countZero(seqs), expired)
		}
	}
	mustStream("old", 1, "a")
	mustStream("old", 2, "a")
	// Collection b's snapshot holds "old" as it is now.
	if _, err := db.Snapshot(context.Background(), "b"); err != nil {
		t.Fatal(err)
	}
	clock = t0.Add(30 * time.Minute)
	mustStream("recent", 1, "a")
	want("before the TTL", map[string]uint64{"old": 2, "recent": 1}, 0)

	// 61 minutes on, a new writer's first batch sweeps "old" away.
	clock = t0.Add(61 * time.Minute)
	mustStream("new", 1, "a")
	want("after a new writer's sweep", map[string]uint64{"old": 0, "recent": 1, "new": 1}, 1)
	_, err := stream("old", 3, "a")
	if !errors.Is(err, engine.ErrSequenceGap) || !strings.Contains(err.Error(), "expected 1") || !strings.Contains(err.Error(), "forgotten after 1h0m0s") {
		t.Fatalf("resuming a forgotten writer: %v, want a gap that says it was forgotten", err)
	}
	mustStream("old", 1, "a") // started again
	// A snapshot sweeps too: "recent" (last batch at 30 min) goes at 91 minutes.
	clock = t0.Add(91 * time.Minute)
	if _, err := db.Snapshot(context.Background(), "a"); err != nil {
		t.Fatal(err)
	}
	want("after a snapshot's sweep", map[string]uint64{"old": 1, "recent": 0, "new": 1}, 2)
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}

	// At recovery b's snapshot holds "old" at 2 (its first run) and a's at 1 (started
	// again): the position logged last wins, whatever the sequence. "recent" is in
	// neither snapshot, and the log's batch of it is one a's snapshot holds: it stays
	// forgotten.
	clock = t0.Add(100 * time.Minute)
	db = open(time.Hour)
	want("after a restart", map[string]uint64{"old": 1, "recent": 0, "new": 1}, 0)
	if res, err := stream("old", 2, "a"); err != nil || res.Duplicate {
		t.Fatalf("old's next batch after the restart: %+v, %v; want it applied", res, err)
	}
	// Persist the times ("old" at 100 minutes, "new" at 61) in a's snapshot.
	if _, err := db.Snapshot(context.Background(), "a"); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	// At 130 minutes "new" (61) is past the TTL: recovery forgets it; "old" (100) stays.
	clock = t0.Add(130 * time.Minute)
	db = open(time.Hour)
	want("after a restart past new's TTL", map[string]uint64{"old": 2, "new": 0, "recent": 0}, 1)
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	// WriterTTL -1 keeps every writer, however old, through restarts and snapshots.
	clock = t0.Add(1000 * time.Hour)
	db = open(-1)
	mustStream("other", 1, "b")
	if _, err := db.Snapshot(context.Background(), "a"); err != nil {
		t.Fatal(err)
	}
	want("with WriterTTL -1", map[string]uint64{"old": 2, "other": 1, "recent": 0, "new": 1}, 0)
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
}

// openAt opens a DB whose writer times come from *clock, read at each use.
func openAt(t *testing.T, opts Options, clock *time.Time) *DB {
	t.Helper()
	db, err := Lock(opts)
	if err != nil {
		t.Fatal(err)
	}
	db.now = func() time.Time { return *clock }
	if err := db.Recover(); err != nil {
		db.Close()
		t.Fatal(err)
	}
	return db
}

func countZero(m map[string]uint64) int {
	n := 0
	for _, v := range m {
		if v == 0 {
			n++
		}
	}
	return n
}

// A writer forgotten after its TTL is told to start again at sequence 1. A restart
// before the client does so must not bring its old position back from the log's
// records of it (which its collection's snapshot holds): the batch it then sends at
// sequence 1 is applied, not dropped as a duplicate.
func TestForgottenWriterStaysForgottenAcrossARestart(t *testing.T) {
	dir := t.TempDir()
	t0 := time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)
	clock := t0
	open := func() *DB {
		return openAt(t, Options{Dir: dir, WriterTTL: time.Hour, SnapshotBytes: -1, SnapshotInterval: -1}, &clock)
	}
	db := open()
	if _, err := db.CreateCollection(engine.Config{Name: "a", Dim: 2, Metric: engine.Cosine}); err != nil {
		t.Fatal(err)
	}
	send := func(seq uint64, id string) (engine.StreamResult, error) {
		return db.StreamBatch(context.Background(), "w", seq, "a", &engine.Batch{IDs: []string{id}, Vectors: []float32{1, 0}}, nil)
	}
	for seq, id := range []string{"x1", "x2"} {
		if _, err := send(uint64(seq+1), id); err != nil {
			t.Fatal(err)
		}
	}
	clock = t0.Add(2 * time.Hour)
	if _, err := db.Snapshot(context.Background(), "a"); err != nil { // forgets w
		t.Fatal(err)
	}
	if _, err := send(3, "x3"); !errors.Is(err, engine.ErrSequenceGap) {
		t.Fatalf("resuming the forgotten writer: %v, want a gap", err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	db = open() // the log still holds batches 1 and 2
	defer db.Close()
	if got := db.WriterSequence("w"); got != 0 {
		t.Fatalf("after a restart the forgotten writer is back at %d", got)
	}
	res, err := send(1, "new")
	if err != nil || res.Duplicate {
		t.Fatalf("sequence 1 after the restart: %+v, %v; want it applied", res, err)
	}
	c, _ := db.lookup("a")
	if _, missing := c.Get([]string{"new"}, false); len(missing) > 0 {
		t.Error("the batch sent at sequence 1 was not applied")
	}
}

// A writer idle past the TTL is forgotten at its own next batch even when no sweep has
// run since (no new writer, no snapshot): starting it again from sequence 1 applies the
// batch instead of dropping it as a duplicate, and resuming it further on fails with
// the forgotten writer's gap.
func TestAWriterPastItsTTLIsForgottenAtItsNextBatch(t *testing.T) {
	t0 := time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)
	clock := t0
	db := openAt(t, Options{Dir: t.TempDir(), WriterTTL: time.Hour, SnapshotBytes: -1, SnapshotInterval: -1}, &clock)
	defer db.Close()
	if _, err := db.CreateCollection(engine.Config{Name: "a", Dim: 2, Metric: engine.Cosine}); err != nil {
		t.Fatal(err)
	}
	send := func(writer string, seq uint64, id string) (engine.StreamResult, error) {
		return db.StreamBatch(context.Background(), writer, seq, "a", &engine.Batch{IDs: []string{id}, Vectors: []float32{1, 0}}, nil)
	}
	for seq, id := range []string{"x1", "x2"} {
		if _, err := send("w", uint64(seq+1), id); err != nil {
			t.Fatal(err)
		}
		if _, err := send("v", uint64(seq+1), "v"+id); err != nil {
			t.Fatal(err)
		}
	}
	clock = t0.Add(59 * time.Minute)
	if res, err := send("w", 2, "x2"); err != nil || !res.Duplicate {
		t.Fatalf("a resend within the TTL: %+v, %v; want a duplicate", res, err)
	}
	clock = t0.Add(2 * time.Hour)
	if got := db.WriterSequence("w"); got != 0 {
		t.Errorf("writer w past its TTL at %d, want 0", got)
	}
	res, err := send("w", 1, "again")
	if err != nil || res.Duplicate {
		t.Fatalf("the writer started again from 1: %+v, %v; want the batch applied", res, err)
	}
	c, _ := db.lookup("a")
	if _, missing := c.Get([]string{"again"}, false); len(missing) > 0 {
		t.Error("the batch of the writer started again is not in the collection")
	}
	if _, err := send("v", 3, "v3"); !errors.Is(err, engine.ErrSequenceGap) || !strings.Contains(err.Error(), "expected 1") {
		t.Fatalf("resuming writer v past its TTL: %v, want a gap that expects 1", err)
	}
	if _, exp := db.StreamWriters(); exp != 2 {
		t.Errorf("%d writers counted as expired, want 2", exp)
	}
}
