//go:build scaleout

package weaviate

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/weaviate/weaviate/entities/models"
	pb "github.com/weaviate/weaviate/grpc/generated/protocol/v1"
	"google.golang.org/protobuf/types/known/structpb"
)

// testCluster opens the cluster that make test-scaleout brought up
// (HARDNEG_CLUSTER_STATE) under a prefix of its own, so the test's internal
// collections are apart from every miner's; they are dropped afterwards.
func testCluster(t *testing.T, ttl time.Duration) *Engine {
	t.Helper()
	path := os.Getenv("HARDNEG_CLUSTER_STATE")
	if path == "" {
		path = filepath.Join("..", "..", "..", ".cache", "cluster", "state.env")
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("no Weaviate cluster (%v): run make test-scaleout", err)
	}
	st := map[string]string{}
	sc := bufio.NewScanner(strings.NewReader(string(raw)))
	for sc.Scan() {
		if k, v, ok := strings.Cut(sc.Text(), "="); ok {
			st[k] = strings.Trim(v, `"`)
		}
	}
	prefix := "Wt" + strconv.FormatInt(time.Now().UnixNano(), 36)
	e, err := Open(Options{Addr: strings.Split(st["WEAVIATE_HTTP_ADDRS"], ",")[0], GRPCAddr: strings.Split(st["WEAVIATE_GRPC_ADDRS"], ",")[0],
		Prefix: prefix, WriterTTL: ttl})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		for _, class := range []string{prefix + "Meta", prefix + "Loop"} {
			e.c.rest.Schema().ClassDeleter().WithClassName(class).Do(context.Background())
		}
		e.Close()
	})
	return e
}

// writerObject is a writer position object as StreamAppend records it; unix < 0: as
// a version without writer times recorded it.
func writerObject(e *Engine, writer string, seq, unix int64) *pb.BatchObject {
	props := map[string]any{metaKind: "writer", metaKey: writer, metaSeq: float64(seq)}
	if unix >= 0 {
		props[metaUnix] = float64(unix)
	}
	p, _ := structpb.NewStruct(props)
	return &pb.BatchObject{Uuid: metaID("writer", writer), Collection: e.c.opts.Prefix + "Meta", Properties: &pb.BatchObject_Properties{NonRefProperties: p}}
}

// TestScaleoutWriterSweep: a metadata collection of a version without writer times
// gains the property when a miner starts; a sweep deletes every writer older than the
// TTL, more of them than one batch delete reaches (10,000), and keeps recent writers
// and writers recorded without a time.
func TestScaleoutWriterSweep(t *testing.T) {
	e := testCluster(t, time.Hour)
	ctx := context.Background()
	// The metadata collection as the previous version created it.
	text := func(name string) *models.Property {
		return &models.Property{Name: name, DataType: []string{"text"}, Tokenization: "field"}
	}
	old := &models.Class{Class: e.c.opts.Prefix + "Meta", Properties: []*models.Property{text(metaKind), text(metaCollection), text(metaKey), text(metaItem),
		{Name: metaSeq, DataType: []string{"int"}}}}
	if err := e.ensureClass(old); err != nil {
		t.Fatal(err)
	}
	if err := e.writeObjects(ctx, []*pb.BatchObject{writerObject(e, "legacy", 4, -1)}); err != nil {
		t.Fatal(err)
	}
	if err := e.Recover(); err != nil {
		t.Fatal(err)
	}
	class, err := e.c.rest.Schema().ClassGetter().WithClassName(e.c.opts.Prefix + "Meta").Do(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var has bool
	for _, p := range class.Properties {
		has = has || p.Name == metaUnix
	}
	if !has {
		t.Fatalf("Recover left %s without the %q property", class.Class, metaUnix)
	}

	now := time.Now().Unix()
	const stale = maxResults + 37
	for from := 0; from < stale; from += 1000 {
		var objs []*pb.BatchObject
		for i := from; i < min(from+1000, stale); i++ {
			objs = append(objs, writerObject(e, fmt.Sprintf("stale-%d", i), 3, now-2*3600))
		}
		if err := e.writeObjects(ctx, objs); err != nil {
			t.Fatal(err)
		}
	}
	if err := e.writeObjects(ctx, []*pb.BatchObject{writerObject(e, "recent", 9, now-60), writerObject(e, "legacy-2", 2, -1)}); err != nil {
		t.Fatal(err)
	}

	if err := e.sweepWriters(ctx); err != nil {
		t.Fatal(err)
	}
	if got := e.StreamWritersExpired(); got != stale {
		t.Errorf("the sweep deleted %d writers, want %d", got, stale)
	}
	for writer, want := range map[string]uint64{"recent": 9, "legacy": 4, "legacy-2": 2, "stale-0": 0, fmt.Sprintf("stale-%d", stale-1): 0} {
		if got, err := e.writerSequence(ctx, writer); err != nil || got != want {
			t.Errorf("writer %s after the sweep: sequence %d, %v; want %d", writer, got, err, want)
		}
	}
	// A second sweep within engine.WriterSweepEvery does not call the cluster.
	calls := e.Calls()
	if err := e.sweepWriters(ctx); err != nil || e.Calls() != calls {
		t.Errorf("a second sweep at once: %v, %d calls; want none", err, e.Calls()-calls)
	}
}
