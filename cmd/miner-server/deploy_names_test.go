package main

import (
	"context"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"

	hardnegv1 "github.com/hardneg/hardneg/gen/go/hardneg/v1"
	"github.com/hardneg/hardneg/internal/metrics"
)

// metricRef matches metric names in PromQL: the prefixes of every family the server
// exports, plus Prometheus' own "up".
var metricRef = regexp.MustCompile(`\b(?:hardneg|grpc_server|process|go|promhttp)_[a-z0-9_]+|\bup\{`)

// TestDeployFilesReferOnlyToExportedMetrics scrapes a real server with TLS and tokens and checks that every metric named by the alerts and the dashboard is one
// it exports. Durability metrics count as exported when the server has no
// durability source yet, provided the collector declares them.
func TestDeployFilesReferOnlyToExportedMetrics(t *testing.T) {
	ts := startSecureServer(t)
	ctx := withToken(context.Background(), writeToken)
	if _, err := ts.client.CreateCollection(ctx, &hardnegv1.CreateCollectionRequest{Name: "docs", Dim: 4, Metric: hardnegv1.Metric_METRIC_COSINE}); err != nil {
		t.Fatal(err)
	}
	fams := scrape(t, ts.srv.HTTPAddr())
	exported := map[string]bool{}
	for name, f := range fams {
		exported[name] = true
		if f.GetType().String() == "HISTOGRAM" {
			for _, s := range []string{"_bucket", "_sum", "_count"} {
				exported[name+s] = true
			}
		}
	}
	if _, ok := fams[metrics.NameWALFsyncSeconds]; !ok {
		for _, n := range metrics.DurabilityNames {
			exported[n] = true
			if strings.HasSuffix(n, "_seconds") {
				for _, s := range []string{"_bucket", "_sum", "_count"} {
					exported[n+s] = true
				}
			}
		}
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
