package vec

import (
	"fmt"
	"math"
	"math/big"
	"math/rand/v2"
	"testing"
)

type kernel struct {
	name string
	fn   func(a, b []float32) float32
}

// dotKernels and l2Kernels list every implementation this CPU can run, so the tests
// cover the fallbacks as well as the exported choice.
func dotKernels() []kernel {
	ks := []kernel{{"exported", Dot}, {"generic", dotGeneric}}
	return append(ks, archDotKernels()...)
}

func l2Kernels() []kernel {
	ks := []kernel{{"exported", L2Sq}, {"generic", l2sqGeneric}}
	return append(ks, archL2Kernels()...)
}

var testLengths = []int{0, 1, 2, 3, 7, 8, 15, 16, 17, 31, 32, 33, 63, 64, 65, 127, 128, 383, 384, 385, 768, 1536}

// refDot returns the float64 inner product and the float64 sum of |a_i b_i|.
func refDot(a, b []float32) (dot, abs float64) {
	for i := range a {
		p := float64(a[i]) * float64(b[i])
		dot += p
		abs += math.Abs(p)
	}
	return dot, abs
}

func refL2(a, b []float32) float64 {
	var s float64
	for i := range a {
		d := float64(a[i]) - float64(b[i])
		s += d * d
	}
	return s
}

// offsetVec returns n random floats starting off elements into a fresh backing array,
// so kernels see slices that are not 64-byte aligned. The backing array continues past
// the slice with NaNs: a kernel that reads beyond len returns NaN.
func offsetVec(r *rand.Rand, n, off int) []float32 {
	back := make([]float32, off+n+16)
	for i := range back {
		back[i] = float32(math.NaN())
	}
	v := back[off : off+n]
	for i := range v {
		v[i] = float32(r.NormFloat64())
	}
	return v
}

func TestDotMatchesFloat64Reference(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for _, k := range dotKernels() {
		markTested("dot", k.name)
		for _, n := range testLengths {
			for _, off := range []int{0, 1, 3, 5} {
				t.Run(fmt.Sprintf("%s/n=%d/off=%d", k.name, n, off), func(t *testing.T) {
					a, b := offsetVec(r, n, off), offsetVec(r, n, (off*7)%16)
					want, abs := refDot(a, b)
					got := float64(k.fn(a, b))
					// Worst-case bound for any summation order of n products with FMA.
					bound := float64(n+1) * unitRoundoff * abs
					if math.IsNaN(got) || math.Abs(got-want) > bound {
						t.Fatalf("Dot = %v, float64 reference %v, |err| %g > bound %g", got, want, math.Abs(got-want), bound)
					}
				})
			}
		}
	}
}

func TestL2SqMatchesFloat64Reference(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for _, k := range l2Kernels() {
		markTested("l2", k.name)
		for _, n := range testLengths {
			for _, off := range []int{0, 1, 3, 5} {
				t.Run(fmt.Sprintf("%s/n=%d/off=%d", k.name, n, off), func(t *testing.T) {
					a, b := offsetVec(r, n, off), offsetVec(r, n, (off*7)%16)
					want := refL2(a, b)
					got := float64(k.fn(a, b))
					// Each difference is rounded once, each square and sum once more; all
					// terms are non-negative, so the bound is relative to the result.
					bound := float64(n+3) * unitRoundoff * want
					if math.IsNaN(got) || math.Abs(got-want) > bound {
						t.Fatalf("L2Sq = %v, float64 reference %v, |err| %g > bound %g", got, want, math.Abs(got-want), bound)
					}
				})
			}
		}
	}
}

// Small integers multiply and add exactly in float32, so every kernel must agree with
// the reference to the last bit whatever order it sums in.
func TestKernelsExactOnSmallIntegers(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	ints := func(n int) []float32 {
		v := make([]float32, n)
		for i := range v {
			v[i] = float32(r.IntN(17) - 8)
		}
		return v
	}
	for _, n := range testLengths {
		a, b := ints(n), ints(n)
		wantDot, _ := refDot(a, b)
		wantL2 := refL2(a, b)
		for _, k := range dotKernels() {
			if got := k.fn(a, b); float64(got) != wantDot {
				t.Errorf("%s Dot n=%d = %v, want %v", k.name, n, got, wantDot)
			}
		}
		for _, k := range l2Kernels() {
			if got := k.fn(a, b); float64(got) != wantL2 {
				t.Errorf("%s L2Sq n=%d = %v, want %v", k.name, n, got, wantL2)
			}
		}
	}
}

func TestL2SqOfVectorWithItselfIsZero(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	for _, k := range l2Kernels() {
		a := offsetVec(r, 383, 1)
		if got := k.fn(a, a); got != 0 {
			t.Errorf("%s L2Sq(a, a) = %v, want 0", k.name, got)
		}
	}
}

func TestDotPanicsWhenSecondVectorIsShorter(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Fatal("Dot with len(b) < len(a) did not panic")
		}
	}()
	Dot(make([]float32, 17), make([]float32, 16))
}

func TestNormalize(t *testing.T) {
	tests := []struct {
		name   string
		in     []float32
		wantOK bool
		want   []float32
	}{
		{"scales to unit length", []float32{3, 4}, true, []float32{0.6, 0.8}},
		{"zero vector is left unchanged", []float32{0, 0, 0}, false, []float32{0, 0, 0}},
		{"empty vector reports false", nil, false, nil},
		{"smallest subnormal", []float32{1e-45, 0, 0, 0}, true, []float32{1, 0, 0, 0}},
		{"norm whose float32 reciprocal overflows", []float32{1e-39, 1e-39, 1e-39, 1e-39}, true, []float32{0.5, 0.5, 0.5, 0.5}},
		{"huge norm", []float32{3e38, 3e38, 3e38, 3e38}, true, []float32{0.5, 0.5, 0.5, 0.5}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ok := Normalize(tt.in)
			if ok != tt.wantOK {
				t.Fatalf("Normalize ok = %v, want %v", ok, tt.wantOK)
			}
			for i := range tt.want {
				if math.Abs(float64(tt.in[i]-tt.want[i])) > 1e-7 {
					t.Fatalf("Normalize = %v, want %v", tt.in, tt.want)
				}
			}
		})
	}
	if n := Norm([]float32{1, 2, 2}); n != 3 {
		t.Errorf("Norm = %v, want 3", n)
	}
}

// TestNormMatchesAnExactSum checks Norm against the square root of the exactly rounded
// sum of squares (math/big), for lengths around the unrolled block and values from
// subnormal to near the float32 maximum: within 2 ulps of float64, however the sums
// are grouped.
func TestNormMatchesAnExactSum(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 3))
	for n := 0; n <= 70; n++ {
		for _, scale := range []float64{1e-42, 1e-20, 1, 1e19, 1e37} {
			a := make([]float32, n)
			exact := new(big.Float).SetPrec(2000)
			for i := range a {
				a[i] = float32(r.NormFloat64() * scale)
				x := new(big.Float).SetPrec(2000).SetFloat64(float64(a[i]))
				exact.Add(exact, x.Mul(x, x))
			}
			sum, _ := exact.Float64()
			want := math.Sqrt(sum)
			got := Norm(a)
			if math.Abs(got-want) > 2*ulp(want) {
				t.Fatalf("n %d, scale %g: Norm = %v, want %v", n, scale, got, want)
			}
			if s, ok := NormalizeBy(append([]float32(nil), a...), got); n > 0 && want > 0 && (!ok || math.Abs(math.Sqrt(s)-1) > 1e-6) {
				t.Fatalf("n %d, scale %g: NormalizeBy's sum of squares %v, ok %v", n, scale, s, ok)
			}
		}
	}
}

func ulp(x float64) float64 { return math.Nextafter(x, math.Inf(1)) - x }
