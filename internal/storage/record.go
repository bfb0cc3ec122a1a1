package storage

import (
	"encoding/binary"
	"errors"
	"math"

	"github.com/hardneg/hardneg/internal/binfmt"
	"github.com/hardneg/hardneg/internal/engine"
)

// Every change to the embedded engine (index.DB) is one write-ahead log record, applied in memory in LSN order
// and acknowledged once the log says it is durable. A record is an op byte and the
// op's fields, little-endian, strings and lists prefixed by their uvarint length:
//
//	OpCreate  name, dim, metric u8, M, EfConstruction, EfSearch, ExactThreshold,
//	          Quantization (uvarints; Quantization absent in records written before it
//	          existed, read as unspecified: the default for the metric), then 1
//	          (uvarint) when a restore created the collection (absent otherwise)
//	OpDrop    name
//	OpUpsert  name, batch
//	OpDelete  name, ids
//	OpStream  writer, seq (uvarint), name, batch, ids
//	OpFeedback name, report count, then per report: anchor key, ids
//	OpRestored name: the restore that created the collection (OpCreate with the restore
//	          flag) finished; its snapshot was durable before this record was logged
//
// A batch is its item count n, dim, then n ids, n·dim float32 values (raw
// little-endian, already normalised under cosine so replay reproduces the exact
// bits), a groups flag u8 followed (when 1) by each item's group list, and a versions
// flag u8 followed (when 1) by n zig-zag varints.
const (
	OpCreate byte = 1 + iota
	OpDrop
	OpUpsert
	OpDelete
	OpStream
	OpFeedback
	OpRestored
)

// MaxRecordBytes bounds one log record: a batch of MaxBatchItems vectors of MaxDim
// values, with ids and groups at their limits, and some framing.
const MaxRecordBytes = engine.MaxBatchItems*(engine.MaxDim*4+engine.MaxIDBytes+engine.MaxItemGroups*(engine.MaxGroupBytes+2)+32) + 1<<20

// ErrRecord is wrapped by every record decoding failure.
var ErrRecord = errors.New("malformed log record")

// Record is a decoded log record.
type Record struct {
	Op     byte
	Name   string        // collection
	Config engine.Config // OpCreate
	// Restore: an OpCreate logged by a restore, whose content is in the snapshot at
	// the record's LSN, not in the log.
	Restore bool
	Batch   *engine.Batch // OpUpsert, OpStream (nil when the stream batch has no items)
	IDs     []string
	Reports []engine.FalseNegativeReport // OpFeedback
	Writer  string                       // OpStream
	Seq     uint64                       // OpStream
	Size    int                          // bytes of the encoded record
}

func appendBatch(b []byte, batch *engine.Batch, dim int) []byte {
	if batch == nil {
		batch = &engine.Batch{}
	}
	n := batch.Len()
	b = binary.AppendUvarint(b, uint64(n))
	b = binary.AppendUvarint(b, uint64(dim))
	for _, id := range batch.IDs {
		b = binfmt.AppendString(b, id)
	}
	b = binfmt.AppendFloats(b, batch.Vectors[:n*dim])
	if batch.Groups != nil {
		b = append(b, 1)
		for _, g := range batch.Groups {
			b = binfmt.AppendStrings(b, g)
		}
	} else {
		b = append(b, 0)
	}
	if batch.Versions != nil {
		b = append(b, 1)
		for _, v := range batch.Versions {
			b = binary.AppendVarint(b, v)
		}
	} else {
		b = append(b, 0)
	}
	return b
}

func EncodeCreate(cfg engine.Config) []byte {
	b := binfmt.AppendString([]byte{OpCreate}, cfg.Name)
	b = binary.AppendUvarint(b, uint64(cfg.Dim))
	b = append(b, byte(cfg.Metric))
	for _, v := range []int{cfg.Params.M, cfg.Params.EfConstruction, cfg.Params.EfSearch, cfg.Params.ExactThreshold, int(cfg.Params.Quantization)} {
		b = binary.AppendUvarint(b, uint64(v))
	}
	return b
}

// EncodeRestoreCreate is EncodeCreate for a collection a restore creates: its content
// comes with the snapshot written at the record's LSN, so replay can tell a restore
// that a crash cut short (the record without that snapshot) from an empty collection.
func EncodeRestoreCreate(cfg engine.Config) []byte {
	return binary.AppendUvarint(EncodeCreate(cfg), 1)
}

func EncodeDrop(name string) []byte { return binfmt.AppendString([]byte{OpDrop}, name) }

// EncodeRestored is the record a restore logs once the snapshot holding the restored
// content is durable: recovery then knows that a missing snapshot was lost after the
// restore was acknowledged, not cut short by a crash.
func EncodeRestored(name string) []byte { return binfmt.AppendString([]byte{OpRestored}, name) }

func EncodeUpsert(name string, batch *engine.Batch, dim int) []byte {
	b := make([]byte, 0, 64+len(batch.Vectors)*4+len(batch.IDs)*16)
	b = binfmt.AppendString(append(b, OpUpsert), name)
	return appendBatch(b, batch, dim)
}

func EncodeDelete(name string, ids []string) []byte {
	return binfmt.AppendStrings(binfmt.AppendString([]byte{OpDelete}, name), ids)
}

func EncodeFeedback(name string, reports []engine.FalseNegativeReport) []byte {
	b := binfmt.AppendString([]byte{OpFeedback}, name)
	b = binary.AppendUvarint(b, uint64(len(reports)))
	for _, r := range reports {
		b = binfmt.AppendString(b, r.Key)
		b = binfmt.AppendStrings(b, r.IDs)
	}
	return b
}

func EncodeStream(writer string, seq uint64, name string, batch *engine.Batch, dim int, ids []string) []byte {
	size := 64 + len(ids)*16
	if batch != nil {
		size += len(batch.Vectors)*4 + len(batch.IDs)*16
	}
	b := binfmt.AppendString(append(make([]byte, 0, size), OpStream), writer)
	b = binary.AppendUvarint(b, seq)
	b = binfmt.AppendString(b, name)
	b = appendBatch(b, batch, dim)
	return binfmt.AppendStrings(b, ids)
}

// decodeBatch reads a batch (appendBatch) and its dimension.
func decodeBatch(d *binfmt.Decoder) (*engine.Batch, int) {
	n := int(d.Uvarint(engine.MaxBatchItems, "item count"))
	dim := int(d.Uvarint(engine.MaxDim, "dim"))
	if d.Err() != nil {
		return nil, 0
	}
	if n > d.Len() {
		d.Fail("ids truncated")
		return nil, 0
	}
	b := &engine.Batch{IDs: make([]string, n)}
	for i := range b.IDs {
		b.IDs[i] = d.String(engine.MaxIDBytes, "id")
	}
	b.Vectors = d.Floats(n*dim, "vectors")
	if d.Flag() {
		b.Groups = make([][]string, n)
		for i := range b.Groups {
			b.Groups[i] = d.Strings(engine.MaxItemGroups, engine.MaxGroupBytes, "groups")
		}
	}
	if d.Flag() {
		b.Versions = make([]int64, n)
		for i := range b.Versions {
			b.Versions[i] = d.Varint()
		}
	}
	return b, dim
}

// DecodeRecord parses one log record. It checks structure and limits, not the
// batch's validity against a collection (replay applies what was validated before
// it was logged).
func DecodeRecord(p []byte) (Record, error) {
	d := binfmt.NewDecoder(p, ErrRecord)
	r := Record{Op: d.Byte(), Size: len(p)}
	switch r.Op {
	case OpCreate:
		r.Config.Name = d.String(engine.MaxNameLen, "name")
		r.Config.Dim = int(d.Uvarint(engine.MaxDim, "dim"))
		r.Config.Metric = engine.Metric(d.Byte())
		r.Config.Params.M = int(d.Uvarint(math.MaxInt32, "m"))
		r.Config.Params.EfConstruction = int(d.Uvarint(math.MaxInt32, "ef_construction"))
		r.Config.Params.EfSearch = int(d.Uvarint(math.MaxInt32, "ef_search"))
		r.Config.Params.ExactThreshold = int(d.Uvarint(math.MaxUint32, "exact_threshold"))
		if d.Err() == nil && d.Len() > 0 {
			r.Config.Params.Quantization = engine.Quantization(d.Uvarint(math.MaxInt32, "quantization"))
		}
		if d.Err() == nil && d.Len() > 0 {
			r.Restore = d.Uvarint(1, "restore flag") == 1
		}
		r.Name = r.Config.Name
		if d.Err() == nil {
			if _, err := r.Config.Validate(); err != nil {
				d.Fail("collection config: %v", err)
			}
		}
	case OpDrop, OpRestored:
		r.Name = d.String(engine.MaxNameLen, "name")
	case OpUpsert:
		r.Name = d.String(engine.MaxNameLen, "name")
		r.Batch, _ = decodeBatch(d)
	case OpDelete:
		r.Name = d.String(engine.MaxNameLen, "name")
		r.IDs = d.Strings(engine.MaxBatchItems, engine.MaxIDBytes, "ids")
	case OpStream:
		r.Writer = d.String(engine.MaxWriterIDBytes, "writer")
		r.Seq = d.Uvarint(math.MaxUint64, "sequence")
		r.Name = d.String(engine.MaxNameLen, "name")
		r.Batch, _ = decodeBatch(d)
		r.IDs = d.Strings(engine.MaxBatchItems, engine.MaxIDBytes, "ids")
	case OpFeedback:
		r.Name = d.String(engine.MaxNameLen, "name")
		n := int(d.Uvarint(engine.MaxFeedbackIDs, "report count"))
		if d.Err() == nil && n > d.Len() {
			d.Fail("reports truncated")
		}
		for i := 0; i < n && d.Err() == nil; i++ {
			key := d.String(engine.MaxIDBytes, "anchor key")
			ids := d.Strings(engine.MaxFeedbackIDs, engine.MaxIDBytes, "ids")
			r.Reports = append(r.Reports, engine.FalseNegativeReport{Key: key, IDs: ids})
		}
	default:
		d.Fail("unknown op %d", r.Op)
	}
	if d.Err() == nil && d.Len() != 0 {
		d.Fail("%d trailing bytes", d.Len())
	}
	if d.Err() != nil {
		return Record{}, d.Err()
	}
	return r, nil
}
