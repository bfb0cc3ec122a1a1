//go:build scaleout

package main

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	hardnegv1 "github.com/hardneg/hardneg/gen/go/hardneg/v1"
)

// TestBenchScaleoutSideBySide measures the embedded and the Weaviate engine on the same
// data in one run (make bench-scaleout): ingest rate, Mine latency at 1, 32 and 256
// anchors under the default and an all-rules policy, and the recall of the mined
// negatives against an exact scan of the same items. The data is synthetic,
// HARDNEG_BENCH_N × 384 (default 20,000) in 100 clusters with groups of 4, or with
// HARDNEG_BENCH_DATA a data directory of make bench (meta.json, base.f32, groups.i32:
// the real set is bench/out/data/real-15000). It checks only that both engines answer;
// the figures go to the test log (-v) for docs/BENCHMARKS.md.
func TestBenchScaleoutSideBySide(t *testing.T) {
	vecs, groupOf := benchData(t)
	n, dim := len(vecs), uint32(len(vecs[0]))
	const reps = 10
	ids := make([]string, n)
	groups := make([]*hardnegv1.GroupList, n)
	for i := range vecs {
		ids[i] = "d" + strconv.Itoa(i)
		groups[i] = &hardnegv1.GroupList{Groups: []string{"g" + strconv.Itoa(groupOf[i])}}
	}
	t.Logf("data: %d × %d", n, dim)
	embedded := startServer(t, t.TempDir())
	weaviate := startServerArgs(t, t.TempDir(), weaviateArgs(clusterState(t), 0)...)
	ctx := context.Background()
	coll := "bench_" + strconv.FormatInt(time.Now().UnixNano(), 36)
	type target struct {
		name   string
		c      hardnegv1.MinerServiceClient
		params *hardnegv1.IndexParams
	}
	targets := []target{
		{"exact (reference)", embedded.client, &hardnegv1.IndexParams{ExactThreshold: 1 << 30}},
		{"embedded", embedded.client, nil},
		{"weaviate", weaviate.client, nil},
	}
	negatives := map[string][][]string{}
	for ti, tg := range targets {
		name := coll + "_" + strconv.Itoa(ti)
		if _, err := tg.c.CreateCollection(ctx, &hardnegv1.CreateCollectionRequest{Name: name, Dim: dim, Metric: hardnegv1.Metric_METRIC_COSINE, IndexParams: tg.params}); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { tg.c.DeleteCollection(context.Background(), &hardnegv1.DeleteCollectionRequest{Name: name}) })
		start := time.Now()
		for lo := 0; lo < n; lo += 1000 {
			hi := min(lo+1000, n)
			if _, err := tg.c.Upsert(ctx, &hardnegv1.UpsertRequest{Collection: name, Items: &hardnegv1.ItemBatch{
				Ids: ids[lo:hi], Dim: dim, Vectors: f32bytes(vecs[lo:hi]...), Groups: groups[lo:hi]}}); err != nil {
				t.Fatal(err)
			}
		}
		ingest := time.Since(start)
		t.Logf("%-18s ingest %d × %d: %.1f s, %.0f vectors/s", tg.name, n, dim, ingest.Seconds(), float64(n)/ingest.Seconds())
		for _, pol := range []struct {
			name string
			p    *hardnegv1.MiningPolicy
		}{
			{"default", &hardnegv1.MiningPolicy{NumNegatives: 8}},
			{"all rules", &hardnegv1.MiningPolicy{NumNegatives: 8, ExcludeSameGroup: proto.Bool(true), AbsoluteMargin: proto.Float32(0.02),
				MinScore: proto.Float32(0.1), DiversityThreshold: proto.Float32(0.98), RangeMin: 2, Sampling: hardnegv1.SamplingStrategy_SAMPLING_STRATEGY_SIMANS, Seed: 7}},
		} {
			for _, k := range []int{1, 32, 256} {
				if k == 256 && pol.name != "default" {
					continue // minutes per call on a 2-core machine under Weaviate
				}
				anchors := make([]*hardnegv1.Anchor, k)
				for i := range anchors {
					a := (i * 7919) % n
					anchors[i] = &hardnegv1.Anchor{Id: ids[a], PositiveIds: []string{ids[(a+1)%n]}}
				}
				req := &hardnegv1.MineRequest{Collection: name, Anchors: anchors, Policy: pol.p}
				var lat []time.Duration
				for range reps {
					s := time.Now()
					mr, err := tg.c.Mine(ctx, req)
					if err != nil {
						t.Fatal(err)
					}
					lat = append(lat, time.Since(s))
					if pol.name == "default" && k == 256 && len(lat) == 1 {
						var got [][]string
						for _, res := range mr.Results {
							var l []string
							for _, neg := range res.Negatives {
								l = append(l, neg.Id)
							}
							got = append(got, l)
						}
						negatives[tg.name] = got
					}
				}
				slices.Sort(lat)
				t.Logf("%-18s Mine %-9s %3d anchors: p50 %6.1f ms  p99 %6.1f ms", tg.name, pol.name, k,
					ms(lat[len(lat)/2]), ms(lat[min(len(lat)-1, len(lat)*99/100)]))
			}
		}
	}
	ref := negatives["exact (reference)"]
	for _, tg := range targets[1:] {
		hit, total := 0, 0
		for i, l := range negatives[tg.name] {
			for _, id := range ref[i] {
				total++
				if slices.Contains(l, id) {
					hit++
				}
			}
		}
		t.Logf("%-18s recall of the default policy's negatives (256 anchors × 8) against the exact scan: %.4f", tg.name, float64(hit)/float64(total))
	}
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// benchData returns the bench's vectors and each one's group: those of the data
// directory HARDNEG_BENCH_DATA names, else HARDNEG_BENCH_N (default 20,000) synthetic
// vectors × 384 around 100 centres, in groups of 4.
func benchData(t *testing.T) ([][]float32, []int) {
	t.Helper()
	if dir := os.Getenv("HARDNEG_BENCH_DATA"); dir != "" {
		var meta struct{ N, Dim int }
		b, err := os.ReadFile(filepath.Join(dir, "meta.json"))
		if err == nil {
			err = json.Unmarshal(b, &meta)
		}
		if err != nil || meta.N <= 0 || meta.Dim <= 0 {
			t.Fatalf("HARDNEG_BENCH_DATA=%s: meta.json: %v (n %d, dim %d)", dir, err, meta.N, meta.Dim)
		}
		base, err := os.ReadFile(filepath.Join(dir, "base.f32"))
		if err != nil || len(base) != 4*meta.N*meta.Dim {
			t.Fatalf("HARDNEG_BENCH_DATA=%s: base.f32: %v (%d bytes, want %d)", dir, err, len(base), 4*meta.N*meta.Dim)
		}
		gs, err := os.ReadFile(filepath.Join(dir, "groups.i32"))
		if err != nil || len(gs) != 4*meta.N {
			t.Fatalf("HARDNEG_BENCH_DATA=%s: groups.i32: %v (%d bytes, want %d)", dir, err, len(gs), 4*meta.N)
		}
		vecs := make([][]float32, meta.N)
		groups := make([]int, meta.N)
		for i := range vecs {
			v := make([]float32, meta.Dim)
			for j := range v {
				v[j] = math.Float32frombits(binary.LittleEndian.Uint32(base[4*(i*meta.Dim+j):]))
			}
			vecs[i] = v
			groups[i] = int(int32(binary.LittleEndian.Uint32(gs[4*i:])))
		}
		return vecs, groups
	}
	n := 20000
	if v, err := strconv.Atoi(os.Getenv("HARDNEG_BENCH_N")); err == nil && v > 0 {
		n = v
	}
	const dim = 384
	r := rand.New(rand.NewPCG(42, 42))
	centres := randVecs(r, 100, dim)
	vecs := make([][]float32, n)
	groups := make([]int, n)
	for i := range vecs {
		c := centres[r.IntN(len(centres))]
		v := make([]float32, dim)
		for j := range v {
			v[j] = c[j] + 0.5*float32(r.NormFloat64())
		}
		vecs[i], groups[i] = v, i/4
	}
	return vecs, groups
}
