package main

import (
	"encoding/binary"
	"fmt"
	"math"

	hardnegv1 "github.com/hardneg/hardneg/gen/go/hardneg/v1"
	"github.com/hardneg/hardneg/internal/binfmt"
	"github.com/hardneg/hardneg/internal/engine"
	"github.com/hardneg/hardneg/internal/mining"
	"github.com/hardneg/hardneg/internal/validate"
	"google.golang.org/protobuf/proto"
)

// decodeF32 decodes little-endian float32 bytes.
func decodeF32(b []byte) []float32 { return binfmt.DecodeFloats(b) }

// encodeF32 appends vs as little-endian float32 bytes to dst.
func encodeF32(dst []byte, vs []float32) []byte { return binfmt.AppendFloats(dst, vs) }

// fromItemBatch converts an ItemBatch for a collection of dimension dim. field is the
// batch's path in the request.
func fromItemBatch(pb *hardnegv1.ItemBatch, dim int, field string) (*engine.Batch, error) {
	b := &engine.Batch{}
	if pb == nil {
		return b, nil
	}
	var e validate.Error
	if len(pb.Ids) > 0 && int(pb.Dim) != dim {
		e.Add(field+".dim", "is %d; the collection's dimension is %d", pb.Dim, dim)
	}
	if len(pb.Vectors)%4 != 0 {
		e.Add(field+".vectors", "holds %d bytes, which is not a whole number of float32 values (4 bytes each)", len(pb.Vectors))
	}
	if err := e.Err(); err != nil {
		return nil, err
	}
	b.IDs = pb.Ids
	// The message was decoded from a buffer of its own (the gRPC codec copies bytes
	// fields out of the pooled receive buffer), so the batch takes its vectors over
	// instead of copying several megabytes a batch.
	b.Vectors = binfmt.TakeFloats(pb.Vectors)
	if len(pb.Groups) > 0 {
		b.Groups = make([][]string, len(pb.Groups))
		for i, g := range pb.Groups {
			b.Groups[i] = g.GetGroups()
		}
	}
	if len(pb.Versions) > 0 {
		b.Versions = pb.Versions
	}
	return b, nil
}

// floatCount describes a length of float32 bytes in floats: "has 100 floats", or the
// bytes when they are not a whole number of floats.
func floatCount(bytes int) string {
	if bytes%4 != 0 {
		return fmt.Sprintf("holds %d bytes, which is not a whole number of float32 values (4 bytes each)", bytes)
	}
	if bytes == 4 {
		return "has 1 float"
	}
	return fmt.Sprintf("has %d floats", bytes/4)
}

// toItemBatch converts stored items to an ItemBatch.
func toItemBatch(items []engine.Item, dim int, withVectors bool) *hardnegv1.ItemBatch {
	pb := &hardnegv1.ItemBatch{Dim: uint32(dim)}
	anyGroups, anyVersions := false, false
	for _, it := range items {
		anyGroups = anyGroups || len(it.Groups) > 0
		anyVersions = anyVersions || it.Version != 0
	}
	if withVectors {
		pb.Vectors = make([]byte, 0, len(items)*dim*4)
	}
	for _, it := range items {
		pb.Ids = append(pb.Ids, it.ID)
		if withVectors {
			pb.Vectors = encodeF32(pb.Vectors, it.Vector)
		}
		if anyGroups {
			pb.Groups = append(pb.Groups, &hardnegv1.GroupList{Groups: it.Groups})
		}
		if anyVersions {
			pb.Versions = append(pb.Versions, it.Version)
		}
	}
	return pb
}

var metricFromPB = map[hardnegv1.Metric]engine.Metric{
	hardnegv1.Metric_METRIC_COSINE: engine.Cosine,
	hardnegv1.Metric_METRIC_DOT:    engine.Dot,
	hardnegv1.Metric_METRIC_L2:     engine.L2,
}

var metricToPB = map[engine.Metric]hardnegv1.Metric{
	engine.Cosine: hardnegv1.Metric_METRIC_COSINE,
	engine.Dot:    hardnegv1.Metric_METRIC_DOT,
	engine.L2:     hardnegv1.Metric_METRIC_L2,
}

var quantizationToPB = map[engine.Quantization]hardnegv1.Quantization{
	engine.QuantizationUnspecified: hardnegv1.Quantization_QUANTIZATION_UNSPECIFIED,
	engine.QuantizationNone:        hardnegv1.Quantization_QUANTIZATION_NONE,
	engine.QuantizationInt8:        hardnegv1.Quantization_QUANTIZATION_INT8,
}

// quantizationFromPB maps the API's quantization to the engine's; a value this server
// does not know maps to one that engine.Config.Validate rejects, naming the field.
func quantizationFromPB(q hardnegv1.Quantization) engine.Quantization {
	for e, p := range quantizationToPB {
		if p == q {
			return e
		}
	}
	return engine.Quantization(-1)
}

// toCollection describes a collection.
func toCollection(c engine.Collection) *hardnegv1.Collection {
	p := c.Params()
	st := c.Stats()
	return &hardnegv1.Collection{
		Name:      c.Name(),
		Dim:       uint32(c.Dim()),
		Metric:    metricToPB[c.Metric()],
		Ephemeral: c.Config().Ephemeral,
		IndexParams: &hardnegv1.IndexParams{
			M:              uint32(p.M),
			EfConstruction: uint32(p.EfConstruction),
			EfSearch:       uint32(p.EfSearch),
			ExactThreshold: uint32(p.ExactThreshold),
			Quantization:   quantizationToPB[p.Quantization],
		},
		Stats: &hardnegv1.CollectionStats{
			ItemCount:           uint64(st.Items),
			TombstoneCount:      uint64(st.Tombstones),
			LastAppliedSequence: st.LastSequence,
			VectorBytes:         uint64(st.VectorBytes),
			GraphSearch:         st.GraphSearch,
			FirstPassLead:       uint32(st.FirstPassLead),
			LeadRecall:          st.LeadRecall,
		},
	}
}

var samplingFromPB = map[hardnegv1.SamplingStrategy]mining.Sampling{
	hardnegv1.SamplingStrategy_SAMPLING_STRATEGY_UNSPECIFIED:  mining.SampleTop,
	hardnegv1.SamplingStrategy_SAMPLING_STRATEGY_TOP:          mining.SampleTop,
	hardnegv1.SamplingStrategy_SAMPLING_STRATEGY_UNIFORM:      mining.SampleUniform,
	hardnegv1.SamplingStrategy_SAMPLING_STRATEGY_SOFTMAX:      mining.SampleSoftmax,
	hardnegv1.SamplingStrategy_SAMPLING_STRATEGY_SIMANS:       mining.SampleSimANS,
	hardnegv1.SamplingStrategy_SAMPLING_STRATEGY_TOP1_SAMPLED: mining.SampleTop1Sampled,
}

var staleRuleFromPB = map[hardnegv1.StaleRule]mining.StaleRule{
	hardnegv1.StaleRule_STALE_RULE_UNSPECIFIED: mining.StaleSkip,
	hardnegv1.StaleRule_STALE_RULE_SKIP:        mining.StaleSkip,
	hardnegv1.StaleRule_STALE_RULE_RESCORE:     mining.StaleRescore,
}

// fromPolicy converts a MiningPolicy, filling unset fields from mining.DefaultPolicy.
func fromPolicy(pb *hardnegv1.MiningPolicy) (mining.Policy, error) {
	p := mining.DefaultPolicy()
	if pb == nil {
		return p, nil
	}
	var e validate.Error
	if pb.NumNegatives != 0 {
		p.NumNegatives = int(pb.NumNegatives)
	}
	if pb.ExcludeSameGroup != nil {
		p.ExcludeSameGroup = *pb.ExcludeSameGroup
	}
	optF := func(field string, v *float32) *float32 {
		if v != nil && (math.IsNaN(float64(*v)) || math.IsInf(float64(*v), 0)) {
			e.Add("policy."+field, "must be finite")
			return nil
		}
		return v
	}
	p.DuplicateThreshold = optF("duplicate_threshold", pb.DuplicateThreshold)
	p.AbsoluteMargin = optF("absolute_margin", pb.AbsoluteMargin)
	p.RelativeMargin = optF("relative_margin", pb.RelativeMargin)
	p.MinScore = optF("min_score", pb.MinScore)
	p.MaxScore = optF("max_score", pb.MaxScore)
	p.DiversityThreshold = optF("diversity_threshold", pb.DiversityThreshold)
	p.RangeMin = int(pb.RangeMin)
	p.RangeMax = int(pb.RangeMax)
	switch pb.RankMode {
	case hardnegv1.RankMode_RANK_MODE_UNSPECIFIED, hardnegv1.RankMode_RANK_MODE_SURVIVING:
		p.RankMode = mining.RankSurviving
	case hardnegv1.RankMode_RANK_MODE_RAW:
		p.RankMode = mining.RankRaw
	default:
		e.Add("policy.rank_mode", "unknown rank mode %d", pb.RankMode)
	}
	if pb.InBatchExclusion != nil {
		p.InBatchExclusion = *pb.InBatchExclusion
	}
	if pb.UseFeedback != nil {
		p.UseFeedback = *pb.UseFeedback
	}
	if s, ok := samplingFromPB[pb.Sampling]; ok {
		p.Sampling = s
	} else {
		e.Add("policy.sampling", "unknown sampling strategy %d", pb.Sampling)
	}
	if v := optF("temperature", pb.Temperature); v != nil {
		p.Temperature = *v
	}
	if v := optF("simans_a", pb.SimansA); v != nil {
		p.SimANSA = *v
	}
	if v := optF("simans_b", pb.SimansB); v != nil {
		p.SimANSB = *v
	}
	p.Seed = pb.Seed
	if pb.Widen != nil {
		p.Widen = *pb.Widen
	}
	if pb.MaxCandidates != 0 {
		p.MaxExamined = int(pb.MaxCandidates)
	}
	p.Ef = int(pb.EfSearch)
	if pb.ExcludeNearDuplicates != nil {
		p.NearDuplicates = *pb.ExcludeNearDuplicates
	}
	p.MaxRank = int(pb.MaxRank)
	p.DuplicateQuantile = optF("duplicate_quantile", pb.DuplicateQuantile)
	p.DuplicateZScore = optF("duplicate_zscore", pb.DuplicateZscore)
	p.DuplicateMargin = optF("duplicate_margin", pb.DuplicateMargin)
	p.GuideCollection = pb.GuideCollection
	p.GuideMargin = optF("guide_margin", pb.GuideMargin)
	p.GuideDuplicateThreshold = optF("guide_duplicate_threshold", pb.GuideDuplicateThreshold)
	p.Rotate = pb.Rotate
	p.MaxExposures = int(pb.MaxExposures)
	p.PFNThreshold = optF("pfn_threshold", pb.PfnThreshold)
	if pb.PfnBudget != nil {
		b := int(min(uint64(*pb.PfnBudget), math.MaxInt)) // as sent (a 32-bit int keeps what fits)
		p.PFNBudget = &b
	}
	p.MinVersion = pb.MinVersion
	p.MaxStaleness = pb.MaxStaleness
	if r, ok := staleRuleFromPB[pb.StaleRule]; ok {
		p.StaleRule = r
	} else {
		e.Add("policy.stale_rule", "unknown stale rule %d", pb.StaleRule)
	}
	if sy := pb.Synthetic; sy != nil {
		p.Synthetic = mining.Synthetic{
			NumMixed:      int(sy.NumMixed),
			AlphaMin:      optF("synthetic.alpha_min", sy.AlphaMin),
			AlphaMax:      optF("synthetic.alpha_max", sy.AlphaMax),
			NumQueryMixed: int(sy.NumQueryMixed),
			BetaMin:       optF("synthetic.beta_min", sy.BetaMin),
			BetaMax:       optF("synthetic.beta_max", sy.BetaMax),
			Pool:          int(sy.Pool),
		}
	}
	p.ClosedLoop = pb.ClosedLoop
	p.ClosedLoopDepth = int(pb.ClosedLoopDepth)
	return p, e.Err()
}

// fromAnchors converts the anchors of a request for a collection of dimension dim and a
// guide collection of dimension gdim (0: none).
func fromAnchors(pbs []*hardnegv1.Anchor, dim, gdim int) ([]mining.Anchor, error) {
	var e validate.Error
	out := make([]mining.Anchor, len(pbs))
	for i, pb := range pbs {
		f := fmt.Sprintf("anchors[%d]", i)
		a := mining.Anchor{ID: pb.Id, Key: pb.Key, PositiveIDs: pb.PositiveIds, ExcludeIDs: pb.ExcludeIds, Groups: pb.Groups}
		if len(pb.Vector) > 0 {
			if len(pb.Vector) != 4*dim {
				e.Add(f+".vector", "%s; the collection's dimension is %d", floatCount(len(pb.Vector)), dim)
			} else {
				a.Vector = decodeF32(pb.Vector)
			}
		}
		if n := len(pb.PositiveVectors); n > 0 {
			if n%(4*dim) != 0 {
				e.Add(f+".positive_vectors", "%s, not a whole number of vectors of the collection's dimension %d", floatCount(n), dim)
			} else {
				all := decodeF32(pb.PositiveVectors)
				for j := 0; j < len(all); j += dim {
					a.PositiveVectors = append(a.PositiveVectors, all[j:j+dim:j+dim])
				}
			}
		}
		if len(pb.GuideVector) > 0 || len(pb.GuidePositiveVectors) > 0 {
			if gdim == 0 {
				field := ".guide_vector"
				if len(pb.GuideVector) == 0 {
					field = ".guide_positive_vectors"
				}
				e.Add(f+field, "guide vectors need policy.guide_collection")
			} else {
				if n := len(pb.GuideVector); n > 0 {
					if n != 4*gdim {
						e.Add(f+".guide_vector", "is %d bytes; the guide dimension %d needs %d", n, gdim, 4*gdim)
					} else {
						a.GuideVector = decodeF32(pb.GuideVector)
					}
				}
				if n := len(pb.GuidePositiveVectors); n > 0 {
					if n%(4*gdim) != 0 {
						e.Add(f+".guide_positive_vectors", "is %d bytes, not a whole number of %d-dimensional float32 vectors", n, gdim)
					} else {
						all := decodeF32(pb.GuidePositiveVectors)
						for j := 0; j < len(all); j += gdim {
							a.GuidePositiveVectors = append(a.GuidePositiveVectors, all[j:j+gdim:j+gdim])
						}
					}
				}
			}
		}
		out[i] = a
	}
	return out, e.Err()
}

// requestAnchors returns a Mine request's anchors: req.anchors, or req.anchor_columns
// cut into one Anchor per anchor (the Anchors share the columns' memory). Errors in the
// columns' shape name the column; fromAnchors then checks each anchor's values as it
// does for rows, naming it anchors[i].
func requestAnchors(req *hardnegv1.MineRequest, dim, gdim int) ([]*hardnegv1.Anchor, error) {
	c := req.AnchorColumns
	var e validate.Error
	if c == nil && len(req.Anchors) == 0 {
		// "got 0" as before: clients read it as a server that saw no anchors.
		e.Add("anchors", "must hold 1–%d anchors, got 0 (send them as anchors, one message each, or as anchor_columns)", mining.MaxAnchors)
		return nil, e.Err()
	}
	if c == nil {
		return req.Anchors, nil
	}
	if len(req.Anchors) > 0 {
		e.Add("anchor_columns", "set anchors or anchor_columns, not both (anchors has %d)", len(req.Anchors))
		return nil, e.Err()
	}
	n := int(c.Count)
	if n < 1 || n > mining.MaxAnchors {
		e.Add("anchor_columns.count", "must be 1–%d, got %d", mining.MaxAnchors, c.Count)
		return nil, e.Err()
	}
	out := make([]*hardnegv1.Anchor, n)
	for i := range out {
		out[i] = &hardnegv1.Anchor{}
	}
	perAnchor := func(field string, got int) bool {
		if got != 0 && got != n {
			e.Add("anchor_columns."+field, "has %d entries for %d anchors: give one per anchor or none", got, n)
			return false
		}
		return got == n
	}
	if perAnchor("ids", len(c.Ids)) {
		for i, a := range out {
			a.Id = c.Ids[i]
		}
	}
	if perAnchor("keys", len(c.Keys)) {
		for i, a := range out {
			a.Key = c.Keys[i]
		}
	}
	// rows cuts a column of one fixed-size value per anchor (a vector of width dims).
	rows := func(field string, b []byte, dims int, what string, set func(a *hardnegv1.Anchor, v []byte)) {
		if len(b) == 0 {
			return
		}
		if dims == 0 {
			e.Add("anchor_columns."+field, "guide vectors need policy.guide_collection")
			return
		}
		if len(b) != n*4*dims {
			if len(b)%(4*n) == 0 {
				e.Add("anchor_columns."+field, "has %d floats per anchor (%d anchors); the %s dimension is %d", len(b)/(4*n), n, what, dims)
			} else {
				e.Add("anchor_columns."+field, "%s, not %d anchors × the %s dimension %d", floatCount(len(b)), n, what, dims)
			}
			return
		}
		for i, a := range out {
			set(a, b[i*4*dims:(i+1)*4*dims:(i+1)*4*dims])
		}
	}
	rows("vectors", c.Vectors, dim, "collection's", func(a *hardnegv1.Anchor, v []byte) { a.Vector = v })
	rows("guide_vectors", c.GuideVectors, gdim, "guide", func(a *hardnegv1.Anchor, v []byte) { a.GuideVector = v })
	// counts reads a column of n uint32 counts, which must sum to total (what the
	// flattened column holds, in units); nil when both are empty or the counts are bad.
	counts := func(field string, b []byte, total int, unit string) []int {
		if len(b) == 0 {
			if total != 0 {
				e.Add("anchor_columns."+field, "is empty, but %d %s need one count per anchor", total, unit)
			}
			return nil
		}
		if len(b) != 4*n {
			e.Add("anchor_columns."+field, "holds %d bytes; %d anchors need %d (one little-endian uint32 each)", len(b), n, 4*n)
			return nil
		}
		cs, sum := make([]int, n), 0
		for i := range cs {
			cs[i] = int(binary.LittleEndian.Uint32(b[4*i:]))
			sum += cs[i]
		}
		if sum != total {
			e.Add("anchor_columns."+field, "sum to %d, but the column holds %d %s", sum, total, unit)
			return nil
		}
		return cs
	}
	strs := func(list []string, countField string, cnt []byte, set func(a *hardnegv1.Anchor, v []string)) {
		cs := counts(countField, cnt, len(list), "ids")
		for i, at := 0, 0; cs != nil && i < n; i++ {
			set(out[i], list[at:at+cs[i]:at+cs[i]])
			at += cs[i]
		}
	}
	strs(c.PositiveIds, "positive_id_counts", c.PositiveIdCounts, func(a *hardnegv1.Anchor, v []string) { a.PositiveIds = v })
	strs(c.ExcludeIds, "exclude_id_counts", c.ExcludeIdCounts, func(a *hardnegv1.Anchor, v []string) { a.ExcludeIds = v })
	strs(c.Groups, "group_counts", c.GroupCounts, func(a *hardnegv1.Anchor, v []string) { a.Groups = v })
	vecs := func(field string, b []byte, dims int, countField string, cnt []byte, set func(a *hardnegv1.Anchor, v []byte)) {
		if len(b) == 0 && len(cnt) == 0 {
			return
		}
		if dims == 0 {
			if len(b) == 0 {
				field = countField // only the counts were sent: name the field that was set
			}
			e.Add("anchor_columns."+field, "guide vectors need policy.guide_collection")
			return
		}
		if len(b)%(4*dims) != 0 {
			e.Add("anchor_columns."+field, "%s, not a whole number of vectors of dimension %d", floatCount(len(b)), dims)
			return
		}
		cs := counts(countField, cnt, len(b)/(4*dims), "vectors")
		for i, at := 0, 0; cs != nil && i < n; i++ {
			end := at + cs[i]*4*dims
			set(out[i], b[at:end:end])
			at = end
		}
	}
	vecs("positive_vectors", c.PositiveVectors, dim, "positive_vector_counts", c.PositiveVectorCounts, func(a *hardnegv1.Anchor, v []byte) { a.PositiveVectors = v })
	vecs("guide_positive_vectors", c.GuidePositiveVectors, gdim, "guide_positive_vector_counts", c.GuidePositiveVectorCounts,
		func(a *hardnegv1.Anchor, v []byte) { a.GuidePositiveVectors = v })
	if err := e.Err(); err != nil {
		return nil, err
	}
	return out, nil
}

// toAnchorResult converts one mining result.
func toAnchorResult(r *mining.Result, includeVectors bool) *hardnegv1.AnchorResult {
	pb := &hardnegv1.AnchorResult{
		CandidatesExamined: uint64(r.Examined),
		Shortfall:          uint32(r.Shortfall),
		Widenings:          uint32(r.Widenings),
		ExactScan:          r.ExactScan,
		UnknownPositiveIds: r.UnknownPositiveIDs,
		MaxRank:            uint32(min(r.MaxRank, math.MaxUint32)),
		FloorReached:       r.FloorReached,
		Removed: &hardnegv1.RuleCounts{
			Self:                uint64(r.Removed.Self),
			Positive:            uint64(r.Removed.Positive),
			Excluded:            uint64(r.Removed.Excluded),
			InBatch:             uint64(r.Removed.InBatch),
			Feedback:            uint64(r.Removed.Feedback),
			SameGroup:           uint64(r.Removed.SameGroup),
			Duplicate:           uint64(r.Removed.Duplicate),
			ExcludedDuplicate:   uint64(r.Removed.ExcludedDuplicate),
			Guide:               uint64(r.Removed.Guide),
			Margin:              uint64(r.Removed.Margin),
			ScoreBand:           uint64(r.Removed.ScoreBand),
			RankWindow:          uint64(r.Removed.RankWindow),
			Diversity:           uint64(r.Removed.Diversity),
			Stale:               uint64(r.Removed.Stale),
			Rotation:            uint64(r.Removed.Rotation),
			Exposure:            uint64(r.Removed.Exposure),
			LikelyFalseNegative: uint64(r.Removed.LikelyFalseNegative),
		},
		RotationRestarted: r.RotationRestarted,
		RotationServed:    uint32(r.RotationServed),
	}
	if r.HasPositiveScore {
		ps := r.PositiveScore
		pb.PositiveScore = &ps
	}
	if r.HasGuidePositiveScore {
		gs := r.GuidePositiveScore
		pb.GuidePositiveScore = &gs
	}
	if r.HasDuplicateThreshold {
		dt := r.DuplicateThreshold
		pb.DuplicateThreshold = &dt
	}
	pb.Negatives = make([]*hardnegv1.Negative, len(r.Negatives))
	for i, n := range r.Negatives {
		pb.Negatives[i] = &hardnegv1.Negative{Id: n.ID, Score: n.Score, Rank: uint32(n.Rank), Version: n.Version, Stale: n.Stale}
		if n.HasPFN {
			pfn := n.PFN
			pb.Negatives[i].PFn = &pfn
		}
		if includeVectors {
			pb.NegativeVectors = encodeF32(pb.NegativeVectors, n.Vector)
		}
	}
	if r.HasHardness {
		pb.Hardness, pb.BandShift = proto.Float32(r.Hardness), uint32(r.BandShift)
	}
	toExtras(pb, r)
	return pb
}

// toExtras sets pb's explained candidates and synthetic negatives from r: the parts of a
// result that a columnar response keeps in rows.
func toExtras(pb *hardnegv1.AnchorResult, r *mining.Result) {
	if len(r.Synthetic) > 0 || r.SyntheticShortfall > 0 {
		pb.SyntheticShortfall = uint32(r.SyntheticShortfall)
		pb.Synthetic = make([]*hardnegv1.SyntheticNegative, len(r.Synthetic))
		for i, sn := range r.Synthetic {
			pb.Synthetic[i] = &hardnegv1.SyntheticNegative{Kind: syntheticKindToPB[sn.Kind], AId: sn.AID, BId: sn.BID, Coefficient: sn.Coefficient}
			pb.SyntheticVectors = encodeF32(pb.SyntheticVectors, sn.Vector)
		}
	}
	if r.Explained != nil {
		pb.Explained = make([]*hardnegv1.ExplainedCandidate, len(r.Explained))
		for i, x := range r.Explained {
			e := &hardnegv1.ExplainedCandidate{Id: x.ID, Fate: fateToPB[x.Fate]}
			if x.HasScore {
				e.Score, e.Rank = proto.Float32(x.Score), proto.Uint32(uint32(x.Rank))
			}
			pb.Explained[i] = e
		}
		pb.ExplainTruncated = r.ExplainTruncated
	}
}

// ruleCounts are c's counts in RuleCounts' field number order (self = 1 …
// likely_false_negative = 17), the order of MineColumns.removed.
func ruleCounts(c *mining.RuleCounts) [17]int {
	return [17]int{c.Self, c.Positive, c.Excluded, c.InBatch, c.Feedback, c.SameGroup, c.Duplicate,
		c.Margin, c.ScoreBand, c.RankWindow, c.Diversity, c.ExcludedDuplicate, c.Guide,
		c.Stale, c.Rotation, c.Exposure, c.LikelyFalseNegative}
}

// optF32 is v, or NaN when it is absent (MineColumns' float columns).
func optF32(v float32, has bool) float32 {
	if has {
		return v
	}
	return float32(math.NaN())
}

// byteFlag is b as one byte (MineColumns' boolean columns).
func byteFlag(b bool) byte {
	if b {
		return 1
	}
	return 0
}

// toColumns converts the results of a columnar Mine request (MineRequest.columnar) on
// a collection of dimension dim. The explained candidates and synthetic negatives are
// not columns: extras is one AnchorResult per anchor carrying only them when the
// request asked for them (withExtras) or any anchor has some, else nil.
func toColumns(results []mining.Result, includeVectors bool, dim int, withExtras bool) (cols *hardnegv1.MineColumns, extras []*hardnegv1.AnchorResult) {
	n, total := len(results), 0
	for i := range results {
		total += len(results[i].Negatives)
	}
	le := binary.LittleEndian
	c := &hardnegv1.MineColumns{
		Counts:                make([]byte, 0, 4*n),
		Ids:                   make([]string, 0, total),
		Scores:                make([]byte, 0, 4*total),
		Ranks:                 make([]byte, 0, 4*total),
		PFn:                   make([]byte, 0, 4*total),
		Versions:              make([]byte, 0, 8*total),
		Stale:                 make([]byte, 0, total),
		PositiveScores:        make([]byte, 0, 4*n),
		CandidatesExamined:    make([]byte, 0, 8*n),
		Shortfall:             make([]byte, 0, 4*n),
		Widenings:             make([]byte, 0, 4*n),
		ExactScan:             make([]byte, 0, n),
		MaxRank:               make([]byte, 0, 4*n),
		FloorReached:          make([]byte, 0, n),
		DuplicateThreshold:    make([]byte, 0, 4*n),
		GuidePositiveScores:   make([]byte, 0, 4*n),
		RotationRestarted:     make([]byte, 0, n),
		RotationServed:        make([]byte, 0, 4*n),
		Hardness:              make([]byte, 0, 4*n),
		BandShift:             make([]byte, 0, 4*n),
		Rules:                 uint32(len(ruleCounts(&mining.RuleCounts{}))),
		Dim:                   uint32(dim),
		UnknownPositiveCounts: make([]byte, 0, 4*n),
	}
	c.Removed = make([]byte, 0, 4*n*int(c.Rules))
	appendF32 := func(dst []byte, v float32) []byte { return le.AppendUint32(dst, math.Float32bits(v)) }
	extra := withExtras
	for i := range results {
		r := &results[i]
		c.Counts = le.AppendUint32(c.Counts, uint32(len(r.Negatives)))
		for _, ng := range r.Negatives {
			c.Ids = append(c.Ids, ng.ID)
			c.Scores = appendF32(c.Scores, ng.Score)
			c.Ranks = le.AppendUint32(c.Ranks, uint32(ng.Rank))
			c.PFn = appendF32(c.PFn, optF32(ng.PFN, ng.HasPFN))
			c.Versions = le.AppendUint64(c.Versions, uint64(ng.Version))
			c.Stale = append(c.Stale, byteFlag(ng.Stale))
			if includeVectors {
				c.NegativeVectors = encodeF32(c.NegativeVectors, ng.Vector)
			}
		}
		c.PositiveScores = appendF32(c.PositiveScores, optF32(r.PositiveScore, r.HasPositiveScore))
		c.CandidatesExamined = le.AppendUint64(c.CandidatesExamined, uint64(r.Examined))
		c.Shortfall = le.AppendUint32(c.Shortfall, uint32(r.Shortfall))
		c.Widenings = le.AppendUint32(c.Widenings, uint32(r.Widenings))
		c.ExactScan = append(c.ExactScan, byteFlag(r.ExactScan))
		c.MaxRank = le.AppendUint32(c.MaxRank, uint32(min(r.MaxRank, math.MaxUint32)))
		c.FloorReached = append(c.FloorReached, byteFlag(r.FloorReached))
		c.DuplicateThreshold = appendF32(c.DuplicateThreshold, optF32(r.DuplicateThreshold, r.HasDuplicateThreshold))
		c.GuidePositiveScores = appendF32(c.GuidePositiveScores, optF32(r.GuidePositiveScore, r.HasGuidePositiveScore))
		c.RotationRestarted = append(c.RotationRestarted, byteFlag(r.RotationRestarted))
		c.RotationServed = le.AppendUint32(c.RotationServed, uint32(r.RotationServed))
		bandShift := uint32(0)
		if r.HasHardness {
			bandShift = uint32(r.BandShift)
		}
		c.Hardness = appendF32(c.Hardness, optF32(r.Hardness, r.HasHardness))
		c.BandShift = le.AppendUint32(c.BandShift, bandShift)
		for _, v := range ruleCounts(&r.Removed) {
			c.Removed = le.AppendUint32(c.Removed, uint32(v))
		}
		c.UnknownPositiveCounts = le.AppendUint32(c.UnknownPositiveCounts, uint32(len(r.UnknownPositiveIDs)))
		c.UnknownPositiveIds = append(c.UnknownPositiveIds, r.UnknownPositiveIDs...)
		extra = extra || r.Explained != nil || len(r.Synthetic) > 0 || r.SyntheticShortfall > 0
	}
	if !includeVectors {
		c.NegativeVectors = nil
	}
	if extra {
		extras = make([]*hardnegv1.AnchorResult, n)
		for i := range results {
			extras[i] = &hardnegv1.AnchorResult{}
			toExtras(extras[i], &results[i])
		}
	}
	return c, extras
}

// syntheticKindToPB maps each synthetic kind to its proto enum.
var syntheticKindToPB = map[mining.SyntheticKind]hardnegv1.SyntheticKind{
	mining.SyntheticMixed: hardnegv1.SyntheticKind_SYNTHETIC_KIND_MIXED,
	mining.SyntheticQuery: hardnegv1.SyntheticKind_SYNTHETIC_KIND_QUERY,
}

// fateToPB maps each candidate fate to its proto enum.
var fateToPB = map[mining.Fate]hardnegv1.CandidateFate{
	mining.FateSelf:                hardnegv1.CandidateFate_CANDIDATE_FATE_SELF,
	mining.FatePositive:            hardnegv1.CandidateFate_CANDIDATE_FATE_POSITIVE,
	mining.FateExcluded:            hardnegv1.CandidateFate_CANDIDATE_FATE_EXCLUDED,
	mining.FateInBatch:             hardnegv1.CandidateFate_CANDIDATE_FATE_IN_BATCH,
	mining.FateFeedback:            hardnegv1.CandidateFate_CANDIDATE_FATE_FEEDBACK,
	mining.FateSameGroup:           hardnegv1.CandidateFate_CANDIDATE_FATE_SAME_GROUP,
	mining.FateDuplicate:           hardnegv1.CandidateFate_CANDIDATE_FATE_DUPLICATE,
	mining.FateExcludedDuplicate:   hardnegv1.CandidateFate_CANDIDATE_FATE_EXCLUDED_DUPLICATE,
	mining.FateGuide:               hardnegv1.CandidateFate_CANDIDATE_FATE_GUIDE,
	mining.FateMargin:              hardnegv1.CandidateFate_CANDIDATE_FATE_MARGIN,
	mining.FateScoreBand:           hardnegv1.CandidateFate_CANDIDATE_FATE_SCORE_BAND,
	mining.FateRankWindow:          hardnegv1.CandidateFate_CANDIDATE_FATE_RANK_WINDOW,
	mining.FateDiversity:           hardnegv1.CandidateFate_CANDIDATE_FATE_DIVERSITY,
	mining.FateStale:               hardnegv1.CandidateFate_CANDIDATE_FATE_STALE,
	mining.FateRotation:            hardnegv1.CandidateFate_CANDIDATE_FATE_ROTATION,
	mining.FateExposure:            hardnegv1.CandidateFate_CANDIDATE_FATE_EXPOSURE,
	mining.FateLikelyFalseNegative: hardnegv1.CandidateFate_CANDIDATE_FATE_LIKELY_FALSE_NEGATIVE,
	mining.FateReturned:            hardnegv1.CandidateFate_CANDIDATE_FATE_RETURNED,
	mining.FateUnsampled:           hardnegv1.CandidateFate_CANDIDATE_FATE_UNSAMPLED,
}

// toScoreSummary converts one calibration stream.
func toScoreSummary(s mining.ScoreSummary) *hardnegv1.ScoreSummary {
	pb := &hardnegv1.ScoreSummary{Count: s.Count, Window: uint32(s.Window), Mean: s.Mean, Std: s.Std, Quantiles: s.Quantiles}
	if len(s.Quantiles) > 0 {
		pb.Probabilities = mining.CalibrationQuantiles
	}
	return pb
}

// fromFalseNegativeReports converts the verdicts of a ReportFalseNegatives request.
func fromFalseNegativeReports(pbs []*hardnegv1.FalseNegativeReport) []engine.FalseNegativeReport {
	out := make([]engine.FalseNegativeReport, len(pbs))
	for i, pb := range pbs {
		out[i] = engine.FalseNegativeReport{Key: pb.GetAnchorKey(), IDs: pb.GetItemIds()}
	}
	return out
}

// policyWarnings names the fields pb sets that the rest of the policy leaves without
// effect (MineResponse.warnings); the request is served as if they were unset.
func policyWarnings(pb *hardnegv1.MiningPolicy, metric engine.Metric) []string {
	if pb == nil {
		return nil
	}
	var w []string
	warn := func(set bool, field, unless string) {
		if set {
			w = append(w, "policy."+field+": has no effect "+unless)
		}
	}
	softmax := pb.GetSampling() == hardnegv1.SamplingStrategy_SAMPLING_STRATEGY_SOFTMAX
	simans := pb.GetSampling() == hardnegv1.SamplingStrategy_SAMPLING_STRATEGY_SIMANS
	warn(pb.Temperature != nil && !softmax, "temperature", "unless sampling is SAMPLING_STRATEGY_SOFTMAX")
	warn(pb.SimansA != nil && !simans, "simans_a", "unless sampling is SAMPLING_STRATEGY_SIMANS")
	warn(pb.SimansB != nil && !simans, "simans_b", "unless sampling is SAMPLING_STRATEGY_SIMANS")
	nearOff := pb.ExcludeNearDuplicates != nil && !*pb.ExcludeNearDuplicates
	warn(nearOff && pb.DuplicateThreshold != nil, "duplicate_threshold", "with exclude_near_duplicates false")
	warn(nearOff && pb.DuplicateQuantile != nil, "duplicate_quantile", "with exclude_near_duplicates false")
	warn(nearOff && pb.DuplicateZscore != nil, "duplicate_zscore", "with exclude_near_duplicates false")
	warn(nearOff && pb.DuplicateMargin != nil, "duplicate_margin", "with exclude_near_duplicates false")
	warn(pb.ClosedLoopDepth != 0 && !pb.ClosedLoop, "closed_loop_depth", "unless closed_loop is true")
	warn(pb.GuideCollection != "" && pb.GuideMargin == nil && pb.GuideDuplicateThreshold == nil, "guide_collection", "unless guide_margin or guide_duplicate_threshold is set")
	// Under dot and L2 the false-negative budget applies only with both of its fields.
	if metric != engine.Cosine {
		warn(pb.PfnThreshold != nil && pb.PfnBudget == nil, "pfn_threshold", "under "+metric.String()+" unless pfn_budget is set too")
		warn(pb.PfnBudget != nil && pb.PfnThreshold == nil, "pfn_budget", "under "+metric.String()+" unless pfn_threshold is set too")
	}
	// STALE_RULE_SKIP is what an unset rule means, and clients send it by default.
	noBound := pb.MinVersion == nil && pb.MaxStaleness == nil
	warn(noBound && pb.StaleRule == hardnegv1.StaleRule_STALE_RULE_RESCORE, "stale_rule", "unless min_version or max_staleness is set")
	if sy := pb.Synthetic; sy != nil {
		mixed, query := sy.NumMixed > 0, sy.NumQueryMixed > 0
		warn(sy.AlphaMin != nil && !mixed, "synthetic.alpha_min", "unless synthetic.num_mixed is above 0")
		warn(sy.AlphaMax != nil && !mixed, "synthetic.alpha_max", "unless synthetic.num_mixed is above 0")
		warn(sy.BetaMin != nil && !query, "synthetic.beta_min", "unless synthetic.num_query_mixed is above 0")
		warn(sy.BetaMax != nil && !query, "synthetic.beta_max", "unless synthetic.num_query_mixed is above 0")
		warn(sy.Pool != 0 && !mixed && !query, "synthetic.pool", "unless synthetic.num_mixed or synthetic.num_query_mixed is above 0")
	}
	return w
}
