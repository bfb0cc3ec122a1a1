// Command miner-server serves the hardneg.v1 MinerService over gRPC, with health,
// reflection, and an HTTP port for probes and metrics.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/hardneg/hardneg/internal/storage"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	if err := Main(ctx, os.Args[1:], os.Getenv, os.Stdin, os.Stdout, os.Stderr); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			os.Exit(0)
		}
		var logged loggedError
		if !errors.As(err, &logged) {
			// Several configuration errors come joined, one per line: each line carries
			// the prefix, so a search of the logs for it finds them all.
			for _, line := range strings.Split(err.Error(), "\n") {
				fmt.Fprintln(os.Stderr, "miner-server:", line)
			}
		}
		os.Exit(1)
	}
}

// Main parses the configuration, opens storage and serves until ctx is cancelled (or,
// with -stop-on-stdin-eof, stdin ends), then shuts down gracefully. With -version it
// prints the version to stdout and returns.
func Main(ctx context.Context, args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) error {
	cfg, err := parseConfig(args, getenv, stderr)
	if err != nil {
		return err
	}
	if cfg.ShowVersion {
		b := buildInfo()
		_, err := fmt.Fprintf(stdout, "miner-server %s (revision %s, %s)\n", b.Version, b.Revision, b.GoVersion)
		return err
	}
	logger := cfg.newLogger(stderr)
	// Libraries that write through the standard log package (the Weaviate client while
	// it waits for the cluster) then log in the server's format too.
	slog.SetDefault(logger)
	for _, m := range cfg.misspelledEnv(os.Environ()) {
		logger.Warn("environment variable names no flag and is ignored", "variable", m[0], "did_you_mean", m[1])
	}
	if cfg.EphemeralDataDir {
		// The directory is removed at the stop: never one that holds data already.
		used, err := storage.Used(cfg.DataDir)
		if err == nil && used {
			err = fmt.Errorf("%s already holds a data directory (LOCK, wal/ or snapshots/), which -ephemeral-data-dir would remove at the stop; it takes only a new or empty directory", cfg.DataDir)
		}
		if err != nil {
			return fmt.Errorf("-ephemeral-data-dir: %w", err)
		}
	}
	if cfg.StopOnStdinEOF {
		var cancel context.CancelFunc
		ctx, cancel = context.WithCancel(ctx)
		defer cancel()
		go func() {
			_, _ = io.Copy(io.Discard, stdin)
			if ctx.Err() == nil {
				logger.Info("standard input closed: stopping (-stop-on-stdin-eof)")
			}
			cancel()
		}()
	}
	srv, err := openServer(ctx, cfg, logger)
	if err == nil && srv == nil {
		return nil // stopped before storage was open
	}
	if err == nil {
		err = srv.Serve(ctx)
		if err == nil && cfg.EphemeralDataDir && srv.served() {
			if rerr := os.RemoveAll(cfg.DataDir); rerr != nil {
				err = fmt.Errorf("-ephemeral-data-dir: remove %s: %w", cfg.DataDir, rerr)
			} else {
				logger.Info("removed the data directory (-ephemeral-data-dir)", "data_dir", cfg.DataDir)
			}
		}
	}
	if err != nil && cfg.LogFormat == "json" {
		// The line that says why the process ends is the one a log pipeline must not
		// fail to parse.
		logger.Error("exiting", "err", err.Error())
		return loggedError{err}
	}
	return err
}

// loggedError is an error Main has already written to the log.
type loggedError struct{ error }

func (e loggedError) Unwrap() error { return e.error }

// openServer is NewServer, given up when ctx ends first: with -backend weaviate,
// opening waits up to -weaviate-timeout for the cluster to answer, and a stop (SIGTERM)
// must not wait for it. It returns nil, nil when stopped so.
func openServer(ctx context.Context, cfg Config, logger *slog.Logger) (*Server, error) {
	// Credentials first, here: a bad one is an error even when a stop follows at once.
	cr, err := loadCredentials(cfg, logger)
	if err != nil {
		return nil, err
	}
	type opened struct {
		s   *Server
		err error
	}
	ch := make(chan opened, 1)
	go func() {
		s, err := newServer(cfg, logger, cr)
		ch <- opened{s, err}
	}()
	select {
	case o := <-ch:
		return o.s, o.err
	case <-ctx.Done():
		logger.Info("stopped while opening storage")
		go func() { // whatever opening still finishes is closed again
			if o := <-ch; o.s != nil {
				o.s.closeListeners()
				o.s.db.Close()
			}
		}()
		return nil, nil
	}
}
