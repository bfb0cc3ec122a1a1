package main

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"time"

	"github.com/hardneg/hardneg/internal/metrics"
)

// certReloader serves the TLS certificate (and client CA) found in files, reloading
// them when a file's modification time or size changes. Kubernetes updates mounted
// Secrets by swapping a symlink, which changes what os.Stat reports, so rotation
// needs no restart. A reload that fails keeps the previous certificate.
type certReloader struct {
	certFile, keyFile, caFile string
	log                       *slog.Logger
	checkEvery                time.Duration // how often handshakes stat the files

	// mu guards every field below.
	mu           sync.Mutex
	cfg          *tls.Config // served configuration; nil before the first load
	stamps       [3]fileStamp
	lastCheck    time.Time
	notAfter     time.Time
	reloads      uint64
	reloadErrors uint64
}

// fileStamp identifies a version of a file.
type fileStamp struct {
	mod  time.Time
	size int64
}

// newCertReloader loads the files once; it fails when they are unusable.
func newCertReloader(certFile, keyFile, caFile string, log *slog.Logger) (*certReloader, error) {
	r := &certReloader{certFile: certFile, keyFile: keyFile, caFile: caFile, log: log, checkEvery: time.Second}
	stamps, err := r.stat()
	if err != nil {
		return nil, err
	}
	if err := r.load(stamps); err != nil {
		return nil, err
	}
	return r, nil
}

// serverConfig returns the configuration to give the gRPC TLS credentials; every
// handshake asks the reloader for the current certificate.
func (r *certReloader) serverConfig() *tls.Config {
	return &tls.Config{
		MinVersion:         tls.VersionTLS12,
		NextProtos:         []string{"h2"},
		GetConfigForClient: func(*tls.ClientHelloInfo) (*tls.Config, error) { return r.current(), nil },
	}
}

// current returns the served configuration, reloading first when the files changed
// and the last check is older than checkEvery.
func (r *certReloader) current() *tls.Config {
	r.mu.Lock()
	defer r.mu.Unlock()
	now := time.Now()
	if now.Sub(r.lastCheck) >= r.checkEvery {
		r.lastCheck = now
		if stamps, err := r.stat(); err != nil {
			r.failLocked(err)
		} else if stamps != r.stamps {
			if err := r.loadLocked(stamps); err != nil {
				r.failLocked(err)
			} else {
				r.reloads++
				r.log.Info("TLS certificate reloaded", "not_after", r.notAfter)
			}
		}
	}
	return r.cfg
}

// validNow reports whether the served certificate is within its validity period.
// Caller holds mu.
func (r *certReloader) validNow() bool {
	if r.cfg == nil || len(r.cfg.Certificates) == 0 {
		return false
	}
	return validAt(r.cfg.Certificates[0].Leaf, time.Now())
}

// validAt reports whether now lies in leaf's validity period (false for no leaf).
func validAt(leaf *x509.Certificate, now time.Time) bool {
	return leaf != nil && !now.After(leaf.NotAfter) && !now.Before(leaf.NotBefore)
}

func (r *certReloader) failLocked(err error) {
	r.reloadErrors++
	r.log.Error("TLS certificate reload failed; serving the previous one", "err", err)
}

func (r *certReloader) stat() ([3]fileStamp, error) {
	var out [3]fileStamp
	for i, f := range []string{r.certFile, r.keyFile, r.caFile} {
		if f == "" {
			continue
		}
		fi, err := os.Stat(f)
		if err != nil {
			return out, fmt.Errorf("tls: %w", err)
		}
		out[i] = fileStamp{mod: fi.ModTime(), size: fi.Size()}
	}
	return out, nil
}

func (r *certReloader) load(stamps [3]fileStamp) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.loadLocked(stamps)
}

// loadLocked reads the files and replaces the served configuration. Caller holds mu.
func (r *certReloader) loadLocked(stamps [3]fileStamp) error {
	cert, err := tls.LoadX509KeyPair(r.certFile, r.keyFile)
	if err != nil {
		return fmt.Errorf("tls: load key pair: %w", err)
	}
	if leaf := cert.Leaf; leaf != nil {
		if bad := !validAt(leaf, time.Now()); bad && r.validNow() {
			// A rotation to a certificate that clients would refuse keeps the one
			// that works.
			return fmt.Errorf("tls: %s is valid from %s to %s, not now: clients would refuse it", r.certFile,
				leaf.NotBefore.UTC().Format(time.RFC3339), leaf.NotAfter.UTC().Format(time.RFC3339))
		} else if bad {
			r.log.Warn("the TLS certificate is not valid now: clients will refuse it", "file", r.certFile,
				"not_before", leaf.NotBefore.UTC(), "not_after", leaf.NotAfter.UTC())
		}
	}
	cfg := &tls.Config{
		MinVersion:   tls.VersionTLS12,
		NextProtos:   []string{"h2"},
		Certificates: []tls.Certificate{cert},
	}
	if r.caFile != "" {
		pem, err := os.ReadFile(r.caFile)
		if err != nil {
			return fmt.Errorf("tls: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return errors.New("tls: client CA file holds no PEM certificate")
		}
		cfg.ClientCAs = pool
		cfg.ClientAuth = tls.RequireAndVerifyClientCert
	}
	r.cfg = cfg
	r.stamps = stamps
	if cert.Leaf != nil {
		r.notAfter = cert.Leaf.NotAfter
	}
	return nil
}

// stats reports the served certificate for metrics. It checks the files first (as a
// handshake does), so the reported expiry follows a rotated certificate even while no
// client opens a connection: trainers keep theirs for hours.
func (r *certReloader) stats() (metrics.TLSStats, bool) {
	if r == nil {
		return metrics.TLSStats{}, false
	}
	r.current()
	r.mu.Lock()
	defer r.mu.Unlock()
	return metrics.TLSStats{NotAfter: r.notAfter, Reloads: r.reloads, ReloadErrors: r.reloadErrors}, true
}
