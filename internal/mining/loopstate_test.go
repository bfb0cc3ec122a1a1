package mining

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"reflect"
	"slices"
	"strings"
	"testing"
	"unsafe"
)

// busyLoopState returns trackers that went through rotation restarts, exposure
// windows, loss reports with a running mean, back-offs and a wrapped calibration ring.
func busyLoopState(seed uint64) LoopState {
	rng := rand.New(rand.NewPCG(seed, 1))
	s := LoopState{Exposure: NewExposure(50), Hardness: NewHardness(), Calibration: NewCalibration()}
	for i := range 40 {
		var res Result
		for j := range 3 {
			res.Negatives = append(res.Negatives, Negative{ID: fmt.Sprintf("item-%d", rng.IntN(30)+j)})
		}
		s.Exposure.record([]Result{res})
		s.Exposure.rotate(fmt.Sprintf("key-%d", i%7), i%11 == 0, negativeIDs(res.Negatives), 0)
	}
	for i := range 30 {
		key := fmt.Sprintf("key-%d", rng.IntN(9))
		if i%3 == 0 {
			s.Hardness.Report([]Outcome{{Key: key, Solved: boolp(rng.IntN(2) == 0)}})
		} else {
			s.Hardness.Report([]Outcome{{Key: key, Loss: ptr(rng.Float32())}})
		}
		if i%5 == 0 {
			s.Hardness.BackOff(key, 1)
		}
	}
	for range calibrationSample + 300 {
		obs := anchorObservations{hasPos: rng.IntN(2) == 0, posScore: rng.Float32(), cand: []float32{rng.Float32(), rng.Float32()}, posSim: []float32{rng.Float32()}}
		s.Calibration.record(&obs)
	}
	return s
}

// canonical describes every field of the trackers, maps in key order and the
// least-recently-used lists in their order.
func canonical(s LoopState) string {
	var w strings.Builder
	x := s.Exposure
	fmt.Fprintf(&w, "exposure %d %d %d\n", x.window, x.served, x.windows)
	for _, m := range []map[string]uint32{x.cur, x.prev} {
		for _, id := range slices.Sorted(maps.Keys(m)) {
			fmt.Fprintf(&w, "%s=%d ", id, m[id])
		}
		w.WriteString("\n")
	}
	for el := x.lru.Front(); el != nil; el = el.Next() {
		r := el.Value.(*rotation)
		fmt.Fprintf(&w, "rot %s %d %v %v\n", r.key, r.cycles, slices.Sorted(maps.Keys(r.served)), r.ids)
	}
	h := s.Hardness
	fmt.Fprintf(&w, "hardness %v %v\n", h.meanOK, h.meanLoss)
	for el := h.lru.Front(); el != nil; el = el.Next() {
		st := el.Value.(*hardnessState)
		fmt.Fprintf(&w, "h %s %v\n", st.key, st.h)
	}
	c := s.Calibration
	for _, st := range []*scoreStream{&c.pos, &c.cand, &c.posSim} {
		fmt.Fprintf(&w, "cal %d %v %d %v\n", st.n, st.sum, st.next, st.ring)
	}
	return w.String()
}

func TestLoopStateRoundTrip(t *testing.T) {
	for seed := range uint64(5) {
		s := busyLoopState(seed)
		enc := s.Encode()
		got, err := DecodeLoopState(enc, 50)
		if err != nil {
			t.Fatal(err)
		}
		if a, b := canonical(got), canonical(s); a != b {
			t.Fatalf("seed %d: decoded state differs:\n%s\nwant\n%s", seed, a, b)
		}
		if !reflect.DeepEqual(got.Exposure.Recent(), s.Exposure.Recent()) {
			t.Fatalf("seed %d: recent exposure counts differ", seed)
		}
		if a, b := got.Exposure.Stats(), s.Exposure.Stats(); a != b {
			t.Fatalf("seed %d: exposure stats %+v, want %+v", seed, a, b)
		}
		for k := range 9 {
			key := fmt.Sprintf("key-%d", k)
			sa, ca := got.Exposure.RotationState(key)
			sb, cb := s.Exposure.RotationState(key)
			if !reflect.DeepEqual(sa, sb) || ca != cb {
				t.Fatalf("seed %d: rotation of %s: %v/%d, want %v/%d", seed, key, sa, ca, sb, cb)
			}
			if a, b := got.Hardness.Of(key), s.Hardness.Of(key); a != b {
				t.Fatalf("seed %d: hardness of %s: %v, want %v", seed, key, a, b)
			}
		}
		if !reflect.DeepEqual(got.Calibration.Stats(), s.Calibration.Stats()) {
			t.Fatalf("seed %d: calibration differs", seed)
		}
		// The trackers go on as the saved ones would: the running mean loss, the
		// calibration ring's next slot and the exposure window continue.
		out := []Outcome{{Key: "key-1", Loss: ptr(0.5)}}
		if a, b := got.Hardness.Report(out), s.Hardness.Report(out); !reflect.DeepEqual(a, b) {
			t.Fatalf("seed %d: report after decoding gave %v, want %v", seed, a, b)
		}
		obs := anchorObservations{hasPos: true, posScore: 2, cand: []float32{3}, posSim: []float32{4}}
		got.Calibration.record(&obs)
		s.Calibration.record(&obs)
		res := []Result{{Negatives: []Negative{{ID: "item-1"}, {ID: "new"}}}}
		got.Exposure.record(res)
		s.Exposure.record(res)
		got.Exposure.rotate("key-2", false, []string{"new"}, 0)
		s.Exposure.rotate("key-2", false, []string{"new"}, 0)
		if a, b := canonical(got), canonical(s); a != b {
			t.Fatalf("seed %d: the trackers diverge after decoding", seed)
		}
	}
}

// A negative served to many keys is decoded into one string that they share, as the
// calls that built the state shared the collection's: decoded one by one, a soak's
// rotation state took 1.6 times the memory after a restart.
func TestLoopStateDecodesEachServedIDOnce(t *testing.T) {
	s := LoopState{Exposure: NewExposure(50), Hardness: NewHardness(), Calibration: NewCalibration()}
	for k := range 5 {
		s.Exposure.rotate(fmt.Sprintf("key-%d", k), false, []string{"shared-negative", fmt.Sprintf("own-%d", k)}, 0)
	}
	got, err := DecodeLoopState(s.Encode(), 50)
	if err != nil {
		t.Fatal(err)
	}
	var data []*byte
	for el := got.Exposure.lru.Front(); el != nil; el = el.Next() {
		for _, id := range el.Value.(*rotation).ids {
			if id == "shared-negative" {
				data = append(data, unsafe.StringData(id))
			}
		}
	}
	if len(data) != 5 {
		t.Fatalf("the shared negative decoded under %d keys, want 5", len(data))
	}
	for _, p := range data[1:] {
		if p != data[0] {
			t.Fatal("the keys hold separate copies of the same served id")
		}
	}
}

func TestLoopStateChangesFollowEveryMutation(t *testing.T) {
	s := LoopState{Exposure: NewExposure(0), Hardness: NewHardness(), Calibration: NewCalibration()}
	steps := []func(){
		func() { s.Exposure.record([]Result{{Negatives: []Negative{{ID: "a"}}}}) },
		func() { s.Exposure.rotate("k", false, []string{"a"}, 0) },
		func() { s.Exposure.tryServe("b", 5) },
		func() { s.Hardness.Report([]Outcome{{Key: "k", Solved: boolp(true)}}) },
		func() { s.Hardness.BackOff("k", 1) },
		func() { s.Calibration.record(&anchorObservations{cand: []float32{0.5}}) },
	}
	for i, step := range steps {
		before := s.Changes()
		step()
		if s.Changes() == before {
			t.Fatalf("step %d changed the state but not Changes()", i)
		}
	}
	before := s.Changes()
	s.Exposure.Recent()
	s.Exposure.RotationState("k")
	s.Hardness.Of("k")
	s.Calibration.Stats()
	if s.Changes() != before {
		t.Fatal("reads changed Changes()")
	}
}

func TestLoopStateDecodeRejectsDamage(t *testing.T) {
	enc := busyLoopState(7).Encode()
	// Section boundaries: a prefix ending at one is a valid state with fewer sections.
	bounds := map[int]bool{1: true}
	for off := 1; off < len(enc); {
		off += 1 + 8 + int(binary.LittleEndian.Uint64(enc[off+1:]))
		bounds[off] = true
	}
	for n := range len(enc) {
		_, err := DecodeLoopState(enc[:n], 50)
		if bounds[n] {
			if err != nil {
				t.Fatalf("prefix of %d bytes (a section boundary): %v", n, err)
			}
			continue
		}
		if !errors.Is(err, ErrLoopState) {
			t.Fatalf("prefix of %d of %d bytes: err %v, want ErrLoopState", n, len(enc), err)
		}
	}
	rng := rand.New(rand.NewPCG(3, 3))
	for range 2000 {
		b := bytes.Clone(enc)
		for range 1 + rng.IntN(4) {
			b[rng.IntN(len(b))] ^= byte(1 + rng.IntN(255))
		}
		if _, err := DecodeLoopState(b, 50); err != nil && !errors.Is(err, ErrLoopState) {
			t.Fatalf("damaged state: %v, want ErrLoopState", err)
		}
	}
}

func TestLoopStateHardnessOutOfRangeIsRefused(t *testing.T) {
	h := NewHardness()
	h.Report([]Outcome{{Key: "k", Solved: boolp(true)}})
	enc := LoopState{Hardness: h}.Encode()
	// The key's h is the last 8 bytes; 2.0 is outside [0, 1].
	copy(enc[len(enc)-8:], []byte{0, 0, 0, 0, 0, 0, 0, 0x40})
	if _, err := DecodeLoopState(enc, 0); !errors.Is(err, ErrLoopState) {
		t.Fatalf("err %v, want ErrLoopState", err)
	}
}

// BenchmarkLoopStateEncode encodes a large training run's state: 100,000 rotation and
// hardness keys with 32 negatives each in their cycle, 200,000 exposure counts.
func BenchmarkLoopStateEncode(b *testing.B) {
	s := LoopState{Exposure: NewExposure(0), Hardness: NewHardness(), Calibration: NewCalibration()}
	ids := make([]string, 32)
	for k := range 100000 {
		for j := range ids {
			ids[j] = fmt.Sprintf("doc-%07d", (k*7+j*13)%200000)
		}
		key := fmt.Sprintf("query-%06d", k)
		s.Exposure.rotate(key, false, ids, 0)
		s.Hardness.Report([]Outcome{{Key: key, Solved: boolp(k%2 == 0)}})
	}
	for i := range 200000 {
		s.Exposure.cur[fmt.Sprintf("doc-%07d", i)] = uint32(i % 5)
	}
	var n int
	b.ResetTimer()
	for range b.N {
		n = len(s.Encode())
	}
	b.ReportMetric(float64(n)/1e6, "MB")
}
