package weaviate

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/weaviate/weaviate-go-client/v5/weaviate/fault"
	pb "github.com/weaviate/weaviate/grpc/generated/protocol/v1"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/hardneg/hardneg/internal/engine"
)

// flakyCluster answers BatchObjects as a cluster that is re-electing its schema leader:
// the first calls fail the objects in bad (by UUID), or the whole call with callErr.
type flakyCluster struct {
	pb.WeaviateClient
	failCalls int             // calls that fail before the cluster recovers
	bad       map[string]bool // objects those calls fail one by one (nil: the whole call fails)
	callErr   error           // the error of a whole failed call
	calls     [][]string      // the UUIDs each call sent
	written   map[string]int  // how often each object was written
}

func (f *flakyCluster) BatchObjects(_ context.Context, in *pb.BatchObjectsRequest, _ ...grpc.CallOption) (*pb.BatchObjectsReply, error) {
	var uuids []string
	for _, o := range in.Objects {
		uuids = append(uuids, o.Uuid)
	}
	f.calls = append(f.calls, uuids)
	failing := len(f.calls) <= f.failCalls
	if failing && f.bad == nil {
		return nil, f.callErr
	}
	reply := &pb.BatchObjectsReply{}
	for i, o := range in.Objects {
		if failing && f.bad[o.Uuid] {
			reply.Errors = append(reply.Errors, &pb.BatchObjectsReply_BatchError{Index: int32(i),
				Error: "failed to execute query: rpc error: code = Canceled desc = grpc: the client connection is closing"})
			continue
		}
		f.written[o.Uuid]++
	}
	return reply, nil
}

func testEngine(f *flakyCluster, retryFor time.Duration) *Engine {
	o := Options{Timeout: time.Second, RetryFor: retryFor}
	return newEngine(&conn{opts: o, data: f})
}

func objects(n int) []*pb.BatchObject {
	out := make([]*pb.BatchObject, n)
	for i := range out {
		out[i] = &pb.BatchObject{Uuid: fmt.Sprintf("u%d", i)}
	}
	return out
}

// A batch whose objects fail while the leader is re-elected is written completely once
// the cluster answers again, and only the failed objects are resent.
func TestWriteObjectsResendsFailedObjects(t *testing.T) {
	f := &flakyCluster{failCalls: 3, bad: map[string]bool{"u1": true, "u3": true}, written: map[string]int{}}
	e := testEngine(f, time.Minute)
	if err := e.writeObjects(context.Background(), objects(5)); err != nil {
		t.Fatal(err)
	}
	if retries, gaveUp := e.RetryStats(); retries != 3 || gaveUp != 0 {
		t.Fatalf("RetryStats %d, %d; want 3 retries, none given up", retries, gaveUp)
	}
	if len(f.calls) != 4 {
		t.Fatalf("%d calls, want 4 (3 failed, then the retry that succeeds)", len(f.calls))
	}
	for _, c := range f.calls[1:] {
		if strings.Join(c, ",") != "u1,u3" {
			t.Fatalf("a retry sent %v, want the failed objects u1,u3 only", c)
		}
	}
	for i := range 5 {
		if f.written[fmt.Sprintf("u%d", i)] != 1 {
			t.Fatalf("writes per object %v, want each once", f.written)
		}
	}
}

// Unavailable and timed-out calls are retried until RetryFor runs out; the last error
// is returned.
func TestWriteObjectsGivesUpAfterRetryFor(t *testing.T) {
	f := &flakyCluster{failCalls: 1 << 30, callErr: status.Error(codes.Unavailable, "connection refused"), written: map[string]int{}}
	// The cluster never recovers: the call returns only because RetryFor ran out.
	e := testEngine(f, 2*time.Second)
	err := e.writeObjects(context.Background(), objects(2))
	if retries, gaveUp := e.RetryStats(); retries != uint64(len(f.calls)-1) || gaveUp != 1 {
		t.Fatalf("RetryStats %d, %d after %d calls; want %d retries, one given up", retries, gaveUp, len(f.calls), len(f.calls)-1)
	}
	if status.Code(errors.Unwrap(err)) != codes.Unavailable {
		t.Fatalf("err %v, want the Unavailable of the last attempt", err)
	}
	if len(f.calls) < 2 {
		t.Fatalf("%d calls: want retries until RetryFor ran out", len(f.calls))
	}
}

// Errors that name the request are returned at once, and so is the caller's cancellation.
func TestWriteObjectsDoesNotRetryPermanentErrors(t *testing.T) {
	for _, err := range []error{
		status.Error(codes.InvalidArgument, "vector length"),
		status.Error(codes.Unauthenticated, "bad key"),
		status.Error(codes.Unknown, `could not find class Hardneg_x in schema`),
	} {
		f := &flakyCluster{failCalls: 1 << 30, callErr: err, written: map[string]int{}}
		if got := testEngine(f, time.Minute).writeObjects(context.Background(), objects(1)); got == nil || len(f.calls) != 1 {
			t.Errorf("%v: %d calls, err %v; want one call and the error", err, len(f.calls), got)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	f := &flakyCluster{failCalls: 1 << 30, callErr: status.Error(codes.Unavailable, "down"), written: map[string]int{}}
	if err := testEngine(f, time.Minute).writeObjects(ctx, objects(1)); err == nil || len(f.calls) != 1 {
		t.Errorf("cancelled: %d calls, err %v; want one call and the error", len(f.calls), err)
	}
}

// A negative RetryFor turns retries off.
func TestRetryOff(t *testing.T) {
	f := &flakyCluster{failCalls: 1, callErr: status.Error(codes.Unavailable, "down"), written: map[string]int{}}
	if err := testEngine(f, -1).writeObjects(context.Background(), objects(1)); err == nil || len(f.calls) != 1 {
		t.Fatalf("%d calls, err %v; want one failed call", len(f.calls), err)
	}
}

func TestTransient(t *testing.T) {
	for _, c := range []struct {
		err  error
		want bool
	}{
		{status.Error(codes.Unavailable, "x"), true},
		{status.Error(codes.DeadlineExceeded, "x"), true},
		{status.Error(codes.Internal, "failed to query leader"), true},
		{fmt.Errorf("wrapped: %w", status.Error(codes.Unauthenticated, "x")), false},
		{&fault.WeaviateClientError{StatusCode: 503, Msg: "x"}, true},
		{&fault.WeaviateClientError{StatusCode: 422, Msg: "x"}, false},
		{&fault.WeaviateClientError{StatusCode: 404, Msg: "x"}, false}, // getByID: absent
		{&fault.WeaviateClientError{Msg: "dial tcp: connection refused"}, true},
		{fmt.Errorf("%q: %w", "c", engine.ErrCollectionNotFound), false},
	} {
		if got := transient(c.err); got != c.want {
			t.Errorf("transient(%v) = %v, want %v", c.err, got, c.want)
		}
	}
}
