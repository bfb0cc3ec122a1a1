package main

import (
	"context"

	hardnegv1 "github.com/hardneg/hardneg/gen/go/hardneg/v1"
	"github.com/hardneg/hardneg/internal/mining"
)

func (s *service) RefreshQueue(_ context.Context, req *hardnegv1.RefreshQueueRequest) (*hardnegv1.RefreshQueueResponse, error) {
	c, err := s.db.Collection(req.Collection)
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
