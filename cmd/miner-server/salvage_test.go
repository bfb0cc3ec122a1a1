package main

import (
	"context"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	hardnegv1 "github.com/hardneg/hardneg/gen/go/hardneg/v1"
	"github.com/hardneg/hardneg/internal/wal"
)

// TestDamagedLogRecordRefusesStart is the reproduction of a flipped payload byte
// inside the only log segment: 40 acknowledged batches, a graceful stop, one byte
// of record 21 (batch 20; record 1 creates the collection) flipped. The server must
// refuse to start, naming the segment and the record's offset, rather than take the
// damage for a torn tail and delete batches 20–40; with -wal-salvage it starts with
// batches 1–19 and keeps the cut bytes in wal/salvaged.
func TestDamagedLogRecordRefusesStart(t *testing.T) {
	dir := t.TempDir()
	// No snapshot at the stop: the batches must live in the log alone.
	p := spawn(t, dir, "-shutdown-snapshot-timeout=0")
	conn, err := grpc.NewClient(p.addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	client := hardnegv1.NewMinerServiceClient(conn)
	if _, err := client.CreateCollection(ctx, &hardnegv1.CreateCollectionRequest{Name: "c", Dim: crashDim, Metric: hardnegv1.Metric_METRIC_L2}); err != nil {
		t.Fatal(err)
	}
	r := rand.New(rand.NewPCG(21, 40))
	batchIDs := func(i int) []string {
		var ids []string
		for j := range 4 {
			ids = append(ids, fmt.Sprintf("b%d-%d", i, j))
		}
		return ids
	}
	for i := 1; i <= 40; i++ {
		if _, err := client.Upsert(ctx, &hardnegv1.UpsertRequest{Collection: "c",
			Items: &hardnegv1.ItemBatch{Ids: batchIDs(i), Dim: crashDim, Vectors: f32bytes(randVecs(r, 4, crashDim)...)}}); err != nil {
			t.Fatal(err)
		}
	}
	conn.Close()
	p.cmd.Process.Signal(syscall.SIGTERM)
	if err := p.cmd.Wait(); err != nil {
		t.Fatalf("graceful stop: %v\n%s", err, p.log())
	}

	segs, _ := filepath.Glob(filepath.Join(dir, "wal", "wal-*.log"))
	if len(segs) != 1 {
		t.Fatalf("%d log segments, want 1", len(segs))
	}
	seg := segs[0]
	b, err := os.ReadFile(seg)
	if err != nil {
		t.Fatal(err)
	}
	off := int64(24) // record 1 follows the segment header
	for range 20 {
		off += 16 + int64(binary.LittleEndian.Uint32(b[off:]))
	}
	if lsn := binary.LittleEndian.Uint64(b[off+8:]); lsn != 21 {
		t.Fatalf("record at offset %d has lsn %d, want 21", off, lsn)
	}
	b[off+16+10] ^= 0x01 // a payload byte of record 21
	os.WriteFile(seg, b, 0o640)
	size := int64(len(b))

	// Refused: exit status 1, the message names the segment and the offset.
	// (A server that starts instead is killed after 30 s.)
	runCtx, stop := context.WithTimeout(ctx, 30*time.Second)
	defer stop()
	cmd := exec.CommandContext(runCtx, os.Args[0], "-grpc-addr=127.0.0.1:0", "-http-addr=127.0.0.1:0", "-data-dir="+dir, "-log-format=json")
	cmd.Env = append(os.Environ(), serverEnv+"=1")
	out, err := cmd.CombinedOutput()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 1 {
		t.Fatalf("server with a damaged log: %v, want exit status 1\n%s", err, out)
	}
	want := fmt.Sprintf("wal: corrupt log: %s at offset %d: record checksum mismatch", seg, off)
	if !strings.Contains(string(out), want) {
		t.Fatalf("output does not contain %q:\n%s", want, out)
	}
	if hint := `see \"Startup refused\" in docs/OPERATIONS.md (-wal-salvage`; !strings.Contains(string(out), hint) {
		t.Fatalf("the refusal does not point to what to do (%q):\n%s", hint, out)
	}
	if got, _ := os.ReadFile(seg); int64(len(got)) != size {
		t.Fatalf("a refused start changed the segment from %d to %d bytes", size, len(got))
	}

	// Salvaged: batches 1–19 served, the cut bytes kept.
	p = spawn(t, dir, "-wal-salvage")
	defer p.kill()
	conn, err = grpc.NewClient(p.addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	client = hardnegv1.NewMinerServiceClient(conn)
	for i := 1; i <= 40; i++ {
		resp, err := client.GetItems(ctx, &hardnegv1.GetItemsRequest{Collection: "c", Ids: batchIDs(i)})
		if err != nil {
			t.Fatal(err)
		}
		if missing := len(resp.MissingIds); (i < 20) != (missing == 0) || missing != 0 && missing != 4 {
			t.Fatalf("after salvage batch %d has %d of 4 items missing; want batches 1-19 only", i, missing)
		}
	}
	saved, err := os.ReadFile(filepath.Join(dir, "wal", wal.SalvageDir, fmt.Sprintf("%s.%d", filepath.Base(seg), off)))
	if err != nil || int64(len(saved)) != size-off || string(saved) != string(b[off:]) {
		t.Fatalf("salvaged bytes: %d of %d, %v", len(saved), size-off, err)
	}
	if !strings.Contains(p.log(), "log salvaged") {
		t.Fatalf("salvage not logged:\n%s", p.log())
	}
}

// Configuration errors found together are printed one per line, each with the
// program's prefix, so a search of the logs for it finds every one.
func TestJoinedConfigErrorsEachCarryThePrefix(t *testing.T) {
	cmd := exec.Command(os.Args[0], "-data-dir="+t.TempDir(), "-backend=weaviate", "-ephemeral-data-dir")
	cmd.Env = append(os.Environ(), serverEnv+"=1")
	out, err := cmd.CombinedOutput()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 1 {
		t.Fatalf("bad flags: %v, want exit status 1\n%s", err, out)
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	if len(lines) < 2 {
		t.Fatalf("want two errors, got:\n%s", out)
	}
	for _, l := range lines {
		if !strings.HasPrefix(l, "miner-server: ") {
			t.Errorf("line without the prefix: %q", l)
		}
	}
}

// Credentials are read before storage opens: a wrong certificate path is an error
// (exit status 1) even when a stop comes at once (-stop-on-stdin-eof with stdin at
// end of file), where the start used to end "stopped while opening storage", status 0.
func TestBadCredentialsReportedBeforeStorageOpens(t *testing.T) {
	dir := t.TempDir()
	cmd := exec.Command(os.Args[0], "-data-dir="+filepath.Join(dir, "data"), "-grpc-addr=127.0.0.1:0", "-http-addr=127.0.0.1:0",
		"-tls-cert-file="+filepath.Join(dir, "nope.crt"), "-tls-key-file="+filepath.Join(dir, "nope.key"), "-stop-on-stdin-eof")
	cmd.Env = append(os.Environ(), serverEnv+"=1")
	cmd.Stdin = strings.NewReader("")
	out, err := cmd.CombinedOutput()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 1 || !strings.Contains(string(out), "nope.crt") {
		t.Fatalf("bad certificate path with stdin at its end: %v, want exit status 1 naming the file\n%s", err, out)
	}
}
