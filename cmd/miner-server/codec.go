package main

import (
	"context"
	"strings"
	"sync"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/encoding"
	"google.golang.org/grpc/encoding/proto"
	"google.golang.org/grpc/mem"
	"google.golang.org/grpc/status"
	protov2 "google.golang.org/protobuf/proto"
)

// A MinerService request the server cannot decode (bytes that are not the method's
// protobuf message, or a string field that is not valid UTF-8) is the client's fault:
// it is answered with INVALID_ARGUMENT, not with the INTERNAL that grpc-go sends for
// every decoding failure, so that a broken client cannot raise the error-ratio alert.
//
// grpc-go writes that INTERNAL status to the client as soon as the codec fails, before
// a handler or interceptor can change it. So for hardneg.v1 messages the server's codec
// does not fail: it parks the error under the message it was decoding, and the decoding
// function handed to each unary handler (and the RecvMsg of each stream) collects it
// and returns INVALID_ARGUMENT. Messages of other services (health, reflection) fail
// in the codec as before.

// requestCodec is the proto codec with deferred decoding errors for hardneg.v1
// messages.
type requestCodec struct {
	encoding.CodecV2
	// failed maps a message being decoded to its decoding error until the decoding
	// function or stream that asked for it collects it (takeDecodeError).
	failed *sync.Map
}

// hardnegPackage prefixes the full names of the messages whose errors are deferred.
const hardnegPackage = "hardneg.v1."

func newRequestCodec() requestCodec {
	return requestCodec{CodecV2: encoding.GetCodecV2(proto.Name), failed: &sync.Map{}}
}

// Unmarshal implements encoding.CodecV2.
func (c requestCodec) Unmarshal(data mem.BufferSlice, v any) error {
	err := c.CodecV2.Unmarshal(data, v)
	if err == nil {
		return nil
	}
	m, ok := v.(protov2.Message)
	if !ok || !strings.HasPrefix(string(m.ProtoReflect().Descriptor().FullName()), hardnegPackage) {
		return err
	}
	protov2.Reset(m)
	c.failed.Store(v, err)
	return nil
}

// takeDecodeError returns INVALID_ARGUMENT when decoding v failed, and forgets the
// failure.
func (c requestCodec) takeDecodeError(v any) error {
	if err, ok := c.failed.LoadAndDelete(v); ok {
		return status.Errorf(codes.InvalidArgument, "malformed request message: %v", err)
	}
	return nil
}

// withDecodeErrors returns a copy of sd whose unary handlers answer a request that
// could not be decoded with INVALID_ARGUMENT.
func (c requestCodec) withDecodeErrors(sd *grpc.ServiceDesc) *grpc.ServiceDesc {
	out := *sd
	out.Methods = make([]grpc.MethodDesc, len(sd.Methods))
	for i, m := range sd.Methods {
		h := m.Handler
		out.Methods[i] = grpc.MethodDesc{
			MethodName: m.MethodName,
			Handler: func(srv any, ctx context.Context, dec func(any) error, in grpc.UnaryServerInterceptor) (any, error) {
				return h(srv, ctx, func(v any) error {
					if err := dec(v); err != nil {
						return err
					}
					return c.takeDecodeError(v)
				}, in)
			},
		}
	}
	return &out
}

// decodeErrorStream is a server stream whose RecvMsg answers a message that could not be
// decoded with INVALID_ARGUMENT.
type decodeErrorStream struct {
	grpc.ServerStream
	codec requestCodec
}

func (s decodeErrorStream) RecvMsg(m any) error {
	if err := s.ServerStream.RecvMsg(m); err != nil {
		return err
	}
	return s.codec.takeDecodeError(m)
}
