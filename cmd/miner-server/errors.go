package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"syscall"
	"time"

	"github.com/hardneg/hardneg/internal/engine"
	"github.com/hardneg/hardneg/internal/validate"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/protoadapt"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/durationpb"
)

// Errors raised by the server's own interceptors (auth.go, limits.go, interceptors.go).
var (
	// errUnauthenticated: the call carries no bearer token, or one the server does not
	// know.
	errUnauthenticated = errors.New("missing or unknown bearer token")
	// errPermissionDenied: the token is valid but its role does not allow the method.
	errPermissionDenied = errors.New("token role does not allow this method")
	// errTooManyInFlight: the client already has its limit of calls in flight.
	errTooManyInFlight = errors.New("too many requests in flight for this client")
	// errRecovering: storage is still being recovered at start-up.
	errRecovering = errors.New("storage is recovering; retry shortly")
	// errShuttingDown: the server is stopping; an upsert stream ends after the batches
	// it received, and its writer resumes elsewhere or after the restart.
	errShuttingDown = errors.New("server shutting down; resume the stream from the next unacknowledged batch")
	// errPanic: a handler panicked; the panic is logged, the client sees only this.
	errPanic = errors.New("internal error")
)

// retryAfter wraps an error with the delay a client should wait before retrying;
// toStatus turns it into an errdetails.RetryInfo detail.
type retryAfter struct {
	err   error
	delay time.Duration
}

func (r *retryAfter) Error() string { return r.err.Error() }
func (r *retryAfter) Unwrap() error { return r.err }

// codeTable maps domain errors to gRPC codes. It is the only place where the server
// decides a status code; handlers return domain errors unchanged.
var codeTable = []struct {
	err  error
	code codes.Code
}{
	{engine.ErrCollectionNotFound, codes.NotFound},
	{engine.ErrCollectionExists, codes.AlreadyExists},
	{engine.ErrSequenceGap, codes.FailedPrecondition},
	{engine.ErrGuideRole, codes.FailedPrecondition},
	{engine.ErrCollectionNotEmpty, codes.FailedPrecondition},
	{engine.ErrEphemeral, codes.FailedPrecondition},
	{engine.ErrBackupInvalid, codes.InvalidArgument},
	{engine.ErrBackupDamaged, codes.DataLoss},
	{engine.ErrClosed, codes.Unavailable},
	{engine.ErrRecovering, codes.Unavailable},
	{engine.ErrStorageFailed, codes.Unavailable},
	{engine.ErrUnsupported, codes.Unimplemented},
	{errUnauthenticated, codes.Unauthenticated},
	{errPermissionDenied, codes.PermissionDenied},
	{errTooManyInFlight, codes.ResourceExhausted},
	{errRecovering, codes.Unavailable},
	{errShuttingDown, codes.Unavailable},
	{errPanic, codes.Internal},
	{context.Canceled, codes.Canceled},
	{context.DeadlineExceeded, codes.DeadlineExceeded},
	// The data volume, for work that fails alone (a snapshot, a backup, a restore; the
	// log's failures are ErrStorageFailed above): the message names the file and cause.
	{engine.ErrNoSpace, codes.ResourceExhausted},
	{syscall.ENOSPC, codes.ResourceExhausted},
	{syscall.EDQUOT, codes.ResourceExhausted},
	{syscall.EACCES, codes.FailedPrecondition},
	{syscall.EPERM, codes.FailedPrecondition},
	{syscall.EROFS, codes.FailedPrecondition},
}

// toStatus converts a handler's error into a gRPC status error. Validation errors
// become INVALID_ARGUMENT with a BadRequest detail listing every bad field; errors in
// codeTable keep their message; anything else is logged and answered with INTERNAL and a
// generic message, so internals never leak to clients.
func toStatus(log *slog.Logger, method string, err error) error {
	if err == nil {
		return nil
	}
	if _, ok := status.FromError(err); ok {
		return err
	}
	var verr *validate.Error
	if errors.As(err, &verr) {
		st := status.New(codes.InvalidArgument, verr.Error())
		br := &errdetails.BadRequest{}
		for _, v := range verr.Violations {
			br.FieldViolations = append(br.FieldViolations, &errdetails.BadRequest_FieldViolation{Field: v.Field, Description: v.Description})
		}
		details := []protoadapt.MessageV1{br}
		var big *responseTooLarge
		if errors.As(err, &big) {
			details = append(details, &errdetails.ErrorInfo{Reason: ReasonResponseTooLarge, Domain: "hardneg.v1",
				Metadata: map[string]string{"bytes": strconv.FormatInt(big.need, 10), "limit": strconv.FormatInt(big.limit, 10)}})
		}
		if withDetails, derr := st.WithDetails(details...); derr == nil {
			st = withDetails
		}
		return st.Err()
	}
	for _, e := range codeTable {
		if errors.Is(err, e.err) {
			st := status.New(e.code, validate.Clip(err.Error(), maxStatusMessage))
			var ra *retryAfter
			if errors.As(err, &ra) {
				if withDetails, derr := st.WithDetails(&errdetails.RetryInfo{RetryDelay: durationpb.New(ra.delay)}); derr == nil {
					st = withDetails
				}
			}
			if errors.Is(err, errRecovering) || errors.Is(err, engine.ErrRecovering) {
				details := []protoadapt.MessageV1{recoveringInfo(err)}
				if ra == nil {
					details = append(details, &errdetails.RetryInfo{RetryDelay: durationpb.New(recoveringRetry)})
				}
				if withDetails, derr := st.WithDetails(details...); derr == nil {
					st = withDetails
				}
			}
			var gap *engine.SequenceGapError
			if errors.As(err, &gap) {
				if withDetails, derr := st.WithDetails(sequenceGapInfo(gap)); derr == nil {
					st = withDetails
				}
			}
			return st.Err()
		}
	}
	log.Error("internal error", "method", method, "err", err)
	return status.Error(codes.Internal, "internal error")
}

// maxStatusMessage and maxStatusBytes bound what an error's trailers carry: the
// message (grpc-message, percent-encoded: up to 3 bytes per byte) and the encoded
// google.rpc.Status with its details (grpc-status-details-bin, base64: 4 bytes per 3,
// holding the message again). A gRPC client in Python (C-core) accepts 8 KiB of
// metadata by default and answers a larger trailer with INTERNAL (RST_STREAM) or
// RESOURCE_EXHAUSTED, losing the error and the field it names; these bounds keep the
// worst case near 5.5 KiB.
const (
	maxStatusMessage = 1024
	maxStatusBytes   = 2048
)

// grpcStatus is toStatus for an answer over gRPC: the status fits a small client's
// trailers (fitTrailers). The inspector's JSON answers, which have no such limit, take
// toStatus's.
func grpcStatus(log *slog.Logger, method string, err error) error {
	err = toStatus(log, method, err)
	if st, ok := status.FromError(err); ok && err != nil {
		if fit, changed := fitTrailers(st); changed {
			return fit.Err()
		}
	}
	return err
}

// fitTrailers returns st with its message cut to maxStatusMessage and, while the
// encoded status is over maxStatusBytes, its BadRequest's last field violations (the
// first stays) and then its last details dropped; changed reports whether it cut
// anything. The message keeps naming the first bad field.
func fitTrailers(st *status.Status) (_ *status.Status, changed bool) {
	p := st.Proto()
	if len(p.GetMessage()) > maxStatusMessage {
		p.Message, changed = validate.Clip(p.GetMessage(), maxStatusMessage), true
	}
	for proto.Size(p) > maxStatusBytes && len(p.Details) > 0 {
		changed = true
		trimmed := false
		for i, d := range p.Details {
			br := &errdetails.BadRequest{}
			if d.UnmarshalTo(br) != nil || len(br.FieldViolations) < 2 {
				continue
			}
			br.FieldViolations = br.FieldViolations[:len(br.FieldViolations)-1]
			if a, err := anypb.New(br); err == nil {
				p.Details[i], trimmed = a, true
			}
			break
		}
		if !trimmed {
			p.Details = p.Details[:len(p.Details)-1]
		}
	}
	if !changed {
		return st, false
	}
	return status.FromProto(p), true
}

// ReasonSequenceGap is the ErrorInfo reason of a FAILED_PRECONDITION for an UpsertStream
// batch above its writer's next sequence; the metadata name the writer ("writer_id")
// and the sequence its next batch must carry ("next_sequence", decimal).
const ReasonSequenceGap = "SEQUENCE_GAP"

// ReasonRecovering is the ErrorInfo reason of the UNAVAILABLE that answers a call made
// while storage is still being recovered at start-up: the server is up and will serve
// once recovery ends, so a client may keep waiting past its usual retries (the Python
// client's RetryPolicy.recovery_wait). The metadata give the progress when known:
// "log_records_replayed" and "log_records" (decimal), and "elapsed_seconds".
const ReasonRecovering = "RECOVERING"

// recoveringRetry is the RetryInfo delay sent with ReasonRecovering.
const recoveringRetry = time.Second

// recovering is the refusal of a call made while storage recovers, with the progress
// of the recovery when the engine reports it.
type recovering struct {
	elapsed         time.Duration
	replayed, total uint64
}

func (r *recovering) Error() string {
	msg := errRecovering.Error()
	if r.total > 0 {
		msg = fmt.Sprintf("%s (%d of %d log records replayed in %s)", msg, r.replayed, r.total, r.elapsed.Round(time.Second))
	}
	return msg
}
func (r *recovering) Unwrap() error { return errRecovering }

// recoveringInfo is the ErrorInfo detail of a refusal during recovery (err is
// errRecovering, or the engine's ErrRecovering from a lookup that raced the end of
// recovery).
func recoveringInfo(err error) *errdetails.ErrorInfo {
	info := &errdetails.ErrorInfo{Reason: ReasonRecovering, Domain: "hardneg.v1", Metadata: map[string]string{}}
	var r *recovering
	if errors.As(err, &r) {
		info.Metadata["elapsed_seconds"] = strconv.FormatInt(int64(r.elapsed/time.Second), 10)
		if r.total > 0 {
			info.Metadata["log_records_replayed"] = strconv.FormatUint(r.replayed, 10)
			info.Metadata["log_records"] = strconv.FormatUint(r.total, 10)
		}
	}
	return info
}

// sequenceGapInfo is the ErrorInfo detail of a sequence gap, so a client resumes the
// writer where the server holds it without parsing the message.
func sequenceGapInfo(gap *engine.SequenceGapError) *errdetails.ErrorInfo {
	return &errdetails.ErrorInfo{Reason: ReasonSequenceGap, Domain: "hardneg.v1",
		Metadata: map[string]string{"writer_id": gap.Writer, "next_sequence": strconv.FormatUint(gap.Next, 10)}}
}
