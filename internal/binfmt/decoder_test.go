package binfmt

import (
	"encoding/binary"
	"errors"
	"testing"
)

var errKind = errors.New("kind")

func TestDecoderReadsWhatTheAppendersWrite(t *testing.T) {
	b := []byte{1}
	b = binary.AppendUvarint(b, 300)
	b = binary.AppendVarint(b, -7)
	b = binary.LittleEndian.AppendUint64(b, 42)
	b = AppendString(b, "id")
	b = AppendStrings(b, []string{"a", "bc"})
	b = AppendFloats(b, []float32{1.5, -2})
	d := NewDecoder(b, errKind)
	if !d.Flag() || d.Uvarint(300, "n") != 300 || d.Varint() != -7 || d.U64() != 42 || d.String(2, "s") != "id" {
		t.Fatalf("scalars: %v", d.Err())
	}
	if ss := d.Strings(2, 2, "ss"); len(ss) != 2 || ss[1] != "bc" {
		t.Fatalf("strings %q: %v", ss, d.Err())
	}
	if fs := d.Floats(2, "fs"); len(fs) != 2 || fs[0] != 1.5 || fs[1] != -2 || d.Len() != 0 || d.Err() != nil {
		t.Fatalf("floats %v, %d left: %v", fs, d.Len(), d.Err())
	}
}

func TestDecoderFailuresStickAndWrapTheKind(t *testing.T) {
	b := binary.AppendUvarint(nil, 5)
	for name, read := range map[string]func(d *Decoder){
		"above limit":      func(d *Decoder) { d.Uvarint(4, "n") },
		"count past bytes": func(d *Decoder) { d.Count(10, "list") },
		"string past bytes": func(d *Decoder) {
			d.String(10, "s")
		},
		"u64 past bytes":    func(d *Decoder) { d.Uvarint(10, "n"); d.U64() },
		"floats past bytes": func(d *Decoder) { d.Floats(1, "fs") },
		"bytes past bytes":  func(d *Decoder) { d.Bytes(2, "b") },
		"bad flag":          func(d *Decoder) { d.Flag() },
	} {
		d := NewDecoder(b, errKind)
		read(d)
		if !errors.Is(d.Err(), errKind) {
			t.Fatalf("%s: err %v, want the kind", name, d.Err())
		}
		first := d.Err()
		if d.Byte() != 0 || d.Uvarint(1<<60, "x") != 0 || d.String(9, "s") != "" || d.Err() != first {
			t.Fatalf("%s: reads after a failure returned values or replaced the error", name)
		}
	}
}
