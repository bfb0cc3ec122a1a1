// Package binfmt holds what hardneg's on-disk formats share: the CRC-32C (Castagnoli)
// checksum every format ends or frames with, and Reader, which reads exact byte counts
// and varints while checksumming and counting what it consumed, and Decoder, which
// reads an encoding held in memory with bounds and limit checks. The write-ahead log
// (package wal) and its records, snapshots, the HNSW graph format and the loop state use
// them; each keeps its own layout and error kind.
package binfmt

import (
	"encoding/binary"
	"hash"
	"hash/crc32"
	"io"
	"math"
	"slices"
	"unsafe"
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// Checksum returns the CRC-32C of b.
func Checksum(b []byte) uint32 { return crc32.Checksum(b, castagnoli) }

// Update returns crc continued over b.
func Update(crc uint32, b []byte) uint32 { return crc32.Update(crc, castagnoli, b) }

// Reader reads from an io.Reader, keeping the CRC-32C of the bytes consumed and their
// count, and remembers the first error: once it has one, reads return nothing. It
// reads no byte beyond those asked for, so a format can sit inside a larger stream
// (buffer the underlying reader, not Reader's).
type Reader struct {
	r   io.Reader
	br  io.ByteReader // r, when it reads single bytes cheaply
	crc uint32
	off int64
	err error
	buf []byte
	one [1]byte
}

// NewReader returns a Reader of r.
func NewReader(r io.Reader) *Reader {
	br, _ := r.(io.ByteReader)
	return &Reader{r: r, br: br}
}

// Err returns the first error: a read error (io.EOF or io.ErrUnexpectedEOF when the
// input ended early) or one given to Fail.
func (r *Reader) Err() error { return r.err }

// Fail records err unless an error was recorded before.
func (r *Reader) Fail(err error) {
	if r.err == nil {
		r.err = err
	}
}

// Offset returns the number of bytes consumed.
func (r *Reader) Offset() int64 { return r.off }

// Sum returns the CRC-32C of the bytes consumed.
func (r *Reader) Sum() uint32 { return r.crc }

// Bytes reads exactly n bytes, valid until the next call; nil after an error.
func (r *Reader) Bytes(n int) []byte {
	if r.err != nil {
		return nil
	}
	if cap(r.buf) < n {
		r.buf = make([]byte, n)
	}
	p := r.buf[:n]
	k, err := io.ReadFull(r.r, p)
	r.off += int64(k)
	if err != nil {
		r.err = err
		return nil
	}
	r.crc = Update(r.crc, p)
	return p
}

// Read reads raw bytes for a nested format, checksumming them (io.Reader).
func (r *Reader) Read(p []byte) (int, error) {
	if r.err != nil {
		return 0, r.err
	}
	n, err := r.r.Read(p)
	r.off += int64(n)
	r.crc = Update(r.crc, p[:n])
	return n, err
}

// ReadByte reads one byte (io.ByteReader); a missing byte is io.ErrUnexpectedEOF.
func (r *Reader) ReadByte() (byte, error) {
	if r.err != nil {
		return 0, r.err
	}
	var c byte
	var err error
	if r.br != nil {
		c, err = r.br.ReadByte()
	} else {
		_, err = io.ReadFull(r.r, r.one[:])
		c = r.one[0]
	}
	if err != nil {
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		r.err = err
		return 0, err
	}
	r.off++
	r.one[0] = c
	r.crc = Update(r.crc, r.one[:])
	return c, nil
}

// Uvarint reads an unsigned varint; ok is false after an error, which a malformed
// varint sets.
func (r *Reader) Uvarint() (v uint64, ok bool) {
	v, err := binary.ReadUvarint(r)
	if err != nil {
		r.Fail(err)
		return 0, false
	}
	return v, true
}

// Varint reads a zig-zag signed varint; ok is false after an error.
func (r *Reader) Varint() (v int64, ok bool) {
	v, err := binary.ReadVarint(r)
	if err != nil {
		r.Fail(err)
		return 0, false
	}
	return v, true
}

// U32 reads a little-endian uint32 (0 after an error).
func (r *Reader) U32() uint32 {
	if p := r.Bytes(4); p != nil {
		return binary.LittleEndian.Uint32(p)
	}
	return 0
}

// U64 reads a little-endian uint64 (0 after an error).
func (r *Reader) U64() uint64 {
	if p := r.Bytes(8); p != nil {
		return binary.LittleEndian.Uint64(p)
	}
	return 0
}

// NewHash returns a CRC-32C hash.Hash32, for a writer that checksums what it writes.
func NewHash() hash.Hash32 { return crc32.New(castagnoli) }

// AppendString appends s prefixed by its uvarint length.
func AppendString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

// AppendStrings appends a uvarint count and each string (AppendString).
func AppendStrings(b []byte, ss []string) []byte {
	b = binary.AppendUvarint(b, uint64(len(ss)))
	for _, s := range ss {
		b = AppendString(b, s)
	}
	return b
}

// AppendFloats appends v as little-endian float32 bits.
func AppendFloats(b []byte, v []float32) []byte {
	n := len(b)
	b = slices.Grow(b, 4*len(v))[:n+4*len(v)]
	out := b[n:]
	if nativeLittle && len(v) > 0 {
		copy(out, unsafe.Slice((*byte)(unsafe.Pointer(&v[0])), len(out)))
		return b
	}
	for i, x := range v {
		binary.LittleEndian.PutUint32(out[4*i:], math.Float32bits(x))
	}
	return b
}

// DecodeFloats returns the float32 values of b, little-endian bits, 4 bytes each (a
// trailing partial value is ignored).
func DecodeFloats(b []byte) []float32 {
	out := make([]float32, len(b)/4)
	getFloats(out, b)
	return out
}

// TakeFloats is DecodeFloats for a buffer that the caller hands over: where this
// machine's float32 layout is little-endian and b is 4-byte aligned, the result shares
// b's memory instead of copying it, so b must not be written or reused afterwards (a
// bytes field of a freshly decoded message, for example). Otherwise it copies.
func TakeFloats(b []byte) []float32 {
	n := len(b) / 4
	if nativeLittle && n > 0 && uintptr(unsafe.Pointer(&b[0]))%4 == 0 {
		return unsafe.Slice((*float32)(unsafe.Pointer(&b[0])), n)
	}
	return DecodeFloats(b)
}

// getFloats sets dst from the little-endian float32 bits in src (4·len(dst) bytes).
func getFloats(dst []float32, src []byte) {
	if nativeLittle && len(dst) > 0 {
		copy(unsafe.Slice((*byte)(unsafe.Pointer(&dst[0])), 4*len(dst)), src[:4*len(dst)])
		return
	}
	for i := range dst {
		dst[i] = math.Float32frombits(binary.LittleEndian.Uint32(src[4*i:]))
	}
}

// nativeLittle reports whether this machine stores numbers little-endian: then a
// []float32 and its encoding share one byte layout, and a copy converts (the bits, NaN
// payloads included, are the same either way).
var nativeLittle = binary.NativeEndian.Uint16([]byte{1, 0}) == 1
