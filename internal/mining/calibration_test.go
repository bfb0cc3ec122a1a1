package mining

import (
	"math"
	"math/rand/v2"
	"slices"
	"strconv"
	"testing"

	"github.com/hardneg/hardneg/internal/engine"
)

// TestCalibrationRecordsWhatMiningSaw mines random anchors with a calibration and
// checks its statistics against the results: one s⁺ per anchor with a positive, and
// one candidate score (and positive similarity) per candidate that reached the score
// rules, at most 64 per anchor.
func TestCalibrationRecordsWhatMiningSaw(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 3))
	w := randomWorld(r, 400, 8, engine.Cosine)
	s := newCollection(t, w.cfg, w.batchCopy(), nil)
	cal := NewCalibration()
	var sPlus []float32
	var wantCand, wantPosSim uint64
	for range 20 {
		req := Request{Policy: DefaultPolicy(), Calibration: cal}
		req.Policy.NumNegatives = 1 + r.IntN(20)
		for range 1 + r.IntN(8) {
			a := Anchor{Vector: jitter(r, w.raw[r.IntN(len(w.raw))], 0.2)}
			if r.IntN(3) > 0 {
				a.PositiveIDs = []string{"i" + strconv.Itoa(r.IntN(len(w.raw)))}
			}
			req.Anchors = append(req.Anchors, a)
		}
		for i, res := range mineOK(t, s, req) {
			rm := res.Removed
			reached := uint64(min(calibrationPerAnchor, res.Examined-(rm.Self+rm.Positive+rm.Excluded+rm.InBatch+rm.Feedback+rm.SameGroup)))
			wantCand += reached
			if len(req.Anchors[i].PositiveIDs) > 0 {
				sPlus = append(sPlus, res.PositiveScore)
				wantPosSim += reached
			}
		}
	}
	st := cal.Stats()
	if st.PositiveScores.Count != uint64(len(sPlus)) || st.CandidateScores.Count != wantCand || st.PositiveSimilarities.Count != wantPosSim {
		t.Fatalf("counts %d/%d/%d, want %d/%d/%d", st.PositiveScores.Count, st.CandidateScores.Count, st.PositiveSimilarities.Count, len(sPlus), wantCand, wantPosSim)
	}
	var mean float64
	for _, v := range sPlus {
		mean += float64(v)
	}
	mean /= float64(len(sPlus))
	if math.Abs(st.PositiveScores.Mean-mean) > 1e-6 {
		t.Errorf("mean s⁺ %v, want %v", st.PositiveScores.Mean, mean)
	}
	// Fewer than 4,096 observations: the sample is all of them, quantiles are exact.
	slices.Sort(sPlus)
	for i, q := range CalibrationQuantiles {
		want := sPlus[max(0, int(math.Ceil(q*float64(len(sPlus))))-1)]
		if st.PositiveScores.Quantiles[i] != want {
			t.Errorf("s⁺ quantile %v = %v, want %v", q, st.PositiveScores.Quantiles[i], want)
		}
	}
}

// TestCalibratedDuplicateThreshold: a quantile or z-score threshold applies once the
// calibration has enough observations, and equals the quantile (or mean + z·std) of the
// positive similarities it reports; before that, the raw default applies.
func TestCalibratedDuplicateThreshold(t *testing.T) {
	r := rand.New(rand.NewPCG(4, 4))
	w := randomWorld(r, 300, 8, engine.Cosine)
	s := newCollection(t, w.cfg, w.batchCopy(), nil)
	cal := NewCalibration()
	anchor := func() Anchor {
		return Anchor{Vector: jitter(r, w.raw[r.IntN(len(w.raw))], 0.2), PositiveIDs: []string{"i" + strconv.Itoa(r.IntN(len(w.raw)))}}
	}
	pol := DefaultPolicy()
	pol.NumNegatives = 8
	pol.DuplicateQuantile = ptr(0.9)
	pol.DuplicateMargin = ptr(2) // the relative rule never triggers: the threshold is the quantile's
	first := mineOK(t, s, Request{Anchors: []Anchor{anchor()}, Policy: pol, Calibration: cal})[0]
	if !first.HasDuplicateThreshold || first.DuplicateThreshold != DefaultCosineDuplicateThreshold {
		t.Fatalf("uncalibrated: threshold %v (%v), want the default %v", first.DuplicateThreshold, first.HasDuplicateThreshold, DefaultCosineDuplicateThreshold)
	}
	for cal.Stats().PositiveSimilarities.Count < MinCalibrationSamples {
		req := Request{Policy: DefaultPolicy(), Calibration: cal}
		req.Policy.NumNegatives = 16
		for range 16 {
			req.Anchors = append(req.Anchors, anchor())
		}
		mineOK(t, s, req)
	}
	st := cal.Stats().PositiveSimilarities
	got := mineOK(t, s, Request{Anchors: []Anchor{anchor()}, Policy: pol})[0] // no calibration: raw
	if got.DuplicateThreshold != DefaultCosineDuplicateThreshold {
		t.Errorf("without a calibration: %v", got.DuplicateThreshold)
	}
	got = mineOK(t, s, Request{Anchors: []Anchor{anchor()}, Policy: pol, Calibration: cal})[0]
	if want := st.Quantiles[6]; CalibrationQuantiles[6] != 0.9 || got.DuplicateThreshold != want {
		t.Errorf("quantile 0.9: threshold %v, want %v", got.DuplicateThreshold, want)
	}
	pol.DuplicateQuantile, pol.DuplicateZScore = nil, ptr(1.5)
	st = cal.Stats().PositiveSimilarities
	got = mineOK(t, s, Request{Anchors: []Anchor{anchor()}, Policy: pol, Calibration: cal})[0]
	if want := float32(st.Mean + 1.5*st.Std); math.Abs(float64(got.DuplicateThreshold-want)) > 1e-6 {
		t.Errorf("z 1.5: threshold %v, want %v", got.DuplicateThreshold, want)
	}
	// Beyond the cosine range, the threshold is the range's end.
	for z, want := range map[float32]float32{-1e30: -1 - scoreSlack, 1e30: 1 + scoreSlack} {
		pol.DuplicateZScore = ptr(z)
		if got := mineOK(t, s, Request{Anchors: []Anchor{anchor()}, Policy: pol, Calibration: cal})[0]; got.DuplicateThreshold != want {
			t.Errorf("z %v: threshold %v, want %v", z, got.DuplicateThreshold, want)
		}
	}
	pol.NearDuplicates = false
	if got := mineOK(t, s, Request{Anchors: []Anchor{anchor()}, Policy: pol, Calibration: cal})[0]; got.HasDuplicateThreshold {
		t.Errorf("rule off, yet threshold %v", got.DuplicateThreshold)
	}
}

// TestCalibrationFollowsTheModel feeds scores of one model, then of another (as when a
// trainer re-encodes its items): the summary describes the most recent 4,096 scores,
// while Count and Sum cover all of them.
func TestCalibrationFollowsTheModel(t *testing.T) {
	cal := NewCalibration()
	var sum float64
	feed := func(n int, lo float32) {
		for i := range n / 64 {
			obs := anchorObservations{}
			for j := range 64 {
				v := lo + float32((i*64+j)%1000)/1000 // uniform on [lo, lo+1)
				obs.cand = append(obs.cand, v)
				sum += float64(v)
			}
			cal.record(&obs)
		}
	}
	feed(20_000, 0)
	st := cal.Stats().CandidateScores
	if st.Count != 19_968 || st.Window != calibrationSample || math.Abs(st.Mean-0.5) > 0.02 {
		t.Fatalf("first model: count %d window %d mean %v", st.Count, st.Window, st.Mean)
	}
	feed(6_400, 2)
	st = cal.Stats().CandidateScores
	if st.Count != 26_368 || math.Abs(st.Sum-sum) > 1e-6*sum {
		t.Errorf("count %d sum %v, want 26368, %v", st.Count, st.Sum, sum)
	}
	for i, q := range CalibrationQuantiles {
		if d := math.Abs(float64(st.Quantiles[i]) - (2 + q)); d > 0.03 {
			t.Errorf("after the second model: quantile %v = %v, want ≈ %v", q, st.Quantiles[i], 2+q)
		}
	}
	if math.Abs(st.Mean-2.5) > 0.02 || math.Abs(st.Std-math.Sqrt(1.0/12)) > 0.02 {
		t.Errorf("mean %v std %v, want ≈ 2.5, 0.289", st.Mean, st.Std)
	}
}
