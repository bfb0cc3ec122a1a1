package weaviate

import (
	"context"
	"errors"
	"math/rand/v2"
	"net/http"
	"time"

	"github.com/weaviate/weaviate-go-client/v5/weaviate/fault"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/hardneg/hardneg/internal/engine"
)

// Backoff between the attempts of one call: it doubles from retryFirst up to retryMax,
// with ±25 % jitter so that miners behind one cluster do not retry in step.
const (
	retryFirst = 100 * time.Millisecond
	retryMax   = 2 * time.Second
)

// retry runs one call to Weaviate until it succeeds, fails for good, or RetryFor has
// passed since the first attempt. Each attempt runs under its own Timeout. Reads and
// writes of this engine are idempotent (objects are written by deterministic UUIDs),
// so an attempt that timed out after Weaviate applied it is harmless to repeat.
//
// What is retried is what a cluster answers while it loses a node or re-elects its
// schema leader: unavailable replicas, connection errors, timeouts and server errors.
// Errors that say the request itself is wrong (a missing collection, bad arguments,
// refused credentials) are returned at once, as is the caller's cancellation.
func (c *conn) retry(ctx context.Context, f func(ctx context.Context) error) error {
	start := time.Now()
	wait := retryFirst
	for {
		actx, cancel := context.WithTimeout(ctx, c.opts.Timeout)
		c.calls.Add(1)
		err := f(actx)
		cancel()
		if err == nil || ctx.Err() != nil || !transient(err) {
			return err
		}
		if time.Since(start)+wait > c.opts.RetryFor {
			if c.opts.RetryFor > 0 {
				c.gaveUp.Add(1)
			}
			return err
		}
		c.retries.Add(1)
		jittered := time.Duration(float64(wait) * (0.75 + rand.Float64()/2))
		select {
		case <-ctx.Done():
			return err
		case <-time.After(jittered):
		}
		wait = min(2*wait, retryMax)
	}
}

// once runs one call to Weaviate without retries, bounded by Timeout: for reads whose
// caller would rather have no answer than wait (metrics scrapes, statistics).
func (c *conn) once(ctx context.Context, f func(ctx context.Context) error) error {
	actx, cancel := context.WithTimeout(ctx, c.opts.Timeout)
	defer cancel()
	c.calls.Add(1)
	return f(actx)
}

// transient reports whether err may go away when the call is repeated.
func transient(err error) bool {
	if errors.Is(err, engine.ErrCollectionNotFound) || isNotFound(err) {
		return false
	}
	var we *fault.WeaviateClientError
	if errors.As(err, &we) && we.StatusCode != 0 {
		return we.StatusCode >= 500 || we.StatusCode == http.StatusTooManyRequests || we.StatusCode == http.StatusRequestTimeout
	}
	if s, ok := status.FromError(err); ok {
		switch s.Code() {
		case codes.InvalidArgument, codes.NotFound, codes.AlreadyExists, codes.PermissionDenied,
			codes.Unauthenticated, codes.Unimplemented, codes.FailedPrecondition, codes.OutOfRange,
			// Canceled: this engine's own connection closing, or the caller gone;
			// ResourceExhausted: a message over gRPC's size limit.
			codes.Canceled, codes.ResourceExhausted:
			return false
		}
	}
	// Network errors, attempt timeouts, and the per-object errors of a batch write
	// (plain text: Weaviate reports a replica or schema-leader failure there).
	return true
}
