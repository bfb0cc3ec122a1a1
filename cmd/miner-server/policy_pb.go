package main

import (
	"google.golang.org/protobuf/proto"

	hardnegv1 "github.com/hardneg/hardneg/gen/go/hardneg/v1"
	"github.com/hardneg/hardneg/internal/mining"
)

// policyPB is the inverse of fromPolicy: every field set explicitly, so that the
// inspector can show the server's value of each (see uiInfo), and the round-trip test
// can check fromPolicy field by field.
func policyPB(p mining.Policy) *hardnegv1.MiningPolicy {
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
		MinVersion:              p.MinVersion,
		MaxStaleness:            p.MaxStaleness,
		Rotate:                  p.Rotate,
		MaxExposures:            uint32(p.MaxExposures),
		Synthetic: &hardnegv1.SyntheticPolicy{
			NumMixed:      uint32(p.Synthetic.NumMixed),
			AlphaMin:      p.Synthetic.AlphaMin,
			AlphaMax:      p.Synthetic.AlphaMax,
			NumQueryMixed: uint32(p.Synthetic.NumQueryMixed),
			BetaMin:       p.Synthetic.BetaMin,
			BetaMax:       p.Synthetic.BetaMax,
			Pool:          uint32(p.Synthetic.Pool),
		},
		ClosedLoop:      p.ClosedLoop,
		ClosedLoopDepth: uint32(p.ClosedLoopDepth),
		PfnThreshold:    p.PFNThreshold,
	}
	if p.PFNBudget != nil {
		pb.PfnBudget = proto.Uint32(uint32(*p.PFNBudget))
	}
	for k, v := range staleRuleFromPB {
		if v == p.StaleRule && k != hardnegv1.StaleRule_STALE_RULE_UNSPECIFIED {
			pb.StaleRule = k
		}
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
