package weaviate

import (
	"fmt"
	"log/slog"
	"os"
	"strings"
	"time"

	pb "github.com/weaviate/weaviate/grpc/generated/protocol/v1"

	"github.com/hardneg/hardneg/internal/engine"
)

// Options configure the connection to a Weaviate cluster. The zero value of each field
// but Addr and GRPCAddr means its default.
type Options struct {
	// Addr is the host:port of a node's REST API (schema operations). Required.
	Addr string
	// GRPCAddr is the host:port of a node's gRPC API (reads and writes). Required.
	GRPCAddr string
	// APIKey, when set, is sent as a bearer token on every call.
	APIKey string
	// TLS connects with TLS (https and TLS gRPC), verifying the server against the
	// system roots or CAFile.
	TLS bool
	// CAFile is a PEM file of CA certificates to verify the server with (implies TLS).
	CAFile string
	// Consistency is the replica agreement every write waits for before it is
	// acknowledged and every read asks for: ONE, QUORUM or ALL. Default QUORUM: with
	// replication factor 3 a write survives the loss of any one node and reads see
	// every acknowledged write while one node is down.
	Consistency string
	// ReplicationFactor is the number of copies of each shard of a new collection.
	// Default 1. It cannot exceed the cluster's node count.
	ReplicationFactor int
	// Shards is the number of shards of a new collection. 0: Weaviate's default (one
	// per node).
	Shards int
	// Timeout bounds each call to Weaviate (each attempt of a retried one). Default 30 s.
	Timeout time.Duration
	// RetryFor is how long a read or write keeps retrying what a cluster answers while
	// it loses a node or re-elects its schema leader (unavailable replicas, connection
	// errors, timeouts, server errors), with backoff from 100 ms to 2 s. Default 60 s;
	// negative: no retries.
	RetryFor time.Duration
	// Prefix starts the Weaviate collection names this engine uses (Prefix_<name> for a
	// collection, PrefixMeta for writer positions and verdicts, PrefixLoop for loop
	// state), so several hardneg deployments can share a cluster. Default "Hardneg"; it must start with an
	// upper-case letter and hold only letters and digits.
	Prefix string
	// Miner names this miner among the miners that share the cluster: each saves its
	// training-loop state under its own name (see Engine.SaveLoopState), so miners
	// behind one address do not overwrite each other's. Default the host name. A
	// restarted miner may keep its name (a StatefulSet) or take a new one (a
	// Deployment's pod name): either way it loads every miner's saved state.
	Miner string
	// WriterTTL: a stream writer whose last batch was recorded longer ago than this is
	// forgotten (its position object in PrefixMeta is deleted): it starts again at
	// sequence 1. Miners sweep for such writers in the background when a new writer
	// starts, at most every engine.WriterSweepEvery. Default engine.DefaultWriterTTL; negative: never. Writer
	// positions recorded by a version without this field carry no time and are kept
	// until their writer's next batch.
	WriterTTL time.Duration
	// Logger receives what the engine does in the background (the writer sweeps).
	// Default: discard.
	Logger *slog.Logger
}

// consistencyLevels maps the accepted spellings of Options.Consistency.
var consistencyLevels = map[string]pb.ConsistencyLevel{
	"ONE":    pb.ConsistencyLevel_CONSISTENCY_LEVEL_ONE,
	"QUORUM": pb.ConsistencyLevel_CONSISTENCY_LEVEL_QUORUM,
	"ALL":    pb.ConsistencyLevel_CONSISTENCY_LEVEL_ALL,
}

// withDefaults checks o and fills in defaults.
func (o Options) withDefaults() (Options, error) {
	if o.Addr == "" || o.GRPCAddr == "" {
		return o, fmt.Errorf("weaviate: both the REST address and the gRPC address are required")
	}
	if o.Consistency == "" {
		o.Consistency = "QUORUM"
	}
	o.Consistency = strings.ToUpper(o.Consistency)
	if _, ok := consistencyLevels[o.Consistency]; !ok {
		return o, fmt.Errorf("weaviate: consistency %q: must be ONE, QUORUM or ALL", o.Consistency)
	}
	if o.ReplicationFactor == 0 {
		o.ReplicationFactor = 1
	}
	if o.ReplicationFactor < 1 || o.Shards < 0 {
		return o, fmt.Errorf("weaviate: replication factor %d and shards %d: must be positive", o.ReplicationFactor, o.Shards)
	}
	if o.Timeout == 0 {
		o.Timeout = 30 * time.Second
	}
	if o.RetryFor == 0 {
		o.RetryFor = time.Minute
	}
	if o.WriterTTL == 0 {
		o.WriterTTL = engine.DefaultWriterTTL
	} else if o.WriterTTL < 0 {
		o.WriterTTL = -1
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Prefix == "" {
		o.Prefix = "Hardneg"
	}
	if !prefixRE.MatchString(o.Prefix) {
		return o, fmt.Errorf("weaviate: prefix %q: must be an upper-case letter followed by letters and digits", o.Prefix)
	}
	if o.CAFile != "" {
		o.TLS = true
	}
	if o.Miner == "" {
		o.Miner, _ = os.Hostname()
		if o.Miner == "" {
			o.Miner = "miner"
		}
	}
	if len(o.Miner) > 253 {
		return o, fmt.Errorf("weaviate: miner name of %d bytes: at most 253", len(o.Miner))
	}
	return o, nil
}
