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
		{[]string{"-backend=qdrant"}, "want embedded or weaviate"},
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
