package mining

import (
	"context"

	"github.com/hardneg/hardneg/internal/engine"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"
)

// Tracing: when ctx carries a recording OpenTelemetry span (the server's tracing is
// on), Mine adds a span for the request and one per anchor, covering that anchor's
// search with its rules applied inside, with the outcome as attributes. Without one the
// spans are no-ops. The tracer comes from ctx's span, so this package keeps no global
// state.

const tracerName = "github.com/hardneg/hardneg/internal/mining"

func startSpan(ctx context.Context, name string, attrs ...attribute.KeyValue) (context.Context, trace.Span) {
	return trace.SpanFromContext(ctx).TracerProvider().Tracer(tracerName).Start(ctx, name, trace.WithAttributes(attrs...))
}

// mineAnchorTraced is mineAnchor inside a span "mining.anchor" that records the
// anchor's search and rule counts.
func mineAnchorTraced(ctx context.Context, s Searcher, req *Request, rl rules, a *prepared, inBatch batchIDs, scores *engine.ExactScores) (Result, error) {
	if !trace.SpanFromContext(ctx).IsRecording() {
		return mineAnchor(ctx, s, req, rl, a, inBatch, scores)
	}
	ctx, span := startSpan(ctx, "mining.anchor", attribute.Int("anchor", a.index))
	defer span.End()
	res, err := mineAnchor(ctx, s, req, rl, a, inBatch, scores)
	if err != nil {
		span.RecordError(err)
		return res, err
	}
	rc := &res.Removed
	span.SetAttributes(
		attribute.Int("examined", res.Examined),
		attribute.Int("negatives", len(res.Negatives)),
		attribute.Int("shortfall", res.Shortfall),
		attribute.Int("widenings", res.Widenings),
		attribute.Bool("exact_scan", res.ExactScan),
		attribute.Bool("floor_reached", res.FloorReached),
		attribute.Bool("precomputed_scores", scores != nil),
	)
	for i, n := range []int{rc.Self, rc.Positive, rc.Excluded, rc.InBatch, rc.Feedback, rc.SameGroup, rc.Duplicate, rc.ExcludedDuplicate, rc.Guide, rc.Margin, rc.ScoreBand, rc.RankWindow, rc.Diversity} {
		if n > 0 {
			span.SetAttributes(attribute.Int("removed."+Fate(i).String(), n))
		}
	}
	return res, nil
}
