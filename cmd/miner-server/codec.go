package main

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"sync"
	"unicode/utf8"

	"github.com/hardneg/hardneg/internal/validate"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/encoding"
	"google.golang.org/grpc/encoding/proto"
	"google.golang.org/grpc/mem"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protowire"
	protov2 "google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
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
// and returns INVALID_ARGUMENT, with a BadRequest naming the field when it is a string
// that is not UTF-8. Messages of other services (health, reflection) fail in the codec
// as before.

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
	// A string that is not UTF-8 is the usual cause (a client that sends raw bytes
	// as an id): name its field, as any other bad field is named.
	if field, ok := invalidUTF8Field(data.Materialize(), m.ProtoReflect().Descriptor(), ""); ok {
		var verr validate.Error
		verr.Add(field, "is not valid UTF-8: ids, names and groups are UTF-8 strings (malformed request message: %v)", err)
		err = verr.Err()
	}
	protov2.Reset(m)
	c.failed.Store(v, err)
	return nil
}

// takeDecodeError returns INVALID_ARGUMENT when decoding v failed, and forgets the
// failure: with a BadRequest detail when the field is known.
func (c requestCodec) takeDecodeError(v any) error {
	if err, ok := c.failed.LoadAndDelete(v); ok {
		var verr *validate.Error
		if errors.As(err.(error), &verr) {
			return grpcStatus(nil, "", verr)
		}
		return status.Errorf(codes.InvalidArgument, "malformed request message: %v", err)
	}
	return nil
}

// invalidUTF8Field walks the wire encoding b of a message of type md and returns the
// path of its first string field that is not valid UTF-8 ("items.ids[3]"), searching
// nested messages; false when there is none or b cannot be read that far.
func invalidUTF8Field(b []byte, md protoreflect.MessageDescriptor, prefix string) (string, bool) {
	seen := map[protowire.Number]int{}
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return "", false
		}
		b = b[n:]
		fd := md.Fields().ByNumber(num)
		if typ != protowire.BytesType || fd == nil {
			if n = protowire.ConsumeFieldValue(num, typ, b); n < 0 {
				return "", false
			}
			b = b[n:]
			continue
		}
		v, n := protowire.ConsumeBytes(b)
		if n < 0 {
			return "", false
		}
		b = b[n:]
		name := prefix + string(fd.Name())
		if fd.IsList() || fd.IsMap() {
			name += "[" + strconv.Itoa(seen[num]) + "]"
			seen[num]++
		}
		switch fd.Kind() {
		case protoreflect.StringKind:
			if !utf8.Valid(v) {
				return name, true
			}
		case protoreflect.MessageKind, protoreflect.GroupKind:
			if path, ok := invalidUTF8Field(v, fd.Message(), name+"."); ok {
				return path, true
			}
		}
	}
	return "", false
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
