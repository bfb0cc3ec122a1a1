package binfmt

import (
	"encoding/binary"
	"fmt"
	"math"
)

// Decoder reads an encoding held in memory (a log record, a loop state) with bounds
// and limit checks. The first failure sticks: Err returns it, wrapping the format's
// own error (kind), and later reads return zero values.
type Decoder struct {
	b    []byte
	err  error
	kind error
}

// NewDecoder returns a Decoder of b whose failures wrap kind.
func NewDecoder(b []byte, kind error) *Decoder { return &Decoder{b: b, kind: kind} }

// Err returns the first failure, or nil.
func (d *Decoder) Err() error { return d.err }

// Len returns the number of bytes not read yet.
func (d *Decoder) Len() int { return len(d.b) }

// Fail records a failure unless one was recorded before.
func (d *Decoder) Fail(format string, args ...any) {
	if d.err == nil {
		d.err = fmt.Errorf("%w: %s", d.kind, fmt.Sprintf(format, args...))
	}
}

// Byte reads one byte.
func (d *Decoder) Byte() byte {
	if d.err != nil || len(d.b) < 1 {
		d.Fail("truncated")
		return 0
	}
	v := d.b[0]
	d.b = d.b[1:]
	return v
}

// Flag reads a presence byte, 0 or 1.
func (d *Decoder) Flag() bool {
	switch d.Byte() {
	case 0:
		return false
	case 1:
		return true
	}
	d.Fail("bad presence flag")
	return false
}

// Uvarint reads an unsigned varint of at most limit; what names it in failures.
func (d *Decoder) Uvarint(limit uint64, what string) uint64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.Fail("bad %s", what)
		return 0
	}
	d.b = d.b[n:]
	if v > limit {
		d.Fail("%s %d above limit %d", what, v, limit)
		return 0
	}
	return v
}

// Varint reads a zig-zag signed varint.
func (d *Decoder) Varint() int64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Varint(d.b)
	if n <= 0 {
		d.Fail("bad varint")
		return 0
	}
	d.b = d.b[n:]
	return v
}

// U64 reads a little-endian uint64.
func (d *Decoder) U64() uint64 {
	if d.err != nil || len(d.b) < 8 {
		d.Fail("truncated")
		return 0
	}
	v := binary.LittleEndian.Uint64(d.b)
	d.b = d.b[8:]
	return v
}

// F64 reads a little-endian float64.
func (d *Decoder) F64() float64 { return math.Float64frombits(d.U64()) }

// Bytes reads n bytes (a sub-slice of the input).
func (d *Decoder) Bytes(n uint64, what string) []byte {
	if d.err != nil {
		return nil
	}
	if n > uint64(len(d.b)) {
		d.Fail("%s truncated", what)
		return nil
	}
	out := d.b[:n]
	d.b = d.b[n:]
	return out
}

// Count reads the length of a list of at most limit elements, each of which takes at
// least one byte: a length beyond the bytes left fails at once, before anything is
// allocated for the list.
func (d *Decoder) Count(limit uint64, what string) int {
	n := d.Uvarint(limit, what+" count")
	if d.err == nil && n > uint64(len(d.b)) {
		d.Fail("%s truncated", what)
		return 0
	}
	return int(n)
}

// String reads a string of at most limit bytes prefixed by its uvarint length.
func (d *Decoder) String(limit int, what string) string {
	n := int(d.Uvarint(uint64(limit), what+" length"))
	if d.err != nil {
		return ""
	}
	if n > len(d.b) {
		d.Fail("%s truncated", what)
		return ""
	}
	s := string(d.b[:n])
	d.b = d.b[n:]
	return s
}

// Strings reads a list of at most maxCount strings of at most maxLen bytes each
// (AppendStrings); nil when the list is empty.
func (d *Decoder) Strings(maxCount, maxLen int, what string) []string {
	n := d.Count(uint64(maxCount), what)
	if d.err != nil || n == 0 {
		return nil
	}
	out := make([]string, n)
	for i := range out {
		out[i] = d.String(maxLen, what)
	}
	return out
}

// Floats reads n little-endian float32 values (AppendFloats).
func (d *Decoder) Floats(n int, what string) []float32 {
	if d.err != nil {
		return nil
	}
	if n > len(d.b)/4 {
		d.Fail("%s truncated", what)
		return nil
	}
	out := make([]float32, n)
	getFloats(out, d.b)
	d.b = d.b[4*n:]
	return out
}
