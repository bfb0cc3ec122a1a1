package vec

import (
	"flag"
	"fmt"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
)

// cpuFeature is a CPU feature with the kernels that must be tested where the CPU has it.
type cpuFeature struct {
	name    string
	present bool
	kernels []string // "family/name", as passed to markTested
}

// tested records which kernels the tests ran, as "family/name".
var tested = struct {
	sync.Mutex
	m map[string]bool
}{m: map[string]bool{}}

// markTested records that a test ran kernel name of family (dot, l2, manyq,
// manyq-exact, gemm).
func markTested(family, name string) {
	tested.Lock()
	tested.m[family+"/"+name] = true
	tested.Unlock()
}

// requireEnv names the kernels' features a CI machine declares it has, comma-separated
// (for example "avx2,avx512"): the tests then fail if the CPU lacks one, so a runner
// without them cannot pass while testing less.
const requireEnv = "HARDNEG_REQUIRE_KERNELS"

// TestMain runs the tests, then says which kernels they covered and fails when the
// CPU has a feature whose assembly kernels were not tested. The check runs only when
// every test ran (no -run or -skip filter).
func TestMain(m *testing.M) {
	flag.Parse()
	code := m.Run()
	if code == 0 && !filtered() {
		report, ok := kernelCoverage(cpuFeatures(), testedKernels(), os.Getenv(requireEnv))
		fmt.Println(report)
		if !ok {
			code = 1
		}
	}
	os.Exit(code)
}

func filtered() bool {
	for _, name := range []string{"test.run", "test.skip"} {
		if f := flag.Lookup(name); f != nil && f.Value.String() != "" {
			return true
		}
	}
	return false
}

func testedKernels() map[string]bool {
	tested.Lock()
	defer tested.Unlock()
	m := make(map[string]bool, len(tested.m))
	for k, v := range tested.m {
		m[k] = v
	}
	return m
}

// kernelCoverage describes which kernels ran against the CPU's features and reports
// whether that is all of them: every kernel of every present feature, and every
// feature named in require (comma-separated) present.
func kernelCoverage(features []cpuFeature, ran map[string]bool, require string) (string, bool) {
	var b strings.Builder
	ok := true
	names := make([]string, 0, len(ran))
	for k := range ran {
		names = append(names, k)
	}
	slices.Sort(names)
	fmt.Fprintf(&b, "vec: kernels tested: %s", strings.Join(names, " "))
	for _, f := range features {
		fmt.Fprintf(&b, "\nvec: CPU feature %s: %v", f.name, f.present)
		if !f.present {
			continue
		}
		for _, k := range f.kernels {
			if !ran[k] {
				fmt.Fprintf(&b, "\nvec: FAIL: the CPU has %s but kernel %s was not tested", f.name, k)
				ok = false
			}
		}
	}
	if len(features) == 0 {
		fmt.Fprintf(&b, "\nvec: no assembly kernels in this build (portable kernels only)")
	}
	for _, want := range strings.Split(require, ",") {
		want = strings.TrimSpace(want)
		if want == "" {
			continue
		}
		i := slices.IndexFunc(features, func(f cpuFeature) bool { return f.name == want })
		if i < 0 || !features[i].present {
			fmt.Fprintf(&b, "\nvec: FAIL: %s=%q requires %s, which this CPU or build lacks", requireEnv, require, want)
			ok = false
		}
	}
	return b.String(), ok
}

// TestKernelCoverageFailsOnUntestedFeature checks the coverage check itself: a present
// feature with an untested kernel fails, an absent one does not, and a required
// feature the CPU lacks fails.
func TestKernelCoverageFailsOnUntestedFeature(t *testing.T) {
	features := []cpuFeature{
		{"avx2", true, []string{"dot/avx2", "gemm/avx2"}},
		{"avx512", false, []string{"dot/avx512"}},
	}
	all := map[string]bool{"dot/generic": true, "dot/avx2": true, "gemm/avx2": true}
	if rep, ok := kernelCoverage(features, all, ""); !ok {
		t.Fatalf("complete coverage failed:\n%s", rep)
	}
	missing := map[string]bool{"dot/generic": true, "dot/avx2": true}
	rep, ok := kernelCoverage(features, missing, "")
	if ok || !strings.Contains(rep, "gemm/avx2 was not tested") {
		t.Fatalf("untested gemm/avx2 passed:\n%s", rep)
	}
	rep, ok = kernelCoverage(features, all, "avx2, avx512")
	if ok || !strings.Contains(rep, "requires avx512") {
		t.Fatalf("a required feature the CPU lacks passed:\n%s", rep)
	}
	if _, ok := kernelCoverage(features, all, "avx2"); !ok {
		t.Fatal("a required feature the CPU has failed")
	}
}
