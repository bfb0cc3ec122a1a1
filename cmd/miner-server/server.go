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

	hardnegv1 "github.com/hardneg/hardneg/gen/go/hardneg/v1"
	"github.com/hardneg/hardneg/internal/engine"
	"github.com/hardneg/hardneg/internal/engine/weaviate"
	"github.com/hardneg/hardneg/internal/hugepage"
	"github.com/hardneg/hardneg/internal/index"
	"github.com/hardneg/hardneg/internal/index/vec"
	"github.com/hardneg/hardneg/internal/metrics"
	"github.com/hardneg/hardneg/internal/mining"
	"github.com/hardneg/hardneg/internal/wal"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"golang.org/x/sync/errgroup"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/keepalive"
	"google.golang.org/grpc/reflection"
)

// Server is a running miner-server: listeners, the gRPC server, the HTTP server and
// storage.
type Server struct {
	cfg   Config
	log   *slog.Logger
	db    engine.Engine
	ready atomic.Bool // storage recovered; MinerService calls are served
	// recoveryStart is when recovery began (Unix nanoseconds; 0 before), for the
	// progress a refusal during recovery reports (recoveringErr).
	recoveryStart atomic.Int64
	// abandoned: the server was stopped while storage was still recovering; the
	// recovery goroutine still holds the storage, which is then not closed (the
	// process exits; the next start recovers from disk again).
	abandoned atomic.Bool
	mined     *mining.Recorder
	cal       *perCollection[*mining.Calibration] // per-collection mining score statistics
	exp       *perCollection[*mining.Exposure]    // per-collection counts of served negatives
	hard      *perCollection[*mining.Hardness]    // per-collection closed-loop hardness of anchor keys
	loop      *loopStates                         // saves cal, exp and hard; nil when the engine cannot keep them
	loaded    chan struct{}                       // closed once the loop state is loaded
	ingest    *ingestRecorder
	backups   *backupRecorder
	metrics   *metrics.Metrics
	certs     *certReloader // nil without TLS
	tokens    *tokenStore   // nil without authentication
	limiter   *inFlightLimiter
	grpcLis   net.Listener
	httpLis   net.Listener
	probeLis  net.Listener // nil without -health-grpc-addr
	grpc      *grpc.Server
	probe     *grpc.Server // health only, plaintext; nil without -health-grpc-addr
	http      *http.Server
	health    *health.Server
	serviceN  string
	codec     requestCodec // decodes requests; see codec.go
	svc       *service
	history   *statsHistory            // mining statistics over time for the inspector; nil without -ui
	tracer    *sdktrace.TracerProvider // nil when tracing is off
}

// NewServer opens the engine (-backend: the embedded index in -data-dir, or a
// Weaviate cluster) and binds the listeners; it does not serve yet.
func NewServer(cfg Config, log *slog.Logger) (*Server, error) {
	cr, err := loadCredentials(cfg, log)
	if err != nil {
		return nil, err
	}
	return newServer(cfg, log, cr)
}

// newServer is NewServer with the credentials loaded already.
func newServer(cfg Config, log *slog.Logger, cr credentialSet) (*Server, error) {
	db, err := openEngine(cfg, log.With("component", "storage"))
	if err != nil {
		if cfg.Backend == "embedded" {
			return nil, fmt.Errorf("open storage (-data-dir %s): %w", cfg.DataDir, err)
		}
		return nil, fmt.Errorf("open storage: %w", err)
	}
	cfg.UI = cr.ui
	s := &Server{cfg: cfg, log: log, db: db, certs: cr.certs, tokens: cr.tokens, serviceN: hardnegv1.MinerService_ServiceDesc.ServiceName,
		mined: &mining.Recorder{}, cal: newPerCollection(mining.NewCalibration), exp: newPerCollection(func() *mining.Exposure { return mining.NewExposure(0) }), hard: newPerCollection(mining.NewHardness), ingest: &ingestRecorder{}, backups: &backupRecorder{}, codec: newRequestCodec(), limiter: newInFlightLimiter(cfg.MaxInFlight, cfg.RetryAfter)}
	s.loop, s.loaded = newLoopStates(s), make(chan struct{})
	if err := s.setup(); err != nil {
		s.closeListeners()
		db.Close()
		return nil, err
	}
	return s, nil
}

// openEngine opens the engine cfg.Backend names.
func openEngine(cfg Config, log *slog.Logger) (engine.Engine, error) {
	hugepage.SetEnabled(cfg.HugePages)
	vec.SetAMX(cfg.AMX)
	if cfg.Backend == "weaviate" {
		o := cfg.weaviateOptions()
		o.Logger = log
		return weaviate.Open(o)
	}
	return index.Lock(cfg.indexOptions(log))
}

// credentialSet is what loadCredentials read: the TLS certificates and the tokens (nil
// when not configured), and whether the inspector is served.
type credentialSet struct {
	certs  *certReloader
	tokens *tokenStore
	ui     bool
}

// loadCredentials reads the TLS files and the tokens. It runs before storage opens, so
// a wrong path or a bad token is reported at once, not after a recovery or a wait for
// the Weaviate cluster (or never, when a stop comes during that wait).
func loadCredentials(cfg Config, log *slog.Logger) (credentialSet, error) {
	cr := credentialSet{ui: cfg.UI}
	var err error
	if cfg.TLSCertFile != "" {
		if cr.certs, err = newCertReloader(cfg.TLSCertFile, cfg.TLSKeyFile, cfg.TLSClientCAFile, log); err != nil {
			return cr, err
		}
	}
	if cr.tokens, err = newTokenStore(cfg.AuthTokens, cfg.AuthTokenFile, log); err != nil {
		if env := cfg.envOf["auth-tokens"]; env != "" && strings.Contains(err.Error(), "-auth-tokens") {
			err = fmt.Errorf("%w (set by %s)", err, env)
		}
		return cr, err
	}
	if cr.tokens == nil {
		log.Warn("authentication is off: set -auth-token-file or HARDNEG_AUTH_TOKENS")
	}
	if cr.tokens == nil && cfg.TLSClientCAFile != "" && cfg.UI {
		// Client certificates guard the gRPC port only: the HTTP port has no TLS, and
		// without tokens the inspector's API (list, mine, record verdicts) is open there.
		if !cfg.uiSet {
			cr.ui = false
			log.Warn("the inspector is off: the gRPC port takes only client certificates, but the HTTP port has no TLS and no tokens, so the inspector's API would be open to anyone who reaches it; give tokens (-auth-token-file) to serve it with them, or -ui=true to serve it anyway")
		} else {
			log.Warn("-ui=true without tokens: the inspector's API on the HTTP port is open to anyone who reaches it, though the gRPC port takes only client certificates")
		}
	}
	return cr, nil
}

// setup binds the listeners and builds the servers.
func (s *Server) setup() error {
	cfg := s.cfg
	var err error
	if cfg.tracingOn() {
		if s.tracer, err = newTracerProvider(context.Background(), cfg); err != nil {
			return err
		}
	}
	if s.metrics, err = metrics.New(metrics.Options{Sources: s.metricsSources(), Build: buildInfo()}); err != nil {
		return err
	}
	if s.grpcLis, err = net.Listen("tcp", cfg.GRPCAddr); err != nil {
		return fmt.Errorf("-grpc-addr: listen on %s: %w", cfg.GRPCAddr, err)
	}
	if s.httpLis, err = net.Listen("tcp", cfg.HTTPAddr); err != nil {
		return fmt.Errorf("-http-addr: listen on %s: %w", cfg.HTTPAddr, err)
	}
	if cfg.HealthGRPCAddr != "" {
		if s.probeLis, err = net.Listen("tcp", cfg.HealthGRPCAddr); err != nil {
			return fmt.Errorf("-health-grpc-addr: listen on %s: %w", cfg.HealthGRPCAddr, err)
		}
	}
	opts := []grpc.ServerOption{
		grpc.ForceServerCodecV2(s.codec),
		grpc.MaxRecvMsgSize(cfg.MaxMsgBytes),
		grpc.MaxSendMsgSize(cfg.MaxMsgBytes),
		grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{MinTime: cfg.KeepaliveMin, PermitWithoutStream: true}),
		grpc.KeepaliveParams(keepalive.ServerParameters{Time: 2 * time.Minute, Timeout: 20 * time.Second}),
	}
	if s.certs != nil {
		opts = append(opts, grpc.Creds(credentials.NewTLS(s.certs.serverConfig())))
	}
	opts = append(opts, s.tracingOptions()...)
	s.grpc = grpc.NewServer(append(opts, s.interceptorOptions()...)...)
	s.svc = &service{db: s.db, log: s.log, maxMsgBytes: cfg.MaxMsgBytes, stopping: make(chan struct{}), mined: s.mined, cal: s.cal, exp: s.exp, hard: s.hard, ingest: s.ingest, backups: s.backups}
	s.grpc.RegisterService(s.codec.withDecodeErrors(&hardnegv1.MinerService_ServiceDesc), s.svc)
	if cfg.UI {
		s.history = newStatsHistory(historySamples)
	}
	s.health = health.NewServer()
	s.health.SetServingStatus("", healthpb.HealthCheckResponse_NOT_SERVING)
	s.health.SetServingStatus(s.serviceN, healthpb.HealthCheckResponse_NOT_SERVING)
	healthpb.RegisterHealthServer(s.grpc, s.health)
	reflection.Register(s.grpc)
	s.metrics.InitializeGRPC(s.grpc)
	if s.probeLis != nil {
		s.probe = grpc.NewServer()
		healthpb.RegisterHealthServer(s.probe, s.health)
	}
	s.http = s.newHTTPServer()
	return nil
}

// closeListeners closes whatever listeners setup bound.
func (s *Server) closeListeners() {
	for _, l := range []net.Listener{s.grpcLis, s.httpLis, s.probeLis} {
		if l != nil {
			l.Close()
		}
	}
}

// GRPCAddr returns the bound gRPC address.
func (s *Server) GRPCAddr() string { return s.grpcLis.Addr().String() }

// HTTPAddr returns the bound HTTP address.
func (s *Server) HTTPAddr() string { return s.httpLis.Addr().String() }

// HealthGRPCAddr returns the bound plaintext health address, or "" without one.
func (s *Server) HealthGRPCAddr() string {
	if s.probeLis == nil {
		return ""
	}
	return s.probeLis.Addr().String()
}

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
		if err := s.grpc.Serve(s.grpcLis); err != nil && !errors.Is(err, grpc.ErrServerStopped) {
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
	if s.probe != nil {
		g.Go(func() error {
			if err := s.probe.Serve(s.probeLis); err != nil && !errors.Is(err, grpc.ErrServerStopped) {
				return fmt.Errorf("grpc health: %w", err)
			}
			return nil
		})
	}
	g.Go(func() error {
		// Health answers NOT_SERVING and MinerService calls are refused (UNAVAILABLE)
		// until storage has recovered.
		st, local := s.db.(engine.Storage)
		dataDir := "none"
		if local {
			dataDir = st.Dir()
		}
		s.log.Info("recovering storage", "data_dir", dataDir, "grpc", s.GRPCAddr(), "http", s.HTTPAddr())
		if err := s.recover(gctx); err != nil {
			return err
		}
		if gctx.Err() != nil {
			return nil
		}
		if s.loop != nil {
			s.loop.load()
		}
		close(s.loaded)
		s.ready.Store(true)
		s.health.SetServingStatus("", healthpb.HealthCheckResponse_SERVING)
		s.health.SetServingStatus(s.serviceN, healthpb.HealthCheckResponse_SERVING)
		var recovery time.Duration
		if local {
			recovery = st.Recovery().Duration
		}
		k := vec.Kernels()
		s.log.Info("serving", "grpc", s.GRPCAddr(), "http", s.HTTPAddr(), "data_dir", dataDir,
			"recovery", recovery, "tls", s.certs != nil, "mtls", s.cfg.TLSClientCAFile != "", "auth", s.tokens != nil,
			slog.Group("kernels", "float", k.Float, "gemm", k.GEMM, "int8", k.Int8))
		select {
		case <-s.db.Failed():
			return errors.New("storage failed; exiting so that a restart recovers from disk")
		case <-gctx.Done():
			return nil
		}
	})
	if s.history != nil {
		g.Go(func() error {
			s.history.run(gctx, historyInterval, s.mined.Snapshot)
			return nil
		})
	}
	if s.loop != nil {
		g.Go(func() error {
			select {
			case <-s.loaded:
				s.loop.run(gctx, s.cfg.LoopStateInterval)
			case <-gctx.Done():
			}
			return nil
		})
	}
	g.Go(func() error {
		<-gctx.Done()
		s.shutdown()
		return nil
	})
	err := g.Wait()
	if s.abandoned.Load() {
		s.shutdownTracing()
		s.log.Info("stopped during recovery; the next start recovers from disk")
		return err
	}
	if s.loop != nil && s.ready.Load() {
		// Every call has finished: this save holds all of their effects.
		s.loop.save()
	}
	if st, ok := s.db.(engine.Storage); ok && s.ready.Load() && s.cfg.ShutdownSnapshot > 0 && !s.cfg.EphemeralDataDir && !s.storageFailed() {
		s.snapshotAtStop(st)
	}
	s.shutdownTracing()
	if cerr := s.db.Close(); cerr != nil && !errors.Is(cerr, engine.ErrClosed) {
		err = errors.Join(err, fmt.Errorf("close storage: %w", cerr))
	}
	s.log.Info("stopped")
	return err
}

// served reports whether the server recovered its storage and served (the stop that
// ended Serve did not come during recovery).
func (s *Server) served() bool { return s.ready.Load() && !s.abandoned.Load() }

// storageFailed reports whether storage has failed (a snapshot could not be made
// durable then).
func (s *Server) storageFailed() bool {
	select {
	case <-s.db.Failed():
		return true
	default:
		return false
	}
}

// snapshotAtStop snapshots the collections changed since their last snapshot, within
// -shutdown-snapshot-timeout, so that the next start loads snapshots instead of
// replaying the log (a rolling restart would otherwise replay up to a quarter of a
// collection's vectors, re-inserting each into the graph). Every call has finished, so
// nothing changes meanwhile; one cut short by the deadline loses nothing.
func (s *Server) snapshotAtStop(st engine.Storage) {
	start := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), s.cfg.ShutdownSnapshot)
	defer cancel()
	written, left, err := st.SnapshotChanged(ctx)
	args := []any{"written", written, "left", left, "took", time.Since(start).Round(time.Millisecond)}
	switch {
	case err != nil:
		s.log.Error("snapshots at stop failed; the next start replays the log for them", append(args, "err", err)...)
	case left > 0:
		s.log.Warn("snapshots at stop cut short by -shutdown-snapshot-timeout; the next start replays the log for the rest", args...)
	case written > 0:
		s.log.Info("snapshots at stop written", args...)
	}
}

// recoveryProgressEvery is how often a long start-up recovery logs its progress.
var recoveryProgressEvery = 5 * time.Second

// recover runs the storage's recovery, logging its progress while it lasts. When ctx
// ends first (a stop signal), it returns at once and marks the server abandoned:
// recovery is a replay of what is on disk, safe to cut short like a crash.
func (s *Server) recover(ctx context.Context) error {
	done := make(chan error, 1)
	start := time.Now()
	s.recoveryStart.Store(start.UnixNano())
	go func() { done <- s.db.Recover() }()
	tick := time.NewTicker(recoveryProgressEvery)
	defer tick.Stop()
	for {
		select {
		case err := <-done:
			if err != nil {
				if errors.Is(err, index.ErrDataMissing) || errors.Is(err, wal.ErrCorrupt) {
					// The refusal alone leaves an operator in a restart loop: say what to do.
					return fmt.Errorf("recover storage: %w; the data directory is left as it is: copy it aside, then see \"Startup refused\" in docs/OPERATIONS.md (-wal-salvage starts with what is intact)", err)
				}
				return fmt.Errorf("recover storage: %w", err)
			}
			return nil
		case <-tick.C:
			args := []any{"elapsed", time.Since(start).Round(time.Second)}
			if p, ok := s.db.(interface{ RecoveryProgress() (uint64, uint64) }); ok {
				if done, total := p.RecoveryProgress(); total > 0 {
					args = append(args, "log_records_replayed", done, "log_records", total)
				}
			}
			s.log.Info("recovering storage", args...)
		case <-ctx.Done():
			s.abandoned.Store(true)
			s.log.Warn("stop requested during recovery: recovery abandoned", "elapsed", time.Since(start).Round(time.Second))
			return nil
		}
	}
}

// recoveringErr is the refusal of a call made before storage has recovered, with the
// recovery's progress so far.
func (s *Server) recoveringErr() error {
	r := &recovering{}
	if at := s.recoveryStart.Load(); at != 0 {
		r.elapsed = time.Since(time.Unix(0, at))
	}
	if p, ok := s.db.(interface{ RecoveryProgress() (uint64, uint64) }); ok {
		r.replayed, r.total = p.RecoveryProgress()
	}
	return r
}

// shutdown stops serving gracefully within the configured timeout.
func (s *Server) shutdown() {
	s.log.Info("shutting down", "timeout", s.cfg.ShutdownTimeout)
	s.health.Shutdown()
	s.svc.stopStreams()
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
	if s.probe != nil {
		s.probe.Stop()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := s.http.Shutdown(ctx); err != nil {
		s.http.Close()
	}
}

// unaryErrors maps handler errors to statuses (errors.go).
func (s *Server) unaryErrors(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	resp, err := handler(ctx, req)
	return resp, grpcStatus(s.log, info.FullMethod, pastDeadline(ctx, err, time.Now()))
}

// streamErrors maps stream handler errors to statuses (errors.go).
func (s *Server) streamErrors(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
	err := handler(srv, decodeErrorStream{ss, s.codec})
	return grpcStatus(s.log, info.FullMethod, pastDeadline(ss.Context(), err, time.Now()))
}

// deadlineSlack is how close to its deadline a cancelled call counts as past it: the
// client's deadline starts when it sends, the server's when it receives.
const deadlineSlack = 100 * time.Millisecond

// pastDeadline turns a call cancelled at its deadline into context.DeadlineExceeded. A
// client whose deadline passes resets the stream as its own timer fires, which reaches
// the handler as a cancellation at about the server's copy of the deadline: the log,
// grpc_server_handled_total and the error-ratio alert would count it as Canceled.
func pastDeadline(ctx context.Context, err error, now time.Time) error {
	if !errors.Is(err, context.Canceled) {
		return err
	}
	if d, ok := ctx.Deadline(); ok && !now.Before(d.Add(-deadlineSlack)) {
		return fmt.Errorf("%w (the call's deadline passed)", context.DeadlineExceeded)
	}
	return err
}
