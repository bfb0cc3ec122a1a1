package main

import (
	"io"
	"strings"
	"testing"
)

func TestBackendFlags(t *testing.T) {
	env := func(string) string { return "" }
	for _, tc := range []struct {
		args []string
		want string // "" for accepted, else part of the error
	}{
		{nil, ""},
		{[]string{"-backend=weaviate", "-weaviate-addr=h:8080", "-weaviate-grpc-addr=h:50051"}, ""},
		{[]string{"-backend=weaviate"}, "-weaviate-addr and -weaviate-grpc-addr"},
		{[]string{"-backend=weaviate", "-weaviate-addr=h:8080", "-weaviate-grpc-addr=h:50051", "-wal-salvage"}, "-wal-salvage"},
		{[]string{"-backend=weaviate", "-weaviate-addr=h:8080", "-weaviate-grpc-addr=h:50051", "-ephemeral-data-dir"}, "-ephemeral-data-dir"},
		{[]string{"-backend=qdrant"}, "want embedded or weaviate"},
		// Flags of the other backend, a word that ends the flags, an empty data directory.
		{[]string{"-weaviate-addr=h:8080", "-miner-id=m1"}, "-miner-id, -weaviate-addr: only with -backend weaviate"},
		{[]string{"-grpc-addr=127.0.0.1:0", "serve", "-data-dir=/x"}, `unexpected argument "serve"`},
		{[]string{"-data-dir=/x", "extra"}, `unexpected argument "extra"`},
		{[]string{"-data-dir="}, "-data-dir: must not be empty"},
	} {
		_, err := parseConfig(tc.args, env, io.Discard)
		if tc.want == "" {
			if err != nil {
				t.Errorf("%v: %v", tc.args, err)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: %v, want an error about %s", tc.args, err, tc.want)
		}
	}
	// An engine flag given through the environment counts as given.
	if _, err := parseConfig(nil, func(k string) string { return map[string]string{"HARDNEG_WEAVIATE_SHARDS": "3"}[k] }, io.Discard); err == nil ||
		!strings.Contains(err.Error(), "-weaviate-shards: only with -backend weaviate") {
		t.Errorf("HARDNEG_WEAVIATE_SHARDS under the embedded backend: %v", err)
	}
	cfg, err := parseConfig([]string{"-backend=weaviate", "-weaviate-addr=h:8080", "-weaviate-grpc-addr=h:50051", "-weaviate-replication-factor=3", "-weaviate-consistency=ALL", "-weaviate-shards=6"},
		func(k string) string { return map[string]string{"HARDNEG_WEAVIATE_API_KEY": "secret"}[k] }, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	o := cfg.weaviateOptions()
	if o.Addr != "h:8080" || o.GRPCAddr != "h:50051" || o.ReplicationFactor != 3 || o.Consistency != "ALL" || o.Shards != 6 || o.APIKey != "secret" {
		t.Errorf("options = %+v", o)
	}
}
