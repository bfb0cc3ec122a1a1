package engine

import (
	"errors"
	"fmt"
	"io"
	"math"
	"regexp"
	"time"
	"unicode/utf8"

	"github.com/hardneg/hardneg/internal/validate"
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

// Quantization is how a collection's graph search compares vectors while it walks the
// graph. Returned scores are exact either way.
type Quantization int

// Quantizations.
const (
	// QuantizationUnspecified takes the default: QuantizationInt8 for cosine and dot
	// collections, QuantizationNone for L2 (see Config.Validate).
	QuantizationUnspecified Quantization = iota
	// QuantizationNone walks the graph on the float vectors.
	QuantizationNone
	// QuantizationInt8 keeps an int8 code per vector (dim+4 bytes, derived from the
	// float vector alone, so nothing of it is logged or snapshotted: it is rebuilt on
	// load), walks the graph on the codes and re-scores the final beam with the floats,
	// so returned scores are exact. Cosine and dot collections only.
	QuantizationInt8
)

// String returns the quantization's lower-case name.
func (q Quantization) String() string {
	switch q {
	case QuantizationUnspecified:
		return "unspecified"
	case QuantizationNone:
		return "none"
	case QuantizationInt8:
		return "int8"
	default:
		return fmt.Sprintf("quantization(%d)", int(q))
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
	// Quantization of the graph search. Default (QuantizationUnspecified): int8 for
	// cosine and dot, none for L2, filled in by Config.Validate since it depends on the
	// metric. Int8 searches faster at the same recall and costs dim+4 bytes per vector;
	// none saves that memory.
	Quantization Quantization
}

// WithDefaults returns p with zero fields replaced by defaults.
func (p Params) WithDefaults() Params {
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

// FixedLead is how many ranks past its rank window mining's first search pass reaches
// by default: twice EfSearch. A collection that measures its graph (the embedded
// engine's index.Collection.FirstPassLead) may need more, never less.
func (p Params) FixedLead() int { return 2 * max(p.EfSearch, 1) }

// Config describes a collection to create.
type Config struct {
	Name   string
	Dim    int
	Metric Metric
	Params Params
	// Ephemeral keeps the collection in memory only (the embedded engine): its
	// creation, writes and deletion are not logged and it is never snapshotted, so a
	// restart loses it. For a collection built for one job and deleted after it.
	Ephemeral bool
}

// nameBadRE finds the first character a collection name may not hold.
var nameBadRE = regexp.MustCompile(`[^A-Za-z0-9_.-]`)

// ValidateName checks a collection name, given in the request field field: 1–MaxNameLen
// characters of [A-Za-z0-9_.-], not "." or "..". A name that fails it cannot name a
// collection, so a lookup by it is a malformed request rather than a missing collection.
func ValidateName(field, name string) error {
	const rule = "must be 1–%d characters of [A-Za-z0-9_.-], not '.' or '..'"
	switch {
	case name == "":
		return validate.Field(field, "is empty; "+rule, MaxNameLen)
	case len(name) > MaxNameLen:
		return validate.Field(field, "is %d bytes; "+rule, len(name), MaxNameLen)
	case name == "." || name == "..":
		return validate.Field(field, "is %q; "+rule, name, MaxNameLen)
	}
	if bad := nameBadRE.FindStringIndex(name); bad != nil {
		r, _ := utf8.DecodeRuneInString(name[bad[0]:])
		return validate.Field(field, "holds %q at byte %d; "+rule, r, bad[0], MaxNameLen)
	}
	return nil
}

// Validate checks c and returns it with defaults filled in; violations are a
// *validate.Error naming the request fields.
func (c Config) Validate() (Config, error) {
	var e validate.Error
	var bad *validate.Error
	if errors.As(ValidateName("name", c.Name), &bad) {
		e.Merge(bad)
	}
	if c.Dim < 1 || c.Dim > MaxDim {
		e.Add("dim", "must be 1–%d, got %d", MaxDim, c.Dim)
	}
	if c.Metric < Cosine || c.Metric > L2 {
		e.Add("metric", "must be cosine, dot or l2")
	}
	p := c.Params.WithDefaults()
	if p.M < 2 || p.M > 128 {
		e.Add("index_params.m", "must be 2–128, got %d", p.M)
	}
	if p.EfConstruction < 1 || p.EfConstruction > 4096 {
		e.Add("index_params.ef_construction", "must be 1–4096, got %d", p.EfConstruction)
	} else if p.EfConstruction < p.M && p.M >= 2 && p.M <= 128 {
		e.Add("index_params.ef_construction", "must be at least m (%d), got %d", p.M, p.EfConstruction)
	}
	if p.EfSearch < 1 || p.EfSearch > 4096 {
		e.Add("index_params.ef_search", "must be 1–4096, got %d", p.EfSearch)
	}
	if p.ExactThreshold < 0 || int64(p.ExactThreshold) > math.MaxUint32 {
		e.Add("index_params.exact_threshold", "must be 0–%d, got %d", uint32(math.MaxUint32), p.ExactThreshold)
	}
	switch {
	case p.Quantization == QuantizationUnspecified && c.Metric == L2:
		p.Quantization = QuantizationNone
	case p.Quantization == QuantizationUnspecified:
		p.Quantization = QuantizationInt8
	case p.Quantization < QuantizationUnspecified || p.Quantization > QuantizationInt8:
		e.Add("index_params.quantization", "must be none or int8")
	case p.Quantization == QuantizationInt8 && c.Metric == L2:
		e.Add("index_params.quantization", "int8 applies to cosine and dot collections, not l2")
	}
	c.Params = p
	return c, e.Err()
}

// Batch is a column-oriented batch of items to upsert. Upsert takes ownership of
// Vectors (it normalises them in place under cosine).
type Batch struct {
	// IDs of the items, unique within the batch.
	IDs []string
	// Vectors holds len(IDs)·dim values, row-major.
	Vectors []float32
	// Groups is nil or has one entry per id.
	Groups [][]string
	// Versions is nil or has one entry per id.
	Versions []int64
}

// Len returns the number of items.
func (b *Batch) Len() int { return len(b.IDs) }

// Row returns the vector of item i.
func (b *Batch) Row(i, dim int) []float32 { return b.Vectors[i*dim : (i+1)*dim] }

// UpsertResult counts what an upsert did.
type UpsertResult struct {
	Inserted, Replaced int
	Sequence           uint64
}

// DeleteResult counts what a delete did.
type DeleteResult struct {
	Deleted, NotFound int
	Sequence          uint64
}

// Item is a stored item as returned by Get.
type Item struct {
	ID      string
	Vector  []float32 // a copy; nil unless requested
	Groups  []string
	Version int64
}

// MaxWriterIDBytes bounds a stream writer id.
const MaxWriterIDBytes = 128

// StreamResult acknowledges one stream batch.
type StreamResult struct {
	Upsert UpsertResult
	Delete DeleteResult
	// Duplicate is true when the batch had been applied before and was skipped.
	Duplicate bool
	// LSN is the log sequence number of the batch, or for a duplicate of the
	// writer's last applied batch. Once it is durable, so is the batch.
	LSN uint64
	// WriterSequence is the writer's last applied sequence: the batch's own, or
	// for a duplicate the latest one applied before it.
	WriterSequence uint64
	// PrevSequence and PrevLSN are the writer's last applied batch before this
	// call (zero for a new writer), so a stream can tell when it became durable.
	PrevSequence, PrevLSN uint64
}

// MaxFeedbackIDs bounds the item ids of one false-negative report request.
const MaxFeedbackIDs = MaxBatchItems

// FalseNegativeReport says that items are not negatives for the anchor with key Key
// (the anchor's id, or the key a client gives a vector anchor).
type FalseNegativeReport struct {
	Key string
	IDs []string
}

// SnapshotInfo describes a snapshot written by Snapshot.
type SnapshotInfo struct {
	LSN   uint64 // log sequence number the snapshot covers
	Bytes int64  // file size
	Path  string
}

// SnapshotFileInfo describes one snapshot file held by a Backups engine.
type SnapshotFileInfo struct {
	Collection string
	LSN        uint64 // log sequence number the snapshot covers
	Bytes      int64
	ModTime    time.Time
	Items      int // live items; -1 if the file could not be read
}

// Backup is a consistent copy of one collection (Backups.Backup): reading it yields
// the encoding from its start; Close releases the copy.
type Backup struct {
	Format   uint32    // version of the encoding
	Config   Config    // the collection's configuration
	Items    int       // live items
	LSN      uint64    // log sequence number of the last write included
	Bytes    int64     // size of the encoding
	Checksum uint32    // CRC-32C (Castagnoli) of the encoding without its last 4 bytes, which hold the same CRC
	TakenAt  time.Time // when the copy was taken
	io.ReadCloser
}

// RestoreSource describes a backup to restore, as its Backup described it.
type RestoreSource struct {
	FormatVersion uint32 // the Backup's Format
	Bytes         int64  // size of the encoding
	Checksum      uint32 // as Backup.Checksum; also accepted: the CRC-32C of the whole encoding (backups of servers before this rule)
	// Dim and Items, when not zero, are what the backup's header declares: Restore
	// fails with ErrBackupInvalid when the data holds another dimension or item count.
	Dim   int
	Items uint64
	// Metric, when set, is the header's metric: Restore fails with ErrBackupInvalid when
	// the data's is another.
	Metric Metric
	// HasMetric says Metric is set.
	HasMetric bool
	// Name, when not empty, is the collection name the header declares: Restore fails
	// with ErrBackupInvalid when the data was backed up under another (the header is
	// not covered by the data's checksum, so a damaged name would otherwise restore
	// the collection under a name nobody chose).
	Name string
}

// RestoreResult describes a restored collection.
type RestoreResult struct {
	Collection Collection
	Bytes      int64 // bytes received and verified
}
