package main

import (
	"math"
	"math/rand/v2"
	"strconv"
	"testing"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	hardnegv1 "github.com/hardneg/hardneg/gen/go/hardneg/v1"
	"github.com/hardneg/hardneg/internal/mining"
)

// policyToPB is the inverse of fromPolicy for policies that set every field.
func policyToPB(p mining.Policy) *hardnegv1.MiningPolicy {
	pb := &hardnegv1.MiningPolicy{
		NumNegatives:            uint32(p.NumNegatives),
		ExcludeSameGroup:        proto.Bool(p.ExcludeSameGroup),
		DuplicateThreshold:      p.DuplicateThreshold,
		AbsoluteMargin:          p.AbsoluteMargin,
		RelativeMargin:          p.RelativeMargin,
		MinScore:                p.MinScore,
		MaxScore:                p.MaxScore,
		RangeMin:                uint32(p.RangeMin),
		RangeMax:                uint32(p.RangeMax),
		InBatchExclusion:        proto.Bool(p.InBatchExclusion),
		UseFeedback:             proto.Bool(p.UseFeedback),
		Temperature:             proto.Float32(p.Temperature),
		SimansA:                 proto.Float32(p.SimANSA),
		SimansB:                 proto.Float32(p.SimANSB),
		Seed:                    p.Seed,
		DiversityThreshold:      p.DiversityThreshold,
		Widen:                   proto.Bool(p.Widen),
		MaxCandidates:           uint32(p.MaxExamined),
		EfSearch:                uint32(p.Ef),
		ExcludeNearDuplicates:   proto.Bool(p.NearDuplicates),
		MaxRank:                 uint32(p.MaxRank),
		DuplicateQuantile:       p.DuplicateQuantile,
		DuplicateZscore:         p.DuplicateZScore,
		GuideCollection:         p.GuideCollection,
		GuideMargin:             p.GuideMargin,
		GuideDuplicateThreshold: p.GuideDuplicateThreshold,
		DuplicateMargin:         p.DuplicateMargin,
	}
	pb.RankMode = hardnegv1.RankMode_RANK_MODE_SURVIVING
	if p.RankMode == mining.RankRaw {
		pb.RankMode = hardnegv1.RankMode_RANK_MODE_RAW
	}
	for k, v := range samplingFromPB {
		if v == p.Sampling && k != hardnegv1.SamplingStrategy_SAMPLING_STRATEGY_UNSPECIFIED {
			pb.Sampling = k
		}
	}
	return pb
}

// randomPolicyPB sets every field of a MiningPolicy, found through its descriptor, to a
// random non-default value, so that a field added to the proto takes part without
// being named here.
func randomPolicyPB(t *testing.T, r *rand.Rand) *hardnegv1.MiningPolicy {
	pb := &hardnegv1.MiningPolicy{}
	m := pb.ProtoReflect()
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
		case protoreflect.Uint64Kind:
			v = protoreflect.ValueOfUint64(1 + r.Uint64N(math.MaxUint64-1))
		case protoreflect.EnumKind:
			vals := fd.Enum().Values()
			v = protoreflect.ValueOfEnum(vals.Get(1 + r.IntN(vals.Len()-1)).Number())
		default:
			t.Fatalf("field %s has kind %s: teach randomPolicyPB and fromPolicy about it", fd.Name(), fd.Kind())
		}
		m.Set(fd, v)
	}
	return pb
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
		if back := policyToPB(p); !proto.Equal(back, pb) {
			t.Fatalf("round trip lost a field:\n sent %v\n back %v", pb, back)
		}
	}
	// Every field unset gives the default policy.
	for _, pb := range []*hardnegv1.MiningPolicy{nil, {}} {
		p, err := fromPolicy(pb)
		if err != nil {
			t.Fatal(err)
		}
		if back, want := policyToPB(p), policyToPB(mining.DefaultPolicy()); !proto.Equal(back, want) {
			t.Errorf("empty policy %v, want the default %v", back, want)
		}
	}
}
