package main

import (
	"context"
	"strings"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	hardnegv1 "github.com/hardneg/hardneg/gen/go/hardneg/v1"
)

func TestValidationMessageSaysItOnceInFloats(t *testing.T) {
	ts := startServer(t, t.TempDir())
	ctx := context.Background()
	const dim = 384
	if _, err := ts.client.CreateCollection(ctx, &hardnegv1.CreateCollectionRequest{Name: "c", Dim: dim, Metric: hardnegv1.Metric_METRIC_COSINE}); err != nil {
		t.Fatal(err)
	}
	anchors := func(n int) []*hardnegv1.Anchor {
		out := make([]*hardnegv1.Anchor, n)
		for i := range out {
			out[i] = &hardnegv1.Anchor{Vector: f32bytes(make([]float32, 100))}
		}
		return out
	}
	_, err := ts.client.Mine(ctx, &hardnegv1.MineRequest{Collection: "c", Anchors: anchors(7)})
	if codeOf(err) != codes.InvalidArgument {
		t.Fatalf("mine: %v", err)
	}
	want := "anchors[0].vector: has 100 floats; the collection's dimension is 384 (7 anchors affected)"
	if got := status.Convert(err).Message(); got != want {
		t.Errorf("message = %q\nwant      %q", got, want)
	}
	if f := fieldViolations(err); len(f) != 7 || f[6] != "anchors[6].vector" {
		t.Errorf("field violations = %v", f)
	}

	_, err = ts.client.Mine(ctx, &hardnegv1.MineRequest{Collection: "c", Anchors: anchors(300)})
	if msg := status.Convert(err).Message(); !strings.HasSuffix(msg, "(300 anchors affected)") || strings.Count(msg, "anchors[") != 1 {
		t.Errorf("message = %q", msg)
	}
	if f := fieldViolations(err); len(f) > 10 {
		t.Errorf("%d field violations listed, want at most 10", len(f))
	}
}
