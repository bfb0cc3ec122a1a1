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
	return testClusterPrefix(t, ttl, "Wt"+strconv.FormatInt(time.Now().UnixNano(), 36))
}

// testClusterPrefix is testCluster under the given prefix.
func testClusterPrefix(t *testing.T, ttl time.Duration, prefix string) *Engine {
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

	e.sweepWritersSoon() // as a new writer starts it
	e.sweeps.Wait()
	if got := e.StreamWritersExpired(); got != stale {
		t.Errorf("the sweep deleted %d writers, want %d", got, stale)
	}
	for writer, want := range map[string]uint64{"recent": 9, "legacy": 4, "legacy-2": 2, "stale-0": 0, fmt.Sprintf("stale-%d", stale-1): 0} {
		if got, err := e.writerSequence(ctx, writer); err != nil || got != want {
			t.Errorf("writer %s after the sweep: sequence %d, %v; want %d", writer, got, err, want)
		}
	}
	// A second new writer within engine.WriterSweepEvery starts no sweep.
	calls := e.Calls()
	e.sweepWritersSoon()
	e.sweeps.Wait()
	if e.Calls() != calls {
		t.Errorf("a second sweep at once made %d calls; want none", e.Calls()-calls)
	}
}

// TestScaleoutMinersUpgradeTogether: miners of this version starting at once against a
// metadata collection of the previous version all start (one adds the writer time
// property, the others find it added). Five rounds of three miners, each round on a
// metadata collection of its own.
func TestScaleoutMinersUpgradeTogether(t *testing.T) {
	text := func(name string) *models.Property {
		return &models.Property{Name: name, DataType: []string{"text"}, Tokenization: "field"}
	}
	for round := range 5 {
		first := testCluster(t, time.Hour)
		miners := []*Engine{first, testClusterPrefix(t, time.Hour, first.c.opts.Prefix), testClusterPrefix(t, time.Hour, first.c.opts.Prefix)}
		old := &models.Class{Class: first.c.opts.Prefix + "Meta", Properties: []*models.Property{text(metaKind), text(metaCollection), text(metaKey), text(metaItem),
			{Name: metaSeq, DataType: []string{"int"}}}}
		if err := first.ensureClass(old); err != nil {
			t.Fatal(err)
		}
		errs := make(chan error, len(miners))
		for _, e := range miners {
			go func() { errs <- e.Recover() }()
		}
		for range miners {
			if err := <-errs; err != nil {
				t.Fatalf("round %d: a miner failed to start: %v", round, err)
			}
		}
	}
}
