//go:build scaleout

package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"

	"github.com/hardneg/hardneg/internal/engine"
	"github.com/hardneg/hardneg/internal/engine/weaviate"
	"github.com/hardneg/hardneg/internal/mining"
)

// TestScaleoutMineCalls counts the calls a Mine request makes to the cluster with the
// request's items and verdicts read up front (forRequest) and without, and checks
// that both give the same results: up front, a request costs two reads plus one
// nearVector page per anchor (and per widening) instead of several calls per anchor.
func TestScaleoutMineCalls(t *testing.T) {
	st := clusterState(t)
	nodes := strings.Split(st["WEAVIATE_HTTP_ADDRS"], ",")
	e, err := weaviate.Open(weaviate.Options{Addr: nodes[0], GRPCAddr: strings.Split(st["WEAVIATE_GRPC_ADDRS"], ",")[0],
		ReplicationFactor: len(nodes), Miner: "calls"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close() })
	name := fmt.Sprintf("calls-%d", rand.Uint32())
	const dim, n = 16, 2000
	c, err := e.CreateCollection(engine.Config{Name: name, Dim: dim, Metric: engine.Cosine})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.DeleteCollection(name) })
	rng := rand.New(rand.NewPCG(1, 2))
	b := &engine.Batch{}
	for i := range n {
		b.IDs = append(b.IDs, fmt.Sprintf("i%d", i))
		b.Groups = append(b.Groups, []string{fmt.Sprintf("g%d", i%50)})
		for range dim {
			b.Vectors = append(b.Vectors, float32(rng.NormFloat64()))
		}
	}
	before := e.Calls()
	if _, err := e.Upsert(name, b, "items"); err != nil {
		t.Fatal(err)
	}
	t.Logf("ingest of one batch of %d: %d calls", n, e.Calls()-before)
	if _, err := e.ReportFalseNegatives(name, []engine.FalseNegativeReport{{Key: "i0", IDs: []string{"i7", "i8"}}}, "reports"); err != nil {
		t.Fatal(err)
	}

	f32 := func(x float32) *float32 { return &x }
	policies := []struct {
		name string
		set  func(*mining.Policy)
	}{
		{"default", func(*mining.Policy) {}},
		// The all-rules policy of TestBenchScaleoutSideBySide.
		{"all rules", func(p *mining.Policy) {
			p.ExcludeSameGroup, p.AbsoluteMargin, p.MinScore, p.DiversityThreshold = true, f32(0.02), f32(0.1), f32(0.98)
			p.RangeMin, p.Sampling, p.Seed = 2, mining.SampleSimANS, 7
		}},
	}
	for _, pc := range policies {
		for _, anchors := range []int{1, 32} {
			t.Run(fmt.Sprintf("%s %d anchors", pc.name, anchors), func(t *testing.T) {
				req := func() mining.Request {
					pol := mining.DefaultPolicy()
					pol.NumNegatives = 8
					pol.UseFeedback = true
					pc.set(&pol)
					r := mining.Request{Policy: pol}
					for i := range anchors {
						r.Anchors = append(r.Anchors, mining.Anchor{ID: fmt.Sprintf("i%d", i*10),
							PositiveIDs: []string{fmt.Sprintf("i%d", i*10+1), fmt.Sprintf("i%d", i*10+2)},
							ExcludeIDs:  []string{fmt.Sprintf("i%d", i*10+3)}})
					}
					return r
				}
				ctx := context.Background()
				from := e.Calls()
				plain, err := mining.Mine(ctx, c, req())
				if err != nil {
					t.Fatal(err)
				}
				perAnchor := e.Calls() - from

				r := req()
				from = e.Calls()
				s, err := forRequest(ctx, c, &r)
				if err != nil {
					t.Fatal(err)
				}
				upFront := e.Calls() - from
				got, err := mining.Mine(ctx, s, r)
				if err != nil {
					t.Fatal(err)
				}
				total := e.Calls() - from
				pages := 0
				for _, res := range got {
					pages += 1 + res.Widenings
				}
				t.Logf("Mine %s of %d anchors: %d calls read per anchor, %d read up front (%d up front, %d nearVector pages)",
					pc.name, anchors, perAnchor, total, upFront, pages)
				if upFront > 2 || total != upFront+uint64(pages) {
					t.Errorf("up front: %d calls before mining, %d in all; want at most 2 before and one per nearVector page (%d) after", upFront, total, pages)
				}
				if !reflect.DeepEqual(summary(plain), summary(got)) {
					t.Errorf("results differ:\nper anchor %v\nup front   %v", summary(plain), summary(got))
				}
			})
		}
	}
}

// summary is what two Mine runs on the same data must agree on.
func summary(rs []mining.Result) []string {
	var out []string
	for _, r := range rs {
		s := fmt.Sprintf("examined %d removed %+v:", r.Examined, r.Removed)
		for _, n := range r.Negatives {
			s += fmt.Sprintf(" %s@%d", n.ID, n.Rank)
		}
		out = append(out, s)
	}
	return out
}
