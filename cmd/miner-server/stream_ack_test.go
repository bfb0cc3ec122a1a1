package main

import (
	"context"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	hardnegv1 "github.com/hardneg/hardneg/gen/go/hardneg/v1"
	"github.com/hardneg/hardneg/internal/metrics"
)

func TestUpsertStreamAckReportsWhatWasApplied(t *testing.T) {
	ts := startServer(t, t.TempDir())
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := ts.client.CreateCollection(ctx, &hardnegv1.CreateCollectionRequest{Name: "s", Dim: 2, Metric: hardnegv1.Metric_METRIC_DOT}); err != nil {
		t.Fatal(err)
	}
	req := func(seq uint64, ids []string, deletes ...string) *hardnegv1.UpsertStreamRequest {
		var vs [][]float32
		for range ids {
			vs = append(vs, []float32{1, 2})
		}
		return &hardnegv1.UpsertStreamRequest{Collection: "s", WriterId: "w", Sequence: seq,
			Items: &hardnegv1.ItemBatch{Ids: ids, Dim: 2, Vectors: f32bytes(vs...)}, DeleteIds: deletes}
	}
	send := func(reqs ...*hardnegv1.UpsertStreamRequest) []*hardnegv1.UpsertStreamResponse {
		t.Helper()
		st, err := ts.client.UpsertStream(ctx)
		if err != nil {
			t.Fatal(err)
		}
		var acks []*hardnegv1.UpsertStreamResponse
		for _, r := range reqs {
			if err := st.Send(r); err != nil {
				t.Fatal(err)
			}
			ack, err := st.Recv()
			if err != nil {
				t.Fatal(err)
			}
			acks = append(acks, ack)
		}
		st.CloseSend()
		return acks
	}
	acks := send(req(1, []string{"a", "b"}), req(2, []string{"b", "c"}, "a", "zz"), req(3, []string{"d"}))
	for i, want := range []struct{ items, deleted, next uint64 }{{2, 0, 2}, {2, 1, 3}, {1, 0, 4}} {
		a := acks[i]
		if a.Duplicate || a.ItemsApplied != want.items || a.IdsDeleted != want.deleted || a.NextSequence != want.next {
			t.Errorf("ack %d: %+v, want items %d deleted %d next %d", i+1, a, want.items, want.deleted, want.next)
		}
	}

	// The writer id used again from sequence 1 with other data: nothing is applied, and
	// the acknowledgement says so.
	acks = send(req(1, []string{"x", "y"}, "b"))
	a := acks[0]
	if !a.Duplicate || a.ItemsApplied != 0 || a.IdsDeleted != 0 || a.DurableSequence != 3 || a.NextSequence != 4 {
		t.Errorf("reused sequence: %+v, want a duplicate with nothing applied, durable 3, next 4", a)
	}
	got, err := ts.client.GetItems(ctx, &hardnegv1.GetItemsRequest{Collection: "s", Ids: []string{"b", "x", "y"}})
	if err != nil {
		t.Fatal(err)
	}
	if len(got.MissingIds) != 2 || got.Items.Ids[0] != "b" {
		t.Errorf("items after a reused sequence: %v missing %v; want b kept, x and y absent", got.Items.Ids, got.MissingIds)
	}
}

// A writer idle for longer than -stream-writer-ttl is forgotten at the next sweep (a
// snapshot here): resuming it fails with FAILED_PRECONDITION saying why, starting it
// again at sequence 1 applies its batch, a writer with recent batches keeps its place,
// and the metrics count both; a restart does not bring the forgotten position back.
func TestUpsertStreamForgetsIdleWriters(t *testing.T) {
	dir := t.TempDir()
	// A TTL of 6 s: writers sent to just before a check stay well inside it on a
	// loaded machine (a busy disk can hold a batch's fsync for seconds).
	ts := startServerArgs(t, dir, "-stream-writer-ttl=6s")
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if _, err := ts.client.CreateCollection(ctx, &hardnegv1.CreateCollectionRequest{Name: "s", Dim: 2, Metric: hardnegv1.Metric_METRIC_DOT}); err != nil {
		t.Fatal(err)
	}
	send := func(writer string, seq uint64, id string) (*hardnegv1.UpsertStreamResponse, error) {
		t.Helper()
		st, err := ts.client.UpsertStream(ctx)
		if err != nil {
			t.Fatal(err)
		}
		defer st.CloseSend()
		if err := st.Send(&hardnegv1.UpsertStreamRequest{Collection: "s", WriterId: writer, Sequence: seq,
			Items: &hardnegv1.ItemBatch{Ids: []string{id}, Dim: 2, Vectors: f32bytes([]float32{1, 2})}}); err != nil {
			t.Fatal(err)
		}
		return st.Recv()
	}
	mustApply := func(writer string, seq uint64, id string) {
		t.Helper()
		ack, err := send(writer, seq, id)
		if err != nil || ack.Duplicate || ack.ItemsApplied != 1 {
			t.Fatalf("writer %s batch %d: %v, %v; want it applied", writer, seq, ack, err)
		}
	}
	snapshot := func() {
		t.Helper()
		if _, err := ts.client.SnapshotCollection(ctx, &hardnegv1.SnapshotCollectionRequest{Name: "s"}); err != nil {
			t.Fatal(err)
		}
	}
	mustApply("idle", 1, "a")
	mustApply("idle", 2, "b")
	time.Sleep(7100 * time.Millisecond) // times are whole seconds: past the TTL by more than one
	mustApply("busy", 1, "c")
	snapshot() // sweeps: "idle" sent nothing for 7.1 s
	fams := scrape(t, ts.srv.HTTPAddr())
	if w, e := value(fams, metrics.NameStreamWriters), value(fams, metrics.NameStreamWritersExpired); w != 1 || e != 1 {
		t.Errorf("after the sweep: %s %v, %s %v; want 1 and 1", metrics.NameStreamWriters, w, metrics.NameStreamWritersExpired, e)
	}
	_, err := send("idle", 3, "d")
	if status.Code(err) != codes.FailedPrecondition || !strings.Contains(err.Error(), "expected 1") || !strings.Contains(err.Error(), "forgotten after 6s") {
		t.Fatalf("resuming the forgotten writer: %v; want FAILED_PRECONDITION saying it was forgotten", err)
	}
	mustApply("idle", 1, "e") // started again: applied, not a duplicate
	mustApply("busy", 2, "f")
	snapshot()
	ts.stop(t)

	// The log still holds the first run of "idle" (batches 1 and 2); its newer run wins.
	ts = startServerArgs(t, dir, "-stream-writer-ttl=1h")
	if ack, err := send("idle", 1, "g"); err != nil || !ack.Duplicate || ack.NextSequence != 2 {
		t.Errorf("after a restart, the writer started again: %v, %v; want batch 1 a duplicate, next 2", ack, err)
	}
	if ack, err := send("busy", 3, "h"); err != nil || ack.Duplicate || ack.NextSequence != 4 {
		t.Errorf("after a restart, the busy writer: %v, %v; want batch 3 applied, next 4", ack, err)
	}
}
