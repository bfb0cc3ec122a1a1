package binfmt

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
	"unsafe"
)

// The float encodings equal the portable one, value by value, bits included (NaN
// payloads, negative zero, subnormals), whichever path this machine takes.
func TestFloatsEncodeLittleEndianBits(t *testing.T) {
	for _, native := range []bool{nativeLittle, false} {
		t.Run(fmt.Sprintf("copy %v", native), func(t *testing.T) {
			defer func(was bool) { nativeLittle = was }(nativeLittle)
			nativeLittle = native // false: the value-by-value path a big-endian machine takes
			checkFloatEncoding(t)
		})
	}
}

func checkFloatEncoding(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	v := []float32{0, float32(math.Copysign(0, -1)), math.Float32frombits(0x7fc00001), math.Float32frombits(0xffa00000), float32(math.Inf(-1)), math.SmallestNonzeroFloat32}
	for range 1000 {
		v = append(v, math.Float32frombits(r.Uint32()))
	}
	want := []byte{0xAA}
	for _, x := range v {
		want = binary.LittleEndian.AppendUint32(want, math.Float32bits(x))
	}
	got := AppendFloats([]byte{0xAA}, v)
	if string(got) != string(want) {
		t.Fatal("AppendFloats differs from the little-endian bits")
	}
	// TakeFloats on an aligned copy (shared where the layout allows) and on a
	// misaligned one (copied).
	aligned := make([]byte, 4*len(v)+4)
	copy(aligned, got[1:])
	misaligned := make([]byte, 4*len(v)+1)
	copy(misaligned[1:], got[1:])
	for _, back := range [][]float32{DecodeFloats(got[1:]), NewDecoder(got[1:], errors.New("bad")).Floats(len(v), "v"),
		TakeFloats(aligned[:4*len(v)+3]), TakeFloats(misaligned[1:])} {
		if len(back) != len(v) {
			t.Fatalf("decoded %d values, want %d", len(back), len(v))
		}
		for i := range v {
			if math.Float32bits(back[i]) != math.Float32bits(v[i]) {
				t.Fatalf("value %d: %08x, want %08x", i, math.Float32bits(back[i]), math.Float32bits(v[i]))
			}
		}
	}
	if len(AppendFloats(nil, nil)) != 0 || len(DecodeFloats([]byte{1, 2, 3})) != 0 || len(TakeFloats([]byte{1, 2, 3})) != 0 {
		t.Error("empty input")
	}
}

// TakeFloats shares an aligned little-endian buffer instead of copying it, and copies a
// misaligned one.
func TestTakeFloatsSharesAlignedBuffers(t *testing.T) {
	// Buffers laid over float32 arrays: 4-byte aligned, and 1 byte past that.
	words := make([]float32, 5)
	raw := unsafe.Slice((*byte)(unsafe.Pointer(&words[0])), 20)
	b := AppendFloats(raw[:0], []float32{1, 2, 3, 4})
	v := TakeFloats(b)
	b[0], b[1], b[2], b[3] = 0, 0, 0xa0, 0x40 // 5
	if nativeLittle && v[0] != 5 {
		t.Errorf("TakeFloats copied an aligned buffer: v[0] = %v after writing 5 into it", v[0])
	}
	m := AppendFloats(raw[:1], []float32{1, 2, 3, 4})[1:]
	w := TakeFloats(m)
	m[0] = 0xff
	if w[0] != 1 || len(w) != 4 {
		t.Errorf("TakeFloats shared a misaligned buffer: w = %v", w)
	}
}
