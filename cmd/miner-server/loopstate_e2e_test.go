package main

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/proto"

	hardnegv1 "github.com/hardneg/hardneg/gen/go/hardneg/v1"
	"github.com/hardneg/hardneg/internal/metrics"
	"github.com/hardneg/hardneg/internal/storage"
)

// loopStep is one round of training-loop calls: a rotating Mine for key a0, which
// also counts exposures and calibration, and a solved report for a0.
func loopStep(t *testing.T, c hardnegv1.MinerServiceClient, vs [][]float32) (negatives []string, served uint32, hardness float32) {
	t.Helper()
	return loopStepOf(t, c, "r", "a0", vs[0])
}

// loopStepOf is loopStep for the anchor key of vector v in collection coll.
func loopStepOf(t *testing.T, c hardnegv1.MinerServiceClient, coll, key string, v []float32) (negatives []string, served uint32, hardness float32) {
	t.Helper()
	ctx := context.Background()
	pol := &hardnegv1.MiningPolicy{NumNegatives: 4, Rotate: true, RankMode: hardnegv1.RankMode_RANK_MODE_RAW, RangeMax: 30}
	resp, err := c.Mine(ctx, &hardnegv1.MineRequest{Collection: coll, Anchors: []*hardnegv1.Anchor{{Vector: f32bytes(v), Key: key, PositiveIds: []string{"i1"}}}, Policy: pol})
	if err != nil {
		t.Fatal(err)
	}
	r := resp.Results[0]
	if r.RotationRestarted {
		t.Fatal("the rotation window ran out; the test needs a wider window")
	}
	for _, n := range r.Negatives {
		negatives = append(negatives, n.Id)
	}
	rep, err := c.ReportLoss(ctx, &hardnegv1.ReportLossRequest{Collection: coll, Outcomes: []*hardnegv1.AnchorOutcome{{AnchorKey: key, Solved: proto.Bool(true)}}})
	if err != nil {
		t.Fatal(err)
	}
	return negatives, r.RotationServed, rep.Hardness[0]
}

// loopSnapshot is what the collection's loop state shows through the API.
func loopSnapshot(t *testing.T, c hardnegv1.MinerServiceClient) (calCount uint64, exposures map[string]uint64) {
	t.Helper()
	ctx := context.Background()
	cal, err := c.GetCalibration(ctx, &hardnegv1.GetCalibrationRequest{Collection: "r"})
	if err != nil {
		t.Fatal(err)
	}
	q, err := c.RefreshQueue(ctx, &hardnegv1.RefreshQueueRequest{Collection: "r", Limit: 1000, TargetVersion: proto.Int64(100)})
	if err != nil {
		t.Fatal(err)
	}
	exposures = map[string]uint64{}
	for _, it := range q.Items {
		if it.RecentExposures > 0 {
			exposures[it.Id] = it.RecentExposures
		}
	}
	return cal.CandidateScores.GetCount(), exposures
}

func disjoint(a, b []string) bool {
	for _, x := range a {
		if slices.Contains(b, x) {
			return false
		}
	}
	return true
}

// TestLoopStateSurvivesARestart: rotation, exposure counts, closed-loop hardness and
// calibration are where they were after a graceful restart, and the rotation cycle
// goes on instead of serving the same negatives again.
func TestLoopStateSurvivesARestart(t *testing.T) {
	dir := t.TempDir()
	ts := startServerArgs(t, dir, "-loop-state-interval=0") // saved at shutdown only
	vs := loopCollection(t, ts.client, "r", 120, 8)
	first, served, h := loopStep(t, ts.client, vs)
	if served != 4 || h != 0.25 {
		t.Fatalf("first step: served %d, hardness %v", served, h)
	}
	calBefore, expBefore := loopSnapshot(t, ts.client)
	if calBefore == 0 || len(expBefore) != 4 {
		t.Fatalf("before the restart: calibration count %d, exposures %v", calBefore, expBefore)
	}
	ts.stop(t)

	ts = startServerArgs(t, dir, "-loop-state-interval=0")
	calAfter, expAfter := loopSnapshot(t, ts.client)
	if calAfter != calBefore || !mapsEqual(expAfter, expBefore) {
		t.Fatalf("after the restart: calibration count %d (was %d), exposures %v (were %v)", calAfter, calBefore, expAfter, expBefore)
	}
	second, served, h := loopStep(t, ts.client, vs)
	if served != 8 || h != 0.5 || !disjoint(first, second) {
		t.Fatalf("after the restart: served %d (want 8), hardness %v (want 0.5), negatives %v then %v", served, h, first, second)
	}

	// A deleted collection takes its state along: a new one of the same name starts
	// from nothing.
	ctx := context.Background()
	if _, err := ts.client.DeleteCollection(ctx, &hardnegv1.DeleteCollectionRequest{Name: "r"}); err != nil {
		t.Fatal(err)
	}
	ts.stop(t)
	if _, err := os.Stat(filepath.Join(dir, storage.StateDirName, "r"+storage.StateSuffix)); !os.IsNotExist(err) {
		t.Fatalf("state file of the deleted collection: %v", err)
	}
	ts = startServerArgs(t, dir, "-loop-state-interval=20ms")
	loopCollection(t, ts.client, "r", 120, 8)
	if _, served, h := loopStep(t, ts.client, vs); served != 4 || h != 0.25 {
		t.Fatalf("recreated collection: served %d, hardness %v; want a fresh start", served, h)
	}
	// The periodic saver reports its saves.
	deadline := time.Now().Add(30 * time.Second)
	for {
		fams := scrape(t, ts.srv.HTTPAddr())
		var ok float64
		for _, m := range fams[metrics.NameLoopStateSaves].GetMetric() {
			if m.GetLabel()[0].GetValue() == "ok" {
				ok = m.GetCounter().GetValue()
			}
		}
		if ok >= 1 && fams[metrics.NameLoopStateLastSave] != nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no loop state save reported within 30 s: %v", fams[metrics.NameLoopStateSaves])
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func mapsEqual(a, b map[string]uint64) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

// TestLoopStateSurvivesAKill: with a save interval, a server killed with SIGKILL
// comes back with the state of its last save.
func TestLoopStateSurvivesAKill(t *testing.T) {
	dir := t.TempDir()
	p := spawn(t, dir, "-loop-state-interval=50ms")
	defer p.kill()
	conn, err := grpc.NewClient(p.addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	c := hardnegv1.NewMinerServiceClient(conn)
	vs := loopCollection(t, c, "r", 120, 8)
	first, _, _ := loopStep(t, c, vs)
	// Wait for a save that holds the step.
	waitSavedHardness(t, filepath.Join(dir, storage.StateDirName, "r"+storage.StateSuffix), 0.25, p)
	conn.Close()
	p.kill()

	p = spawn(t, dir, "-loop-state-interval=50ms")
	defer p.kill()
	conn, err = grpc.NewClient(p.addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	second, served, h := loopStep(t, hardnegv1.NewMinerServiceClient(conn), vs)
	if served != 8 || h != 0.5 || !disjoint(first, second) {
		t.Fatalf("after the kill: served %d (want 8), hardness %v (want 0.5), negatives %v then %v", served, h, first, second)
	}
}

// waitSavedHardness waits until the loop state file at path decodes and holds hardness
// h for key a0 (a save of p that holds the test's last step).
func waitSavedHardness(t *testing.T, path string, h float64, p *serverProcess) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		st, err := readLoopStateFile(path)
		if err == nil && st.Hardness.Of("a0") == h {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("no loop state saved to %s within 30 s (%v):\n%s", path, err, p.log())
		}
		time.Sleep(20 * time.Millisecond)
	}
}
