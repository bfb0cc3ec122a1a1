package main

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	hardnegv1 "github.com/hardneg/hardneg/gen/go/hardneg/v1"
	"github.com/hardneg/hardneg/internal/engine"
	"github.com/hardneg/hardneg/internal/mining"
	"github.com/hardneg/hardneg/internal/validate"
)

// randomPolicyPB sets every field of a MiningPolicy, found through its descriptor, to a
// random non-default value, so that a field added to the proto takes part without
// being named here.
func randomPolicyPB(t *testing.T, r *rand.Rand) *hardnegv1.MiningPolicy {
	pb := &hardnegv1.MiningPolicy{}
	randomFill(t, r, pb.ProtoReflect())
	return pb
}

// randomFill sets every field of m, and of the messages it holds, to a random
// non-default value.
func randomFill(t *testing.T, r *rand.Rand, m protoreflect.Message) {
	fields := m.Descriptor().Fields()
	for i := range fields.Len() {
		fd := fields.Get(i)
		var v protoreflect.Value
		switch fd.Kind() {
		case protoreflect.StringKind:
			v = protoreflect.ValueOfString("s" + strconv.Itoa(r.IntN(1000)))
		case protoreflect.BoolKind:
			v = protoreflect.ValueOfBool(r.IntN(2) == 0)
		case protoreflect.FloatKind:
			v = protoreflect.ValueOfFloat32(0.01 + 0.9*r.Float32())
		case protoreflect.Uint32Kind:
			v = protoreflect.ValueOfUint32(1 + r.Uint32N(1000))
		case protoreflect.Int64Kind:
			v = protoreflect.ValueOfInt64(1 + r.Int64N(1<<40))
		case protoreflect.Uint64Kind:
			v = protoreflect.ValueOfUint64(1 + r.Uint64N(math.MaxUint64-1))
		case protoreflect.EnumKind:
			vals := fd.Enum().Values()
			v = protoreflect.ValueOfEnum(vals.Get(1 + r.IntN(vals.Len()-1)).Number())
		case protoreflect.MessageKind:
			v = m.NewField(fd)
			randomFill(t, r, v.Message())
		default:
			t.Fatalf("field %s has kind %s: teach randomPolicyPB and fromPolicy about it", fd.Name(), fd.Kind())
		}
		m.Set(fd, v)
	}
}

// TestFromPolicyCarriesEveryField converts random policies that set every field of
// MiningPolicy and converts them back: a field that fromPolicy drops (or that this
// test's inverse does not know) fails the round trip.
func TestFromPolicyCarriesEveryField(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for range 200 {
		pb := randomPolicyPB(t, r)
		p, err := fromPolicy(pb)
		if err != nil {
			t.Fatalf("fromPolicy(%v): %v", pb, err)
		}
		if back := policyPB(p); !proto.Equal(back, pb) {
			t.Fatalf("round trip lost a field:\n sent %v\n back %v", pb, back)
		}
	}
	// Every field unset gives the default policy.
	for _, pb := range []*hardnegv1.MiningPolicy{nil, {}} {
		p, err := fromPolicy(pb)
		if err != nil {
			t.Fatal(err)
		}
		if back, want := policyPB(p), policyPB(mining.DefaultPolicy()); !proto.Equal(back, want) {
			t.Errorf("empty policy %v, want the default %v", back, want)
		}
	}
}

// TestFateToPBCoversEveryFate checks that every mining fate has its own CandidateFate
// and every CandidateFate but UNSPECIFIED comes from a fate of the same name.
func TestFateToPBCoversEveryFate(t *testing.T) {
	seen := map[hardnegv1.CandidateFate]bool{}
	for _, f := range mining.Fates() {
		pb, ok := fateToPB[f]
		if !ok {
			t.Fatalf("fate %s has no CandidateFate", f)
		}
		if want := "CANDIDATE_FATE_" + strings.ToUpper(f.String()); pb.String() != want {
			t.Errorf("fate %s maps to %s, want %s", f, pb, want)
		}
		seen[pb] = true
	}
	vals := hardnegv1.CandidateFate(0).Descriptor().Values()
	for i := range vals.Len() {
		v := hardnegv1.CandidateFate(vals.Get(i).Number())
		if v != hardnegv1.CandidateFate_CANDIDATE_FATE_UNSPECIFIED && !seen[v] {
			t.Errorf("%s comes from no mining fate", v)
		}
	}
}

// rowsOf turns a columnar response back into rows: the reading a client does, written
// independently of toColumns so that the round trip checks it.
func rowsOf(t *testing.T, cols *hardnegv1.MineColumns, extras []*hardnegv1.AnchorResult, includeVectors bool) []*hardnegv1.AnchorResult {
	t.Helper()
	u32 := func(b []byte, i int) uint32 { return binary.LittleEndian.Uint32(b[4*i:]) }
	f32 := func(b []byte, i int) float32 { return math.Float32frombits(u32(b, i)) }
	opt := func(b []byte, i int) *float32 {
		if v := f32(b, i); !math.IsNaN(float64(v)) {
			return &v
		}
		return nil
	}
	n := len(cols.Counts) / 4
	rc := (&hardnegv1.RuleCounts{}).ProtoReflect()
	byNumber := rc.Descriptor().Fields()
	if int(cols.Rules) != byNumber.Len() {
		t.Fatalf("columns.rules = %d, RuleCounts has %d fields", cols.Rules, byNumber.Len())
	}
	out := make([]*hardnegv1.AnchorResult, n)
	neg, unk := 0, 0
	var dim int
	if total := len(cols.Ids); includeVectors && total > 0 {
		dim = len(cols.NegativeVectors) / 4 / total
	}
	for i := range n {
		r := &hardnegv1.AnchorResult{
			PositiveScore:      opt(cols.PositiveScores, i),
			CandidatesExamined: binary.LittleEndian.Uint64(cols.CandidatesExamined[8*i:]),
			Shortfall:          u32(cols.Shortfall, i),
			Widenings:          u32(cols.Widenings, i),
			ExactScan:          cols.ExactScan[i] == 1,
			MaxRank:            u32(cols.MaxRank, i),
			FloorReached:       cols.FloorReached[i] == 1,
			DuplicateThreshold: opt(cols.DuplicateThreshold, i),
			GuidePositiveScore: opt(cols.GuidePositiveScores, i),
			RotationRestarted:  cols.RotationRestarted[i] == 1,
			RotationServed:     u32(cols.RotationServed, i),
			Hardness:           opt(cols.Hardness, i),
			BandShift:          u32(cols.BandShift, i),
			Removed:            &hardnegv1.RuleCounts{},
		}
		rm := r.Removed.ProtoReflect()
		for j := range int(cols.Rules) {
			// Field numbers 1 … rules, in order.
			fd := byNumber.ByNumber(protoreflect.FieldNumber(j + 1))
			rm.Set(fd, protoreflect.ValueOfUint64(uint64(u32(cols.Removed, i*int(cols.Rules)+j))))
		}
		for range u32(cols.UnknownPositiveCounts, i) {
			r.UnknownPositiveIds = append(r.UnknownPositiveIds, cols.UnknownPositiveIds[unk])
			unk++
		}
		for range u32(cols.Counts, i) {
			ng := &hardnegv1.Negative{Id: cols.Ids[neg], Score: f32(cols.Scores, neg), Rank: u32(cols.Ranks, neg), PFn: opt(cols.PFn, neg),
				Version: int64(binary.LittleEndian.Uint64(cols.Versions[8*neg:])), Stale: cols.Stale[neg] == 1}
			r.Negatives = append(r.Negatives, ng)
			if includeVectors {
				r.NegativeVectors = append(r.NegativeVectors, cols.NegativeVectors[4*dim*neg:4*dim*(neg+1)]...)
			}
			neg++
		}
		if extras != nil {
			x := extras[i]
			r.Explained, r.ExplainTruncated = x.Explained, x.ExplainTruncated
			r.Synthetic, r.SyntheticVectors, r.SyntheticShortfall = x.Synthetic, x.SyntheticVectors, x.SyntheticShortfall
		}
		out[i] = r
	}
	if neg != len(cols.Ids) || unk != len(cols.UnknownPositiveIds) {
		t.Fatalf("columns hold %d negatives and %d unknown positives; counts say %d and %d", len(cols.Ids), len(cols.UnknownPositiveIds), neg, unk)
	}
	return out
}

// TestColumnsHoldWhatRowsHold converts results that set every field of AnchorResult
// (checked through its descriptor, so a new field fails here until it has a value below)
// both ways, and checks that the columns read back into exactly the rows.
func TestColumnsHoldWhatRowsHold(t *testing.T) {
	full := mining.Result{
		Negatives: []mining.Negative{
			{ID: "a", Score: 0.9, Rank: 1, Vector: []float32{1, 2}, PFN: 0.25, HasPFN: true, Version: 7, Stale: true},
			{ID: "b", Score: -0.5, Rank: 4, Vector: []float32{3, 4}, Version: -3},
		},
		PositiveScore: 0.95, HasPositiveScore: true,
		Examined: 1 << 33, Shortfall: 2, Widenings: 3, ExactScan: true,
		MaxRank: math.MaxInt, FloorReached: true,
		DuplicateThreshold: 0.97, HasDuplicateThreshold: true,
		GuidePositiveScore: 0.4, HasGuidePositiveScore: true,
		UnknownPositiveIDs: []string{"u1", "u2"},
		RotationRestarted:  true, RotationServed: 9,
		Explained:          []mining.Explained{{ID: "a", Score: 0.9, HasScore: true, Rank: 1, Fate: mining.FateReturned}, {ID: "c", Fate: mining.FateSameGroup}},
		ExplainTruncated:   true,
		Synthetic:          []mining.SyntheticNegative{{Kind: mining.SyntheticMixed, AID: "a", BID: "b", Coefficient: 0.3, Vector: []float32{5, 6}}},
		SyntheticShortfall: 1,
		Hardness:           0.6, BandShift: 5, HasHardness: true,
	}
	counts := reflect.ValueOf(&full.Removed).Elem()
	for i := range counts.NumField() {
		counts.Field(i).SetInt(int64(100 + i))
	}
	bare := mining.Result{MaxRank: 200, Shortfall: 4}
	bare.Removed.Margin = 3
	results := []mining.Result{full, bare, {Negatives: full.Negatives[1:], MaxRank: 10}}

	rows := make([]*hardnegv1.AnchorResult, len(results))
	for i := range results {
		rows[i] = toAnchorResult(&results[i], true)
	}
	// Every AnchorResult and RuleCounts field is set in the first row, with distinct
	// rule counts, so that a column written under the wrong field shows.
	var unset []string
	for _, m := range []protoreflect.Message{rows[0].ProtoReflect(), rows[0].Removed.ProtoReflect()} {
		fields := m.Descriptor().Fields()
		for i := range fields.Len() {
			if !m.Has(fields.Get(i)) {
				unset = append(unset, string(fields.Get(i).FullName()))
			}
		}
	}
	if len(unset) > 0 {
		t.Fatalf("the fixture leaves %v unset: give it a value so that its column is checked", unset)
	}
	for _, vectors := range []bool{true, false} {
		want := make([]*hardnegv1.AnchorResult, len(results))
		for i := range results {
			want[i] = toAnchorResult(&results[i], vectors)
		}
		cols, extras := toColumns(results, vectors, 2, false)
		got := rowsOf(t, cols, extras, vectors)
		for i := range want {
			if !proto.Equal(got[i], want[i]) {
				t.Errorf("include_vectors %v, anchor %d: columns read back as\n%v\nrows hold\n%v", vectors, i, got[i], want[i])
			}
		}
	}
	// Without explained candidates or synthetic negatives, a columnar response has no
	// rows at all.
	if _, extras := toColumns(results[1:], false, 2, false); extras != nil {
		t.Errorf("results without explain or synthetic negatives gave rows %v", extras)
	}
	// A request that asked for them gets a row per anchor even when no anchor has any.
	if cols, extras := toColumns(results[1:], false, 2, true); len(extras) != 2 || cols.Dim != 2 {
		t.Errorf("explain asked for, none found: %d rows, dim %d; want 2 rows, dim 2", len(extras), cols.Dim)
	}
}

// columnsOf puts rows into AnchorColumns the way the Python client does: a column only
// when some anchor sets the field, counts for the flattened ones.
func columnsOf(rows []*hardnegv1.Anchor, dim, gdim int) *hardnegv1.AnchorColumns {
	c := &hardnegv1.AnchorColumns{Count: uint32(len(rows))}
	u32 := func(dst []byte, v int) []byte { return binary.LittleEndian.AppendUint32(dst, uint32(v)) }
	var anyID, anyKey, anyVec, anyGuide, anyPos, anyExc, anyGrp, anyPV, anyGPV bool
	for _, a := range rows {
		anyID, anyKey = anyID || a.Id != "", anyKey || a.Key != ""
		anyVec, anyGuide = anyVec || len(a.Vector) > 0, anyGuide || len(a.GuideVector) > 0
		anyPos, anyExc, anyGrp = anyPos || len(a.PositiveIds) > 0, anyExc || len(a.ExcludeIds) > 0, anyGrp || len(a.Groups) > 0
		anyPV, anyGPV = anyPV || len(a.PositiveVectors) > 0, anyGPV || len(a.GuidePositiveVectors) > 0
	}
	for _, a := range rows {
		if anyID {
			c.Ids = append(c.Ids, a.Id)
		}
		if anyKey {
			c.Keys = append(c.Keys, a.Key)
		}
		if anyVec {
			c.Vectors = append(c.Vectors, a.Vector...)
		}
		if anyGuide {
			c.GuideVectors = append(c.GuideVectors, a.GuideVector...)
		}
		if anyPos {
			c.PositiveIds, c.PositiveIdCounts = append(c.PositiveIds, a.PositiveIds...), u32(c.PositiveIdCounts, len(a.PositiveIds))
		}
		if anyExc {
			c.ExcludeIds, c.ExcludeIdCounts = append(c.ExcludeIds, a.ExcludeIds...), u32(c.ExcludeIdCounts, len(a.ExcludeIds))
		}
		if anyGrp {
			c.Groups, c.GroupCounts = append(c.Groups, a.Groups...), u32(c.GroupCounts, len(a.Groups))
		}
		if anyPV {
			c.PositiveVectors = append(c.PositiveVectors, a.PositiveVectors...)
			c.PositiveVectorCounts = u32(c.PositiveVectorCounts, len(a.PositiveVectors)/(4*dim))
		}
		if anyGPV {
			c.GuidePositiveVectors = append(c.GuidePositiveVectors, a.GuidePositiveVectors...)
			c.GuidePositiveVectorCounts = u32(c.GuidePositiveVectorCounts, len(a.GuidePositiveVectors)/(4*gdim))
		}
	}
	return c
}

// Anchors sent in columns convert to exactly the mining anchors the same anchors in
// rows convert to, whichever fields each anchor sets (every field on, off, or set by
// some anchors only). Their values are then checked by mining, on those anchors.
func TestAnchorColumnsHoldWhatRowsHold(t *testing.T) {
	const dim, gdim = 3, 2
	r := rand.New(rand.NewPCG(5, 8))
	vec := func(d, n int) []byte {
		v := make([]float32, d*n)
		for i := range v {
			v[i] = float32(r.NormFloat64())
		}
		return encodeF32(nil, v)
	}
	ids := func(p string) []string {
		var out []string
		for j := range r.IntN(3) {
			out = append(out, fmt.Sprintf("%s%d", p, j))
		}
		return out
	}
	for trial := range 300 {
		n := 1 + r.IntN(6)
		// Each field is off for every anchor, on for every anchor, or on for some.
		mode := func() int { return r.IntN(3) }
		mID, mKey, mVec, mGuide, mPos, mExc, mGrp, mPV, mGPV := mode(), mode(), mode(), mode(), mode(), mode(), mode(), mode(), mode()
		on := func(m int) bool { return m == 1 || (m == 2 && r.IntN(2) == 0) }
		rows := make([]*hardnegv1.Anchor, n)
		for i := range rows {
			a := &hardnegv1.Anchor{}
			if on(mID) {
				a.Id = fmt.Sprintf("i%d", i)
			}
			if on(mKey) {
				a.Key = fmt.Sprintf("k%d", i)
			}
			if mVec == 1 || (mVec == 2 && a.Id != "") || a.Id == "" {
				a.Vector = vec(dim, 1)
			}
			if mGuide == 1 {
				a.GuideVector = vec(gdim, 1)
			}
			if on(mPos) {
				a.PositiveIds = ids("p")
			}
			if on(mExc) {
				a.ExcludeIds = ids("x")
			}
			if on(mGrp) {
				a.Groups = ids("g")
			}
			if on(mPV) {
				a.PositiveVectors = vec(dim, r.IntN(3))
			}
			if on(mGPV) {
				a.GuidePositiveVectors = vec(gdim, r.IntN(3))
			}
			rows[i] = a
		}
		// A vector column holds every anchor's vector or none.
		if mVec != 1 {
			for _, a := range rows {
				if len(a.Vector) == 0 {
					a.Vector = vec(dim, 1)
				}
			}
		}
		want, err := fromAnchors(rows, dim, gdim)
		if err != nil {
			t.Fatalf("trial %d: rows refused: %v", trial, err)
		}
		cut, err := requestAnchors(&hardnegv1.MineRequest{AnchorColumns: columnsOf(rows, dim, gdim)}, dim, gdim)
		if err != nil {
			t.Fatalf("trial %d: columns refused: %v", trial, err)
		}
		got, err := fromAnchors(cut, dim, gdim)
		if err != nil {
			t.Fatalf("trial %d: columns' anchors refused: %v", trial, err)
		}
		for i := range want {
			if !reflect.DeepEqual(normAnchor(got[i]), normAnchor(want[i])) {
				t.Fatalf("trial %d anchor %d:\n got %+v\nwant %+v", trial, i, got[i], want[i])
			}
		}
	}
}

// normAnchor makes empty and nil slices compare equal.
func normAnchor(a mining.Anchor) mining.Anchor {
	if len(a.PositiveIDs) == 0 {
		a.PositiveIDs = nil
	}
	if len(a.ExcludeIDs) == 0 {
		a.ExcludeIDs = nil
	}
	if len(a.Groups) == 0 {
		a.Groups = nil
	}
	return a
}

// A malformed column is refused naming it, before any anchor is looked at.
func TestAnchorColumnsShapeErrorsNameTheColumn(t *testing.T) {
	const dim = 2
	u32s := func(vs ...uint32) []byte {
		var b []byte
		for _, v := range vs {
			b = binary.LittleEndian.AppendUint32(b, v)
		}
		return b
	}
	vecs := func(n int) []byte { return make([]byte, 4*dim*n) }
	for _, tc := range []struct {
		name  string
		req   *hardnegv1.MineRequest
		field string
	}{
		{"both forms", &hardnegv1.MineRequest{Anchors: []*hardnegv1.Anchor{{Id: "a"}}, AnchorColumns: &hardnegv1.AnchorColumns{Count: 1, Ids: []string{"a"}}}, "anchor_columns"},
		{"no anchors", &hardnegv1.MineRequest{AnchorColumns: &hardnegv1.AnchorColumns{}}, "anchor_columns.count"},
		{"too many", &hardnegv1.MineRequest{AnchorColumns: &hardnegv1.AnchorColumns{Count: 1025}}, "anchor_columns.count"},
		{"ids short", &hardnegv1.MineRequest{AnchorColumns: &hardnegv1.AnchorColumns{Count: 2, Ids: []string{"a"}}}, "anchor_columns.ids"},
		{"keys long", &hardnegv1.MineRequest{AnchorColumns: &hardnegv1.AnchorColumns{Count: 1, Ids: []string{"a"}, Keys: []string{"k", "l"}}}, "anchor_columns.keys"},
		{"vectors short", &hardnegv1.MineRequest{AnchorColumns: &hardnegv1.AnchorColumns{Count: 2, Vectors: vecs(1)}}, "anchor_columns.vectors"},
		{"counts missing", &hardnegv1.MineRequest{AnchorColumns: &hardnegv1.AnchorColumns{Count: 1, Vectors: vecs(1), PositiveIds: []string{"p"}}}, "anchor_columns.positive_id_counts"},
		{"counts short", &hardnegv1.MineRequest{AnchorColumns: &hardnegv1.AnchorColumns{Count: 2, Vectors: vecs(2), ExcludeIds: []string{"x"}, ExcludeIdCounts: u32s(1)}}, "anchor_columns.exclude_id_counts"},
		{"counts sum", &hardnegv1.MineRequest{AnchorColumns: &hardnegv1.AnchorColumns{Count: 2, Vectors: vecs(2), Groups: []string{"g"}, GroupCounts: u32s(1, 1)}}, "anchor_columns.group_counts"},
		{"positive vectors ragged", &hardnegv1.MineRequest{AnchorColumns: &hardnegv1.AnchorColumns{Count: 1, Vectors: vecs(1), PositiveVectors: make([]byte, 4*dim+4), PositiveVectorCounts: u32s(1)}}, "anchor_columns.positive_vectors"},
		{"positive vector counts", &hardnegv1.MineRequest{AnchorColumns: &hardnegv1.AnchorColumns{Count: 1, Vectors: vecs(1), PositiveVectors: vecs(2), PositiveVectorCounts: u32s(1)}}, "anchor_columns.positive_vector_counts"},
		{"guide without a guide collection", &hardnegv1.MineRequest{AnchorColumns: &hardnegv1.AnchorColumns{Count: 1, Vectors: vecs(1), GuideVectors: vecs(1)}}, "anchor_columns.guide_vectors"},
		{"guide positive vectors without a guide collection", &hardnegv1.MineRequest{AnchorColumns: &hardnegv1.AnchorColumns{Count: 1, Vectors: vecs(1), GuidePositiveVectors: vecs(1), GuidePositiveVectorCounts: u32s(1)}}, "anchor_columns.guide_positive_vectors"},
		// Only the counts were sent: the error names them, not the empty column.
		{"guide positive vector counts without a guide collection", &hardnegv1.MineRequest{AnchorColumns: &hardnegv1.AnchorColumns{Count: 2, Vectors: vecs(2), GuidePositiveVectorCounts: u32s(0, 0)}}, "anchor_columns.guide_positive_vector_counts"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := requestAnchors(tc.req, dim, 0)
			var v *validate.Error
			if !errors.As(err, &v) || v.Violations[0].Field != tc.field {
				t.Fatalf("got %v, want a violation of %s", err, tc.field)
			}
		})
	}
}

func TestPolicyWarningsNameTheIgnoredFields(t *testing.T) {
	f := proto.Float32
	softmax, simans := hardnegv1.SamplingStrategy_SAMPLING_STRATEGY_SOFTMAX, hardnegv1.SamplingStrategy_SAMPLING_STRATEGY_SIMANS
	rescore := hardnegv1.StaleRule_STALE_RULE_RESCORE
	for _, tc := range []struct {
		name   string
		pol    *hardnegv1.MiningPolicy
		want   []string
		metric engine.Metric
	}{
		{"none", nil, nil, engine.Cosine},
		{"empty", &hardnegv1.MiningPolicy{}, nil, engine.Cosine},
		{"temperature with softmax", &hardnegv1.MiningPolicy{Sampling: softmax, Temperature: f(0.1)}, nil, engine.Cosine},
		{"temperature with top", &hardnegv1.MiningPolicy{Temperature: f(0.1)}, []string{"policy.temperature"}, engine.Cosine},
		{"simans with simans", &hardnegv1.MiningPolicy{Sampling: simans, SimansA: f(1), SimansB: f(0)}, nil, engine.Cosine},
		{"simans with softmax", &hardnegv1.MiningPolicy{Sampling: softmax, SimansA: f(1), SimansB: f(0)}, []string{"policy.simans_a", "policy.simans_b"}, engine.Cosine},
		{"near-duplicate fields, rules on", &hardnegv1.MiningPolicy{ExcludeNearDuplicates: proto.Bool(true), DuplicateThreshold: f(0.9), DuplicateMargin: f(0.1)}, nil, engine.Cosine},
		{"near-duplicate fields, rules off", &hardnegv1.MiningPolicy{ExcludeNearDuplicates: proto.Bool(false), DuplicateThreshold: f(0.9),
			DuplicateQuantile: f(0.99), DuplicateZscore: f(3), DuplicateMargin: f(0.1), PfnBudget: proto.Uint32(2)},
			[]string{"policy.duplicate_threshold", "policy.duplicate_quantile", "policy.duplicate_zscore", "policy.duplicate_margin"}, engine.Cosine},
		{"closed-loop depth with the loop", &hardnegv1.MiningPolicy{ClosedLoop: true, ClosedLoopDepth: 5}, nil, engine.Cosine},
		{"closed-loop depth alone", &hardnegv1.MiningPolicy{ClosedLoopDepth: 5}, []string{"policy.closed_loop_depth"}, engine.Cosine},
		{"rescore with a bound", &hardnegv1.MiningPolicy{StaleRule: rescore, MaxStaleness: proto.Int64(3)}, nil, engine.Cosine},
		{"skip without a bound", &hardnegv1.MiningPolicy{StaleRule: hardnegv1.StaleRule_STALE_RULE_SKIP}, nil, engine.Cosine},
		{"rescore without a bound", &hardnegv1.MiningPolicy{StaleRule: rescore}, []string{"policy.stale_rule"}, engine.Cosine},
		{"synthetic ranges with their counts", &hardnegv1.MiningPolicy{Synthetic: &hardnegv1.SyntheticPolicy{NumMixed: 2, AlphaMin: f(0.2), AlphaMax: f(0.8),
			NumQueryMixed: 1, BetaMin: f(0.1), BetaMax: f(0.3), Pool: 8}}, nil, engine.Cosine},
		{"synthetic ranges without their counts", &hardnegv1.MiningPolicy{Synthetic: &hardnegv1.SyntheticPolicy{NumQueryMixed: 1, AlphaMin: f(0.2), AlphaMax: f(0.8), BetaMax: f(0.3), Pool: 8}},
			[]string{"policy.synthetic.alpha_min", "policy.synthetic.alpha_max"}, engine.Cosine},
		{"synthetic fields without any count", &hardnegv1.MiningPolicy{Synthetic: &hardnegv1.SyntheticPolicy{BetaMin: f(0.1), Pool: 8}},
			[]string{"policy.synthetic.beta_min", "policy.synthetic.pool"}, engine.Cosine},
		{"guide collection with a guide rule", &hardnegv1.MiningPolicy{GuideCollection: "g", GuideMargin: f(0)}, nil, engine.Cosine},
		{"guide collection without a guide rule", &hardnegv1.MiningPolicy{GuideCollection: "g"}, []string{"policy.guide_collection"}, engine.Cosine},
		{"one budget field under cosine", &hardnegv1.MiningPolicy{PfnThreshold: f(0)}, nil, engine.Cosine},
		{"both budget fields under dot", &hardnegv1.MiningPolicy{PfnThreshold: f(0), PfnBudget: proto.Uint32(2)}, nil, engine.Dot},
		{"threshold alone under dot", &hardnegv1.MiningPolicy{PfnThreshold: f(0)}, []string{"policy.pfn_threshold"}, engine.Dot},
		{"budget alone under l2", &hardnegv1.MiningPolicy{PfnBudget: proto.Uint32(2)}, []string{"policy.pfn_budget"}, engine.L2},
	} {
		m := tc.metric
		var got []string
		for _, w := range policyWarnings(tc.pol, m) {
			got = append(got, strings.SplitN(w, ":", 2)[0])
		}
		if !slices.Equal(got, tc.want) {
			t.Errorf("%s: warnings name %q, want %q (%q)", tc.name, got, tc.want, policyWarnings(tc.pol, m))
		}
	}
}
