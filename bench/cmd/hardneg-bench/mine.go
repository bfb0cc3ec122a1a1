package main

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/hardneg/hardneg/internal/engine"
	"github.com/hardneg/hardneg/internal/mining"
)

// minePolicies are the policies Mine latency is measured with: the server's default
// policy with k negatives, and every rule on (the target of the benchmark). Both
// bench/py/e2e.py and this file use the same settings.
func minePolicies(k int) map[string]mining.Policy {
	def := mining.DefaultPolicy()
	def.NumNegatives = k
	all := mining.DefaultPolicy()
	all.NumNegatives = k
	f := func(v float32) *float32 { return &v }
	all.ExcludeSameGroup = true
	all.DuplicateThreshold = f(0.95)
	all.RelativeMargin = f(0.05)
	all.AbsoluteMargin = f(0.01)
	all.MinScore = f(0.0)
	all.MaxScore = f(0.99)
	all.InBatchExclusion = true
	all.UseFeedback = true
	all.DiversityThreshold = f(0.98)
	return map[string]mining.Policy{"default": def, "all-rules": all}
}

// mineLatency times Mine requests on col (GOMAXPROCS as set by the caller): anchors
// are the data set's queries as raw vectors, each with its exact nearest item as the
// known positive.
func mineLatency(col engine.Collection, d *dataset, anchorCounts []int, requests int) ([]mineResult, error) {
	const k = 8
	var out []mineResult
	pols := minePolicies(k)
	for _, name := range []string{"default", "all-rules"} {
		pol := pols[name]
		for _, na := range anchorCounts {
			reqs := requestsFor(requests, na)
			lat := make([]float64, 0, reqs)
			short := 0
			for r := range reqs {
				anchors := make([]mining.Anchor, na)
				for j := range anchors {
					q := (r*na + j) % d.NQ
					anchors[j] = mining.Anchor{
						Vector:      d.query(q),
						Key:         "q" + strconv.Itoa(q),
						PositiveIDs: []string{"d" + strconv.Itoa(int(d.gt(q, 1)[0]))},
					}
				}
				start := time.Now()
				res, err := mining.Mine(context.Background(), col, mining.Request{Anchors: anchors, Policy: pol})
				lat = append(lat, ms(time.Since(start)))
				if err != nil {
					return nil, fmt.Errorf("mine %s/%d: %w", name, na, err)
				}
				for _, a := range res {
					if len(a.Negatives) < k {
						short++
					}
				}
			}
			mean := 0.0
			for _, l := range lat {
				mean += l
			}
			out = append(out, mineResult{Policy: name, Anchors: na, K: k, Requests: reqs,
				P50MS: percentile(lat, 0.5), P99MS: percentile(lat, 0.99), MeanMS: mean / float64(len(lat)), Short: short})
		}
	}
	return out, nil
}

// requestsFor scales the request count down for requests of more than 32 anchors,
// keeping at least 20; up to 32 anchors every count runs all of them, so that a p99
// (nearest rank) of 300 requests is not the slowest one.
func requestsFor(requests, anchors int) int {
	return max(20, min(requests, requests*32/anchors))
}
