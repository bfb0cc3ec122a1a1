//go:build scaleout

package main

import (
	"bytes"
	"context"
	"errors"
	"math/rand/v2"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	wv "github.com/weaviate/weaviate-go-client/v5/weaviate"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	hardnegv1 "github.com/hardneg/hardneg/gen/go/hardneg/v1"
	"github.com/hardneg/hardneg/internal/engine"
	"github.com/hardneg/hardneg/internal/engine/weaviate"
	"github.com/hardneg/hardneg/internal/metrics"
	"github.com/hardneg/hardneg/internal/mining"
)

// clusterEngine opens the cluster as miner name, to read the loop state the miners
// saved there.
func clusterEngine(t *testing.T, st map[string]string, name string) *weaviate.Engine {
	t.Helper()
	e, err := weaviate.Open(weaviate.Options{Addr: strings.Split(st["WEAVIATE_HTTP_ADDRS"], ",")[0],
		GRPCAddr: strings.Split(st["WEAVIATE_GRPC_ADDRS"], ",")[0], Miner: name})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close() })
	return e
}

// waitMinerSaved waits until miner name's saved loop state of coll holds hardness h for
// key. A save's writes retry for up to -weaviate-retry-for (1 min) while the loaded
// cluster refuses calls, so the wait allows two minutes.
func waitMinerSaved(t *testing.T, st map[string]string, name, coll, key string, h float64) {
	t.Helper()
	e := clusterEngine(t, st, name)
	const wait = 2 * time.Minute
	deadline := time.Now().Add(wait)
	for {
		var got mining.LoopState
		b, err := e.LoadLoopState(current(t, e, coll))
		if err == nil && b != nil {
			got, err = mining.DecodeLoopState(b, 0)
		}
		if err == nil && got.Hardness != nil && got.Hardness.Of(key) == h {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("miner %s saved no loop state of %s with hardness %v for %s within %v (%v)", name, coll, h, key, wait, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// current returns the collection of the name in the cluster now.
func current(t *testing.T, e *weaviate.Engine, name string) engine.Collection {
	t.Helper()
	for _, c := range e.Collections() {
		if c.Name() == name {
			return c
		}
	}
	t.Fatalf("no collection %s in the cluster", name)
	return nil
}

func dialMiner(t *testing.T, addr string) hardnegv1.MinerServiceClient {
	t.Helper()
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return hardnegv1.NewMinerServiceClient(conn)
}

// TestScaleoutLoopStateSurvivesAMinerKill: a training loop runs through one miner,
// which is killed with SIGKILL; a miner of another name that starts in its place goes
// on with the rotation cycle (no negative served twice) and the hardness where they
// were, from the state the first one saved in Weaviate, and so does that miner killed
// and restarted under its own name. The saver's metrics count
// the saves as under the embedded engine.
func TestScaleoutLoopStateSurvivesAMinerKill(t *testing.T) {
	st := clusterState(t)
	httpA := freeAddr(t)
	addrA, procA := startMinerProcess(t, st, 0, "-miner-id=loop-a", "-loop-state-interval=50ms", "-http-addr="+httpA)
	a := dialMiner(t, addrA)
	coll := "loop_" + strconv.FormatInt(time.Now().UnixNano(), 36)
	vs := loopCollection(t, a, coll, 120, 8)
	t.Cleanup(func() { a.DeleteCollection(context.Background(), &hardnegv1.DeleteCollectionRequest{Name: coll}) })
	var served []string
	for i, want := range []uint32{4, 8} {
		negs, n, h := loopStepOf(t, a, coll, "a0", vs[0])
		if n != want || h != float32(i+1)*0.25 || !disjoint(negs, served) {
			t.Fatalf("step %d on miner a: served %d, hardness %v, negatives %v after %v", i+1, n, h, negs, served)
		}
		served = append(served, negs...)
	}
	waitMinerSaved(t, st, "loop-a", coll, "a0", 0.5)
	fams := scrape(t, httpA)
	var ok float64
	for _, m := range fams[metrics.NameLoopStateSaves].GetMetric() {
		if m.GetLabel()[0].GetValue() == "ok" {
			ok = m.GetCounter().GetValue()
		}
	}
	if ok < 1 || fams[metrics.NameLoopStateLastSave] == nil {
		t.Fatalf("miner a saved, but its metrics say %v saves and last save %v", ok, fams[metrics.NameLoopStateLastSave])
	}
	procA.Process.Signal(syscall.SIGKILL)
	procA.Wait()

	addrB, procB := startMinerProcess(t, st, 1, "-miner-id=loop-b", "-loop-state-interval=50ms")
	b := dialMiner(t, addrB)
	negs, n, h := loopStepOf(t, b, coll, "a0", vs[0])
	if n != 12 || h != 0.75 || !disjoint(negs, served) {
		t.Fatalf("after the kill, on miner b: served %d (want 12), hardness %v (want 0.75), negatives %v after %v", n, h, negs, served)
	}
	served = append(served, negs...)
	// Killed again, and restarted under the same name.
	waitMinerSaved(t, st, "loop-b", coll, "a0", 0.75)
	procB.Process.Signal(syscall.SIGKILL)
	procB.Wait()
	addrB, _ = startMinerProcess(t, st, 2, "-miner-id=loop-b", "-loop-state-interval=50ms")
	negs, n, h = loopStepOf(t, dialMiner(t, addrB), coll, "a0", vs[0])
	if n != 16 || h != 1 || !disjoint(negs, served) {
		t.Fatalf("miner b restarted: served %d (want 16), hardness %v (want 1), negatives %v after %v", n, h, negs, served)
	}
}

// TestScaleoutLoopStateOfTwoMiners: two miners serve one collection and each saves its
// own state; a third miner started after both are gone holds what both learned. Once
// it has saved, the two saves it absorbed are removed, and deleting the collection
// removes its state.
func TestScaleoutLoopStateOfTwoMiners(t *testing.T) {
	st := clusterState(t)
	addrA, procA := startMinerProcess(t, st, 0, "-miner-id=two-a", "-loop-state-interval=50ms")
	addrB, procB := startMinerProcess(t, st, 1, "-miner-id=two-b", "-loop-state-interval=50ms")
	a, b := dialMiner(t, addrA), dialMiner(t, addrB)
	coll := "two_" + strconv.FormatInt(time.Now().UnixNano(), 36)
	vs := loopCollection(t, a, coll, 120, 8)
	t.Cleanup(func() { b.DeleteCollection(context.Background(), &hardnegv1.DeleteCollectionRequest{Name: coll}) })
	firstA, _, _ := loopStepOf(t, a, coll, "ka", vs[0])
	firstB, _, _ := loopStepOf(t, b, coll, "kb", vs[1])
	waitMinerSaved(t, st, "two-a", coll, "ka", 0.25)
	waitMinerSaved(t, st, "two-b", coll, "kb", 0.25)
	procA.Process.Signal(syscall.SIGKILL)
	procB.Process.Signal(syscall.SIGKILL)
	procA.Wait()
	procB.Wait()

	addrC, _ := startMinerProcess(t, st, 2, "-miner-id=two-c", "-loop-state-interval=50ms")
	c := dialMiner(t, addrC)
	for _, k := range []struct {
		key   string
		v     []float32
		first []string
	}{{"ka", vs[0], firstA}, {"kb", vs[1], firstB}} {
		negs, n, h := loopStepOf(t, c, coll, k.key, k.v)
		if n != 8 || h != 0.5 || !disjoint(negs, k.first) {
			t.Fatalf("key %s on miner c: served %d (want 8), hardness %v (want 0.5), negatives %v after %v", k.key, n, h, negs, k.first)
		}
	}
	waitMinerSaved(t, st, "two-c", coll, "kb", 0.5)
	e := clusterEngine(t, st, "reader")
	ec := current(t, e, coll)
	// The save removes the saves it absorbed once its own is written.
	deadline := time.Now().Add(30 * time.Second)
	for {
		saves, err := e.LoadLoopStates(ec)
		if err == nil && len(saves) == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("30 s after miner c saved: %d saves (%v); want miner c's alone", len(saves), err)
		}
		time.Sleep(50 * time.Millisecond)
	}

	if _, err := c.DeleteCollection(context.Background(), &hardnegv1.DeleteCollectionRequest{Name: coll}); err != nil {
		t.Fatal(err)
	}
	loopCollection(t, c, coll, 120, 8)
	ec = current(t, e, coll)
	if saves, err := e.LoadLoopStates(ec); err != nil || len(saves) != 0 {
		t.Fatalf("a new collection of the deleted one's name: %d saves (%v); want none", len(saves), err)
	}
	// The old collection's handle no longer saves.
	old := ec
	if _, err := c.DeleteCollection(context.Background(), &hardnegv1.DeleteCollectionRequest{Name: coll}); err != nil {
		t.Fatal(err)
	}
	loopCollection(t, c, coll, 120, 8)
	if err := e.SaveLoopState(old, []byte{1}); !errors.Is(err, engine.ErrCollectionNotFound) {
		t.Fatalf("saving for a replaced collection: %v, want ErrCollectionNotFound", err)
	}
}

// TestScaleoutLoopStateInParts: a state larger than one object's part (4 MiB) is saved
// in parts and read back whole; a smaller save replaces it.
func TestScaleoutLoopStateInParts(t *testing.T) {
	st := clusterState(t)
	e := clusterEngine(t, st, "parts")
	if err := e.Recover(); err != nil {
		t.Fatal(err)
	}
	name := "parts_" + strconv.FormatInt(time.Now().UnixNano(), 36)
	c, err := e.CreateCollection(engine.Config{Name: name, Dim: 4, Metric: engine.Cosine})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.DeleteCollection(name) })
	big := make([]byte, 9<<20+123)
	r := rand.New(rand.NewPCG(1, 2))
	for i := range big {
		big[i] = byte(r.Uint32())
	}
	for _, data := range [][]byte{big, big[:1000]} {
		t0 := time.Now()
		if err := e.SaveLoopState(c, data); err != nil {
			t.Fatal(err)
		}
		t1 := time.Now()
		got, err := e.LoadLoopState(c)
		if err != nil || !bytes.Equal(got, data) {
			t.Fatalf("saved %d bytes, read %d (%v)", len(data), len(got), err)
		}
		// docs/SCALE.md quotes these times (go test -tags scaleout -v).
		t.Logf("%d bytes: saved in %v, loaded in %v", len(data), t1.Sub(t0).Round(time.Millisecond), time.Since(t1).Round(time.Millisecond))
	}
}

// TestScaleoutLoopStateReadAfterEachReplacement: every save is read back, whole, right
// after it returns, through many replacements in a row. A save replaces the miner's
// head in place; while a replica has not yet applied the new head it still holds the
// old one, and the save's clean-up of its earlier parts must not delete the head
// through that replica (it did when the clean-up matched "gen ≠ this save's": one save
// in ten read back nothing on a loaded machine).
func TestScaleoutLoopStateReadAfterEachReplacement(t *testing.T) {
	st := clusterState(t)
	e := clusterEngine(t, st, "replaced")
	if err := e.Recover(); err != nil {
		t.Fatal(err)
	}
	name := "replaced_" + strconv.FormatInt(time.Now().UnixNano(), 36)
	c, err := e.CreateCollection(engine.Config{Name: name, Dim: 4, Metric: engine.Cosine})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.DeleteCollection(name) })
	for i := range 40 {
		data := bytes.Repeat([]byte{byte(i)}, 100+i)
		if err := e.SaveLoopState(c, data); err != nil {
			t.Fatal(err)
		}
		got, err := e.LoadLoopState(c)
		if err != nil || !bytes.Equal(got, data) {
			t.Fatalf("save %d: saved %d bytes, read %d (%v)", i, len(data), len(got), err)
		}
	}
}

// TestScaleoutLoopStateOfAnEarlierCollectionIsIgnored: saves left behind by a
// collection whose Weaviate collection was dropped without them (a miner that saved
// while another deleted it) do not reach a new collection of the same name, and are
// removed when it loads.
func TestScaleoutLoopStateOfAnEarlierCollectionIsIgnored(t *testing.T) {
	st := clusterState(t)
	e := clusterEngine(t, st, "earlier")
	if err := e.Recover(); err != nil {
		t.Fatal(err)
	}
	name := "earlier_" + strconv.FormatInt(time.Now().UnixNano(), 36)
	old, err := e.CreateCollection(engine.Config{Name: name, Dim: 4, Metric: engine.Cosine})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.DeleteCollection(name) })
	if err := e.SaveLoopState(old, []byte("old state")); err != nil {
		t.Fatal(err)
	}
	// Drop the Weaviate collection alone, as if the loop state had been saved after
	// the collection's deletion removed it.
	rest, err := wv.NewClient(wv.Config{Host: strings.Split(st["WEAVIATE_HTTP_ADDRS"], ",")[0], Scheme: "http"})
	if err != nil {
		t.Fatal(err)
	}
	class, _ := weaviate.ObjectPath(name, "x")
	if err := rest.Schema().ClassDeleter().WithClassName(class).Do(context.Background()); err != nil {
		t.Fatal(err)
	}
	fresh := clusterEngine(t, st, "earlier")
	c, err := fresh.CreateCollection(engine.Config{Name: name, Dim: 4, Metric: engine.Cosine})
	if err != nil {
		t.Fatal(err)
	}
	for range 2 { // the first load removes them, the second finds none
		if saves, err := fresh.LoadLoopStates(c); err != nil || len(saves) != 0 {
			t.Fatalf("the new collection has %d saves (%v); want none", len(saves), err)
		}
	}
	if b, err := fresh.LoadLoopState(c); err != nil || b != nil {
		t.Fatalf("the new collection's own save: %q (%v); want none", b, err)
	}
}
