package binfmt

import (
	"bytes"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"io"
	"testing"
)

func TestChecksumIsCRC32C(t *testing.T) {
	b := []byte("123456789")
	if got := Checksum(b); got != 0xE3069283 { // the CRC-32C check value
		t.Fatalf("Checksum = %#x, want 0xe3069283", got)
	}
	if got := Update(Checksum(b[:4]), b[4:]); got != Checksum(b) {
		t.Fatalf("Update continues to %#x, want %#x", got, Checksum(b))
	}
	h := NewHash()
	h.Write(b)
	if h.Sum32() != crc32.Checksum(b, crc32.MakeTable(crc32.Castagnoli)) {
		t.Fatal("NewHash is not CRC-32C")
	}
}

func TestReaderReadsExactlyAndChecksums(t *testing.T) {
	var in []byte
	in = append(in, "head"...)
	in = binary.AppendUvarint(in, 300)
	in = binary.AppendVarint(in, -7)
	in = binary.LittleEndian.AppendUint32(in, 0xdeadbeef)
	in = binary.LittleEndian.AppendUint64(in, 1<<40)
	body := len(in)
	in = append(in, "rest"...)
	src := bytes.NewReader(in)
	r := NewReader(src)
	if got := string(r.Bytes(4)); got != "head" {
		t.Fatalf("Bytes = %q", got)
	}
	if v, ok := r.Uvarint(); !ok || v != 300 {
		t.Fatalf("Uvarint = %d, %v", v, ok)
	}
	if v, ok := r.Varint(); !ok || v != -7 {
		t.Fatalf("Varint = %d, %v", v, ok)
	}
	if v := r.U32(); v != 0xdeadbeef {
		t.Fatalf("U32 = %#x", v)
	}
	if v := r.U64(); v != 1<<40 {
		t.Fatalf("U64 = %d", v)
	}
	if r.Err() != nil || r.Offset() != int64(body) || r.Sum() != Checksum(in[:body]) {
		t.Fatalf("err %v, offset %d (want %d), sum %#x (want %#x)", r.Err(), r.Offset(), body, r.Sum(), Checksum(in[:body]))
	}
	if src.Len() != 4 {
		t.Fatalf("read %d bytes past what was asked", 4-src.Len())
	}
	rest, err := io.ReadAll(r)
	if err != nil || string(rest) != "rest" || r.Sum() != Checksum(in) {
		t.Fatalf("Read: %q, %v; sum %#x, want %#x", rest, err, r.Sum(), Checksum(in))
	}
}

func TestReaderKeepsFirstError(t *testing.T) {
	r := NewReader(bytes.NewReader([]byte{1, 2}))
	if p := r.Bytes(3); p != nil || !errors.Is(r.Err(), io.ErrUnexpectedEOF) {
		t.Fatalf("short Bytes = %v, err %v; want nil, io.ErrUnexpectedEOF", p, r.Err())
	}
	r.Fail(errors.New("later"))
	if !errors.Is(r.Err(), io.ErrUnexpectedEOF) {
		t.Fatalf("Fail replaced the first error: %v", r.Err())
	}
	if v := r.U32(); v != 0 {
		t.Fatalf("U32 after an error = %d", v)
	}
	if _, ok := r.Uvarint(); ok {
		t.Fatal("Uvarint after an error reports ok")
	}
	empty := NewReader(bytes.NewReader(nil))
	if _, err := empty.ReadByte(); !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("ReadByte at the end: %v, want io.ErrUnexpectedEOF", err)
	}
	bad := NewReader(bytes.NewReader(bytes.Repeat([]byte{0xff}, 11)))
	if _, ok := bad.Uvarint(); ok || bad.Err() == nil {
		t.Fatal("an overlong varint was accepted")
	}
}
