package main

import (
	"context"
	"sync"

	hardnegv1 "github.com/hardneg/hardneg/gen/go/hardneg/v1"
	"github.com/hardneg/hardneg/internal/index"
	"github.com/hardneg/hardneg/internal/mining"
)

// calibrations holds each collection's mining calibration, in memory: a collection
// that is deleted (or recreated) starts a new one, and a restart starts from nothing.
type calibrations struct {
	// mu guards m.
	mu sync.Mutex
	m  map[*index.Collection]*mining.Calibration
}

// get returns c's calibration, creating it on first use.
func (cs *calibrations) get(c *index.Collection) *mining.Calibration {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	if cs.m == nil {
		cs.m = make(map[*index.Collection]*mining.Calibration)
	}
	cal, ok := cs.m[c]
	if !ok {
		cal = mining.NewCalibration()
		cs.m[c] = cal
	}
	return cal
}

// lookup returns c's calibration if mining has created one.
func (cs *calibrations) lookup(c *index.Collection) (*mining.Calibration, bool) {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	cal, ok := cs.m[c]
	return cal, ok
}

// drop forgets c's calibration.
func (cs *calibrations) drop(c *index.Collection) {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	delete(cs.m, c)
}

func (s *service) GetCalibration(_ context.Context, req *hardnegv1.GetCalibrationRequest) (*hardnegv1.GetCalibrationResponse, error) {
	c, err := s.db.Collection(req.Collection)
	if err != nil {
		return nil, err
	}
	st := s.cal.get(c).Stats()
	return &hardnegv1.GetCalibrationResponse{
		PositiveScores:       toScoreSummary(st.PositiveScores),
		CandidateScores:      toScoreSummary(st.CandidateScores),
		PositiveSimilarities: toScoreSummary(st.PositiveSimilarities),
	}, nil
}
