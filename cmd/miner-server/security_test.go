package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/x509"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	hardnegv1 "github.com/hardneg/hardneg/gen/go/hardneg/v1"
)

var discard = slog.New(slog.NewTextHandler(io.Discard, nil))

func TestParseTokens(t *testing.T) {
	for _, tc := range []struct {
		name, in string
		want     int
		wantErr  string
	}{
		{"entries comments and blank lines", "# comment\n\ntrainer:write:0123456789abcdef\nviewer:read:fedcba9876543210:with:colons\n", 2, ""},
		{"unknown role", "x:admin:0123456789abcdef", 0, "must be read or write"},
		{"missing token", "x:read:", 0, "NAME:ROLE:TOKEN"},
		{"missing name", ":read:0123456789abcdef", 0, "NAME:ROLE:TOKEN"},
		{"two fields", "x:0123456789abcdef", 0, "NAME:ROLE:TOKEN"},
		{"short token", "x:read:short", 0, "shorter than 16"},
		{"fields swapped: the token is not echoed", "x:0123456789abcdef-secret:read", 0, "must be read or write"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseTokens(bufio.NewScanner(strings.NewReader(tc.in)), "test")
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want %q", err, tc.wantErr)
				}
				if strings.Contains(err.Error(), "secret") || strings.Contains(err.Error(), "0123456789") {
					t.Fatalf("err = %v: it shows the entry's token", err)
				}
				return
			}
			if err != nil || len(got) != tc.want {
				t.Fatalf("got %d tokens, err %v; want %d", len(got), err, tc.want)
			}
		})
	}
}

// methodStream is a grpc.ServerTransportStream that only knows its method, so that
// grpc.Method works in a unit test.
type methodStream struct{ method string }

func (m methodStream) Method() string             { return m.method }
func (methodStream) SetHeader(metadata.MD) error  { return nil }
func (methodStream) SendHeader(metadata.MD) error { return nil }
func (methodStream) SetTrailer(metadata.MD) error { return nil }

func callCtx(method, token string) context.Context {
	ctx := grpc.NewContextWithServerTransportStream(context.Background(), methodStream{method})
	if token != "" {
		ctx = metadata.NewIncomingContext(ctx, metadata.Pairs("authorization", "Bearer "+token))
	}
	return ctx
}

func TestTokenStoreAuthenticates(t *testing.T) {
	const writeTok, readTok = "write-token-0123456789", "read-token-0123456789"
	s, err := newTokenStore("trainer:write:"+writeTok+",viewer:read:"+readTok, "", discard)
	if err != nil {
		t.Fatal(err)
	}
	mine, upsert := hardnegv1.MinerService_Mine_FullMethodName, hardnegv1.MinerService_Upsert_FullMethodName
	for _, tc := range []struct {
		name, method, token string
		want                error
		who                 string
	}{
		{"no token", mine, "", errUnauthenticated, ""},
		{"unknown token", mine, "not-a-known-token-at-all", errUnauthenticated, ""},
		{"write token writes", upsert, writeTok, nil, "trainer"},
		{"read token mines", mine, readTok, nil, "viewer"},
		{"read token cannot write", upsert, readTok, errPermissionDenied, ""},
		{"read token builds batches", hardnegv1.MinerService_BuildBatches_FullMethodName, readTok, nil, "viewer"},
		{"read token reads the calibration", hardnegv1.MinerService_GetCalibration_FullMethodName, readTok, nil, "viewer"},
		{"read token cannot report losses", hardnegv1.MinerService_ReportLoss_FullMethodName, readTok, errPermissionDenied, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, err := s.authenticate(callCtx(tc.method, tc.token))
			if !errors.Is(err, tc.want) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
			if tc.want == nil {
				if p, _ := principalFrom(ctx); p.name != tc.who {
					t.Fatalf("principal = %q, want %q", p.name, tc.who)
				}
			}
		})
	}
	if got := toStatus(discard, upsert, errPermissionDenied); status.Code(got) != codes.PermissionDenied {
		t.Errorf("permission error maps to %v", status.Code(got))
	}
	if got := toStatus(discard, upsert, errUnauthenticated); status.Code(got) != codes.Unauthenticated {
		t.Errorf("auth error maps to %v", status.Code(got))
	}
}

func TestNoTokensMeansAuthenticationOff(t *testing.T) {
	s, err := newTokenStore("", "", discard)
	if s != nil || err != nil {
		t.Fatalf("store = %v, err %v; want nil, nil", s, err)
	}
}

func TestTokenFileReloads(t *testing.T) {
	const oldTok, newTok = "old-token-0123456789", "new-token-0123456789"
	path := writeFiles(t, t.TempDir(), map[string][]byte{"tokens": []byte("a:write:" + oldTok + "\n")})["tokens"]
	s, err := newTokenStore("", path, discard)
	if err != nil {
		t.Fatal(err)
	}
	s.checkEvery = 0
	if _, ok := s.lookup(oldTok); !ok {
		t.Fatal("initial token rejected")
	}
	rewrite(t, path, "b:write:"+newTok+"\n")
	if _, ok := s.lookup(oldTok); ok {
		t.Error("removed token still accepted")
	}
	if p, ok := s.lookup(newTok); !ok || p.name != "b" {
		t.Error("new token rejected")
	}
	rewrite(t, path, "garbage without colons\n")
	if _, ok := s.lookup(newTok); !ok {
		t.Error("an invalid file replaced the previous tokens")
	}
	if st, ok := s.stats(); !ok || st.Reloads != 1 || st.ReloadErrors != 1 || !st.Failing {
		t.Errorf("stats %+v, %v; want 1 reload, 1 failure, failing", st, ok)
	}
	if st, _ := s.stats(); st.ReloadErrors != 1 || !st.Failing { // the same broken file: counted once, still failing
		t.Errorf("stats again %+v", st)
	}
	// Emptying the file (or leaving only comments) revokes every token in it: after a
	// leak that must take effect, whatever it leaves the server able to accept. It
	// takes effect once the file has stayed so for emptySettle: a rewrite that
	// truncates the file first leaves it empty for a moment, and a check then must not
	// refuse every caller.
	rewrite(t, path, "")
	if _, ok := s.lookup(newTok); !ok {
		t.Error("a file caught empty in the middle of a rewrite revoked every token")
	}
	rewrite(t, path, "# every token revoked\n")
	if _, ok := s.lookup(newTok); !ok {
		t.Error("a file without tokens revoked them before it had stayed so for emptySettle")
	}
	s.emptiedAt = s.emptiedAt.Add(-s.emptySettle) // as if it had stayed on disk that long
	if _, ok := s.lookup(newTok); ok {
		t.Error("a file without tokens kept the previous tokens")
	}
	if st, _ := s.stats(); st.Reloads != 2 || st.ReloadErrors != 1 || st.Failing {
		t.Errorf("no tokens: stats %+v; want 2 reloads, 1 failure, not failing", st)
	}
	// A scrape alone (no call) notices a change of the file.
	rewrite(t, path, "c:write:"+oldTok+"\n")
	if st, _ := s.stats(); st.Reloads != 3 || st.Failing {
		t.Errorf("after a scrape: %+v; want 3 reloads, not failing", st)
	}
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	if st, _ := s.stats(); st.ReloadErrors != 2 || !st.Failing {
		t.Errorf("file gone: %+v; want 2 failures, failing", st)
	}
	// At start a file without tokens (and no -auth-tokens) is refused: a server that
	// refuses every call from its first one is a mistake.
	empty := writeFiles(t, t.TempDir(), map[string][]byte{"tokens": []byte("# nothing yet\n")})["tokens"]
	if _, err := newTokenStore("", empty, discard); err == nil || !strings.Contains(err.Error(), "holds no tokens") {
		t.Errorf("start with a file without tokens: %v, want refused", err)
	}
	if st, ok := (*tokenStore)(nil).stats(); ok || st.Reloads != 0 {
		t.Error("no token store reported stats")
	}
}

// rewrite replaces a file's content and moves its modification time forward, so that
// a change is seen even on file systems with coarse timestamps.
func rewrite(t *testing.T, path, content string) {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	next := fi.ModTime().Add(time.Second)
	if err := os.Chtimes(path, next, next); err != nil {
		t.Fatal(err)
	}
}

func TestInFlightLimiterRefusesOverLimit(t *testing.T) {
	l := newInFlightLimiter(2, 300*time.Millisecond)
	for i := 0; i < 2; i++ {
		if err := l.acquire("a"); err != nil {
			t.Fatalf("acquire %d: %v", i, err)
		}
	}
	err := l.acquire("a")
	if !errors.Is(err, errTooManyInFlight) {
		t.Fatalf("third acquire: %v, want errTooManyInFlight", err)
	}
	st := status.Convert(toStatus(discard, "m", err))
	if st.Code() != codes.ResourceExhausted {
		t.Fatalf("code = %v", st.Code())
	}
	var delay time.Duration
	for _, d := range st.Details() {
		if ri, ok := d.(*errdetails.RetryInfo); ok {
			delay = ri.RetryDelay.AsDuration()
		}
	}
	if delay != 300*time.Millisecond {
		t.Errorf("retry delay = %v, want 300ms", delay)
	}
	if err := l.acquire("b"); err != nil {
		t.Errorf("another client was refused: %v", err)
	}
	if s := l.stats(); s.InFlight != 3 || s.Rejected != 1 {
		t.Errorf("stats = %+v, want 3 in flight, 1 rejected", s)
	}
	l.release("a")
	if err := l.acquire("a"); err != nil {
		t.Errorf("acquire after release: %v", err)
	}
	l.release("a")
	l.release("a")
	l.release("b")
	if s := l.stats(); s.InFlight != 0 || len(l.byClient) != 0 {
		t.Errorf("after releasing everything: %+v, %d clients tracked", s, len(l.byClient))
	}
}

func TestUnlimitedLimiterAdmitsEverything(t *testing.T) {
	l := newInFlightLimiter(0, time.Second)
	for i := 0; i < 1000; i++ {
		if err := l.acquire("a"); err != nil {
			t.Fatal(err)
		}
	}
}

func TestCertReloaderPicksUpNewCertificate(t *testing.T) {
	ca := newTestCA(t)
	exp1 := time.Now().Add(2 * time.Hour).Truncate(time.Second)
	cert, key := ca.issue(t, "server", exp1)
	dir := t.TempDir()
	paths := writeFiles(t, dir, map[string][]byte{"tls.crt": cert, "tls.key": key, "ca.crt": ca.pem})
	r, err := newCertReloader(paths["tls.crt"], paths["tls.key"], paths["ca.crt"], discard)
	if err != nil {
		t.Fatal(err)
	}
	r.checkEvery = 0
	leaf := func() *x509.Certificate { return r.current().Certificates[0].Leaf }
	if got := leaf().NotAfter; !got.Equal(exp1) {
		t.Fatalf("NotAfter = %v, want %v", got, exp1)
	}
	if r.current().ClientCAs == nil {
		t.Fatal("client CA not loaded")
	}

	exp2 := exp1.Add(time.Hour)
	cert2, key2 := ca.issue(t, "server", exp2)
	rewrite(t, paths["tls.key"], string(key2))
	rewrite(t, paths["tls.crt"], string(cert2))
	if got := leaf().NotAfter; !got.Equal(exp2) {
		t.Fatalf("after rotation NotAfter = %v, want %v", got, exp2)
	}
	rewrite(t, paths["tls.crt"], "not a certificate")
	if got := leaf().NotAfter; !got.Equal(exp2) {
		t.Fatalf("a broken file replaced the certificate: NotAfter = %v", got)
	}
	st, ok := r.stats()
	if !ok || st.Reloads != 1 || st.ReloadErrors == 0 || !st.NotAfter.Equal(exp2) {
		t.Errorf("stats = %+v, %v", st, ok)
	}
	// A scrape alone (no handshake) picks up a rotated certificate.
	exp3 := exp2.Add(time.Hour)
	cert3, key3 := ca.issue(t, "server", exp3)
	rewrite(t, paths["tls.key"], string(key3))
	rewrite(t, paths["tls.crt"], string(cert3))
	if st, _ := r.stats(); !st.NotAfter.Equal(exp3) || st.Reloads != 2 {
		t.Errorf("after a rotation, scraped stats = %+v; want NotAfter %v and 2 reloads", st, exp3)
	}
}

func TestCertReloaderRejectsBadFiles(t *testing.T) {
	ca := newTestCA(t)
	cert, key := ca.issue(t, "server", time.Now().Add(time.Hour))
	other, _ := newTestCA(t).issue(t, "x", time.Now().Add(time.Hour))
	dir := t.TempDir()
	p := writeFiles(t, dir, map[string][]byte{"c": cert, "k": key, "other": other, "empty": []byte("no pem here")})
	for name, args := range map[string][3]string{
		"missing file":      {p["c"], dir + "/absent", ""},
		"mismatched key":    {p["other"], p["k"], ""},
		"CA without a cert": {p["c"], p["k"], p["empty"]},
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := newCertReloader(args[0], args[1], args[2], discard); err == nil {
				t.Fatal("accepted")
			}
		})
	}
}

func TestConflictingDuplicateTokensAreRefused(t *testing.T) {
	const tok = "shared-token-0123456789"
	for _, tc := range []struct {
		name, inline, file, wantErr string
	}{
		{"same token two roles inline", "a:read:" + tok + ",a:write:" + tok, "", "already listed"},
		{"same token two names in the file", "", "a:write:" + tok + "\nb:write:" + tok + "\n", "already listed"},
		{"file repeats an inline token with another role", "a:write:" + tok, "a:read:" + tok + "\n", "also given in -auth-tokens"},
		{"identical repeat is accepted", "a:write:" + tok + ",a:write:" + tok, "a:write:" + tok + "\n", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := ""
			if tc.file != "" {
				path = writeFiles(t, t.TempDir(), map[string][]byte{"tokens": []byte(tc.file)})["tokens"]
			}
			s, err := newTokenStore(tc.inline, path, discard)
			if tc.wantErr == "" {
				if err != nil {
					t.Fatal(err)
				}
				if p, ok := s.lookup(tok); !ok || p.role != roleWrite {
					t.Fatalf("lookup = %v, %v", p, ok)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("err = %v, want %q", err, tc.wantErr)
			}
			if strings.Contains(err.Error(), tok) {
				t.Errorf("error reveals the token: %v", err)
			}
		})
	}
}

func TestReloadWithConflictingDuplicateKeepsPreviousTokens(t *testing.T) {
	const tok, other = "shared-token-0123456789", "other-token-0123456789"
	path := writeFiles(t, t.TempDir(), map[string][]byte{"tokens": []byte("a:write:" + tok + "\n")})["tokens"]
	s, err := newTokenStore("", path, discard)
	if err != nil {
		t.Fatal(err)
	}
	s.checkEvery = 0
	rewrite(t, path, "a:write:"+tok+"\nb:write:"+other+"\nc:read:"+tok+"\n")
	if p, ok := s.lookup(tok); !ok || p.role != roleWrite {
		t.Errorf("token after a conflicting reload = %v, %v; want the previous write role", p, ok)
	}
	if _, ok := s.lookup(other); ok {
		t.Error("a conflicting file was loaded")
	}
}

// A refused call is logged at warn level with its method, the reason, the token's name
// when known and the peer, never the token; a client retrying a bad token in a loop
// gets one line per interval, which counts the refusals since the last one.
func TestRefusedCallsAreLoggedWithoutTheToken(t *testing.T) {
	const writeTok, readTok = "write-token-0123456789", "read-token-0123456789"
	var logs bytes.Buffer
	s, err := newTokenStore("trainer:write:"+writeTok+",viewer:read:"+readTok, "", slog.New(slog.NewJSONHandler(&logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	mine, upsert := hardnegv1.MinerService_Mine_FullMethodName, hardnegv1.MinerService_Upsert_FullMethodName
	lines := func() []map[string]any {
		var out []map[string]any
		for _, l := range strings.Split(strings.TrimSpace(logs.String()), "\n") {
			if l == "" {
				continue
			}
			var m map[string]any
			if err := json.Unmarshal([]byte(l), &m); err != nil {
				t.Fatal(err)
			}
			out = append(out, m)
		}
		return out
	}
	for range 3 {
		if _, err := s.authenticate(callCtx(mine, "stolen-guess-0123456789")); !errors.Is(err, errUnauthenticated) {
			t.Fatal(err)
		}
	}
	if _, err := s.authenticate(callCtx(mine, readTok)); err != nil {
		t.Fatal(err)
	}
	got := lines()
	if len(got) != 1 || got[0]["level"] != "WARN" || got[0]["reason"] != "unknown token" || got[0]["method"] != mine || got[0]["refused_since_last_line"] != 1.0 {
		t.Fatalf("after three refusals in a row: %v; want one warning", got)
	}
	// The interval has passed: the next refusal is logged with the two it held back.
	s.mu.Lock()
	s.refusedLogged = s.refusedLogged.Add(-refusedLogEvery)
	s.mu.Unlock()
	if _, err := s.authenticate(callCtx(upsert, readTok)); !errors.Is(err, errPermissionDenied) {
		t.Fatal(err)
	}
	got = lines()
	if len(got) != 2 || got[1]["reason"] != "role read" || got[1]["token_name"] != "viewer" || got[1]["refused_since_last_line"] != 3.0 {
		t.Fatalf("after the interval: %v; want a second warning counting 3", got)
	}
	// The HTTP port's inspector API and pprof are refused and logged the same way.
	s.mu.Lock()
	s.refusedLogged = s.refusedLogged.Add(-refusedLogEvery)
	s.mu.Unlock()
	srv := &Server{tokens: s}
	req := httptest.NewRequest("POST", "/ui/api/report", nil)
	req.Header.Set("Authorization", "Bearer http-guess-0123456789")
	req.RemoteAddr = "192.0.2.7:4242"
	if _, err := srv.authorizeHTTP(req, hardnegv1.MinerService_ReportFalseNegatives_FullMethodName); !errors.Is(err, errUnauthenticated) {
		t.Fatal(err)
	}
	got = lines()
	if len(got) != 3 || got[2]["reason"] != "unknown token" || got[2]["peer"] != "192.0.2.7:4242" || !strings.Contains(got[2]["method"].(string), "/ui/api/report") {
		t.Fatalf("an HTTP refusal: %v; want a third warning naming the path and the peer", got)
	}
	if strings.Contains(logs.String(), "stolen-guess") || strings.Contains(logs.String(), "http-guess") || strings.Contains(logs.String(), readTok) {
		t.Errorf("a token reached the log: %s", logs.String())
	}
}

// TestTokensFromTheEnvironmentNameTheVariable: a bad token list from HARDNEG_AUTH_TOKENS
// is refused naming the variable as well as the flag.
func TestTokensFromTheEnvironmentNameTheVariable(t *testing.T) {
	cfg, err := parseConfig([]string{"-grpc-addr=127.0.0.1:0", "-http-addr=127.0.0.1:0", "-data-dir=" + t.TempDir()},
		func(k string) string { return map[string]string{"HARDNEG_AUTH_TOKENS": "x:read:short"}[k] }, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := NewServer(cfg, discard); err == nil || !strings.Contains(err.Error(), "shorter than 16") || !strings.Contains(err.Error(), "(set by HARDNEG_AUTH_TOKENS)") {
		t.Fatalf("NewServer: %v, want the token error naming HARDNEG_AUTH_TOKENS", err)
	}
}

// A certificate outside its validity period starts the server with a warning (clients
// will refuse it), but a reload does not replace a valid certificate with it.
func TestCertReloaderKeepsAValidCertificateOverAnExpiredOne(t *testing.T) {
	ca := newTestCA(t)
	good, goodKey := ca.issue(t, "server", time.Now().Add(time.Hour))
	expired, expiredKey := ca.issue(t, "server", time.Now().Add(-time.Minute))
	paths := writeFiles(t, t.TempDir(), map[string][]byte{"tls.crt": expired, "tls.key": expiredKey})
	var logs bytes.Buffer
	r, err := newCertReloader(paths["tls.crt"], paths["tls.key"], "", slog.New(slog.NewJSONHandler(&logs, nil)))
	if err != nil {
		t.Fatalf("an expired certificate at start: %v, want a start with a warning", err)
	}
	if !strings.Contains(logs.String(), "not valid now") {
		t.Errorf("no warning for an expired certificate at start: %s", logs.String())
	}
	r.checkEvery = 0
	rewrite(t, paths["tls.key"], string(goodKey))
	rewrite(t, paths["tls.crt"], string(good))
	r.current()
	rewrite(t, paths["tls.key"], string(expiredKey))
	rewrite(t, paths["tls.crt"], string(expired))
	cfg := r.current()
	if got := cfg.Certificates[0].Leaf.NotAfter; got.Before(time.Now()) {
		t.Fatalf("a reload replaced the valid certificate with an expired one (not after %v)", got)
	}
	if st, _ := r.stats(); st.Reloads != 1 || st.ReloadErrors == 0 {
		t.Errorf("stats %+v: want 1 reload and the expired one counted as a failure", st)
	}
}
