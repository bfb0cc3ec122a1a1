package index

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"

	"github.com/hardneg/hardneg/internal/engine"
)

// Every change to a DB is one write-ahead log record, applied in memory in LSN order
// and acknowledged once the log says it is durable. A record is an op byte and the
// op's fields, little-endian, strings and lists prefixed by their uvarint length:
//
//	opCreate  name, dim, metric u8, M, EfConstruction, EfSearch, ExactThreshold (uvarints)
//	opDrop    name
//	opUpsert  name, batch
//	opDelete  name, ids
//	opStream  writer, seq (uvarint), name, batch, ids
//	opFeedback name, report count, then per report: anchor key, ids
//
// A batch is its item count n, dim, then n ids, n·dim float32 values (raw
// little-endian, already normalised under cosine so replay reproduces the exact
// bits), a groups flag u8 followed (when 1) by each item's group list, and a versions
// flag u8 followed (when 1) by n zig-zag varints.
const (
	opCreate byte = 1 + iota
	opDrop
	opUpsert
	opDelete
	opStream
	opFeedback
)

// errRecord is wrapped by every record decoding failure.
var errRecord = errors.New("malformed log record")

// record is a decoded log record.
type record struct {
	op      byte
	name    string        // collection
	cfg     engine.Config // opCreate
	batch   *engine.Batch // opUpsert, opStream (nil when the stream batch has no items)
	ids     []string
	reports []engine.FalseNegativeReport // opFeedback
	writer  string                       // opStream
	seq     uint64                       // opStream
	content int                          // bytes of the encoded record
}

func appendString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

func appendStrings(b []byte, ss []string) []byte {
	b = binary.AppendUvarint(b, uint64(len(ss)))
	for _, s := range ss {
		b = appendString(b, s)
	}
	return b
}

func appendBatch(b []byte, batch *engine.Batch, dim int) []byte {
	if batch == nil {
		batch = &engine.Batch{}
	}
	n := batch.Len()
	b = binary.AppendUvarint(b, uint64(n))
	b = binary.AppendUvarint(b, uint64(dim))
	for _, id := range batch.IDs {
		b = appendString(b, id)
	}
	b = appendFloats(b, batch.Vectors[:n*dim])
	if batch.Groups != nil {
		b = append(b, 1)
		for _, g := range batch.Groups {
			b = appendStrings(b, g)
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

func appendFloats(b []byte, v []float32) []byte {
	b = append(b, make([]byte, 4*len(v))...)
	out := b[len(b)-4*len(v):]
	for i, x := range v {
		binary.LittleEndian.PutUint32(out[4*i:], math.Float32bits(x))
	}
	return b
}

func encodeCreate(cfg engine.Config) []byte {
	b := appendString([]byte{opCreate}, cfg.Name)
	b = binary.AppendUvarint(b, uint64(cfg.Dim))
	b = append(b, byte(cfg.Metric))
	for _, v := range []int{cfg.Params.M, cfg.Params.EfConstruction, cfg.Params.EfSearch, cfg.Params.ExactThreshold} {
		b = binary.AppendUvarint(b, uint64(v))
	}
	return b
}

func encodeDrop(name string) []byte { return appendString([]byte{opDrop}, name) }

func encodeUpsert(name string, batch *engine.Batch, dim int) []byte {
	b := make([]byte, 0, 64+len(batch.Vectors)*4+len(batch.IDs)*16)
	b = appendString(append(b, opUpsert), name)
	return appendBatch(b, batch, dim)
}

func encodeDelete(name string, ids []string) []byte {
	return appendStrings(appendString([]byte{opDelete}, name), ids)
}

func encodeFeedback(name string, reports []engine.FalseNegativeReport) []byte {
	b := appendString([]byte{opFeedback}, name)
	b = binary.AppendUvarint(b, uint64(len(reports)))
	for _, r := range reports {
		b = appendString(b, r.Key)
		b = appendStrings(b, r.IDs)
	}
	return b
}

func encodeStream(writer string, seq uint64, name string, batch *engine.Batch, dim int, ids []string) []byte {
	size := 64 + len(ids)*16
	if batch != nil {
		size += len(batch.Vectors)*4 + len(batch.IDs)*16
	}
	b := appendString(append(make([]byte, 0, size), opStream), writer)
	b = binary.AppendUvarint(b, seq)
	b = appendString(b, name)
	b = appendBatch(b, batch, dim)
	return appendStrings(b, ids)
}

// decoder reads fields with bounds checks; the first failure sticks in err.
type decoder struct {
	b   []byte
	err error
}

func (d *decoder) fail(format string, args ...any) {
	if d.err == nil {
		d.err = fmt.Errorf("%w: %s", errRecord, fmt.Sprintf(format, args...))
	}
}

func (d *decoder) byte() byte {
	if d.err != nil || len(d.b) < 1 {
		d.fail("truncated")
		return 0
	}
	v := d.b[0]
	d.b = d.b[1:]
	return v
}

// flag reads a presence byte, 0 or 1.
func (d *decoder) flag() bool {
	switch d.byte() {
	case 0:
		return false
	case 1:
		return true
	}
	d.fail("bad presence flag")
	return false
}

func (d *decoder) uvarint(limit uint64, what string) uint64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.fail("bad %s", what)
		return 0
	}
	d.b = d.b[n:]
	if v > limit {
		d.fail("%s %d above limit %d", what, v, limit)
		return 0
	}
	return v
}

func (d *decoder) varint() int64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Varint(d.b)
	if n <= 0 {
		d.fail("bad varint")
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) string(limit int, what string) string {
	n := int(d.uvarint(uint64(limit), what+" length"))
	if d.err != nil {
		return ""
	}
	if n > len(d.b) {
		d.fail("%s truncated", what)
		return ""
	}
	s := string(d.b[:n])
	d.b = d.b[n:]
	return s
}

func (d *decoder) strings(maxCount, maxLen int, what string) []string {
	n := int(d.uvarint(uint64(maxCount), what+" count"))
	if d.err != nil || n == 0 {
		return nil
	}
	if n > len(d.b) { // every string takes at least one byte
		d.fail("%s truncated", what)
		return nil
	}
	out := make([]string, n)
	for i := range out {
		out[i] = d.string(maxLen, what)
	}
	return out
}

func (d *decoder) floats(n int) []float32 {
	if d.err != nil {
		return nil
	}
	if n > len(d.b)/4 {
		d.fail("vectors truncated")
		return nil
	}
	out := make([]float32, n)
	for i := range out {
		out[i] = math.Float32frombits(binary.LittleEndian.Uint32(d.b[4*i:]))
	}
	d.b = d.b[4*n:]
	return out
}

func (d *decoder) batch() (*engine.Batch, int) {
	n := int(d.uvarint(engine.MaxBatchItems, "item count"))
	dim := int(d.uvarint(engine.MaxDim, "dim"))
	if d.err != nil {
		return nil, 0
	}
	if n > len(d.b) {
		d.fail("ids truncated")
		return nil, 0
	}
	b := &engine.Batch{IDs: make([]string, n)}
	for i := range b.IDs {
		b.IDs[i] = d.string(engine.MaxIDBytes, "id")
	}
	b.Vectors = d.floats(n * dim)
	if d.flag() {
		b.Groups = make([][]string, n)
		for i := range b.Groups {
			b.Groups[i] = d.strings(engine.MaxItemGroups, engine.MaxGroupBytes, "groups")
		}
	}
	if d.flag() {
		b.Versions = make([]int64, n)
		for i := range b.Versions {
			b.Versions[i] = d.varint()
		}
	}
	return b, dim
}

// decodeRecord parses one log record. It checks structure and limits, not the
// batch's validity against a collection (replay applies what was validated before
// it was logged).
func decodeRecord(p []byte) (record, error) {
	d := &decoder{b: p}
	r := record{op: d.byte(), content: len(p)}
	switch r.op {
	case opCreate:
		r.cfg.Name = d.string(engine.MaxNameLen, "name")
		r.cfg.Dim = int(d.uvarint(engine.MaxDim, "dim"))
		r.cfg.Metric = engine.Metric(d.byte())
		r.cfg.Params.M = int(d.uvarint(math.MaxInt32, "m"))
		r.cfg.Params.EfConstruction = int(d.uvarint(math.MaxInt32, "ef_construction"))
		r.cfg.Params.EfSearch = int(d.uvarint(math.MaxInt32, "ef_search"))
		r.cfg.Params.ExactThreshold = int(d.uvarint(math.MaxUint32, "exact_threshold"))
		r.name = r.cfg.Name
		if d.err == nil {
			if _, err := r.cfg.Validate(); err != nil {
				d.fail("collection config: %v", err)
			}
		}
	case opDrop:
		r.name = d.string(engine.MaxNameLen, "name")
	case opUpsert:
		r.name = d.string(engine.MaxNameLen, "name")
		r.batch, _ = d.batch()
	case opDelete:
		r.name = d.string(engine.MaxNameLen, "name")
		r.ids = d.strings(engine.MaxBatchItems, engine.MaxIDBytes, "ids")
	case opStream:
		r.writer = d.string(engine.MaxWriterIDBytes, "writer")
		r.seq = d.uvarint(math.MaxUint64, "sequence")
		r.name = d.string(engine.MaxNameLen, "name")
		r.batch, _ = d.batch()
		r.ids = d.strings(engine.MaxBatchItems, engine.MaxIDBytes, "ids")
	case opFeedback:
		r.name = d.string(engine.MaxNameLen, "name")
		n := int(d.uvarint(engine.MaxFeedbackIDs, "report count"))
		if d.err == nil && n > len(d.b) {
			d.fail("reports truncated")
		}
		for i := 0; i < n && d.err == nil; i++ {
			key := d.string(engine.MaxIDBytes, "anchor key")
			ids := d.strings(engine.MaxFeedbackIDs, engine.MaxIDBytes, "ids")
			r.reports = append(r.reports, engine.FalseNegativeReport{Key: key, IDs: ids})
		}
	default:
		d.fail("unknown op %d", r.op)
	}
	if d.err == nil && len(d.b) != 0 {
		d.fail("%d trailing bytes", len(d.b))
	}
	if d.err != nil {
		return record{}, d.err
	}
	return r, nil
}
