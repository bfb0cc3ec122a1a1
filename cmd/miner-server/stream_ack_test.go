package main

import (
	"context"
	"testing"
	"time"

	hardnegv1 "github.com/hardneg/hardneg/gen/go/hardneg/v1"
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
