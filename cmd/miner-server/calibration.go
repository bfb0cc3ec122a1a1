package main

import (
	"context"
	"sync"

	hardnegv1 "github.com/hardneg/hardneg/gen/go/hardneg/v1"
	"github.com/hardneg/hardneg/internal/engine"
	"github.com/hardneg/hardneg/internal/mining"
)

// perCollection holds one value per collection, in memory, created on first use: a
// collection that is deleted (or recreated) starts a new one, and a restart starts from
// nothing. The service keeps each collection's mining calibration and exposure tracker
// in one.
type perCollection[T any] struct {
	create func() T
	// mu guards m.
	mu sync.Mutex
	m  map[engine.Collection]T
}

func newPerCollection[T any](create func() T) *perCollection[T] {
	return &perCollection[T]{create: create, m: make(map[engine.Collection]T)}
}

// get returns c's value, creating it on first use.
func (p *perCollection[T]) get(c engine.Collection) T {
	p.mu.Lock()
	defer p.mu.Unlock()
	v, ok := p.m[c]
	if !ok {
		v = p.create()
		p.m[c] = v
	}
	return v
}

// lookup returns c's value if one was created.
func (p *perCollection[T]) lookup(c engine.Collection) (T, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	v, ok := p.m[c]
	return v, ok
}

// set replaces c's value.
func (p *perCollection[T]) set(c engine.Collection, v T) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.m[c] = v
}

// keys returns the collections that have a value.
func (p *perCollection[T]) keys() []engine.Collection {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make([]engine.Collection, 0, len(p.m))
	for c := range p.m {
		out = append(out, c)
	}
	return out
}

// drop forgets c's value.
func (p *perCollection[T]) drop(c engine.Collection) {
	p.mu.Lock()
	defer p.mu.Unlock()
	delete(p.m, c)
}

func (s *service) GetCalibration(_ context.Context, req *hardnegv1.GetCalibrationRequest) (*hardnegv1.GetCalibrationResponse, error) {
	c, err := s.collection("collection", req.Collection)
	if err != nil {
		return nil, err
	}
	st := s.cal.get(c).Stats()
	resp := &hardnegv1.GetCalibrationResponse{
		PositiveScores:       toScoreSummary(st.PositiveScores),
		CandidateScores:      toScoreSummary(st.CandidateScores),
		PositiveSimilarities: toScoreSummary(st.PositiveSimilarities),
	}
	b, hasB := mining.BackgroundOf(c) // once: both fields come from one estimate
	if hasB {
		resp.BackgroundSimilarity = &b
	}
	if t, ok := mining.DefaultDuplicateThreshold(c.Metric(), b, hasB); ok {
		resp.DefaultDuplicateThreshold = &t
	}
	return resp, nil
}
