package main

import (
	"context"
	"sync"

	hardnegv1 "github.com/hardneg/hardneg/gen/go/hardneg/v1"
	"github.com/hardneg/hardneg/internal/index"
	"github.com/hardneg/hardneg/internal/mining"
)

// exposures holds each collection's exposure tracker (mining.Exposure), in memory: a
// collection that is deleted (or recreated) starts a new one, and a restart starts
// from nothing.
type exposures struct {
	// mu guards m.
	mu sync.Mutex
	m  map[*index.Collection]*mining.Exposure
}

// get returns c's tracker, creating it on first use.
func (xs *exposures) get(c *index.Collection) *mining.Exposure {
	xs.mu.Lock()
	defer xs.mu.Unlock()
	if xs.m == nil {
		xs.m = make(map[*index.Collection]*mining.Exposure)
	}
	x, ok := xs.m[c]
	if !ok {
		x = mining.NewExposure(0)
		xs.m[c] = x
	}
	return x
}

// lookup returns c's tracker if mining has created one.
func (xs *exposures) lookup(c *index.Collection) (*mining.Exposure, bool) {
	xs.mu.Lock()
	defer xs.mu.Unlock()
	x, ok := xs.m[c]
	return x, ok
}

// drop forgets c's tracker.
func (xs *exposures) drop(c *index.Collection) {
	xs.mu.Lock()
	defer xs.mu.Unlock()
	delete(xs.m, c)
}

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
