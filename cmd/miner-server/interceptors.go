package main

import (
	"context"
	"runtime/debug"

	"github.com/grpc-ecosystem/go-grpc-middleware/v2/interceptors"
	"github.com/grpc-ecosystem/go-grpc-middleware/v2/interceptors/auth"
	"github.com/grpc-ecosystem/go-grpc-middleware/v2/interceptors/recovery"
	"github.com/grpc-ecosystem/go-grpc-middleware/v2/interceptors/selector"
	"google.golang.org/grpc"
)

// interceptorOptions chains the server's interceptors, outermost first:
//
//  1. metrics — sees the final status code of every call;
//  2. request log — at debug level, one line per finished call (requestlog.go);
//  3. errors — maps domain and interceptor errors to statuses (errors.go);
//  4. recovery — turns a panic into errPanic, logging the value and stack;
//  5. auth — bearer tokens, for MinerService only (health and reflection are exempt);
//  6. in-flight limit per client, for MinerService only.
func (s *Server) interceptorOptions() []grpc.ServerOption {
	onlyMiner := selector.MatchFunc(func(_ context.Context, c interceptors.CallMeta) bool {
		return c.Service == s.serviceN
	})
	rec := recovery.WithRecoveryHandlerContext(func(ctx context.Context, p any) error {
		method, _ := grpc.Method(ctx)
		s.log.Error("panic in handler", "method", method, "panic", p, "stack", string(debug.Stack()))
		return errPanic
	})
	unary := []grpc.UnaryServerInterceptor{s.metrics.UnaryServerInterceptor(), s.unaryLog, s.unaryErrors, recovery.UnaryServerInterceptor(rec)}
	stream := []grpc.StreamServerInterceptor{s.metrics.StreamServerInterceptor(), s.streamLog, s.streamErrors, recovery.StreamServerInterceptor(rec)}
	if s.tokens != nil {
		unary = append(unary, selector.UnaryServerInterceptor(auth.UnaryServerInterceptor(s.tokens.authenticate), onlyMiner))
		stream = append(stream, selector.StreamServerInterceptor(auth.StreamServerInterceptor(s.tokens.authenticate), onlyMiner))
	}
	unary = append(unary, selector.UnaryServerInterceptor(s.limiter.unary, onlyMiner), selector.UnaryServerInterceptor(s.unaryReady, onlyMiner))
	stream = append(stream, selector.StreamServerInterceptor(s.limiter.stream, onlyMiner), selector.StreamServerInterceptor(s.streamReady, onlyMiner))
	return []grpc.ServerOption{grpc.ChainUnaryInterceptor(unary...), grpc.ChainStreamInterceptor(stream...)}
}

// unaryReady refuses MinerService calls until storage has recovered.
func (s *Server) unaryReady(ctx context.Context, req any, _ *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	if !s.ready.Load() {
		return nil, s.recoveringErr()
	}
	return handler(ctx, req)
}

// streamReady refuses MinerService streams until storage has recovered.
func (s *Server) streamReady(srv any, ss grpc.ServerStream, _ *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
	if !s.ready.Load() {
		return s.recoveringErr()
	}
	return handler(srv, ss)
}
