// Command miner-server serves the hardneg.v1 MinerService over gRPC, with health,
// reflection, and an HTTP port for probes and metrics.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	if err := Main(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			os.Exit(0)
		}
		fmt.Fprintln(os.Stderr, "miner-server:", err)
		os.Exit(1)
	}
}

// Main parses the configuration, opens storage and serves until ctx is cancelled,
// then shuts down gracefully. With -version it prints the version to stdout and
// returns.
func Main(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	cfg, err := parseConfig(args, getenv, stderr)
	if err != nil {
		return err
	}
	if cfg.ShowVersion {
		b := buildInfo()
		_, err := fmt.Fprintf(stdout, "miner-server %s (revision %s, %s)\n", b.Version, b.Revision, b.GoVersion)
		return err
	}
	srv, err := NewServer(cfg, cfg.newLogger(stderr))
	if err != nil {
		return err
	}
	return srv.Serve(ctx)
}
