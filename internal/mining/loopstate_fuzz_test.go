package mining

import (
	"errors"
	"testing"
)

// FuzzDecodeLoopState: any bytes under a loop state file's name decode to a state or
// fail with ErrLoopState, never a panic or an allocation the input does not pay for;
// a state that decodes encodes to bytes that decode to the same state.
func FuzzDecodeLoopState(f *testing.F) {
	// Small seeds: the fuzzer's mutations of a busy state's ~20 KB crawl.
	small := LoopState{Exposure: NewExposure(4), Hardness: NewHardness(), Calibration: NewCalibration()}
	small.Exposure.record([]Result{{Negatives: []Negative{{ID: "a"}, {ID: "b"}}}})
	small.Exposure.rotate("k", false, []string{"a", "b"}, 0)
	small.Hardness.Report([]Outcome{{Key: "k", Solved: boolp(true)}})
	small.Calibration.record(&anchorObservations{hasPos: true, posScore: 0.5, cand: []float32{0.25}, posSim: []float32{0.75}})
	f.Add(small.Encode())
	f.Add(LoopState{Hardness: small.Hardness}.Encode())
	f.Add([]byte{})
	f.Add([]byte{loopStateFormat})
	f.Add([]byte{loopStateFormat, tagExposure, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f})
	f.Fuzz(func(t *testing.T, b []byte) {
		s, err := DecodeLoopState(b, 50)
		if err != nil {
			if !errors.Is(err, ErrLoopState) {
				t.Fatalf("err %v, want ErrLoopState", err)
			}
			return
		}
		again, err := DecodeLoopState(s.Encode(), 50)
		if err != nil {
			t.Fatalf("a decoded state does not decode after encoding: %v", err)
		}
		if canonical(again) != canonical(s) {
			t.Fatalf("re-encoding changed the state:\n%s\nvs\n%s", canonical(s), canonical(again))
		}
	})
}
