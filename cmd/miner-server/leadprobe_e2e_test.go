package main

import (
	"context"
	"testing"
	"time"

	hardnegv1 "github.com/hardneg/hardneg/gen/go/hardneg/v1"
)

// TestCollectionStatsReportTheFirstPassLead checks, through the real server, that a
// collection with a graph measures the lead mining's first pass needs and reports it
// with the recall measured there (GetCollection's stats), and that -lead-recall=-1
// turns the measurement off.
func TestCollectionStatsReportTheFirstPassLead(t *testing.T) {
	ctx := context.Background()
	stats := func(c hardnegv1.MinerServiceClient) *hardnegv1.CollectionStats {
		t.Helper()
		info, err := c.GetCollection(ctx, &hardnegv1.GetCollectionRequest{Name: "docs"})
		if err != nil {
			t.Fatal(err)
		}
		return info.Collection.Stats
	}
	a := startServer(t, t.TempDir())
	start := time.Now()
	ids := fillCollection(t, a.client, "docs", 400, 16) // exact_threshold 100: the graph is built
	var st *hardnegv1.CollectionStats
	for st = stats(a.client); st.FirstPassLead == 0; st = stats(a.client) {
		if time.Since(start) > time.Minute {
			t.Fatalf("no lead measured a minute after the graph was built: %v", st)
		}
		time.Sleep(10 * time.Millisecond)
	}
	took := time.Since(start)
	// Leads are tried from 2 × ef_search (64) upwards, doubling.
	if l := st.FirstPassLead; l < 128 || l > 2048 || l&(l-1) != 0 || !(st.LeadRecall > 0 && st.LeadRecall <= 1) {
		t.Fatalf("lead %d, recall %v: want a power of two in [128, 2048] and a recall in (0, 1]", l, st.LeadRecall)
	}
	if _, err := a.client.Mine(ctx, &hardnegv1.MineRequest{Collection: "docs", Anchors: []*hardnegv1.Anchor{{Id: ids[0]}}}); err != nil {
		t.Fatal(err)
	}

	b := startServerArgs(t, t.TempDir(), "-lead-recall=-1")
	fillCollection(t, b.client, "docs", 400, 16)
	time.Sleep(2*took + 100*time.Millisecond) // what the measurement took on a, twice over
	if st := stats(b.client); st.FirstPassLead != 0 || st.LeadRecall != 0 {
		t.Fatalf("-lead-recall=-1: lead %d, recall %v, want none", st.FirstPassLead, st.LeadRecall)
	}
}
