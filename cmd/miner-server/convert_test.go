package main

import (
	"math"
	"math/rand/v2"
	"strconv"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	hardnegv1 "github.com/hardneg/hardneg/gen/go/hardneg/v1"
	"github.com/hardneg/hardneg/internal/mining"
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
