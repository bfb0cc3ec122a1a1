package main

import (
	"context"
	"fmt"

	hardnegv1 "github.com/hardneg/hardneg/gen/go/hardneg/v1"
	"github.com/hardneg/hardneg/internal/engine"
	"github.com/hardneg/hardneg/internal/mining"
	"github.com/hardneg/hardneg/internal/validate"
)

func (s *service) RefreshQueue(_ context.Context, req *hardnegv1.RefreshQueueRequest) (*hardnegv1.RefreshQueueResponse, error) {
	c, err := s.collection("collection", req.Collection)
	if err != nil {
		return nil, err
	}
	x, _ := s.exp.lookup(c)
	res, err := mining.RefreshQueue(c, x, mining.RefreshRequest{Limit: int(req.Limit), Target: req.TargetVersion})
	if err != nil {
		return nil, err
	}
	resp := &hardnegv1.RefreshQueueResponse{TargetVersion: res.Target, Due: uint64(res.Due), Items: make([]*hardnegv1.RefreshItem, len(res.Items))}
	for i, it := range res.Items {
		resp.Items[i] = &hardnegv1.RefreshItem{Id: it.ID, Version: it.Version, Staleness: it.Staleness, RecentExposures: it.RecentExposures}
	}
	return resp, nil
}

// newVerdicts counts, per anchor key, the verdicts of reports that c does not hold yet
// (read before they are recorded): each backs the key's closed-loop hardness off.
func newVerdicts(c engine.Collection, reports []engine.FalseNegativeReport) map[string]int {
	out := map[string]int{}
	known := map[string]map[string]struct{}{}
	for _, r := range reports {
		k, ok := known[r.Key]
		if !ok {
			k = c.FalseNegatives(r.Key)
			if k == nil {
				k = map[string]struct{}{}
			}
			known[r.Key] = k
		}
		for _, id := range r.IDs {
			if _, dup := k[id]; !dup {
				k[id] = struct{}{}
				out[r.Key]++
			}
		}
	}
	return out
}

func (s *service) ReportLoss(_ context.Context, req *hardnegv1.ReportLossRequest) (*hardnegv1.ReportLossResponse, error) {
	c, err := s.collection("collection", req.Collection)
	if err != nil {
		return nil, err
	}
	outs := make([]mining.Outcome, len(req.Outcomes))
	for i, o := range req.Outcomes {
		outs[i] = mining.Outcome{Key: o.GetAnchorKey(), Solved: o.Solved, Loss: o.Loss}
	}
	if err := mining.ValidateOutcomes(outs, "outcomes"); err != nil {
		return nil, err
	}
	hs := s.hard.get(c).Report(outs)
	resp := &hardnegv1.ReportLossResponse{Hardness: make([]float32, len(hs))}
	for i, h := range hs {
		resp.Hardness[i] = float32(h)
	}
	return resp, nil
}

func (s *service) BuildBatches(req *hardnegv1.BuildBatchesRequest, stream hardnegv1.MinerService_BuildBatchesServer) error {
	c, err := s.collection("collection", req.Collection)
	if err != nil {
		return err
	}
	br, err := fromBatchRequest(req, c.Dim())
	if err != nil {
		return err
	}
	return mining.BuildBatches(stream.Context(), c, br, func(b mining.Batch) error {
		resp := &hardnegv1.BuildBatchesResponse{
			Epoch: uint32(b.Epoch), Index: uint32(b.Index), Deferred: uint32(b.Deferred), SwappedIn: uint32(b.SwappedIn), ClusterSize: uint32(b.ClusterSize),
			Rows: make([]uint32, len(b.Rows)), AnchorIds: make([]string, len(b.Rows)),
		}
		for i, r := range b.Rows {
			resp.Rows[i], resp.AnchorIds[i] = uint32(r), br.Anchors[r].ID
		}
		return stream.Send(resp)
	})
}

// fromBatchRequest converts a BuildBatches request, filling unset fields from
// mining.DefaultBatchRequest.
func fromBatchRequest(pb *hardnegv1.BuildBatchesRequest, dim int) (mining.BatchRequest, error) {
	r := mining.DefaultBatchRequest()
	var e validate.Error
	r.Anchors = make([]mining.BatchAnchor, len(pb.Anchors))
	for i, a := range pb.Anchors {
		r.Anchors[i] = mining.BatchAnchor{ID: a.GetId(), PositiveIDs: a.GetPositiveIds()}
		if v := a.GetVector(); len(v) > 0 {
			if len(v) != 4*dim {
				e.Add(fmt.Sprintf("anchors[%d].vector", i), "%s; the collection's dimension is %d", floatCount(len(v)), dim)
			} else {
				r.Anchors[i].Vector = decodeF32(v)
			}
		}
	}
	r.BatchSize = int(pb.BatchSize)
	switch pb.Strategy {
	case hardnegv1.BatchStrategy_BATCH_STRATEGY_UNSPECIFIED, hardnegv1.BatchStrategy_BATCH_STRATEGY_CLUSTERS:
		r.Strategy = mining.BatchClusters
	case hardnegv1.BatchStrategy_BATCH_STRATEGY_NEIGHBOURS:
		r.Strategy = mining.BatchNeighbours
	default:
		e.Add("strategy", "unknown strategy %d", pb.Strategy)
	}
	r.Epochs, r.FirstEpoch, r.NumEpochs, r.Seed = int(pb.Epochs), int(pb.FirstEpoch), int(pb.NumEpochs), pb.Seed
	r.ClusterSizeStart, r.ClusterSizeEnd = int(pb.ClusterSizeStart), int(pb.ClusterSizeEnd)
	r.NumNearest, r.NumSampled = int(pb.NumNearest), int(pb.NumSampled)
	r.SampleRangeMin, r.SampleRangeMax = int(pb.SampleRangeMin), int(pb.SampleRangeMax)
	if pb.ExcludeNearDuplicates != nil {
		r.NearDuplicates = *pb.ExcludeNearDuplicates
	}
	if pb.UseFeedback != nil {
		r.UseFeedback = *pb.UseFeedback
	}
	r.DuplicateThreshold, r.DuplicateMargin = pb.DuplicateThreshold, pb.DuplicateMargin
	return r, e.Err()
}
