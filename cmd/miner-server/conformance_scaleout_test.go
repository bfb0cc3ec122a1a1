//go:build scaleout

package main

import (
	"bufio"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	hardnegv1 "github.com/hardneg/hardneg/gen/go/hardneg/v1"
	"github.com/hardneg/hardneg/internal/conformance"
)

// The scale-out tests run only with -tags scaleout (make test-scaleout, which brings a
// cluster up first). Selected without a reachable cluster, they fail: they are never
// skipped.

// clusterState reads the state file deploy/cluster/cluster.sh writes
// (HARDNEG_CLUSTER_STATE, default .cache/cluster/state.env at the repository root).
func clusterState(t *testing.T) map[string]string {
	t.Helper()
	path := os.Getenv("HARDNEG_CLUSTER_STATE")
	if path == "" {
		path = filepath.Join("..", "..", ".cache", "cluster", "state.env")
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatalf("no Weaviate cluster (%v): run make test-scaleout, or make cluster-up and set HARDNEG_CLUSTER_STATE", err)
	}
	defer f.Close()
	st := map[string]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if k, v, ok := strings.Cut(sc.Text(), "="); ok {
			st[k] = strings.Trim(v, `"`)
		}
	}
	if st["WEAVIATE_HTTP_ADDRS"] == "" || st["WEAVIATE_GRPC_ADDRS"] == "" {
		t.Fatalf("%s names no Weaviate nodes", path)
	}
	return st
}

// weaviateArgs are the miner-server flags for the cluster in st, through node i.
func weaviateArgs(st map[string]string, i int) []string {
	http := strings.Split(st["WEAVIATE_HTTP_ADDRS"], ",")
	grpc := strings.Split(st["WEAVIATE_GRPC_ADDRS"], ",")
	return []string{"-backend=weaviate", "-weaviate-addr=" + http[i%len(http)], "-weaviate-grpc-addr=" + grpc[i%len(grpc)],
		"-weaviate-replication-factor=" + strconv.Itoa(len(http))}
}

// TestConformanceWeaviate runs the MinerService contract against a miner-server in
// front of the 3-node cluster.
func TestConformanceWeaviate(t *testing.T) {
	ts := startServerArgs(t, t.TempDir(), weaviateArgs(clusterState(t), 0)...)
	conformance.Run(t, func(*testing.T) hardnegv1.MinerServiceClient { return ts.client })
}
