package metrics

import (
	"fmt"
	"net/http"
	"runtime"
	"runtime/debug"

	grpcprom "github.com/grpc-ecosystem/go-grpc-middleware/providers/prometheus"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"google.golang.org/grpc"
)

// DefaultHandlingBuckets are the upper bounds, in seconds, of the gRPC handling-time
// histogram: from half a millisecond (a small Mine) to half a minute (a large batch
// upsert on a slow disk).
var DefaultHandlingBuckets = []float64{0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30}

// Options configure New. The zero value is valid: no domain sources, the default
// buckets and build information read from the binary.
type Options struct {
	// Sources feed the hardneg_* metrics.
	Sources Sources
	// Build labels hardneg_build_info. Empty fields are filled from the binary's
	// build information ("unknown" where it has none).
	Build BuildInfo
	// HandlingBuckets overrides DefaultHandlingBuckets; they must be increasing.
	HandlingBuckets []float64
}

// Metrics is the server's registry and its gRPC instrumentation.
type Metrics struct {
	reg  *prometheus.Registry
	grpc *grpcprom.ServerMetrics
}

// New builds a registry with the Go and process collectors, the gRPC server metrics
// and the domain collector.
func New(opts Options) (*Metrics, error) {
	buckets := opts.HandlingBuckets
	if buckets == nil {
		buckets = DefaultHandlingBuckets
	}
	for i := 1; i < len(buckets); i++ {
		if buckets[i] <= buckets[i-1] {
			return nil, fmt.Errorf("metrics: handling buckets must increase, got %v", buckets)
		}
	}
	m := &Metrics{
		reg: prometheus.NewRegistry(),
		grpc: grpcprom.NewServerMetrics(grpcprom.WithServerHandlingTimeHistogram(
			grpcprom.WithHistogramBuckets(buckets),
		)),
	}
	for _, c := range []prometheus.Collector{
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		m.grpc,
		&collector{src: opts.Sources, build: CompleteBuild(opts.Build)},
	} {
		if err := m.reg.Register(c); err != nil {
			return nil, fmt.Errorf("metrics: register: %w", err)
		}
	}
	return m, nil
}

// CompleteBuild completes b from the binary's build information: the main module's
// version and VCS revision recorded by go build, else "unknown". The Go version is
// always the running one.
func CompleteBuild(b BuildInfo) BuildInfo {
	if b.GoVersion == "" {
		b.GoVersion = runtime.Version()
	}
	if info, ok := debug.ReadBuildInfo(); ok {
		if b.Version == "" && info.Main.Version != "" && info.Main.Version != "(devel)" {
			b.Version = info.Main.Version
		}
		for _, s := range info.Settings {
			if s.Key == "vcs.revision" && b.Revision == "" {
				b.Revision = s.Value
			}
		}
	}
	if b.Version == "" {
		b.Version = "unknown"
	}
	if b.Revision == "" {
		b.Revision = "unknown"
	}
	return b
}

// Gatherer returns the registry, for tests and for embedding in other handlers.
func (m *Metrics) Gatherer() prometheus.Gatherer { return m.reg }

// Handler serves the registry in the Prometheus exposition formats.
func (m *Metrics) Handler() http.Handler {
	return promhttp.InstrumentMetricHandler(m.reg, promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{
		Registry:          m.reg,
		EnableOpenMetrics: true,
	}))
}

// UnaryServerInterceptor records started and handled calls and handling time.
func (m *Metrics) UnaryServerInterceptor() grpc.UnaryServerInterceptor {
	return m.grpc.UnaryServerInterceptor()
}

// StreamServerInterceptor records started and handled streams, their messages and
// handling time.
func (m *Metrics) StreamServerInterceptor() grpc.StreamServerInterceptor {
	return m.grpc.StreamServerInterceptor()
}

// InitializeGRPC creates the gRPC series of every registered method with zero
// values, so rates and ratios exist before the first call.
func (m *Metrics) InitializeGRPC(srv *grpc.Server) { m.grpc.InitializeMetrics(srv) }
