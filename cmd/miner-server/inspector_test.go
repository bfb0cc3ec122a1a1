package main

import (
	"context"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	hardnegv1 "github.com/hardneg/hardneg/gen/go/hardneg/v1"
	"github.com/hardneg/hardneg/internal/mining"
)

// startHTTPServer runs a miner-server with extra flags and returns its HTTP base URL.
func startHTTPServer(t *testing.T, extra ...string) (*Server, string) {
	t.Helper()
	args := append([]string{"-grpc-addr=127.0.0.1:0", "-http-addr=127.0.0.1:0", "-data-dir=" + t.TempDir(), "-shutdown-timeout=5s"}, extra...)
	cfg, err := parseConfig(args, func(string) string { return "" }, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	srv, err := NewServer(cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("server: %v", err)
		}
	})
	base := "http://" + srv.HTTPAddr()
	for deadline := time.Now().Add(60 * time.Second); !srv.ready.Load(); {
		if time.Now().After(deadline) {
			t.Fatal("server not ready after 60 s")
		}
		time.Sleep(10 * time.Millisecond)
	}
	return srv, base
}

func httpDo(t *testing.T, method, url, token, body string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if method == http.MethodPost {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestInspectorAPIUsesTheGRPCTokens(t *testing.T) {
	const readTok, writeTok = "read-token-0123456789", "write-token-0123456789"
	_, base := startHTTPServer(t, "-auth-tokens=r:read:"+readTok+",w:write:"+writeTok)
	create := `{"collection":"nope","reports":[{"anchor_key":"a","item_ids":["b"]}]}`
	for _, tc := range []struct {
		name, method, path, token, body string
		want                            int
	}{
		{"static pages need no token", "GET", "/ui/", "", "", http.StatusOK},
		{"the script is served", "GET", "/ui/app.js", "", "", http.StatusOK},
		{"API without a token", "GET", "/ui/api/collections", "", "", http.StatusUnauthorized},
		{"API with an unknown token", "GET", "/ui/api/info", "unknown-token-0123456789", "", http.StatusUnauthorized},
		{"read token lists", "GET", "/ui/api/collections", readTok, "", http.StatusOK},
		{"read token mines", "POST", "/ui/api/mine", readTok, `{"collection":"nope","anchors":[{"id":"a"}]}`, http.StatusNotFound},
		{"read token may not report", "POST", "/ui/api/report", readTok, create, http.StatusForbidden},
		{"write token reports", "POST", "/ui/api/report", writeTok, create, http.StatusNotFound},
		{"bad JSON", "POST", "/ui/api/mine", readTok, `{"collection":`, http.StatusBadRequest},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if code, body := httpDo(t, tc.method, base+tc.path, tc.token, tc.body); code != tc.want {
				t.Errorf("%s %s: %d %s, want %d", tc.method, tc.path, code, body, tc.want)
			}
		})
	}
}

// TestInspectorAPIEdges: a JSON media type with parameters is JSON; an oversized
// body is 413; an unknown API path answers in the API's JSON form; pprof leaves the
// command line out and asks for a write token when authentication is on.
func TestInspectorAPIEdges(t *testing.T) {
	const readTok, writeTok = "read-token-0123456789", "write-token-0123456789"
	_, base := startHTTPServer(t, "-auth-tokens=r:read:"+readTok+",w:write:"+writeTok, "-pprof")
	req, _ := http.NewRequest("POST", base+"/ui/api/mine", strings.NewReader(`{"collection":"nope","anchors":[{"id":"a"}]}`))
	req.Header.Set("Authorization", "Bearer "+readTok)
	req.Header.Set("Content-Type", "Application/JSON; charset=utf-8")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound { // the collection, not the media type
		t.Errorf("JSON with a charset: %d, want 404 for the unknown collection", resp.StatusCode)
	}
	big := `{"collection":"c","anchors":[{"id":"` + strings.Repeat("x", uiBodyLimit) + `"}]}`
	if code, body := httpDo(t, "POST", base+"/ui/api/mine", readTok, big); code != http.StatusRequestEntityTooLarge || !strings.Contains(body, "over 4194304 bytes") {
		t.Errorf("oversized body: %d %.200s", code, body)
	}
	for _, m := range []string{"GET", "POST"} {
		if code, body := httpDo(t, m, base+"/ui/api/nope", readTok, "{}"); code != http.StatusNotFound || !strings.Contains(body, `"code":"NotFound"`) {
			t.Errorf("%s /ui/api/nope: %d %s", m, code, body)
		}
	}
	if code, body := httpDo(t, "POST", base+"/ui/api/mine", readTok, big); !strings.Contains(body, `"code":"ResourceExhausted"`) {
		t.Errorf("oversized body: %d %.200s; want the code ResourceExhausted", code, body)
	}
	// A known endpoint with another method: 405 in the API's JSON form, with Allow.
	for _, tc := range []struct{ method, path, allow string }{
		{"GET", "/ui/api/mine", "POST"}, {"PUT", "/ui/api/report", "POST"}, {"DELETE", "/ui/api/info", "GET, HEAD"},
		{"POST", "/ui/api/collections", "GET, HEAD"}, {"OPTIONS", "/ui/api/history", "GET, HEAD"},
	} {
		req, _ := http.NewRequest(tc.method, base+tc.path, strings.NewReader("{}"))
		req.Header.Set("Authorization", "Bearer "+readTok)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusMethodNotAllowed || resp.Header.Get("Allow") != tc.allow || !strings.Contains(string(b), `"code":"Unimplemented"`) || !strings.Contains(string(b), `"message"`) {
			t.Errorf("%s %s: %d Allow %q %s; want 405, Allow %q, a JSON error with the code Unimplemented", tc.method, tc.path, resp.StatusCode, resp.Header.Get("Allow"), b, tc.allow)
		}
	}
	// A 401 says how to authenticate; a path no file can have is not found.
	for _, path := range []string{"/ui/api/info", "/debug/pprof/"} {
		resp, err := http.Get(base + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusUnauthorized || resp.Header.Get("WWW-Authenticate") != bearerChallenge {
			t.Errorf("GET %s without a token: %d, WWW-Authenticate %q", path, resp.StatusCode, resp.Header.Get("WWW-Authenticate"))
		}
	}
	for _, path := range []string{"/ui/%ff", "/ui/%ff/x.js", "/ui/%c0%ae%c0%ae/"} {
		if code, _ := httpDo(t, "GET", base+path, "", ""); code != http.StatusNotFound {
			t.Errorf("GET %s: %d, want 404", path, code)
		}
	}
	if code, _ := httpDo(t, "GET", base+"/debug/pprof/cmdline", writeTok, ""); code != http.StatusNotFound {
		t.Errorf("pprof cmdline: %d, want 404", code)
	}
	for _, tc := range []struct {
		token string
		want  int
	}{{"", http.StatusUnauthorized}, {readTok, http.StatusForbidden}, {writeTok, http.StatusOK}} {
		if code, _ := httpDo(t, "GET", base+"/debug/pprof/", tc.token, ""); code != tc.want {
			t.Errorf("pprof index with token %q: %d, want %d", tc.token, code, tc.want)
		}
	}
}

func TestInspectorOffByFlag(t *testing.T) {
	_, base := startHTTPServer(t, "-ui=false")
	for _, p := range []string{"/ui/", "/ui/api/info"} {
		if code, _ := httpDo(t, "GET", base+p, "", ""); code != http.StatusNotFound {
			t.Errorf("GET %s with -ui=false: %d, want 404", p, code)
		}
	}
	if code, _ := httpDo(t, "GET", base+"/healthz", "", ""); code != http.StatusOK {
		t.Errorf("/healthz: %d", code)
	}
}

func TestInspectorAPIAnswersLikeTheService(t *testing.T) {
	srv, base := startHTTPServer(t)
	if _, err := srv.svc.CreateCollection(context.Background(), &hardnegv1.CreateCollectionRequest{Name: "c", Dim: 2, Metric: hardnegv1.Metric_METRIC_DOT}); err != nil {
		t.Fatal(err)
	}
	code, body := httpDo(t, "POST", base+"/ui/api/mine", "", `{"collection":"missing","anchors":[{"id":"a"}]}`)
	if code != http.StatusNotFound || !strings.Contains(body, `"code":"NotFound"`) {
		t.Errorf("mine on a missing collection: %d %s", code, body)
	}
	code, body = httpDo(t, "POST", base+"/ui/api/mine", "", `{"collection":"c","anchors":[{"vector":"AACAPwAAAAA="}],"explain":5000}`)
	if code != http.StatusBadRequest || !strings.Contains(body, `"field":"explain"`) {
		t.Errorf("explain 5000: %d %s, want 400 naming explain", code, body)
	}
	// A body that does not decode names its field by proto names, as the service does.
	for _, c := range []struct{ body, field string }{
		{`{"collection":"c","anchors":[{"id":"a"}],"policy":{"numNegatives":"abc"}}`, `"field":"policy.num_negatives"`},
		{`{"collection":"c","anchors":[{"id":"a"}],"policy":{"num_negatives":-1}}`, `"field":"policy.num_negatives"`},
		{`{"collection":"c","anchors":[{"id":"a"}],"policy":{"num_negatives":-1}}`, `uint32 field num_negatives: -1`},
		{`{"collection":"c","anchors":[{"id":"a"},{"vector":"!!"}]}`, `"field":"anchors[1].vector"`},
		{`{"collection":"c","nope":1}`, `"field":"body"`}, // not a field of MineRequest: the message names it
		{`{"collection":`, `"field":"body"`},
	} {
		if code, body := httpDo(t, "POST", base+"/ui/api/mine", "", c.body); code != http.StatusBadRequest || !strings.Contains(body, c.field) || !strings.Contains(body, `"violations"`) {
			t.Errorf("mine %s: %d %s, want 400 with a violation %s", c.body, code, body, c.field)
		}
	}
	// A form post (what a cross-site page can send without CORS) is refused.
	resp, err := http.Post(base+"/ui/api/report", "text/plain", strings.NewReader(`{"collection":"c","reports":[{"anchor_key":"a","item_ids":["b"]}]}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest {
		t.Errorf("text/plain report: %d, want 400", resp.StatusCode)
	}
	// A report answers its count, also when nothing new was recorded.
	if _, err := srv.svc.Upsert(context.Background(), &hardnegv1.UpsertRequest{Collection: "c", Items: &hardnegv1.ItemBatch{Ids: []string{"b"}, Dim: 2, Vectors: f32bytes([]float32{1, 0})}}); err != nil {
		t.Fatal(err)
	}
	report := `{"collection":"c","reports":[{"anchor_key":"a","item_ids":["b"]}]}`
	for _, want := range []string{`"recorded":"1"`, `"recorded":"0"`} {
		if code, body := httpDo(t, "POST", base+"/ui/api/report", "", report); code != http.StatusOK || !strings.Contains(body, want) {
			t.Errorf("report: %d %s, want %s", code, body, want)
		}
	}
	// The page may not be framed by another site.
	req, _ := http.NewRequest("GET", base+"/ui/", nil)
	page, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	page.Body.Close()
	if page.Header.Get("Content-Security-Policy") != "frame-ancestors 'none'" || page.Header.Get("X-Frame-Options") != "DENY" {
		t.Errorf("/ui/ headers: %v", page.Header)
	}
	code, body = httpDo(t, "GET", base+"/ui/api/collections", "", "")
	if code != http.StatusOK || !strings.Contains(body, `"name":"c"`) || !strings.Contains(body, `"wal_bytes"`) {
		t.Errorf("collections: %d %s", code, body)
	}
	code, body = httpDo(t, "GET", base+"/ui/api/info", "", "")
	if code != http.StatusOK || !strings.Contains(body, `"name":"absolute_margin"`) || !strings.Contains(body, `"name":"num_negatives","kind":"uint32","optional":false,"default":1`) {
		t.Errorf("info: %d %s", code, body)
	}
	// Every field of MiningPolicy can be set from the page: int64 fields as numbers, the
	// synthetic message as a JSON object whose default is the empty one.
	for _, want := range []string{`"name":"min_version","kind":"int64","optional":true,"default":null}`, `"name":"max_staleness","kind":"int64"`, `"name":"synthetic","kind":"message","optional":true,"default":{}}`} {
		if !strings.Contains(body, want) {
			t.Errorf("info lacks %s: %s", want, body)
		}
	}
	if strings.Contains(body, "unsupported") {
		t.Errorf("info has a field the page cannot set: %s", body)
	}
}

func TestStatsHistoryKeepsTheLastSamples(t *testing.T) {
	h := newStatsHistory(3)
	for i := range 5 {
		h.add(statsSample{Stats: mining.Stats{Requests: uint64(i)}})
	}
	var got []uint64
	for _, s := range h.samples() {
		got = append(got, s.Stats.Requests)
	}
	if len(got) != 3 || got[0] != 2 || got[1] != 3 || got[2] != 4 {
		t.Fatalf("samples %v, want [2 3 4]", got)
	}
}

// TestPolicyPBInvertsFromPolicy converts random policies that set every field of
// MiningPolicy (see randomPolicyPB) and back through policyPB, which the inspector uses
// to show the server's defaults: a field it drops fails.
func TestPolicyPBInvertsFromPolicy(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for range 200 {
		pb := randomPolicyPB(t, r)
		p, err := fromPolicy(pb)
		if err != nil {
			t.Fatal(err)
		}
		if back := policyPB(p); !proto.Equal(back, pb) {
			t.Fatalf("round trip lost a field:\n sent %v\n back %v", pb, back)
		}
	}
}

// A refusal that says when to retry (the per-client limit) carries Retry-After in whole
// seconds, rounded up, as well as the delay in its message.
func TestInspectorAPIRefusalCarriesRetryAfter(t *testing.T) {
	for _, tc := range []struct {
		delay time.Duration
		want  string
	}{{150 * time.Millisecond, "1"}, {2500 * time.Millisecond, "3"}} {
		l := newInFlightLimiter(1, tc.delay)
		if err := l.acquire("a"); err != nil {
			t.Fatal(err)
		}
		err := l.acquire("a")
		w := httptest.NewRecorder()
		writeUIError(w, toStatus(discard, "m", err))
		if w.Code != http.StatusTooManyRequests || w.Header().Get("Retry-After") != tc.want {
			t.Errorf("delay %v: status %d, Retry-After %q; want 429, %q", tc.delay, w.Code, w.Header().Get("Retry-After"), tc.want)
		}
	}
}

// A body that does not decode names the field under the part of the request it is in:
// anchor_columns and anchors both have exclude_ids.
func TestInspectorDecodeErrorNamesTheFieldWhereItIs(t *testing.T) {
	for body, want := range map[string]string{
		`{"collection":"c","anchor_columns":{"count":1,"exclude_ids":[1]}}`: "anchor_columns.exclude_ids",
		`{"collection":"c","anchors":[{"id":"a"},{"exclude_ids":[1]}]}`:     "anchors[1].exclude_ids",
		`{"collection":1}`: "collection",
		`{"collection":"c","anchors":[{"id":"a"},{"id":"b","positive_ids":"d2"}]}`: "anchors[1].positive_ids",
		`{"collection":"c","anchors":{"id":"a"}}`:                                  "anchors",
		// protojson counts columns in runes.
		`{"collection":"ééé","anchors":[{"id":"é"},{"id":"ü","exclude_ids":[1]}]}`: "anchors[1].exclude_ids",
		"{\n\"collection\": \"é\",\n \"explain\": \"x\"}":                          "explain",
		// Not an object: no field of the request is at fault.
		`[1,2]`:              "body",
		`[{"collection":1}]`: "body",
	} {
		err := decodeJSON([]byte(body), &hardnegv1.MineRequest{})
		st := status.Convert(toStatus(discard, "m", err))
		var got string
		for _, d := range st.Details() {
			if br, ok := d.(*errdetails.BadRequest); ok && len(br.FieldViolations) > 0 {
				got = br.FieldViolations[0].Field
			}
		}
		if got != want {
			t.Errorf("%s: field %q (%v), want %q", body, got, err, want)
		}
	}
}

// While authentication is off the API answers requests addressed to IP addresses,
// localhost and the names given in -ui-hosts only: a page that rebinds its own name to
// the server's address cannot call it as same-origin.
func TestInspectorAPIChecksTheHostWithoutAuthentication(t *testing.T) {
	for _, tc := range []struct {
		host, allowed string
		want          bool
	}{
		{"127.0.0.1:9464", "", true}, {"[::1]:9464", "", true}, {"localhost:9464", "", true}, {"LOCALHOST.", "", true},
		{"app.localhost:80", "", true}, {"10.1.2.3", "", true},
		{"attacker.example:9464", "", false}, {"attacker.example", "inspector.internal", false},
		{"inspector.internal:443", "x, inspector.internal", true}, {"anything.example", "*", true},
		{"inspector.internal:9464", "inspector.internal:9464", true}, {"inspector.internal", "Inspector.Internal.", true},
	} {
		if got := hostAllowed(tc.host, tc.allowed); got != tc.want {
			t.Errorf("hostAllowed(%q, %q) = %v, want %v", tc.host, tc.allowed, got, tc.want)
		}
	}
	for _, tc := range []struct {
		extra []string
		want  int
	}{{nil, http.StatusForbidden}, {[]string{"-ui-hosts=attacker.example"}, http.StatusOK}} {
		ts := startServerArgs(t, t.TempDir(), tc.extra...)
		req, err := http.NewRequest("GET", "http://"+ts.srv.HTTPAddr()+"/ui/api/collections", nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Host = "attacker.example:9464"
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != tc.want {
			t.Errorf("flags %v: a request addressed to attacker.example: %d, want %d", tc.extra, resp.StatusCode, tc.want)
		}
	}
}
