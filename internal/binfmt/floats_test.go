package binfmt

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
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
	for _, back := range [][]float32{DecodeFloats(got[1:]), NewDecoder(got[1:], errors.New("bad")).Floats(len(v), "v")} {
		if len(back) != len(v) {
			t.Fatalf("decoded %d values, want %d", len(back), len(v))
		}
		for i := range v {
			if math.Float32bits(back[i]) != math.Float32bits(v[i]) {
				t.Fatalf("value %d: %08x, want %08x", i, math.Float32bits(back[i]), math.Float32bits(v[i]))
			}
		}
	}
	if len(AppendFloats(nil, nil)) != 0 || len(DecodeFloats([]byte{1, 2, 3})) != 0 {
		t.Error("empty input")
	}
}
