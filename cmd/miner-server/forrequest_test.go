package main

import (
	"context"
	"errors"
	"slices"
	"testing"

	"github.com/hardneg/hardneg/internal/engine"
	"github.com/hardneg/hardneg/internal/index"
	"github.com/hardneg/hardneg/internal/mining"
)

// readerColl is a collection that reads a request's items up front (requestReader): it
// records what it was asked and returns a view of its own.
type readerColl struct {
	engine.Collection
	asked      int
	ids, keys  []string
	err        error
	lastViewed *viewColl
}

type viewColl struct{ engine.Collection }

func (r *readerColl) ForRequest(_ context.Context, ids, keys []string) (engine.Collection, error) {
	r.asked++
	r.ids, r.keys = slices.Sorted(slices.Values(ids)), slices.Sorted(slices.Values(keys))
	if r.err != nil {
		return nil, r.err
	}
	r.lastViewed = &viewColl{r.Collection}
	return r.lastViewed, nil
}

func TestForRequest(t *testing.T) {
	db, err := index.Open(index.Options{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	plain, err := db.CreateCollection(engine.Config{Name: "c", Dim: 2, Metric: engine.Dot})
	if err != nil {
		t.Fatal(err)
	}
	margin := float32(0.1)
	request := func(feedback, guided bool) mining.Request {
		pol := mining.DefaultPolicy()
		pol.UseFeedback = feedback
		if guided {
			pol.GuideMargin = &margin
		}
		return mining.Request{Policy: pol, Anchors: []mining.Anchor{
			{ID: "a", Key: "ka", PositiveIDs: []string{"p1", "p2"}, ExcludeIDs: []string{"x"}},
			{Vector: []float32{1, 0}, PositiveIDs: []string{"p3"}},
			{ID: "b"},
		}}
	}
	ctx := context.Background()

	t.Run("a collection that does not read up front is mined as it is", func(t *testing.T) {
		req := request(true, false)
		s, err := forRequest(ctx, plain, &req)
		if err != nil || s != mining.Searcher(plain) {
			t.Fatalf("got %v, %v; want the collection itself", s, err)
		}
	})
	t.Run("anchors, positives and exclusions are read up front, keys only with feedback", func(t *testing.T) {
		for _, feedback := range []bool{false, true} {
			c := &readerColl{Collection: plain}
			req := request(feedback, false)
			s, err := forRequest(ctx, c, &req)
			if err != nil {
				t.Fatal(err)
			}
			if c.asked != 1 || s != mining.Searcher(c.lastViewed) {
				t.Fatalf("asked %d times, mined %v; want one view", c.asked, s)
			}
			if want := []string{"a", "b", "p1", "p2", "p3", "x"}; !slices.Equal(c.ids, want) {
				t.Errorf("ids %v, want %v", c.ids, want)
			}
			var want []string
			if feedback {
				want = []string{"b", "ka"}
			}
			if !slices.Equal(c.keys, want) {
				t.Errorf("feedback %v: keys %v, want %v", feedback, c.keys, want)
			}
		}
	})
	t.Run("a guide that is the collection gets the same view", func(t *testing.T) {
		c := &readerColl{Collection: plain}
		req := request(false, true)
		req.Guide = c
		s, err := forRequest(ctx, c, &req)
		if err != nil {
			t.Fatal(err)
		}
		if c.asked != 1 || req.Guide != s {
			t.Fatalf("asked %d times, guide %v, searched %v; want one view for both", c.asked, req.Guide, s)
		}
	})
	t.Run("another guide reads the anchors and positives", func(t *testing.T) {
		c, g := &readerColl{Collection: plain}, &readerColl{Collection: plain}
		req := request(true, true)
		req.Guide = g
		if _, err := forRequest(ctx, c, &req); err != nil {
			t.Fatal(err)
		}
		if g.asked != 1 || req.Guide != mining.Searcher(g.lastViewed) {
			t.Fatalf("guide asked %d times, guide %v; want its view", g.asked, req.Guide)
		}
		if want := []string{"a", "b", "p1", "p2", "p3"}; !slices.Equal(g.ids, want) || g.keys != nil {
			t.Errorf("guide read ids %v keys %v, want %v and none", g.ids, g.keys, want)
		}
	})
	t.Run("a guide the policy does not use is not read", func(t *testing.T) {
		c, g := &readerColl{Collection: plain}, &readerColl{Collection: plain}
		req := request(false, false)
		req.Guide = g
		if _, err := forRequest(ctx, c, &req); err != nil {
			t.Fatal(err)
		}
		if g.asked != 0 || req.Guide != mining.Searcher(g) {
			t.Fatalf("guide asked %d times, guide %v; want it untouched", g.asked, req.Guide)
		}
	})
	t.Run("a request over the limits is not read", func(t *testing.T) {
		c := &readerColl{Collection: plain}
		req := request(false, false)
		req.Anchors[1].ExcludeIDs = make([]string, mining.MaxExcludes+1)
		s, err := forRequest(ctx, c, &req)
		if err != nil || c.asked != 0 || s != mining.Searcher(c) {
			t.Fatalf("asked %d times, mined %v, %v; want the collection unread", c.asked, s, err)
		}
	})
	t.Run("a failed read fails the request", func(t *testing.T) {
		boom := errors.New("cluster unreachable")
		c := &readerColl{Collection: plain, err: boom}
		req := request(false, false)
		if _, err := forRequest(ctx, c, &req); !errors.Is(err, boom) {
			t.Fatalf("err %v, want %v", err, boom)
		}
	})
}
