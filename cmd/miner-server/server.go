package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"time"

	"golang.org/x/sync/errgroup"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/keepalive"
	"google.golang.org/grpc/reflection"
	"google.golang.org/grpc/status"

	hardnegv1 "github.com/hardneg/hardneg/gen/go/hardneg/v1"
	"github.com/hardneg/hardneg/internal/index"
	"github.com/hardneg/hardneg/internal/mining"
)

// Server is a running miner-server: listeners, the gRPC server, the HTTP server and
// storage.
type Server struct {
	cfg      Config
	log      *slog.Logger
	db       *index.DB
	mined    *mining.Recorder
	grpcLis  net.Listener
	httpLis  net.Listener
	grpc     *grpc.Server
	http     *http.Server
	health   *health.Server
	serviceN string
	svc      *service
	served   chan error  // the result of grpc.Serve, which starts before recovery
	ready    atomic.Bool // storage recovered; MinerService calls are answered
}

// NewServer binds the listeners, starts answering gRPC health checks (NOT_SERVING)
// and opens storage, which recovers from disk; MinerService calls are refused with
// UNAVAILABLE until recovery completes. Serve makes the server SERVING.
func NewServer(cfg Config, log *slog.Logger) (*Server, error) {
	s := &Server{cfg: cfg, log: log, serviceN: hardnegv1.MinerService_ServiceDesc.ServiceName, served: make(chan error, 1)}
	var err error
	if s.grpcLis, err = net.Listen("tcp", cfg.GRPCAddr); err != nil {
		return nil, fmt.Errorf("listen on %s: %w", cfg.GRPCAddr, err)
	}
	if s.httpLis, err = net.Listen("tcp", cfg.HTTPAddr); err != nil {
		s.grpcLis.Close()
		return nil, fmt.Errorf("listen on %s: %w", cfg.HTTPAddr, err)
	}
	s.grpc = grpc.NewServer(
		grpc.MaxRecvMsgSize(cfg.MaxMsgBytes),
		grpc.MaxSendMsgSize(cfg.MaxMsgBytes),
		grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{MinTime: cfg.KeepaliveMin, PermitWithoutStream: true}),
		grpc.KeepaliveParams(keepalive.ServerParameters{Time: 2 * time.Minute, Timeout: 20 * time.Second}),
		grpc.ChainUnaryInterceptor(s.unaryErrors),
		grpc.ChainStreamInterceptor(s.streamErrors),
	)
	s.mined = &mining.Recorder{}
	s.svc = &service{log: log, mined: s.mined}
	hardnegv1.RegisterMinerServiceServer(s.grpc, s.svc)
	s.health = health.NewServer()
	s.health.SetServingStatus("", healthpb.HealthCheckResponse_NOT_SERVING)
	s.health.SetServingStatus(s.serviceN, healthpb.HealthCheckResponse_NOT_SERVING)
	healthpb.RegisterHealthServer(s.grpc, s.health)
	reflection.Register(s.grpc)
	go func() { s.served <- s.grpc.Serve(s.grpcLis) }()

	s.log.Info("recovering storage", "data_dir", cfg.DataDir, "grpc", s.GRPCAddr())
	db, err := index.Open(cfg.indexOptions(log.With("component", "storage")))
	if err != nil {
		s.grpc.Stop()
		<-s.served
		s.httpLis.Close()
		return nil, fmt.Errorf("open storage: %w", err)
	}
	s.db = db
	s.svc.db = db
	s.ready.Store(true) // publishes svc.db to handlers (see gate)

	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintln(w, "ok") })
	mux.HandleFunc("GET /readyz", s.readyz)
	s.http = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	return s, nil
}

// GRPCAddr returns the bound gRPC address.
func (s *Server) GRPCAddr() string { return s.grpcLis.Addr().String() }

// HTTPAddr returns the bound HTTP address.
func (s *Server) HTTPAddr() string { return s.httpLis.Addr().String() }

// readyz answers 200 while the gRPC service is SERVING.
func (s *Server) readyz(w http.ResponseWriter, r *http.Request) {
	resp, err := s.health.Check(r.Context(), &healthpb.HealthCheckRequest{Service: s.serviceN})
	if err != nil || resp.Status != healthpb.HealthCheckResponse_SERVING {
		http.Error(w, "not ready", http.StatusServiceUnavailable)
		return
	}
	fmt.Fprintln(w, "ready")
}

// Serve runs the servers until ctx is cancelled or one of them fails, then shuts down:
// health NOT_SERVING, graceful stop with the configured deadline (then a hard stop),
// HTTP shutdown, and storage closed last.
func (s *Server) Serve(ctx context.Context) error {
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error {
		if err := <-s.served; err != nil && !errors.Is(err, grpc.ErrServerStopped) {
			return fmt.Errorf("grpc: %w", err)
		}
		return nil
	})
	g.Go(func() error {
		if err := s.http.Serve(s.httpLis); err != nil && !errors.Is(err, http.ErrServerClosed) {
			return fmt.Errorf("http: %w", err)
		}
		return nil
	})
	g.Go(func() error {
		select {
		case <-s.db.Failed():
			return errors.New("storage failed; exiting so that a restart recovers from disk")
		case <-gctx.Done():
			return nil
		}
	})
	s.health.SetServingStatus("", healthpb.HealthCheckResponse_SERVING)
	s.health.SetServingStatus(s.serviceN, healthpb.HealthCheckResponse_SERVING)
	s.log.Info("serving", "grpc", s.GRPCAddr(), "http", s.HTTPAddr(), "data_dir", s.db.Dir())
	g.Go(func() error {
		<-gctx.Done()
		s.shutdown()
		return nil
	})
	err := g.Wait()
	if cerr := s.db.Close(); cerr != nil && !errors.Is(cerr, index.ErrClosed) {
		err = errors.Join(err, fmt.Errorf("close storage: %w", cerr))
	}
	s.log.Info("stopped")
	return err
}

// shutdown stops serving gracefully within the configured timeout.
func (s *Server) shutdown() {
	s.log.Info("shutting down", "timeout", s.cfg.ShutdownTimeout)
	s.health.Shutdown()
	done := make(chan struct{})
	go func() { s.grpc.GracefulStop(); close(done) }()
	timer := time.NewTimer(s.cfg.ShutdownTimeout)
	defer timer.Stop()
	select {
	case <-done:
	case <-timer.C:
		s.log.Warn("graceful stop timed out; cancelling in-flight calls")
		s.grpc.Stop()
		<-done
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := s.http.Shutdown(ctx); err != nil {
		s.http.Close()
	}
}

// gate refuses MinerService calls until storage has recovered.
func (s *Server) gate(method string) error {
	if !s.ready.Load() && strings.HasPrefix(method, "/"+s.serviceN+"/") {
		return status.Error(codes.Unavailable, "recovering storage; not serving yet")
	}
	return nil
}

// unaryErrors maps handler errors to statuses (errors.go).
func (s *Server) unaryErrors(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	if err := s.gate(info.FullMethod); err != nil {
		return nil, err
	}
	resp, err := handler(ctx, req)
	return resp, toStatus(s.log, info.FullMethod, err)
}

// streamErrors maps stream handler errors to statuses (errors.go).
func (s *Server) streamErrors(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
	if err := s.gate(info.FullMethod); err != nil {
		return err
	}
	return toStatus(s.log, info.FullMethod, handler(srv, ss))
}
