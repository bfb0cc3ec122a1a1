package main

import (
	"bufio"
	"context"
	"crypto/sha256"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/hardneg/hardneg/internal/metrics"

	"github.com/grpc-ecosystem/go-grpc-middleware/v2/interceptors/auth"
	"google.golang.org/grpc"
	"google.golang.org/grpc/peer"

	hardnegv1 "github.com/hardneg/hardneg/gen/go/hardneg/v1"
)

// role is what a token may do.
type role int

const (
	// roleRead may call the methods in readMethods.
	roleRead role = iota + 1
	// roleWrite may call every method.
	roleWrite
)

// readMethods are the MinerService methods a read token may call: they change no
// stored data. Mine, BuildBatches and GetCalibration are among them; the feedback counterparts
// ReportFalseNegatives and ReportLoss are not. Backup and Restore, which copy or create
// whole collections, need role write.
var readMethods = map[string]bool{
	hardnegv1.MinerService_GetCollection_FullMethodName:   true,
	hardnegv1.MinerService_ListCollections_FullMethodName: true,
	hardnegv1.MinerService_GetItems_FullMethodName:        true,
	hardnegv1.MinerService_Mine_FullMethodName:            true,
	hardnegv1.MinerService_RefreshQueue_FullMethodName:    true,
	hardnegv1.MinerService_ListSnapshots_FullMethodName:   true,
	hardnegv1.MinerService_BuildBatches_FullMethodName:    true,
	hardnegv1.MinerService_GetCalibration_FullMethodName:  true,
}

// principal is an authenticated caller.
type principal struct {
	name string
	role role
}

type principalKey struct{}

// principalFrom returns the caller authenticated by the token interceptor, if any.
func principalFrom(ctx context.Context) (principal, bool) {
	p, ok := ctx.Value(principalKey{}).(principal)
	return p, ok
}

// tokenStore holds the accepted tokens: those of the -auth-tokens value and those of
// the -auth-token-file, which is re-read when it changes. Tokens are kept as SHA-256
// digests, so lookups do not compare secrets byte by byte.
type tokenStore struct {
	file       string
	log        *slog.Logger
	checkEvery time.Duration

	// mu guards every field below.
	mu        sync.Mutex
	static    map[[32]byte]principal // from -auth-tokens
	fromFile  map[[32]byte]principal
	stamp     fileStamp
	lastCheck time.Time
	reloads   uint64    // reloads after the file changed
	failures  uint64    // versions of the file that did not load (the previous tokens stay)
	failed    fileStamp // the version on disk that does not load; zero when it loaded
	// emptied is a version of the file that holds no tokens while the loaded one
	// holds some, first read at emptiedAt; it revokes them once it has stayed on disk
	// for emptySettle (see checkLocked).
	emptied     fileStamp
	emptiedAt   time.Time
	emptySettle time.Duration

	// refused counts calls refused since refusedLogged, when the last refusal was
	// logged (see refuse).
	refused       uint64
	refusedLogged time.Time
}

// refusedLogEvery is the most often a refused call is logged: a client that retries a
// bad token in a loop writes one line per interval, which counts the others.
const refusedLogEvery = 10 * time.Second

// unreadable stands for a token file that cannot be stat'ed.
var unreadable = fileStamp{size: -1}

// newTokenStore parses inline entries and the file; it returns nil (authentication
// off) when both are empty.
func newTokenStore(inline, file string, log *slog.Logger) (*tokenStore, error) {
	if inline == "" && file == "" {
		return nil, nil
	}
	s := &tokenStore{file: file, log: log, checkEvery: time.Second, emptySettle: defaultEmptySettle}
	var err error
	if s.static, err = parseTokens(bufio.NewScanner(strings.NewReader(strings.ReplaceAll(inline, ",", "\n"))), "-auth-tokens"); err != nil {
		return nil, err
	}
	if file != "" {
		fi, err := os.Stat(file)
		if err != nil {
			return nil, fmt.Errorf("-auth-token-file: %w", err)
		}
		if err := s.readFile(fileStamp{fi.ModTime(), fi.Size()}); err != nil {
			return nil, err
		}
	}
	if len(s.static)+len(s.fromFile) == 0 {
		if file != "" {
			return nil, fmt.Errorf("auth: %s holds no tokens and -auth-tokens gives none: every call would be refused", file)
		}
		return nil, fmt.Errorf("auth: no tokens configured")
	}
	return s, nil
}

// parseTokens reads NAME:ROLE:TOKEN lines; blank lines and lines starting with # are
// skipped. The token is everything after the second colon. A token listed twice must
// carry the same name and role both times; a conflicting repeat is an error.
func parseTokens(sc *bufio.Scanner, source string) (map[[32]byte]principal, error) {
	out := map[[32]byte]principal{}
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		parts := strings.SplitN(line, ":", 3)
		if len(parts) != 3 || parts[0] == "" || parts[2] == "" {
			return nil, fmt.Errorf("auth: %s entry %d: want NAME:ROLE:TOKEN", source, n)
		}
		var ro role
		switch parts[1] {
		case "read":
			ro = roleRead
		case "write":
			ro = roleWrite
		default:
			// Not echoed: an entry with its fields swapped would print its token.
			return nil, fmt.Errorf("auth: %s entry %d: the second field (ROLE of NAME:ROLE:TOKEN, not shown) must be read or write", source, n)
		}
		if len(parts[2]) < 16 {
			return nil, fmt.Errorf("auth: %s entry %d: token shorter than 16 bytes", source, n)
		}
		sum := sha256.Sum256([]byte(parts[2]))
		p := principal{name: parts[0], role: ro}
		if prev, dup := out[sum]; dup && prev != p {
			return nil, fmt.Errorf("auth: %s entry %d: token of %q is already listed for %s; a token listed twice must carry the same name and role", source, n, p.name, prev)
		}
		out[sum] = p
	}
	return out, sc.Err()
}

// String names the principal and its role in error messages (never the token).
func (p principal) String() string {
	r := "read"
	if p.role == roleWrite {
		r = "write"
	}
	return fmt.Sprintf("%q (role %s)", p.name, r)
}

// conflicts returns an error when a token of file is also in static with another name
// or role: the same token must not mean two different callers.
func conflicts(static, file map[[32]byte]principal, source string) error {
	for sum, p := range file {
		if q, ok := static[sum]; ok && q != p {
			return fmt.Errorf("auth: %s: the token of %s is also given in -auth-tokens for %s", source, p, q)
		}
	}
	return nil
}

// readFile replaces the file's tokens. Caller holds mu or owns s exclusively.
func (s *tokenStore) readFile(stamp fileStamp) error {
	toks, err := s.parseFile()
	if err != nil {
		return err
	}
	s.fromFile, s.stamp = toks, stamp
	return nil
}

// parseFile reads and checks the token file.
func (s *tokenStore) parseFile() (map[[32]byte]principal, error) {
	f, err := os.Open(s.file)
	if err != nil {
		return nil, fmt.Errorf("auth: %w", err)
	}
	defer f.Close()
	toks, err := parseTokens(bufio.NewScanner(f), s.file)
	if err != nil {
		return nil, err
	}
	if err := conflicts(s.static, toks, s.file); err != nil {
		return nil, err
	}
	return toks, nil
}

// defaultEmptySettle is how long a token file without tokens must stay on disk before
// it revokes the tokens loaded from it: a file rewritten by truncating it first
// (os.WriteFile, a shell's >, many configuration tools) holds nothing for a moment,
// and a check in that moment must not refuse every caller.
const defaultEmptySettle = time.Second

// lookup returns the principal owning token, re-reading the token file first when it
// changed. A file that has become unreadable or invalid keeps its previous tokens.
func (s *tokenStore) lookup(token string) (principal, bool) {
	sum := sha256.Sum256([]byte(token))
	s.mu.Lock()
	defer s.mu.Unlock()
	s.checkLocked()
	if p, ok := s.static[sum]; ok {
		return p, true
	}
	p, ok := s.fromFile[sum]
	return p, ok
}

// checkLocked re-reads the token file when it changed and the last check is older
// than checkEvery. Caller holds mu.
func (s *tokenStore) checkLocked() {
	now := time.Now()
	if s.file == "" || now.Sub(s.lastCheck) < s.checkEvery {
		return
	}
	s.lastCheck = now
	st := unreadable
	fi, err := os.Stat(s.file)
	if err == nil {
		st = fileStamp{fi.ModTime(), fi.Size()}
	}
	switch {
	case st == s.stamp: // the loaded version (again)
		s.failed = fileStamp{}
		return
	case st == s.failed: // counted and logged already
		return
	case err == nil:
		var toks map[[32]byte]principal
		if toks, err = s.parseFile(); err == nil {
			// A file with no tokens loads: emptying it is how every token in it is
			// revoked at once (after a leak), so it must not keep them, once it has
			// stayed empty for emptySettle (a rewrite in progress does not). At start
			// it is refused (newTokenStore): a server that refuses every call is then
			// a mistake.
			if len(toks) == 0 && len(s.fromFile) > 0 {
				if s.emptied != st {
					s.emptied, s.emptiedAt = st, now
				}
				if now.Sub(s.emptiedAt) < s.emptySettle {
					return
				}
			}
			s.fromFile, s.stamp, s.emptied = toks, st, fileStamp{}
			s.failed = fileStamp{}
			s.reloads++
			if len(s.fromFile)+len(s.static) == 0 {
				s.log.Error("token file reloaded with no tokens, and -auth-tokens gives none: every call is refused until tokens are added", "file", s.file)
				return
			}
			s.log.Info("token file reloaded", "tokens", len(s.fromFile))
			return
		}
	}
	s.failed = st
	s.failures++
	s.log.Error("token file reload failed; keeping previous tokens", "err", err)
}

// stats reports the token file's reloads for metrics, checking the file first (as a
// call does), so a broken rotation shows even while no authenticated call arrives.
func (s *tokenStore) stats() (metrics.ReloadStats, bool) {
	if s == nil || s.file == "" {
		return metrics.ReloadStats{}, false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.checkLocked()
	return metrics.ReloadStats{Reloads: s.reloads, ReloadErrors: s.failures, Failing: s.failed != fileStamp{}}, true
}

// authenticate is the auth interceptor's function: it requires a known bearer token
// whose role allows the called method.
func (s *tokenStore) authenticate(ctx context.Context) (context.Context, error) {
	method, _ := grpc.Method(ctx)
	token, err := auth.AuthFromMD(ctx, "bearer")
	if err != nil {
		s.refuse(peerOf(ctx), method, "no bearer token", "")
		return nil, errUnauthenticated
	}
	p, ok := s.lookup(token)
	if !ok {
		s.refuse(peerOf(ctx), method, "unknown token", "")
		return nil, errUnauthenticated
	}
	if p.role != roleWrite && !readMethods[method] {
		s.refuse(peerOf(ctx), method, "role read", p.name)
		return nil, fmt.Errorf("%s (token %q has role read): %w", method, p.name, errPermissionDenied)
	}
	return context.WithValue(ctx, principalKey{}, p), nil
}

// peerOf is the address of a gRPC call's peer, "" when unknown.
func peerOf(ctx context.Context) string {
	if pr, ok := peer.FromContext(ctx); ok && pr.Addr != nil {
		return pr.Addr.String()
	}
	return ""
}

// refuse logs a refused call (gRPC, or the HTTP port's inspector API and pprof) at warn
// level (method, reason, the token's name when it is known, the peer's address), at most
// once per refusedLogEvery; the line counts the refusals since the last one logged. The
// token itself is never logged.
func (s *tokenStore) refuse(peerAddr, method, reason, name string) {
	s.mu.Lock()
	s.refused++
	now := time.Now()
	if now.Sub(s.refusedLogged) < refusedLogEvery {
		s.mu.Unlock()
		return
	}
	n := s.refused
	s.refused, s.refusedLogged = 0, now
	s.mu.Unlock()
	attrs := []any{"method", method, "reason", reason, "refused_since_last_line", n}
	if name != "" {
		attrs = append(attrs, "token_name", name)
	}
	if peerAddr != "" {
		attrs = append(attrs, "peer", peerAddr)
	}
	s.log.Warn("call refused by authentication", attrs...)
}
