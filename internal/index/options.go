package index

import (
	"fmt"
	"log/slog"
	"time"

	"github.com/hardneg/hardneg/internal/engine"
	"github.com/hardneg/hardneg/internal/wal"
)

// DefaultWriterTTL is Options.WriterTTL's default: a week without a batch.
const DefaultWriterTTL = engine.DefaultWriterTTL

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
	// WriterTTL: a stream writer whose last batch was applied longer ago than this is
	// forgotten (its position leaves memory and later snapshots), so writer ids used
	// once do not accumulate. A forgotten writer that sends again starts over at
	// sequence 1; any other sequence is ErrSequenceGap. Default 7 days; -1: never.
	WriterTTL time.Duration
	// LeadRecall is the recall@10 against an exact scan that a collection's graph must
	// reach within the first-pass lead mining uses: each collection measures the lead
	// it needs when its graph is built or loaded and each time its live count has
	// grown by a quarter (Collection.FirstPassLead). Default DefaultLeadRecall (0.995); -1 turns
	// the measurement off, and mining keeps its fixed lead.
	LeadRecall float64
	// GraphWorkers bounds the goroutines a collection's graph work uses while the DB
	// serves: inserting a write's items, building the graph when the collection first
	// reaches ExactThreshold, and compacting it after deletes. Fewer leave cores to
	// searches while collections grow or compact, at the cost of write throughput.
	// Default 0: GOMAXPROCS. Recovery (Open) replays with every core whatever it is.
	GraphWorkers int
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
	if o.GraphWorkers < 0 {
		return o, fmt.Errorf("graph workers %d: must be 0 (every core) or more", o.GraphWorkers)
	}
	if o.SyncInterval < 0 || o.SegmentBytes < 0 || o.SnapshotBytes < -1 || o.SnapshotInterval < -1 || o.WriterTTL < -1 {
		return o, fmt.Errorf("negative durations and sizes other than -1 (disabled) are invalid")
	}
	switch {
	case o.LeadRecall == 0:
		o.LeadRecall = DefaultLeadRecall
	case o.LeadRecall == -1:
	case !(o.LeadRecall > 0 && o.LeadRecall <= 1):
		return o, fmt.Errorf("lead recall %v: must be in (0, 1], or -1 for off", o.LeadRecall)
	}
	if o.SnapshotBytes == 0 {
		o.SnapshotBytes = 32 << 20
	}
	if o.SnapshotInterval == 0 {
		o.SnapshotInterval = 10 * time.Minute
	}
	if o.WriterTTL == 0 {
		o.WriterTTL = DefaultWriterTTL
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.FS == nil {
		o.FS = wal.OSFS{}
	}
	return o, nil
}
