package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"mime"
	"net"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	hardnegv1 "github.com/hardneg/hardneg/gen/go/hardneg/v1"
	"github.com/hardneg/hardneg/internal/engine"
	"github.com/hardneg/hardneg/internal/mining"
	"github.com/hardneg/hardneg/internal/ui"
	"github.com/hardneg/hardneg/internal/validate"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// The web inspector: static pages under /ui/ (internal/ui) and a JSON API under
// /ui/api/ that calls the MinerService handlers in process. Requests and responses of
// the API are the service's messages in protojson (proto field names). With
// authentication on, every API call needs the same bearer token as the gRPC API, with
// the role the equivalent gRPC method needs; the static pages hold no data and are
// served to anyone.

// historyInterval and historySamples size the mining statistics history shown by the
// inspector: one sample every 10 s, one hour kept.
const (
	historyInterval = 10 * time.Second
	historySamples  = 360
)

// registerInspector adds the inspector's routes to mux.
func (s *Server) registerInspector(mux *http.ServeMux) {
	static := http.StripPrefix("/ui/", http.FileServerFS(ui.Assets()))
	mux.HandleFunc("GET /ui/", func(w http.ResponseWriter, r *http.Request) {
		// The page has buttons that write (report a false negative): no other site may
		// frame it.
		w.Header().Set("Content-Security-Policy", "frame-ancestors 'none'")
		w.Header().Set("X-Frame-Options", "DENY")
		w.Header().Set("X-Content-Type-Options", "nosniff")
		// A path no file can have (not UTF-8, "..", ...) is not found, not a server error.
		if name := strings.TrimPrefix(r.URL.Path, "/ui/"); name != "" && (!utf8.ValidString(name) || !fs.ValidPath(strings.TrimSuffix(name, "/"))) {
			http.NotFound(w, r)
			return
		}
		static.ServeHTTP(w, r)
	})
	mux.HandleFunc("GET /ui", func(w http.ResponseWriter, r *http.Request) { http.Redirect(w, r, "/ui/", http.StatusMovedPermanently) })
	read := hardnegv1.MinerService_ListCollections_FullMethodName
	mux.HandleFunc("GET /ui/api/info", s.uiAPI(read, s.uiInfo))
	mux.HandleFunc("GET /ui/api/collections", s.uiAPI(read, s.uiCollections))
	mux.HandleFunc("GET /ui/api/history", s.uiAPI(read, s.uiHistory))
	mux.HandleFunc("POST /ui/api/mine", s.uiAPI(hardnegv1.MinerService_Mine_FullMethodName, s.uiMine))
	mux.HandleFunc("POST /ui/api/report", s.uiAPI(hardnegv1.MinerService_ReportFalseNegatives_FullMethodName, s.uiReport))
	// Any other path or method under the API answers in the API's JSON error form: a
	// known endpoint with another method is 405 with Allow and the code Unimplemented
	// (as grpc-gateway maps a 405), any other path 404.
	allowed := map[string]string{"/ui/api/info": "GET, HEAD", "/ui/api/collections": "GET, HEAD", "/ui/api/history": "GET, HEAD",
		"/ui/api/mine": "POST", "/ui/api/report": "POST"}
	other := func(w http.ResponseWriter, r *http.Request) {
		if allow, ok := allowed[r.URL.Path]; ok {
			w.Header().Set("Allow", allow)
			writeUIErrorCode(w, status.Errorf(codes.Unimplemented, "%s %s: the method must be %s", r.Method, r.URL.Path, strings.ReplaceAll(allow, ", ", " or ")),
				http.StatusMethodNotAllowed)
			return
		}
		writeUIError(w, status.Errorf(codes.NotFound, "no API endpoint %s %s (GET info, collections, history; POST mine, report)", r.Method, r.URL.Path))
	}
	// One pattern per method: a method-less "/ui/api/" would conflict with "GET /ui/".
	for _, m := range []string{"GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"} {
		mux.HandleFunc(m+" /ui/api/", other)
	}
}

// bearerChallenge is the WWW-Authenticate header of a 401 answer (RFC 6750).
const bearerChallenge = `Bearer realm="hardneg"`

// uiBodyLimit bounds the body of an inspector API call: a request the page sends
// (anchors, a policy, a few verdicts) is far smaller.
const uiBodyLimit = 4 << 20

// errBodyTooLarge: an inspector API body over uiBodyLimit.
var errBodyTooLarge = fmt.Errorf("the request body is over %d bytes", uiBodyLimit)

var (
	uiJSON   = protojson.MarshalOptions{UseProtoNames: true}
	uiDecode = protojson.UnmarshalOptions{}
)

// uiHandler answers one API call: a proto message, a JSON value, or an error.
type uiHandler func(ctx context.Context, body []byte) (any, error)

// uiAPI wraps h with the readiness check, authentication for method, a request size
// limit and the conversion of errors into HTTP statuses.
func (s *Server) uiAPI(method string, h uiHandler) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-store")
		w.Header().Set("X-Content-Type-Options", "nosniff")
		start := time.Now()
		client := addrClient(r.RemoteAddr) // as gRPC's clientOf: every connection of a host together
		out, err := func() (any, error) {
			if !s.ready.Load() {
				return nil, s.recoveringErr()
			}
			if s.tokens == nil && !hostAllowed(r.Host, s.cfg.UIHosts) {
				return nil, status.Errorf(codes.PermissionDenied, "with authentication off the inspector's API answers only requests addressed to an IP address, localhost or a name in -ui-hosts, not %q (a web page could otherwise reach it through DNS rebinding): add the name to -ui-hosts (HARDNEG_UI_HOSTS), or turn authentication on", hostName(r.Host))
			}
			p, err := s.authorizeHTTP(r, method)
			if err != nil {
				return nil, err
			}
			if p.name != "" {
				client = "token:" + p.name
			}
			// The same per-client limit as gRPC calls.
			if err := s.limiter.acquire(client); err != nil {
				return nil, err
			}
			defer s.limiter.release(client)
			// A cross-site page can post a form, but not JSON without a CORS preflight,
			// which this server never grants.
			if r.Method == http.MethodPost {
				if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mt != "application/json" {
					return nil, status.Error(codes.InvalidArgument, "the request body must be application/json")
				}
			}
			body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, uiBodyLimit))
			var tooLarge *http.MaxBytesError
			switch {
			case errors.As(err, &tooLarge):
				return nil, errBodyTooLarge
			case err != nil:
				return nil, status.Errorf(codes.InvalidArgument, "reading the request body: %v", err)
			}
			return h(r.Context(), body)
		}()
		httpCode := 0 // from the gRPC code
		if errors.Is(err, errBodyTooLarge) {
			err, httpCode = status.Error(codes.ResourceExhausted, err.Error()), http.StatusRequestEntityTooLarge
		}
		if err != nil {
			err = toStatus(s.log, method, err)
		}
		s.log.Debug("request", "http", r.URL.Path, "method", method, "client", client, "code", status.Code(err).String(), "took", time.Since(start))
		if err != nil {
			writeUIErrorCode(w, err, httpCode)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		if m, ok := out.(proto.Message); ok {
			b, err := uiJSON.Marshal(m)
			if err != nil {
				writeUIError(w, toStatus(s.log, method, err))
				return
			}
			w.Write(b)
			return
		}
		json.NewEncoder(w).Encode(out)
	}
}

// hostAllowed reports whether a request's Host (host[:port]) is an IP address,
// localhost (or a name under .localhost), or one of allowed (comma-separated names; *:
// any). While authentication is off this keeps a page that rebinds its own DNS name
// to the server's address from calling the API as same-origin.
func hostAllowed(hostport, allowed string) bool {
	host := hostName(hostport)
	if net.ParseIP(host) != nil || host == "localhost" || strings.HasSuffix(host, ".localhost") {
		return true
	}
	for _, a := range strings.Split(allowed, ",") {
		if a = hostName(a); a == "*" || (a != "" && a == host) {
			return true
		}
	}
	return false
}

// hostName is an -ui-hosts entry (or a Host header) as a bare lower-case name: a port
// and a trailing dot are dropped, as they are from the request's Host.
func hostName(hostport string) string {
	host := strings.TrimSpace(hostport)
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	return strings.ToLower(strings.TrimSuffix(strings.Trim(host, "[]"), "."))
}

// authorizeHTTP checks the request's bearer token as the token interceptor checks a
// gRPC call of method; nil when authentication is off.
func (s *Server) authorizeHTTP(r *http.Request, method string) (principal, error) {
	if s.tokens == nil {
		return principal{}, nil
	}
	// Refusals are logged as the gRPC port's are: token guessing over HTTP leaves a trace.
	what := r.Method + " " + r.URL.Path + " (" + method + ")"
	scheme, token, ok := strings.Cut(r.Header.Get("Authorization"), " ")
	if !ok || !strings.EqualFold(scheme, "bearer") || token == "" {
		s.tokens.refuse(r.RemoteAddr, what, "no bearer token", "")
		return principal{}, errUnauthenticated
	}
	p, ok := s.tokens.lookup(token)
	if !ok {
		s.tokens.refuse(r.RemoteAddr, what, "unknown token", "")
		return principal{}, errUnauthenticated
	}
	if p.role != roleWrite && !readMethods[method] {
		s.tokens.refuse(r.RemoteAddr, what, "role read", p.name)
		return principal{}, errPermissionDenied
	}
	return p, nil
}

// httpStatusOf maps a gRPC code to the HTTP status the inspector's API answers with.
var httpStatusOf = map[codes.Code]int{
	codes.InvalidArgument:    http.StatusBadRequest,
	codes.NotFound:           http.StatusNotFound,
	codes.AlreadyExists:      http.StatusConflict,
	codes.FailedPrecondition: http.StatusPreconditionFailed,
	codes.Unauthenticated:    http.StatusUnauthorized,
	codes.PermissionDenied:   http.StatusForbidden,
	codes.ResourceExhausted:  http.StatusTooManyRequests,
	codes.Unavailable:        http.StatusServiceUnavailable,
	codes.DeadlineExceeded:   http.StatusGatewayTimeout,
}

// uiError is the body of a failed API call.
type uiError struct {
	Code       string              `json:"code"`
	Message    string              `json:"message"`
	Violations []map[string]string `json:"violations,omitempty"`
}

func writeUIError(w http.ResponseWriter, err error) { writeUIErrorCode(w, err, 0) }

// writeUIErrorCode writes err with HTTP status httpCode (0: the one for its gRPC code).
func writeUIErrorCode(w http.ResponseWriter, err error, httpCode int) {
	st := status.Convert(err)
	body := uiError{Code: st.Code().String(), Message: st.Message()}
	for _, d := range st.Details() {
		if br, ok := d.(*errdetails.BadRequest); ok {
			for _, v := range br.FieldViolations {
				body.Violations = append(body.Violations, map[string]string{"field": v.Field, "description": v.Description})
			}
		}
	}
	code, ok := httpStatusOf[st.Code()]
	if !ok {
		code = http.StatusInternalServerError
	}
	if httpCode != 0 {
		code = httpCode
	}
	if code == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", bearerChallenge)
	}
	for _, d := range st.Details() {
		if ri, ok := d.(*errdetails.RetryInfo); ok && ri.RetryDelay != nil {
			// Whole seconds, as HTTP has them, rounded up (at least 1).
			w.Header().Set("Retry-After", strconv.Itoa(max(1, int(math.Ceil(ri.RetryDelay.AsDuration().Seconds())))))
		}
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(body)
}

// uiPolicyField describes one MiningPolicy field for the playground's form.
type uiPolicyField struct {
	Name string `json:"name"`
	// Kind is bool, float, int64, uint32, uint64, string, enum or message (a JSON object
	// of the message's fields, as protojson reads it).
	Kind string `json:"kind"`
	// Optional fields are off (or derived) when absent.
	Optional bool     `json:"optional"`
	Values   []string `json:"values,omitempty"` // enum value names
	// Default is the server's value for an unset field (absent: off).
	Default any `json:"default"`
	// DefaultNote describes a default that depends on the collection's metric or on k,
	// which Default (the policy's own value) cannot show.
	DefaultNote string `json:"default_note,omitempty"`
}

// uiDefaultNotes are the policy fields whose unset value the rules derive from the
// metric (and k): an empty policy still drops near-duplicates and spends the
// false-negative budget under cosine.
var uiDefaultNotes = map[string]string{
	"duplicate_threshold": fmt.Sprintf("%.2f under cosine (on the collection's scale); off under dot and L2", mining.DefaultCosineDuplicateThreshold),
	"pfn_threshold":       fmt.Sprintf("%g under cosine; off under dot and L2", mining.DefaultCosinePFNThreshold),
	"pfn_budget":          "⌈k/2⌉ under cosine; off under dot and L2",
	"max_rank":            fmt.Sprintf("max(%d, 2 × the rank window's end)", mining.DefaultMaxRank),
}

// uiInfo describes the server for the pages: version, whether tokens are needed, the
// policy fields with their defaults, and the candidate fates.
func (s *Server) uiInfo(context.Context, []byte) (any, error) {
	def := policyPB(mining.DefaultPolicy()).ProtoReflect()
	var fields []uiPolicyField
	fds := def.Descriptor().Fields()
	for i := range fds.Len() {
		fd := fds.Get(i)
		f := uiPolicyField{Name: string(fd.Name()), Kind: fd.Kind().String(), Optional: fd.HasPresence(), DefaultNote: uiDefaultNotes[string(fd.Name())]}
		switch fd.Kind() {
		case protoreflect.EnumKind:
			vals := fd.Enum().Values()
			for j := range vals.Len() {
				f.Values = append(f.Values, string(vals.Get(j).Name()))
			}
		case protoreflect.Uint64Kind, protoreflect.Uint32Kind, protoreflect.Int64Kind, protoreflect.FloatKind, protoreflect.BoolKind, protoreflect.StringKind, protoreflect.MessageKind:
		default:
			f.Kind = "unsupported"
		}
		// Unset fields without presence hold their zero value, which is the default.
		if def.Has(fd) || !fd.HasPresence() {
			v := def.Get(fd)
			switch fd.Kind() {
			case protoreflect.EnumKind:
				f.Default = string(fd.Enum().Values().ByNumber(v.Enum()).Name())
			case protoreflect.FloatKind:
				// The float32 value's shortest decimal form (0.05, not 0.0500000007).
				f.Default, _ = strconv.ParseFloat(strconv.FormatFloat(v.Float(), 'g', -1, 32), 64)
			case protoreflect.MessageKind:
				// As the playground sends it: the message's JSON, its unset fields left out.
				b, err := protojson.MarshalOptions{UseProtoNames: true}.Marshal(v.Message().Interface())
				if err != nil {
					return nil, err
				}
				f.Default = json.RawMessage(b)
			default:
				f.Default = v.Interface()
			}
		}
		fields = append(fields, f)
	}
	var fates []string
	for _, f := range mining.Fates() {
		fates = append(fates, f.String())
	}
	return map[string]any{
		"version": version, "revision": revision, "auth": s.tokens != nil, "grpc_addr": s.GRPCAddr(), "tls": s.certs != nil,
		"policy_fields": fields, "fates": fates,
		"max_explain": mining.MaxExplain, "history_interval_s": historyInterval.Seconds(),
	}, nil
}

// uiCollection is one collection on the collections page.
type uiCollection struct {
	Collection json.RawMessage `json:"collection"`
	// UnsnapshottedBytes are log bytes written since the collection's last snapshot,
	// and UnsnapshottedSince the time of the oldest of them (absent when none).
	UnsnapshottedBytes int64      `json:"unsnapshotted_bytes"`
	UnsnapshottedSince *time.Time `json:"unsnapshotted_since,omitempty"`
	// Versions summarises the items' version stamps: lowest, highest, distinct, and
	// the item counts of the newest few.
	Versions engine.VersionSummary `json:"versions"`
}

// uiNewestVersions is how many of the newest version stamps the collections page
// counts items for.
const uiNewestVersions = 3

// uiCollections lists the collections with their storage state and the server's.
func (s *Server) uiCollections(context.Context, []byte) (any, error) {
	out := []uiCollection{} // [] in JSON when there is none
	for _, c := range s.db.Collections() {
		b, err := uiJSON.Marshal(toCollection(c))
		if err != nil {
			return nil, err
		}
		e := uiCollection{Collection: b, Versions: c.Versions(uiNewestVersions)}
		if sc, ok := c.(engine.StoredCollection); ok {
			var since time.Time
			e.UnsnapshottedBytes, since = sc.Unsnapshotted()
			if !since.IsZero() {
				e.UnsnapshottedSince = &since
			}
		}
		out = append(out, e)
	}
	st, ok := s.db.(engine.Storage)
	if !ok {
		return map[string]any{"collections": out, "storage": map[string]any{"data_dir": "none (the engine keeps no local data)"}}, nil
	}
	d := st.DurabilityStats()
	storage := map[string]any{
		"data_dir": st.Dir(), "wal_bytes": d.LogBytes, "wal_records": d.Log.Appends,
		"snapshots": d.Snapshots, "snapshot_failures": d.SnapshotFailures,
		"recovery_seconds": d.Recovery.Duration.Seconds(), "fsync": s.cfg.Fsync,
	}
	if !d.LastSnapshot.IsZero() {
		storage["last_snapshot"] = d.LastSnapshot
	}
	return map[string]any{"collections": out, "storage": storage}, nil
}

// uiHistory returns the mining statistics samples, oldest first, and the current one.
func (s *Server) uiHistory(context.Context, []byte) (any, error) {
	samples := s.history.samples()
	samples = append(samples, statsSample{Time: time.Now(), Stats: s.mined.Snapshot()})
	out := make([]map[string]any, len(samples))
	for i, sm := range samples {
		st := &sm.Stats
		out[i] = map[string]any{
			"time": sm.Time, "requests": st.Requests, "anchors": st.Anchors, "negatives": st.Negatives,
			"examined": st.Examined, "shortfalls": st.Shortfalls, "short_negatives": st.ShortNegatives,
			"removed": ruleCountsMap(&st.Removed),
		}
	}
	return map[string]any{"samples": out}, nil
}

// ruleCountsMap names each rule's count as the RuleCounts proto field does.
func ruleCountsMap(c *mining.RuleCounts) map[string]int {
	counts := []int{c.Self, c.Positive, c.Excluded, c.InBatch, c.Feedback, c.SameGroup, c.Duplicate, c.ExcludedDuplicate, c.Guide, c.Margin, c.ScoreBand, c.RankWindow, c.Diversity,
		c.Stale, c.Rotation, c.Exposure, c.LikelyFalseNegative}
	out := make(map[string]int, len(counts))
	for i, n := range counts {
		out[mining.Fate(i).String()] = n
	}
	return out
}

func (s *Server) uiMine(ctx context.Context, body []byte) (any, error) {
	req := &hardnegv1.MineRequest{}
	if err := decodeJSON(body, req); err != nil {
		return nil, err
	}
	resp, err := s.svc.Mine(ctx, req)
	if err != nil {
		return nil, err
	}
	return resp, nil
}

func (s *Server) uiReport(ctx context.Context, body []byte) (any, error) {
	req := &hardnegv1.ReportFalseNegativesRequest{}
	if err := decodeJSON(body, req); err != nil {
		return nil, err
	}
	resp, err := s.svc.ReportFalseNegatives(ctx, req)
	if err != nil {
		return nil, err
	}
	// With the zero count too, which the API's protojson form would leave out.
	b, err := protojson.MarshalOptions{UseProtoNames: true, EmitUnpopulated: true}.Marshal(resp)
	if err != nil {
		return nil, err
	}
	return json.RawMessage(b), nil
}

// statsSample is the cumulative mining statistics at one time.
type statsSample struct {
	Time  time.Time
	Stats mining.Stats
}

// statsHistory keeps the last samples of the mining statistics.
type statsHistory struct {
	// mu guards ring and next.
	mu   sync.Mutex
	ring []statsSample
	next int // where the next sample goes once ring is full
	max  int
}

func newStatsHistory(max int) *statsHistory { return &statsHistory{max: max} }

func (h *statsHistory) add(sm statsSample) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.ring) < h.max {
		h.ring = append(h.ring, sm)
		return
	}
	h.ring[h.next] = sm
	h.next = (h.next + 1) % h.max
}

// samples returns the kept samples, oldest first.
func (h *statsHistory) samples() []statsSample {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append(append([]statsSample(nil), h.ring[h.next:]...), h.ring[:h.next]...)
}

// run samples snapshot every interval until ctx is done.
func (h *statsHistory) run(ctx context.Context, interval time.Duration, snapshot func() mining.Stats) {
	h.add(statsSample{Time: time.Now(), Stats: snapshot()})
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			h.add(statsSample{Time: now, Stats: snapshot()})
		}
	}
}

// jsonField finds the field a protojson error names: `… field numNegatives: …` or
// `unknown field "foo"`.
var jsonField = regexp.MustCompile(`field "?([A-Za-z_][A-Za-z0-9_]*)"?`)

// decodeJSON reads an inspector request body into m. A body that does not decode is
// INVALID_ARGUMENT with a violation naming the field at the position the decoder gives,
// by its path of proto names (anchors[1].vector, as the service's own checks name
// fields); the field is the body where the position is at no known field (an unknown
// key, which the message names, or JSON that does not parse).
func decodeJSON(body []byte, m proto.Message) error {
	err := uiDecode.Unmarshal(body, m)
	if err == nil {
		return nil
	}
	// protojson's messages start "proto:" and a space that is sometimes a no-break one.
	msg := strings.TrimLeft(strings.TrimPrefix(err.Error(), "proto:"), " \u00a0")
	field := "body"
	if pos := jsonPos.FindStringSubmatch(msg); pos != nil {
		line, _ := strconv.Atoi(pos[1])
		col, _ := strconv.Atoi(pos[2])
		if path := jsonPathAt(body, offsetOf(body, line, col), m.ProtoReflect().Descriptor()); path != "" {
			field = path
			// The decoder names the field by its JSON name (numNegatives); the
			// description says the proto name the violation's path uses.
			if sub := jsonField.FindStringSubmatch(msg); sub != nil {
				name := path[strings.LastIndexByte(path, '.')+1:]
				if k := strings.IndexByte(name, '['); k >= 0 {
					name = name[:k]
				}
				msg = strings.Replace(msg, sub[0], "field "+name, 1)
			}
		}
	}
	return validate.Field(field, "%s", msg)
}

// jsonPos finds the position a protojson error gives: "(line 1:59)".
var jsonPos = regexp.MustCompile(`\(line (\d+):(\d+)\)`)

// offsetOf turns protojson's 1-based line and column (counted in runes) into a byte
// offset of body.
func offsetOf(body []byte, line, col int) int {
	off := 0
	for l := 1; l < line; l++ {
		i := bytes.IndexByte(body[off:], '\n')
		if i < 0 {
			return len(body)
		}
		off += i + 1
	}
	for c := 1; c < col && off < len(body); c++ {
		_, n := utf8.DecodeRune(body[off:])
		off += n
	}
	return off
}

// jsonPathAt returns the path of proto names (anchors[0].positive_ids) of the value
// that body holds at byte offset off, reading the keys against md; "" when off is not at
// a value of a known field.
func jsonPathAt(body []byte, off int, md protoreflect.MessageDescriptor) string {
	type frame struct {
		md        protoreflect.MessageDescriptor // an object's message (nil: unknown)
		field     protoreflect.FieldDescriptor   // an object's current key's field; an array's field
		path      string                         // the path of this object or array
		index     int                            // an array's current element
		array     bool
		expectKey bool
	}
	at := func(f *frame) string { // the path of the value f is at now
		switch {
		case f.field == nil:
			return "" // a key of no known field, or an array that is not one's value (a top-level array)
		case f.array && f.field.Message() == nil:
			return f.path // an element of a list of scalars: the list, as the service names it
		case f.array:
			return fmt.Sprintf("%s[%d]", f.path, f.index)
		case f.path == "":
			return string(f.field.Name())
		}
		return f.path + "." + string(f.field.Name())
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	var stack []frame
	for {
		tok, err := dec.Token()
		if err != nil {
			return ""
		}
		end := int(dec.InputOffset())
		top := len(stack) - 1
		if d, ok := tok.(json.Delim); ok && (d == '}' || d == ']') {
			stack = stack[:top]
			if top > 0 {
				if p := &stack[top-1]; p.array {
					p.index++
				} else {
					p.expectKey = true
				}
			}
			continue
		}
		if top >= 0 && !stack[top].array && stack[top].expectKey {
			f := &stack[top]
			name, _ := tok.(string)
			f.field, f.expectKey = nil, false
			if f.md != nil {
				if f.field = f.md.Fields().ByJSONName(name); f.field == nil {
					f.field = f.md.Fields().ByName(protoreflect.Name(name))
				}
			}
			continue
		}
		// A value: of the top-level object, an object's field or an array's element.
		path := ""
		if top >= 0 {
			path = at(&stack[top])
		}
		if end > off && top >= 0 {
			return path
		}
		if d, ok := tok.(json.Delim); ok {
			next := frame{path: path, array: d == '[', expectKey: d == '{'}
			switch {
			case top < 0:
				next.md = md
			case d == '[':
				next.field = stack[top].field
			case stack[top].array && stack[top].field != nil:
				next.md = stack[top].field.Message()
			case !stack[top].array && stack[top].field != nil && !stack[top].field.IsMap():
				next.md = stack[top].field.Message()
			}
			stack = append(stack, next)
			continue
		}
		if top >= 0 {
			if f := &stack[top]; f.array {
				f.index++
			} else {
				f.expectKey = true
			}
		}
	}
}
