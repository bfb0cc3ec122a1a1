package index

import (
	"fmt"
	"log/slog"
	"math"
	"regexp"
	"time"

	"github.com/hardneg/hardneg/internal/validate"
	"github.com/hardneg/hardneg/internal/wal"
)

// Metric is a collection's similarity. Scores are "higher is more similar" for all of
// them: cosine similarity, inner product, or negated squared Euclidean distance.
type Metric int

// Metrics.
const (
	MetricUnspecified Metric = iota
	Cosine
	Dot
	L2
)

// String returns the metric's lower-case name.
func (m Metric) String() string {
	switch m {
	case Cosine:
		return "cosine"
	case Dot:
		return "dot"
	case L2:
		return "l2"
	default:
		return fmt.Sprintf("metric(%d)", int(m))
	}
}

// Limits shared with the API documentation (proto/hardneg/v1/hardneg.proto).
const (
	MaxDim          = 8192
	MaxBatchItems   = 16384
	MaxIDBytes      = 512
	MaxGroupBytes   = 256
	MaxItemGroups   = 64
	MaxNameLen      = 128
	DefaultM        = 16
	DefaultEfBuild  = 200
	DefaultEfSearch = 64
	// DefaultExactThreshold is the live-item count below which a collection is
	// searched exactly rather than through the graph.
	DefaultExactThreshold = 10000
)

// Params are a collection's index parameters. The zero value of each field means its
// default.
type Params struct {
	// M is the number of graph links per node on upper layers; layer 0 has 2·M.
	// Default 16, range 2–128. More links: better recall, more memory, slower inserts.
	M int
	// EfConstruction is the candidate list size while inserting. Default 200, range
	// 1–4096. Larger builds a better graph more slowly.
	EfConstruction int
	// EfSearch is the default candidate list size of a search. Default 64, range
	// 1–4096. Larger: better recall, slower queries.
	EfSearch int
	// ExactThreshold: collections with fewer live items are scanned exactly. A
	// collection builds its HNSW graph (in one bulk insert) only when its live count
	// first reaches it, and keeps it from then on; below it, writes pay no graph cost.
	// Default 10,000 (also what 0 means), range 1–4,294,967,295 (the API's uint32). A value above any
	// size the collection will reach (math.MaxUint32, say) makes it exact-only: no
	// graph is ever built.
	ExactThreshold int
}

// withDefaults returns p with zero fields replaced by defaults.
func (p Params) withDefaults() Params {
	if p.M == 0 {
		p.M = DefaultM
	}
	if p.EfConstruction == 0 {
		p.EfConstruction = DefaultEfBuild
	}
	if p.EfSearch == 0 {
		p.EfSearch = DefaultEfSearch
	}
	if p.ExactThreshold == 0 {
		p.ExactThreshold = DefaultExactThreshold
	}
	return p
}

// Config describes a collection to create.
type Config struct {
	Name   string
	Dim    int
	Metric Metric
	Params Params
}

var nameRE = regexp.MustCompile(`^[A-Za-z0-9_.-]+$`)

// ValidateName checks a collection name, given in the request field field: 1–MaxNameLen
// characters of [A-Za-z0-9_.-], not "." or "..". A name that fails it cannot name a
// collection, so a lookup by it is a malformed request rather than a missing collection.
func ValidateName(field, name string) error {
	if name == "" || len(name) > MaxNameLen || !nameRE.MatchString(name) || name == "." || name == ".." {
		return validate.Field(field, "must be 1–%d characters of [A-Za-z0-9_.-], not '.' or '..'", MaxNameLen)
	}
	return nil
}

// validate checks c and fills in defaults.
func (c Config) validate() (Config, error) {
	var e validate.Error
	if err := ValidateName("name", c.Name); err != nil {
		e.Merge(err.(*validate.Error))
	}
	if c.Dim < 1 || c.Dim > MaxDim {
		e.Add("dim", "must be 1–%d, got %d", MaxDim, c.Dim)
	}
	if c.Metric < Cosine || c.Metric > L2 {
		e.Add("metric", "must be cosine, dot or l2")
	}
	p := c.Params.withDefaults()
	if p.M < 2 || p.M > 128 {
		e.Add("index_params.m", "must be 2–128, got %d", p.M)
	}
	if p.EfConstruction < 1 || p.EfConstruction > 4096 {
		e.Add("index_params.ef_construction", "must be 1–4096, got %d", p.EfConstruction)
	}
	if p.EfSearch < 1 || p.EfSearch > 4096 {
		e.Add("index_params.ef_search", "must be 1–4096, got %d", p.EfSearch)
	}
	if p.ExactThreshold < 0 || int64(p.ExactThreshold) > math.MaxUint32 {
		e.Add("index_params.exact_threshold", "must be 0–%d, got %d", uint32(math.MaxUint32), p.ExactThreshold)
	}
	c.Params = p
	return c, e.Err()
}

// Options configure a DB. The zero value is usable.
type Options struct {
	// Dir is the data directory. Empty: "./data".
	Dir string
	// Sync is the write-ahead log's fsync policy. Default wal.SyncAlways: a write
	// is acknowledged once fsynced (concurrent writes share fsyncs). wal.SyncInterval
	// acknowledges once written to the operating system and fsyncs every
	// SyncInterval; stream acknowledgements then state the durable point separately.
	Sync wal.SyncPolicy
	// SyncInterval is the fsync period under wal.SyncInterval. Default 50ms.
	SyncInterval time.Duration
	// SegmentBytes is the size of a log segment file. Default 64 MiB.
	SegmentBytes int64
	// Salvage lets Open start from a damaged log (damage other than a torn tail):
	// the log keeps the records before the damage, and the damaged records and
	// everything after them are moved into wal/salvaged (logged, see
	// wal.Options.Salvage). It also starts when snapshots and log no longer hold
	// every acknowledged write (ErrDataMissing, logged). Off by default: Open refuses
	// with wal.ErrCorrupt or ErrDataMissing.
	Salvage bool
	// SnapshotBytes: a collection is snapshotted once this many bytes of log
	// records were written for it since its last snapshot, and at least a quarter of
	// its vector memory (so large collections are not rewritten for small changes).
	// Default 32 MiB; -1 disables. Recovery replays the log after the snapshot and
	// re-inserts its vectors into the graph, which dominates recovery time: smaller
	// means faster recovery and more snapshot writing.
	SnapshotBytes int64
	// SnapshotInterval: a collection changed since its last snapshot is snapshotted
	// at least this often. Default 10 minutes; -1 disables.
	SnapshotInterval time.Duration
	// Logger receives recovery and snapshot events. Default: discarded.
	Logger *slog.Logger
	// FS is the filesystem for the log and snapshots. Default the real one; tests
	// inject faults through it.
	FS wal.FS
}

// withDefaults validates o and fills in defaults.
func (o Options) withDefaults() (Options, error) {
	if o.Dir == "" {
		o.Dir = "data"
	}
	if o.Sync != wal.SyncAlways && o.Sync != wal.SyncInterval {
		return o, fmt.Errorf("unknown sync policy %d", int(o.Sync))
	}
	if o.SyncInterval < 0 || o.SegmentBytes < 0 || o.SnapshotBytes < -1 || o.SnapshotInterval < -1 {
		return o, fmt.Errorf("negative durations and sizes other than -1 (disabled) are invalid")
	}
	if o.SnapshotBytes == 0 {
		o.SnapshotBytes = 32 << 20
	}
	if o.SnapshotInterval == 0 {
		o.SnapshotInterval = 10 * time.Minute
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.FS == nil {
		o.FS = wal.OSFS{}
	}
	return o, nil
}
