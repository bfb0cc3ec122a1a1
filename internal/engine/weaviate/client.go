package weaviate

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/binary"
	"fmt"
	"math"
	"os"
	"regexp"
	"strings"
	"sync/atomic"

	"github.com/google/uuid"
	wv "github.com/weaviate/weaviate-go-client/v5/weaviate"
	pb "github.com/weaviate/weaviate/grpc/generated/protocol/v1"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
)

var prefixRE = regexp.MustCompile(`^[A-Z][A-Za-z0-9]*$`)

// Property names of an item object.
const (
	propID      = "hid"     // the hardneg item id (text, field tokenization)
	propGroups  = "groups"  // the item's groups (text[], field tokenization)
	propVersion = "version" // the item's version stamp (int)
)

// Property names of a metadata object (the PrefixMeta collection).
const (
	metaKind       = "kind"       // "writer" or "verdict"
	metaCollection = "collection" // the hardneg collection of a verdict
	metaKey        = "key"        // the writer id, or a verdict's anchor key
	metaItem       = "item"       // a verdict's item id
	metaSeq        = "seq"        // a writer's last applied sequence
	metaUnix       = "unix"       // when a writer's last batch was recorded (Unix seconds)
)

// uuidSpace is the namespace of the deterministic object ids (UUIDv5).
var uuidSpace = uuid.MustParse("3b0d7f0e-8f4a-5a51-9c55-6b3f1c1e2a70")

// ObjectPath returns where the item id of collection lives in a Weaviate cluster
// served with the default prefix: its Weaviate collection and object UUID (for tools
// and tests that read a node directly).
func ObjectPath(collection, id string) (class, uuid string) {
	return className("Hardneg", collection), objectID(collection, id)
}

// objectID maps a hardneg item id to its Weaviate object id: the same (collection, id)
// always gives the same UUID, so an upsert replaces the object in place.
func objectID(collection, id string) string {
	return uuid.NewSHA1(uuidSpace, []byte("item\x00"+collection+"\x00"+id)).String()
}

// metaID is the object id of a metadata object.
func metaID(parts ...string) string {
	return uuid.NewSHA1(uuidSpace, []byte("meta\x00"+strings.Join(parts, "\x00"))).String()
}

// className maps a hardneg collection name ([A-Za-z0-9_.-]) to a Weaviate collection
// name (a capital letter, then [A-Za-z0-9_]): Prefix_ then the name with '_', '.' and
// '-' written as "_u", "_d" and "_h". The mapping is one to one.
func className(prefix, name string) string {
	var b strings.Builder
	b.WriteString(prefix)
	b.WriteByte('_')
	for _, r := range name {
		switch r {
		case '_':
			b.WriteString("_u")
		case '.':
			b.WriteString("_d")
		case '-':
			b.WriteString("_h")
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}

// collectionName inverts className; ok is false for a Weaviate collection this engine
// did not name.
func collectionName(prefix, class string) (string, bool) {
	rest, ok := strings.CutPrefix(class, prefix+"_")
	if !ok || rest == "" {
		return "", false
	}
	var b strings.Builder
	for i := 0; i < len(rest); i++ {
		if rest[i] != '_' {
			b.WriteByte(rest[i])
			continue
		}
		if i+1 == len(rest) {
			return "", false
		}
		i++
		switch rest[i] {
		case 'u':
			b.WriteByte('_')
		case 'd':
			b.WriteByte('.')
		case 'h':
			b.WriteByte('-')
		default:
			return "", false
		}
	}
	return b.String(), true
}

// conn holds the two connections to the cluster: REST for the schema, gRPC for data.
type conn struct {
	opts   Options
	rest   *wv.Client
	grpc   *grpc.ClientConn
	data   pb.WeaviateClient
	level  pb.ConsistencyLevel
	header metadata.MD

	retries, gaveUp atomic.Uint64 // see Engine.RetryStats
	calls           atomic.Uint64 // see Engine.Calls
}

func dial(o Options) (*conn, error) {
	scheme := "http"
	creds := insecure.NewCredentials()
	if o.TLS {
		scheme = "https"
		cfg := &tls.Config{MinVersion: tls.VersionTLS12}
		if o.CAFile != "" {
			pem, err := os.ReadFile(o.CAFile)
			if err != nil {
				return nil, fmt.Errorf("weaviate: CA file: %w", err)
			}
			pool := x509.NewCertPool()
			if !pool.AppendCertsFromPEM(pem) {
				return nil, fmt.Errorf("weaviate: CA file %s holds no PEM certificate", o.CAFile)
			}
			cfg.RootCAs = pool
		}
		creds = credentials.NewTLS(cfg)
	}
	headers := map[string]string{}
	if o.APIKey != "" {
		headers["Authorization"] = "Bearer " + o.APIKey
	}
	// The REST client is used for schema calls only; its own gRPC side stays unused.
	rest, err := wv.NewClient(wv.Config{Host: o.Addr, Scheme: scheme, Headers: headers, Timeout: o.Timeout, StartupTimeout: o.Timeout})
	if err != nil {
		return nil, fmt.Errorf("weaviate: connect to %s: %w", o.Addr, err)
	}
	gc, err := grpc.NewClient(o.GRPCAddr, grpc.WithTransportCredentials(creds),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(100<<20), grpc.MaxCallSendMsgSize(100<<20)))
	if err != nil {
		return nil, fmt.Errorf("weaviate: gRPC %s: %w", o.GRPCAddr, err)
	}
	c := &conn{opts: o, rest: rest, grpc: gc, data: pb.NewWeaviateClient(gc), level: consistencyLevels[o.Consistency]}
	if o.APIKey != "" {
		c.header = metadata.Pairs("authorization", "Bearer "+o.APIKey)
	}
	return c, nil
}

// ctx returns a context for one operation, carrying the API key: bounded by
// Options.Timeout plus Options.RetryFor, the time its calls may take with retries.
func (c *conn) ctx(parent context.Context) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithTimeout(parent, c.opts.Timeout+max(c.opts.RetryFor, 0))
	if c.header != nil {
		ctx = metadata.NewOutgoingContext(ctx, c.header)
	}
	return ctx, cancel
}

func (c *conn) close() error {
	if c.grpc == nil { // a test's connection with a fake client
		return nil
	}
	return c.grpc.Close()
}

// Filter helpers.

func textIs(prop, v string) *pb.Filters {
	return &pb.Filters{Operator: pb.Filters_OPERATOR_EQUAL, Target: target(prop), TestValue: &pb.Filters_ValueText{ValueText: v}}
}

func intIs(prop string, op pb.Filters_Operator, v int64) *pb.Filters {
	return &pb.Filters{Operator: op, Target: target(prop), TestValue: &pb.Filters_ValueInt{ValueInt: v}}
}

func textIn(prop string, op pb.Filters_Operator, vs []string) *pb.Filters {
	return &pb.Filters{Operator: op, Target: target(prop), TestValue: &pb.Filters_ValueTextArray{ValueTextArray: &pb.TextArray{Values: vs}}}
}

func and(fs ...*pb.Filters) *pb.Filters {
	var kept []*pb.Filters
	for _, f := range fs {
		if f != nil {
			kept = append(kept, f)
		}
	}
	switch len(kept) {
	case 0:
		return nil
	case 1:
		return kept[0]
	}
	return &pb.Filters{Operator: pb.Filters_OPERATOR_AND, Filters: kept}
}

func target(prop string) *pb.FilterTarget {
	return &pb.FilterTarget{Target: &pb.FilterTarget_Property{Property: prop}}
}

// Property readers of a search result.

func textProp(r *pb.SearchResult, name string) string {
	return r.GetProperties().GetNonRefProps().GetFields()[name].GetTextValue()
}

func textsProp(r *pb.SearchResult, name string) []string {
	v := r.GetProperties().GetNonRefProps().GetFields()[name]
	if v == nil {
		return nil
	}
	if tv := v.GetListValue().GetTextValues(); tv != nil {
		return tv.Values
	}
	return nil
}

func intProp(r *pb.SearchResult, name string) int64 {
	v := r.GetProperties().GetNonRefProps().GetFields()[name]
	if v == nil {
		return 0
	}
	if x, ok := v.GetKind().(*pb.Value_IntValue); ok {
		return x.IntValue
	}
	return int64(v.GetNumberValue())
}

// vectorOf returns a result's vector, whichever field the server filled.
func vectorOf(r *pb.SearchResult) []float32 {
	m := r.GetMetadata()
	if len(m.GetVector()) > 0 {
		return m.GetVector()
	}
	if b := m.GetVectorBytes(); len(b) > 0 {
		return fromBytes(b)
	}
	for _, v := range m.GetVectors() {
		if len(v.GetVectorBytes()) > 0 {
			return fromBytes(v.GetVectorBytes())
		}
	}
	return nil
}

func toBytes(v []float32) []byte {
	out := make([]byte, 4*len(v))
	for i, x := range v {
		binary.LittleEndian.PutUint32(out[4*i:], math.Float32bits(x))
	}
	return out
}

func fromBytes(b []byte) []float32 {
	out := make([]float32, len(b)/4)
	for i := range out {
		out[i] = math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:]))
	}
	return out
}
