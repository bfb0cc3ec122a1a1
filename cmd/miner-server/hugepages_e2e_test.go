package main

import (
	"bytes"
	"context"
	"math/rand/v2"
	"strconv"
	"testing"

	"google.golang.org/protobuf/proto"

	hardnegv1 "github.com/hardneg/hardneg/gen/go/hardneg/v1"
	"github.com/hardneg/hardneg/internal/hugepage"
)

// TestHugePagesOnAndOff stores a collection whose vectors grow in advised slabs
// (12,000 × 192: 8.8 MiB), past the exact-scan threshold so that Mine walks the graph,
// with -huge-pages on and off. Through the real server it checks that every vector
// reads back as written and that Mine answers, before and after a restart (which loads
// the snapshot into fresh slabs).
func TestHugePagesOnAndOff(t *testing.T) {
	t.Cleanup(func() { hugepage.SetEnabled(true) })
	const n, dim = 12000, 192
	r := rand.New(rand.NewPCG(11, 12))
	vecs := randVecs(r, n, dim)
	ids := make([]string, n)
	for i := range ids {
		ids[i] = "v" + strconv.Itoa(i)
	}
	want := f32bytes(vecs...)
	for _, on := range []string{"true", "false"} {
		t.Run("huge-pages="+on, func(t *testing.T) {
			dir := t.TempDir()
			ctx := context.Background()
			check := func(ts *testServer) {
				t.Helper()
				for lo := 0; lo < n; lo += 1000 {
					got, err := ts.client.GetItems(ctx, &hardnegv1.GetItemsRequest{Collection: "c", Ids: ids[lo : lo+1000], IncludeVectors: true})
					if err != nil {
						t.Fatal(err)
					}
					if len(got.MissingIds) != 0 || !bytes.Equal(got.Items.Vectors, want[lo*dim*4:(lo+1000)*dim*4]) {
						t.Fatalf("vectors %d–%d read back differ from those written (%d missing)", lo, lo+999, len(got.MissingIds))
					}
				}
				mr, err := ts.client.Mine(ctx, &hardnegv1.MineRequest{
					Collection: "c",
					Anchors:    []*hardnegv1.Anchor{{Id: "v0", PositiveIds: []string{"v1"}}, {Id: "v11999", PositiveIds: []string{"v7"}}},
					Policy:     &hardnegv1.MiningPolicy{NumNegatives: 5, ExcludeNearDuplicates: proto.Bool(false)},
				})
				if err != nil {
					t.Fatal(err)
				}
				for i, a := range mr.Results {
					if len(a.Negatives) != 5 {
						t.Fatalf("anchor %d: %d negatives, want 5", i, len(a.Negatives))
					}
				}
			}
			ts := startServerArgs(t, dir, "-huge-pages="+on)
			if _, err := ts.client.CreateCollection(ctx, &hardnegv1.CreateCollectionRequest{Name: "c", Dim: dim, Metric: hardnegv1.Metric_METRIC_DOT}); err != nil {
				t.Fatal(err)
			}
			for lo := 0; lo < n; lo += 1000 {
				if _, err := ts.client.Upsert(ctx, &hardnegv1.UpsertRequest{Collection: "c", Items: &hardnegv1.ItemBatch{
					Ids: ids[lo : lo+1000], Dim: dim, Vectors: want[lo*dim*4 : (lo+1000)*dim*4],
				}}); err != nil {
					t.Fatal(err)
				}
			}
			check(ts)
			if _, err := ts.client.SnapshotCollection(ctx, &hardnegv1.SnapshotCollectionRequest{Name: "c"}); err != nil {
				t.Fatal(err)
			}
			ts.stop(t)
			check(startServerArgs(t, dir, "-huge-pages="+on))
		})
	}
}
