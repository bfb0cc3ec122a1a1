package main

import (
	"context"
	"os"
	"regexp"
	"slices"
	"testing"
	"time"

	hardnegv1 "github.com/hardneg/hardneg/gen/go/hardneg/v1"
	"github.com/hardneg/hardneg/internal/metrics"
	dto "github.com/prometheus/client_model/go"
)

// metricRef matches metric names in PromQL: the prefixes of every family the server
// exports, plus Prometheus' own "up".
var metricRef = regexp.MustCompile(`\b(?:hardneg|grpc_server|process|go|promhttp)_[a-z0-9_]+|\bup\{`)

// TestDeployFilesReferOnlyToExportedMetrics scrapes a real server with TLS and tokens
// and checks that every metric named by the alerts and the dashboard is one it
// exports, durability metrics included.
func TestDeployFilesReferOnlyToExportedMetrics(t *testing.T) {
	// A short loop-state interval makes the last-save timestamp exist (absent until a
	// round has run).
	// A token file makes its reload metrics exist (absent without -auth-token-file).
	tokens := writeFiles(t, t.TempDir(), map[string][]byte{"tokens": []byte("ops:read:ops-token-0123456789abcdef\n")})["tokens"]
	ts := startSecureServer(t, "-loop-state-interval=10ms", "-auth-token-file="+tokens)
	ctx := withToken(context.Background(), writeToken)
	if _, err := ts.client.CreateCollection(ctx, &hardnegv1.CreateCollectionRequest{Name: "docs", Dim: 4, Metric: hardnegv1.Metric_METRIC_COSINE}); err != nil {
		t.Fatal(err)
	}
	// A snapshot makes the last-success timestamp exist (it is absent until then).
	if _, err := ts.client.Upsert(ctx, &hardnegv1.UpsertRequest{Collection: "docs", Items: &hardnegv1.ItemBatch{Ids: []string{"a"}, Dim: 4, Vectors: f32bytes([]float32{1, 0, 0, 0})}}); err != nil {
		t.Fatal(err)
	}
	if _, err := ts.client.SnapshotCollection(ctx, &hardnegv1.SnapshotCollectionRequest{Name: "docs"}); err != nil {
		t.Fatal(err)
	}
	// A write after it makes the oldest-unsnapshotted-write timestamp exist.
	if _, err := ts.client.Upsert(ctx, &hardnegv1.UpsertRequest{Collection: "docs", Items: &hardnegv1.ItemBatch{Ids: []string{"b"}, Dim: 4, Vectors: f32bytes([]float32{0, 1, 0, 0})}}); err != nil {
		t.Fatal(err)
	}
	var fams map[string]*dto.MetricFamily
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		if fams = scrape(t, ts.srv.HTTPAddr()); fams[metrics.NameLoopStateLastSave] != nil || time.Now().After(deadline) {
			break
		}
	}
	exported := map[string]bool{}
	for name, f := range fams {
		exported[name] = true
		if f.GetType().String() == "HISTOGRAM" {
			for _, s := range []string{"_bucket", "_sum", "_count"} {
				exported[name+s] = true
			}
		}
	}
	// The remote store's retry counters exist with -backend weaviate only; the scale-out
	// fault test checks that such a server exports them.
	for _, n := range metrics.RemoteNames {
		exported[n] = true
	}
	for _, n := range metrics.DurabilityNames {
		if _, ok := fams[n]; !ok {
			t.Errorf("durability metric %s is not exported", n)
		}
	}
	// create + upsert are two log records, each fsynced; one snapshot finished.
	if f := fams[metrics.NameWALRecords]; f == nil || f.Metric[0].GetCounter().GetValue() < 2 {
		t.Errorf("%s = %v, want ≥ 2", metrics.NameWALRecords, f)
	}
	if f := fams[metrics.NameWALFsyncSeconds]; f == nil || f.Metric[0].GetHistogram().GetSampleCount() < 1 {
		t.Errorf("%s = %v, want fsyncs observed", metrics.NameWALFsyncSeconds, f)
	}
	for _, file := range []string{"../../deploy/prometheus/rules.yaml", "../../deploy/k8s/grafana/hardneg-dashboard.json"} {
		raw, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		refs := metricRef.FindAllString(string(raw), -1)
		if len(refs) == 0 {
			t.Fatalf("%s names no metrics", file)
		}
		for _, ref := range slices.Compact(slices.Sorted(slices.Values(refs))) {
			if ref == "up{" {
				continue // written by Prometheus for every target
			}
			if !exported[ref] {
				t.Errorf("%s refers to %s, which the server does not export", file, ref)
			}
		}
	}
}
