package main

import (
	"context"
	"errors"
	"log/slog"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/hardneg/hardneg/internal/index"
	"github.com/hardneg/hardneg/internal/validate"
)

// codeTable maps domain errors to gRPC codes. It is the only place where the server
// decides a status code; handlers return domain errors unchanged.
var codeTable = []struct {
	err  error
	code codes.Code
}{
	{index.ErrCollectionNotFound, codes.NotFound},
	{index.ErrCollectionExists, codes.AlreadyExists},
	{index.ErrSequenceGap, codes.FailedPrecondition},
	{index.ErrClosed, codes.Unavailable},
	{index.ErrStorageFailed, codes.Unavailable},
	{context.Canceled, codes.Canceled},
	{context.DeadlineExceeded, codes.DeadlineExceeded},
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
		if withDetails, derr := st.WithDetails(br); derr == nil {
			st = withDetails
		}
		return st.Err()
	}
	for _, e := range codeTable {
		if errors.Is(err, e.err) {
			return status.Error(e.code, err.Error())
		}
	}
	log.Error("internal error", "method", method, "err", err)
	return status.Error(codes.Internal, "internal error")
}
