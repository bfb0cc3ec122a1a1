package main

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"go.opentelemetry.io/contrib/instrumentation/google.golang.org/grpc/otelgrpc"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/propagation"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/grpc"
)

// Tracing: OpenTelemetry spans for every gRPC call (otelgrpc), with child spans for
// mining (internal/mining: one per request and one per anchor's search and rules) and
// for writes waiting on the write-ahead log, exported over OTLP/gRPC. It is on when
// -otlp-endpoint, OTEL_EXPORTER_OTLP_ENDPOINT or OTEL_EXPORTER_OTLP_TRACES_ENDPOINT is
// set, and off otherwise (no spans are made). The exporter reads the other standard
// OTEL_EXPORTER_OTLP_* variables (headers, TLS, timeout) itself; a trace context sent
// by the client (W3C traceparent) is continued.

// tracingOn reports whether traces are to be exported.
func (c Config) tracingOn() bool {
	return c.OTLPEndpoint != "" || c.otelEnv
}

// newTracerProvider builds the span pipeline: a batching OTLP/gRPC exporter, every
// span sampled (or the parent's decision). The exporter connects lazily: a collector
// that is down costs dropped spans, never a failed call.
func newTracerProvider(ctx context.Context, cfg Config) (*sdktrace.TracerProvider, error) {
	var opts []otlptracegrpc.Option
	if cfg.OTLPEndpoint != "" {
		opts = append(opts, otlptracegrpc.WithEndpointURL(cfg.OTLPEndpoint))
	}
	exp, err := otlptracegrpc.New(ctx, opts...)
	if err != nil {
		return nil, fmt.Errorf("otlp exporter: %w", err)
	}
	res := sdkResource()
	return sdktrace.NewTracerProvider(
		sdktrace.WithBatcher(exp),
		sdktrace.WithResource(res),
		sdktrace.WithSampler(sdktrace.ParentBased(sdktrace.AlwaysSample())),
	), nil
}

// tracingOptions returns the gRPC server option that traces every call, or nothing
// when tracing is off.
func (s *Server) tracingOptions() []grpc.ServerOption {
	if s.tracer == nil {
		return nil
	}
	return []grpc.ServerOption{grpc.StatsHandler(otelgrpc.NewServerHandler(
		otelgrpc.WithTracerProvider(s.tracer),
		otelgrpc.WithPropagators(propagation.TraceContext{}),
	))}
}

// shutdownTracing flushes the spans still queued, within a few seconds.
func (s *Server) shutdownTracing() {
	if s.tracer == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := s.tracer.Shutdown(ctx); err != nil {
		s.log.Warn("flushing traces failed", "err", err)
	}
}

// traceAttrs returns the trace and span ids of ctx's span for a log line, or nothing.
func traceAttrs(ctx context.Context) []slog.Attr {
	sc := trace.SpanContextFromContext(ctx)
	if !sc.IsValid() {
		return nil
	}
	return []slog.Attr{slog.String("trace_id", sc.TraceID().String()), slog.String("span_id", sc.SpanID().String())}
}

// startSpan starts a child span of ctx's span, named name, from the same provider; a
// no-op when ctx carries no recording span (tracing off).
func startSpan(ctx context.Context, name string, attrs ...attribute.KeyValue) (context.Context, trace.Span) {
	return trace.SpanFromContext(ctx).TracerProvider().Tracer("github.com/hardneg/hardneg/cmd/miner-server").
		Start(ctx, name, trace.WithAttributes(attrs...))
}

// endSpan records err on span and ends it.
func endSpan(span trace.Span, err error) {
	if err != nil {
		span.RecordError(err)
		span.SetStatus(codes.Error, err.Error())
	}
	span.End()
}
