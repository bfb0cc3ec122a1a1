package main

import (
	"context"
	"fmt"
	"net"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/peer"

	"github.com/hardneg/hardneg/internal/metrics"
)

// inFlightLimiter bounds the calls (unary calls and open streams) each client has in
// flight. A client is its token name when authentication is on, else the subject of
// its verified client certificate, else its IP address. Calls over the limit are
// refused at once with RESOURCE_EXHAUSTED and a RetryInfo detail.
type inFlightLimiter struct {
	limit int           // per client; 0 means unlimited
	retry time.Duration // delay suggested to refused clients

	// mu guards every field below.
	mu       sync.Mutex
	byClient map[string]int // clients with at least one call in flight
	total    int64
	rejected uint64
}

func newInFlightLimiter(limit int, retry time.Duration) *inFlightLimiter {
	return &inFlightLimiter{limit: limit, retry: retry, byClient: map[string]int{}}
}

// acquire admits a call of client or returns errTooManyInFlight.
func (l *inFlightLimiter) acquire(client string) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.limit > 0 && l.byClient[client] >= l.limit {
		l.rejected++
		return &retryAfter{err: fmt.Errorf("%w: %d, the limit (-max-in-flight-per-client); retry after %s", errTooManyInFlight, l.byClient[client], l.retry), delay: l.retry}
	}
	l.byClient[client]++
	l.total++
	return nil
}

func (l *inFlightLimiter) release(client string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.byClient[client]--; l.byClient[client] <= 0 {
		delete(l.byClient, client)
	}
	l.total--
}

// stats reports the limiter for metrics.
func (l *inFlightLimiter) stats() metrics.LimitStats {
	l.mu.Lock()
	defer l.mu.Unlock()
	return metrics.LimitStats{InFlight: l.total, Rejected: l.rejected}
}

func (l *inFlightLimiter) unary(ctx context.Context, req any, _ *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	client := clientOf(ctx)
	if err := l.acquire(client); err != nil {
		return nil, err
	}
	defer l.release(client)
	return handler(ctx, req)
}

func (l *inFlightLimiter) stream(srv any, ss grpc.ServerStream, _ *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
	client := clientOf(ss.Context())
	if err := l.acquire(client); err != nil {
		return err
	}
	defer l.release(client)
	return handler(srv, ss)
}

// clientOf names the caller for per-client accounting.
func clientOf(ctx context.Context) string {
	if p, ok := principalFrom(ctx); ok {
		return "token:" + p.name
	}
	pr, ok := peer.FromContext(ctx)
	if !ok {
		return "unknown"
	}
	if ti, ok := pr.AuthInfo.(credentials.TLSInfo); ok && len(ti.State.VerifiedChains) > 0 {
		return "cert:" + ti.State.VerifiedChains[0][0].Subject.String()
	}
	return addrClient(pr.Addr.String())
}

// addrClient is the client key of an unauthenticated caller at addr (host:port): its
// host, so that its connections count together.
func addrClient(addr string) string {
	if host, _, err := net.SplitHostPort(addr); err == nil {
		return "ip:" + host
	}
	return "addr:" + addr
}
