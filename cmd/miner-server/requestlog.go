package main

import (
	"context"
	"log/slog"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/status"

	hardnegv1 "github.com/hardneg/hardneg/gen/go/hardneg/v1"
)

// unaryLog logs every finished unary call at debug level: method, collection, number of
// anchors (Mine), duration, status code and, when tracing is on, trace_id and span_id. It runs outside the error mapping, so the
// code is the one the client sees.
func (s *Server) unaryLog(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	if !s.log.Enabled(ctx, slog.LevelDebug) {
		return handler(ctx, req)
	}
	start := time.Now()
	resp, err := handler(ctx, req)
	attrs := []slog.Attr{slog.String("method", info.FullMethod)}
	if c := collectionOf(req); c != "" {
		attrs = append(attrs, slog.String("collection", c))
	}
	if r, ok := req.(*hardnegv1.MineRequest); ok && r.GetAnchorColumns() != nil {
		attrs = append(attrs, slog.Int("anchors", int(r.GetAnchorColumns().GetCount())))
	} else if r, ok := req.(interface{ GetAnchors() []*hardnegv1.Anchor }); ok {
		attrs = append(attrs, slog.Int("anchors", len(r.GetAnchors())))
	}
	attrs = append(attrs, slog.Duration("duration", time.Since(start)), slog.String("code", status.Code(err).String()))
	attrs = append(attrs, traceAttrs(ctx)...)
	s.log.LogAttrs(ctx, slog.LevelDebug, "request", attrs...)
	return resp, err
}

// streamLog logs every finished stream at debug level: method, duration and status code.
func (s *Server) streamLog(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
	ctx := ss.Context()
	if !s.log.Enabled(ctx, slog.LevelDebug) {
		return handler(srv, ss)
	}
	start := time.Now()
	err := handler(srv, ss)
	attrs := []slog.Attr{slog.String("method", info.FullMethod),
		slog.Duration("duration", time.Since(start)), slog.String("code", status.Code(err).String())}
	s.log.LogAttrs(ctx, slog.LevelDebug, "stream", append(attrs, traceAttrs(ctx)...)...)
	return err
}

// collectionOf returns the collection a request names, or "": requests on items name
// it in collection, requests on a collection in name.
func collectionOf(req any) string {
	switch r := req.(type) {
	case interface{ GetCollection() string }:
		return r.GetCollection()
	case interface{ GetName() string }:
		return r.GetName()
	}
	return ""
}
