package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/hardneg/hardneg/internal/engine/weaviate"
	"github.com/hardneg/hardneg/internal/index"
	"github.com/hardneg/hardneg/internal/wal"
)

// Config is the server's configuration. Every flag but -version has an environment
// variable HARDNEG_<FLAG NAME IN UPPER CASE WITH UNDERSCORES>; a flag given on the
// command line wins over its variable.
type Config struct {
	GRPCAddr        string
	HTTPAddr        string
	DataDir         string
	MaxMsgBytes     int
	ShutdownTimeout time.Duration
	KeepaliveMin    time.Duration
	LogLevel        slog.Level
	LogFormat       string
	// Storage durability (see index.Options).
	Fsync            string // "always" or "interval"
	FsyncInterval    time.Duration
	WALSalvage       bool
	HugePages        bool
	AMX              bool
	SnapshotBytes    int64
	SnapshotInterval time.Duration
	// LeadRecall is index.Options.LeadRecall: the recall@10 each collection's graph must
	// reach within mining's first-pass lead (-1: no measurement).
	LeadRecall float64
	// GraphWorkers is index.Options.GraphWorkers: the goroutines of a write's graph
	// work (0: every core).
	GraphWorkers int
	// StreamWriterTTL is how long a stream writer's position is kept without a batch
	// (index.Options.WriterTTL, weaviate.Options.WriterTTL; negative: forever).
	StreamWriterTTL time.Duration
	// ShutdownSnapshot bounds the snapshots of changed collections at a graceful stop
	// (0: none).
	ShutdownSnapshot time.Duration
	// LoopStateInterval is how often changed training-loop state is saved (loopstate.go).
	LoopStateInterval time.Duration
	// StopOnStdinEOF stops the server, as SIGTERM does, when its standard input reaches
	// end of file: a process that starts a private server gives it a pipe, so the server
	// stops when that process exits, however it exits.
	StopOnStdinEOF bool
	// EphemeralDataDir marks -data-dir as private to this run: no snapshots at the stop,
	// and the directory is removed once the server has stopped after serving.
	EphemeralDataDir bool

	// Security and limits (tls.go, auth.go, limits.go).
	TLSCertFile     string
	TLSKeyFile      string
	TLSClientCAFile string
	AuthTokenFile   string
	AuthTokens      string
	MaxInFlight     int
	RetryAfter      time.Duration
	// Operations (http.go, probes).
	HealthGRPCAddr string
	Pprof          bool
	// UI serves the web inspector under /ui/ on the HTTP port (inspector.go); uiSet is
	// whether -ui (or HARDNEG_UI) was given, not defaulted.
	UI    bool
	uiSet bool
	// UIHosts are the host names (besides IP addresses and localhost) that the
	// inspector's API answers to while authentication is off (inspector.go, hostAllowed).
	UIHosts string
	// OTLPEndpoint is the OTLP/gRPC collector URL traces go to (tracing.go); otelEnv
	// records that OTEL_EXPORTER_OTLP_(TRACES_)ENDPOINT is set, which also turns
	// tracing on.
	OTLPEndpoint string
	otelEnv      bool
	// envOf maps a flag to the HARDNEG_ variable that set it, for errors found after
	// parsing (the tokens) to name it.
	envOf map[string]string
	// knownEnv lists every flag's variable.
	knownEnv []string
	// ShowVersion prints the version and exits (-version; no environment variable).
	ShowVersion bool

	// Backend is the engine: "embedded" (the index in -data-dir) or "weaviate" (a
	// Weaviate cluster; the miner keeps no state, docs/SCALE.md).
	Backend string
	// The Weaviate engine's connection and collection settings (see weaviate.Options).
	WeaviateAddr        string
	WeaviateGRPCAddr    string
	WeaviateAPIKey      string
	WeaviateTLS         bool
	WeaviateCAFile      string
	WeaviateConsistency string
	WeaviateReplication int
	WeaviateShards      int
	WeaviateTimeout     time.Duration
	WeaviateRetryFor    time.Duration
	WeaviatePrefix      string
	// MinerID names this miner among the miners sharing a Weaviate cluster; its loop
	// state is saved under it (weaviate.Options.Miner; default the host name).
	MinerID string
}

// weaviateOptions returns the Weaviate engine's options of c.
func (c Config) weaviateOptions() weaviate.Options {
	return weaviate.Options{
		Addr:              c.WeaviateAddr,
		GRPCAddr:          c.WeaviateGRPCAddr,
		APIKey:            c.WeaviateAPIKey,
		TLS:               c.WeaviateTLS,
		CAFile:            c.WeaviateCAFile,
		Consistency:       c.WeaviateConsistency,
		ReplicationFactor: c.WeaviateReplication,
		Shards:            c.WeaviateShards,
		Timeout:           c.WeaviateTimeout,
		RetryFor:          c.WeaviateRetryFor,
		Prefix:            c.WeaviatePrefix,
		Miner:             c.MinerID,
		WriterTTL:         c.StreamWriterTTL,
	}
}

// indexOptions returns the storage options of c.
func (c Config) indexOptions(log *slog.Logger) index.Options {
	o := index.Options{
		Dir:              c.DataDir,
		SyncInterval:     c.FsyncInterval,
		Salvage:          c.WALSalvage,
		SnapshotBytes:    c.SnapshotBytes,
		SnapshotInterval: c.SnapshotInterval,
		WriterTTL:        c.StreamWriterTTL,
		LeadRecall:       c.LeadRecall,
		GraphWorkers:     c.GraphWorkers,
		Logger:           log,
	}
	if c.Fsync == "interval" {
		o.Sync = wal.SyncInterval
	}
	return o
}

// cliOnly are flags without an environment variable.
var cliOnly = map[string]bool{"version": true}

// parseConfig parses args, falling back to environment variables read with getenv.
func parseConfig(args []string, getenv func(string) string, stderr io.Writer) (Config, error) {
	var c Config
	fs := flag.NewFlagSet("miner-server", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&c.GRPCAddr, "grpc-addr", ":50051", "gRPC listen address")
	fs.StringVar(&c.HTTPAddr, "http-addr", ":9464", "HTTP listen address for /healthz, /readyz, /metrics, the web inspector /ui/ (-ui) and /debug/pprof/ (-pprof)")
	fs.StringVar(&c.DataDir, "data-dir", "./data", "data directory (embedded storage)")
	fs.IntVar(&c.MaxMsgBytes, "grpc-max-msg-bytes", 64<<20, "largest gRPC message accepted or sent, in bytes")
	fs.DurationVar(&c.ShutdownTimeout, "shutdown-timeout", 30*time.Second, "how long graceful shutdown waits for in-flight calls before cancelling them")
	fs.DurationVar(&c.KeepaliveMin, "keepalive-min-time", 5*time.Second, "shortest client keepalive ping interval the server tolerates")
	fs.StringVar(&c.Fsync, "fsync", "always", "write-ahead log fsync policy: always (acknowledge after fsync; concurrent writes share fsyncs) or interval (acknowledge after write, fsync every -fsync-interval; stream acks state the durable point)")
	fs.DurationVar(&c.FsyncInterval, "fsync-interval", 50*time.Millisecond, "fsync period under -fsync=interval (at least 1ms)")
	fs.BoolVar(&c.HugePages, "huge-pages", true, "allocate a collection's vectors, graph codes and layer-0 links in slabs advised for 2 MiB pages (madvise MADV_HUGEPAGE; effective where /sys/kernel/mm/transparent_hugepage/enabled is always or madvise), the vector chunk after the one being written faulted in ahead; false: plain allocations, one chunk at a time")
	fs.BoolVar(&c.AMX, "amx", true, "run the int8 matrix product of exact scans (the offline job, exact collections) on AMX tiles where the CPU has AMX-INT8 and Linux grants the tile state (Intel Xeon 4th generation and later); false: on AVX-512 VNNI, AVX2 or portable Go, the same scores bit for bit. The log line \"serving\" names the kernels in use")
	fs.BoolVar(&c.WALSalvage, "wal-salvage", false, "start even if the write-ahead log is damaged (not just a torn tail) or the data is incomplete: the log keeps the records before the damage and the rest is moved into <data-dir>/wal/salvaged")
	fs.Int64Var(&c.SnapshotBytes, "snapshot-bytes", 32<<20, "snapshot a collection after this many bytes of log records for it, and at least a quarter of its vector memory (-1: never by size; 0: the default)")
	fs.Float64Var(&c.LeadRecall, "lead-recall", index.DefaultLeadRecall, "each collection measures, when its graph is built or loaded and each time its item count has grown by a quarter or as many items were rewritten or deleted, how far past the rank window mining's first graph pass must reach for the graph to find this share of the exact top 10 (sampled items against an exact scan, in the background), and mining reaches at least that far; a policy's ef_search overrides it; a collection whose graph needs a lead wider than 2 × its ef_search and at least a sixteenth of its items is searched by exact scan, which costs less, and so is one whose graph finds less than 0.95 of the exact top 10 at every lead (-1: no measurement, the fixed lead of 2 × the collection's ef_search; -backend embedded)")
	fs.IntVar(&c.GraphWorkers, "graph-workers", 0, "goroutines the graph work of a write may use: inserting a batch's items, building a collection's graph when it reaches its exact threshold, compacting it after deletes (per collection and per activity); fewer leave cores to Mine while collections grow, at the cost of ingest throughput (0: every core; recovery at start uses every core; -backend embedded)")
	fs.DurationVar(&c.SnapshotInterval, "snapshot-interval", 10*time.Minute, "snapshot a changed collection at least this often (a negative duration such as -1s: never by time; 0: the default)")
	fs.DurationVar(&c.StreamWriterTTL, "stream-writer-ttl", index.DefaultWriterTTL, "forget an UpsertStream writer's position (its last applied sequence) after this long without a batch, so writer ids used once do not pile up in memory and snapshots; a forgotten writer starts again at sequence 1 (a writer idle past the TTL is forgotten at its next batch, swept or not), and resuming it at a later sequence fails with FAILED_PRECONDITION (a negative duration such as -1s: never; 0: the default; -backend weaviate: the position objects in the cluster, swept by each miner)")
	fs.DurationVar(&c.ShutdownSnapshot, "shutdown-snapshot-timeout", 20*time.Second, "at a graceful stop, after the calls have finished, snapshot the collections changed since their last snapshot (most log first), so that the next start loads them instead of replaying the log; a snapshot still running at this deadline is abandoned, losing nothing (0: none; -backend embedded)")
	fs.DurationVar(&c.LoopStateInterval, "loop-state-interval", 10*time.Second, "save changed training-loop state (rotation, exposure counts, closed-loop hardness, calibration) to the data directory (-backend weaviate: to the cluster, under -miner-id) this often, and at shutdown; a crash loses at most this much of it (0: at shutdown only)")
	fs.BoolVar(&c.StopOnStdinEOF, "stop-on-stdin-eof", false, "stop gracefully, as on SIGTERM, when standard input reaches end of file: a program that starts a private server passes it a pipe, so the server stops when the program exits, even when the program is killed (with stdin at /dev/null the server stops at once)")
	fs.BoolVar(&c.EphemeralDataDir, "ephemeral-data-dir", false, "-data-dir is private to this run: take no snapshots at the stop and remove the whole directory once the server has stopped after serving (a start that fails leaves it); a directory that already holds a data directory is refused; -backend embedded")
	level := fs.String("log-level", "info", "log level: debug, info, warn or error")
	fs.StringVar(&c.LogFormat, "log-format", "text", "log format: text or json")
	fs.StringVar(&c.TLSCertFile, "tls-cert-file", "", "PEM server certificate (chain) for gRPC; enables TLS; reloaded when the file changes")
	fs.StringVar(&c.TLSKeyFile, "tls-key-file", "", "PEM private key of -tls-cert-file")
	fs.StringVar(&c.TLSClientCAFile, "tls-client-ca-file", "", "PEM CA bundle; when set, clients must present a certificate it signed (mutual TLS)")
	fs.StringVar(&c.AuthTokenFile, "auth-token-file", "", "file of bearer tokens, one NAME:ROLE:TOKEN per line (ROLE read or write); enables authentication; reloaded when it changes")
	fs.StringVar(&c.AuthTokens, "auth-tokens", "", "bearer tokens as comma-separated NAME:ROLE:TOKEN entries; enables authentication (prefer the HARDNEG_AUTH_TOKENS variable: arguments are visible to other local users)")
	fs.IntVar(&c.MaxInFlight, "max-in-flight-per-client", 64, "requests and open streams one client may have in flight before RESOURCE_EXHAUSTED; 0 means unlimited")
	fs.DurationVar(&c.RetryAfter, "retry-after", 200*time.Millisecond, "retry delay suggested to clients refused with RESOURCE_EXHAUSTED")
	fs.StringVar(&c.HealthGRPCAddr, "health-grpc-addr", "", "optional plaintext listen address serving only grpc.health.v1 (for probes that cannot speak TLS); empty disables it")
	fs.BoolVar(&c.Pprof, "pprof", false, "serve net/http/pprof under /debug/pprof/ on the HTTP port")
	fs.BoolVar(&c.UI, "ui", true, "serve the web inspector under /ui/ on the HTTP port (its API needs a token when authentication is on; under mutual TLS without tokens only an explicit -ui=true serves it)")
	fs.StringVar(&c.UIHosts, "ui-hosts", "", "while authentication is off, host names besides IP addresses and localhost that the inspector's API answers to (comma-separated, * for any): a request addressed to another name is refused, so that a web page cannot reach the API through DNS rebinding")
	fs.StringVar(&c.OTLPEndpoint, "otlp-endpoint", "", "export OpenTelemetry traces to this OTLP/gRPC collector URL (http://host:4317 plaintext, https:// TLS); also on when OTEL_EXPORTER_OTLP_ENDPOINT is set")
	c.otelEnv = getenv("OTEL_EXPORTER_OTLP_ENDPOINT") != "" || getenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") != ""
	fs.StringVar(&c.Backend, "backend", "embedded", "engine holding the vectors: embedded (the index in -data-dir) or weaviate (a Weaviate cluster at -weaviate-addr; the server keeps no state)")
	fs.StringVar(&c.WeaviateAddr, "weaviate-addr", "", "host:port of a Weaviate node's REST API (schema), with -backend weaviate")
	fs.StringVar(&c.WeaviateGRPCAddr, "weaviate-grpc-addr", "", "host:port of a Weaviate node's gRPC API (reads and writes), with -backend weaviate")
	fs.StringVar(&c.WeaviateAPIKey, "weaviate-api-key", "", "API key sent to Weaviate as a bearer token (prefer the HARDNEG_WEAVIATE_API_KEY variable: arguments are visible to other local users)")
	fs.BoolVar(&c.WeaviateTLS, "weaviate-tls", false, "connect to Weaviate with TLS (https and TLS gRPC), verifying it against the system roots or -weaviate-ca-file")
	fs.StringVar(&c.WeaviateCAFile, "weaviate-ca-file", "", "PEM CA bundle to verify Weaviate's certificate with (implies -weaviate-tls)")
	fs.StringVar(&c.WeaviateConsistency, "weaviate-consistency", "QUORUM", "replicas that must acknowledge every write before it is acknowledged, and that reads ask: ONE, QUORUM or ALL")
	fs.IntVar(&c.WeaviateReplication, "weaviate-replication-factor", 1, "copies of each shard of a collection created by this server (at most the cluster's node count)")
	fs.IntVar(&c.WeaviateShards, "weaviate-shards", 0, "shards of a collection created by this server; 0: Weaviate's default (one per node)")
	fs.DurationVar(&c.WeaviateTimeout, "weaviate-timeout", 30*time.Second, "bound on each call to Weaviate (each attempt of a retried one)")
	fs.DurationVar(&c.WeaviateRetryFor, "weaviate-retry-for", time.Minute, "how long a read or write keeps retrying while the cluster loses a node or re-elects its leader (unavailable replicas, timeouts, server errors); negative: no retries")
	fs.StringVar(&c.WeaviatePrefix, "weaviate-prefix", "Hardneg", "start of the Weaviate collection names this server uses (Prefix_<collection>, PrefixMeta, PrefixLoop), so deployments can share a cluster")
	fs.StringVar(&c.MinerID, "miner-id", "", "with -backend weaviate: this miner's name, unique among the running miners of a cluster; its training-loop state is saved under it, and a starting miner merges every miner's saved state (default the host name; in Kubernetes the pod name)")
	fs.BoolVar(&c.ShowVersion, "version", false, "print the version, revision and Go version, and exit")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: miner-server [flags]\n\nEvery flag but -version can also be set with HARDNEG_<NAME>, e.g. HARDNEG_GRPC_ADDR.\n\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	if fs.NArg() > 0 {
		// The flag package stops at the first word that is not a flag: the flags after
		// it would be silently ignored (a stray word before -data-dir would move the
		// server onto ./data).
		return c, fmt.Errorf("unexpected argument %q: miner-server takes flags only (-name=value); nothing after it was read", fs.Arg(0))
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	var errs []error
	c.envOf = map[string]string{}
	fs.VisitAll(func(f *flag.Flag) {
		env := envName(f.Name)
		if !cliOnly[f.Name] {
			c.knownEnv = append(c.knownEnv, env)
		}
		if v := getenv(env); v != "" && !set[f.Name] && !cliOnly[f.Name] {
			if err := fs.Set(f.Name, v); err != nil {
				if b, ok := f.Value.(interface{ IsBoolFlag() bool }); ok && b.IsBoolFlag() {
					err = errors.New("want true or false (or 1, 0)") // the flag package says only "parse error"
				}
				errs = append(errs, fmt.Errorf("%s=%q: %w (it sets -%s)", env, v, err, f.Name))
			}
			set[f.Name] = true
			c.envOf[f.Name] = env
		}
	})
	c.uiSet = set["ui"]
	if len(errs) > 0 {
		// A value that did not parse leaves its flag at zero: checking the rest would
		// only add errors about that zero.
		return c, errors.Join(errs...)
	}
	if err := c.LogLevel.UnmarshalText([]byte(*level)); err != nil {
		errs = append(errs, fmt.Errorf("-log-level: want debug, info, warn or error, got %q", *level))
	}
	if c.LogFormat != "text" && c.LogFormat != "json" {
		errs = append(errs, fmt.Errorf("-log-format: want text or json, got %q", c.LogFormat))
	}
	if c.MaxMsgBytes < 1<<20 || c.MaxMsgBytes > math.MaxUint32 {
		// A gRPC message's length travels in 4 bytes.
		errs = append(errs, fmt.Errorf("-grpc-max-msg-bytes: 1 MiB to 4 GiB − 1 (%d), got %d", uint32(math.MaxUint32), c.MaxMsgBytes))
	}
	if c.Fsync != "always" && c.Fsync != "interval" {
		errs = append(errs, fmt.Errorf("-fsync: want always or interval, got %q", c.Fsync))
	}
	if c.SnapshotBytes < -1 {
		errs = append(errs, fmt.Errorf("-snapshot-bytes: a size in bytes, or -1 for never by size; got %d", c.SnapshotBytes))
	}
	if c.SnapshotInterval < 0 {
		c.SnapshotInterval = -1 // never by time, whichever negative duration was given
	}
	if c.GraphWorkers < 0 {
		errs = append(errs, fmt.Errorf("-graph-workers: 0 (every core) or more; got %d", c.GraphWorkers))
	}
	if c.LeadRecall != -1 && !(c.LeadRecall > 0 && c.LeadRecall <= 1) {
		errs = append(errs, fmt.Errorf("-lead-recall: a recall in (0, 1], or -1 for no measurement; got %v", c.LeadRecall))
	}
	if c.StreamWriterTTL < 0 {
		c.StreamWriterTTL = -1 // never, whichever negative duration was given
	}
	if c.FsyncInterval < time.Millisecond {
		// Shorter periods make an idle server spin on its timer for no durability gain:
		// -fsync=always is the policy for a zero window.
		errs = append(errs, fmt.Errorf("-fsync-interval: must be at least 1ms (use -fsync=always for no window), got %v", c.FsyncInterval))
	}
	if c.LoopStateInterval < 0 {
		errs = append(errs, errors.New("-loop-state-interval: must be ≥ 0"))
	}
	if c.KeepaliveMin < 0 {
		errs = append(errs, errors.New("-keepalive-min-time: must be ≥ 0"))
	}
	if c.ShutdownTimeout <= 0 {
		errs = append(errs, errors.New("-shutdown-timeout: must be positive"))
	}
	if c.ShutdownSnapshot < 0 {
		errs = append(errs, errors.New("-shutdown-snapshot-timeout: must be ≥ 0 (0: no snapshots at a stop)"))
	}
	if (c.TLSCertFile == "") != (c.TLSKeyFile == "") {
		errs = append(errs, errors.New("-tls-cert-file and -tls-key-file: set both or neither"))
	}
	if c.TLSClientCAFile != "" && c.TLSCertFile == "" {
		errs = append(errs, errors.New("-tls-client-ca-file: needs -tls-cert-file and -tls-key-file"))
	}
	if c.GRPCAddr == "" {
		errs = append(errs, errors.New("-grpc-addr: must not be empty (host:port, e.g. 127.0.0.1:50051; :50051 for every interface)"))
	}
	if c.HTTPAddr == "" {
		// An empty address would listen on every interface at a port the kernel picks.
		errs = append(errs, errors.New("-http-addr: must not be empty (host:port; it serves /healthz, /readyz and /metrics, and -ui=false turns the inspector off)"))
	}
	if c.OTLPEndpoint != "" {
		if u, err := url.Parse(c.OTLPEndpoint); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			errs = append(errs, fmt.Errorf("-otlp-endpoint: want http://host:port (plaintext) or https://host:port (TLS), got %q", c.OTLPEndpoint))
		}
	}
	if c.MaxInFlight < 0 {
		errs = append(errs, fmt.Errorf("-max-in-flight-per-client: must be ≥ 0, got %d", c.MaxInFlight))
	}
	if c.RetryAfter <= 0 {
		errs = append(errs, errors.New("-retry-after: must be positive"))
	}
	switch c.Backend {
	case "embedded":
		if c.DataDir == "" {
			errs = append(errs, errors.New("-data-dir: must not be empty (default ./data)"))
		}
		// The engine's flags would be silently ignored: say so rather than run on the
		// embedded storage while the operator believes the cluster holds the data.
		var engineOnly []string
		for name := range set {
			if strings.HasPrefix(name, "weaviate-") || name == "miner-id" {
				engineOnly = append(engineOnly, "-"+name)
			}
		}
		if len(engineOnly) > 0 {
			slices.Sort(engineOnly)
			errs = append(errs, fmt.Errorf("%s: only with -backend weaviate (the backend is embedded)", strings.Join(engineOnly, ", ")))
		}
	case "weaviate":
		if c.WeaviateAddr == "" || c.WeaviateGRPCAddr == "" {
			errs = append(errs, errors.New("-backend weaviate: needs -weaviate-addr and -weaviate-grpc-addr"))
		}
		if c.WALSalvage {
			errs = append(errs, errors.New("-wal-salvage: only with -backend embedded"))
		}
		if c.EphemeralDataDir {
			errs = append(errs, errors.New("-ephemeral-data-dir: only with -backend embedded"))
		}
	default:
		errs = append(errs, fmt.Errorf("-backend: want embedded or weaviate, got %q", c.Backend))
	}
	// A value the environment gave is refused naming its variable too.
	for i, err := range errs {
		if name, _, ok := strings.Cut(strings.TrimPrefix(err.Error(), "-"), ":"); ok && c.envOf[name] != "" {
			errs[i] = fmt.Errorf("%w (set by %s)", err, c.envOf[name])
		}
	}
	return c, errors.Join(errs...)
}

// newLogger builds the server's logger. JSON logs give durations in seconds (a
// number), not slog's default nanoseconds; text logs write them as Go durations
// ("1.5ms").
func (c Config) newLogger(w io.Writer) *slog.Logger {
	opts := &slog.HandlerOptions{Level: c.LogLevel}
	if c.LogFormat == "json" {
		opts.ReplaceAttr = durationSeconds
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

// durationSeconds writes a duration attribute as float seconds.
func durationSeconds(_ []string, a slog.Attr) slog.Attr {
	if a.Value.Kind() == slog.KindDuration {
		a.Value = slog.Float64Value(a.Value.Duration().Seconds())
	}
	return a
}

// misspelledEnv returns, for each HARDNEG_ variable of environ that sets no flag but
// nearly names one (the same letters without the underscores, or one letter off), the
// variable and the one it likely means, for a warning at start: an unknown variable is
// otherwise ignored without a word. Variables far from every flag's (the Python
// client's HARDNEG_ADDR, the tests' own) are not named.
func (c Config) misspelledEnv(environ []string) [][2]string {
	known := map[string]bool{}
	for _, k := range c.knownEnv {
		known[k] = true
	}
	var out [][2]string
	for _, kv := range environ {
		name, _, _ := strings.Cut(kv, "=")
		if !strings.HasPrefix(name, "HARDNEG_") || known[name] {
			continue
		}
		for _, k := range c.knownEnv {
			if strings.ReplaceAll(k, "_", "") == strings.ReplaceAll(name, "_", "") || editDistance(k, name) == 1 {
				out = append(out, [2]string{name, k})
				break
			}
		}
	}
	slices.SortFunc(out, func(a, b [2]string) int { return strings.Compare(a[0], b[0]) })
	return out
}

// envName is the HARDNEG_ variable of a flag.
func envName(flagName string) string {
	return "HARDNEG_" + strings.ToUpper(strings.ReplaceAll(flagName, "-", "_"))
}

// editDistance is the Levenshtein distance of a and b (bytes).
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
