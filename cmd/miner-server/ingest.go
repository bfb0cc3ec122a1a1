package main

import (
	"sync"

	hardnegv1 "github.com/hardneg/hardneg/gen/go/hardneg/v1"
	"github.com/hardneg/hardneg/internal/engine"
	"github.com/hardneg/hardneg/internal/metrics"
)

// ingestRecorder counts the items and vector bytes of upserts by result, and deletes,
// for metrics. Safe for concurrent use; the zero value is ready.
type ingestRecorder struct {
	// mu guards s.
	mu sync.Mutex
	s  metrics.IngestStats
}

// upsert records one upsert batch: applied (res), replayed (duplicate) or refused
// (err != nil; nothing of the batch was applied).
func (r *ingestRecorder) upsert(b *hardnegv1.ItemBatch, res engine.UpsertResult, duplicate bool, err error) {
	n := len(b.GetIds())
	if n == 0 {
		return
	}
	size := uint64(len(b.GetVectors()))
	per := size / uint64(n)
	r.mu.Lock()
	defer r.mu.Unlock()
	switch {
	case err != nil:
		r.s.Items.Rejected += uint64(n)
		r.s.Bytes.Rejected += size
	case duplicate:
		r.s.Items.Duplicate += uint64(n)
		r.s.Bytes.Duplicate += size
	default:
		r.s.Items.Inserted += uint64(res.Inserted)
		r.s.Items.Replaced += uint64(res.Replaced)
		r.s.Bytes.Inserted += uint64(res.Inserted) * per
		r.s.Bytes.Replaced += uint64(res.Replaced) * per
	}
}

// delete records one applied delete.
func (r *ingestRecorder) delete(res engine.DeleteResult) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.s.Deleted += uint64(res.Deleted)
	r.s.DeleteNotFound += uint64(res.NotFound)
}

// snapshot returns the counters so far.
func (r *ingestRecorder) snapshot() metrics.IngestStats {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.s
}
