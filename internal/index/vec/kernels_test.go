package vec

import (
	"math/rand/v2"
	"slices"
	"testing"
)

func TestKernelsNameWhatRuns(t *testing.T) {
	k := Kernels()
	names := []string{"amx", "vnni", "avx512", "avx2", "generic"}
	for _, n := range []string{k.Float, k.GEMM, k.Int8} {
		if !slices.Contains(names, n) {
			t.Fatalf("Kernels() = %+v: %q is no kernel", k, n)
		}
	}
	if k.Int8 != bestInt8Kernel().name || k.GEMM != bestGEMMKernel().name {
		t.Fatalf("Kernels() = %+v, chosen int8 %q, gemm %q", k, bestInt8Kernel().name, bestGEMMKernel().name)
	}
}

// With AMX forbidden the int8 product runs another kernel and gives the same scores.
func TestSetAMXOffKeepsTheScores(t *testing.T) {
	const n, nq, dim = 300, 20, 384
	r := rand.New(rand.NewPCG(3, 4))
	rm := make([]float32, n*dim)
	for i := range rm {
		rm[i] = float32(r.NormFloat64())
	}
	qs := make([][]float32, nq)
	for j := range qs {
		qs[j] = make([]float32, dim)
		for i := range qs[j] {
			qs[j][i] = float32(r.NormFloat64())
		}
	}
	rows := QuantizeRows(rm, dim)
	score := func() [][]float32 {
		out := make([][]float32, nq)
		for j := range out {
			out[j] = make([]float32, n)
		}
		PackInt8Queries(qs, dim).DotRows(rows, out)
		return out
	}
	on, onName := score(), Kernels().Int8
	SetAMX(false)
	defer SetAMX(true)
	off, offName := score(), Kernels().Int8
	if offName == "amx" {
		t.Fatalf("SetAMX(false): Kernels().Int8 is still %q", offName)
	}
	for j := range on {
		if !slices.Equal(on[j], off[j]) {
			t.Fatalf("query %d: the %s and %s kernels' scores differ", j, onName, offName)
		}
	}
	SetAMX(true)
	if got := Kernels().Int8; got != onName {
		t.Fatalf("SetAMX(true): int8 kernel %q, %q before SetAMX(false)", got, onName)
	}
}
