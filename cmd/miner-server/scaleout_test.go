//go:build scaleout

package main

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/resolver"
	"google.golang.org/grpc/resolver/manual"
	"google.golang.org/grpc/status"

	hardnegv1 "github.com/hardneg/hardneg/gen/go/hardneg/v1"
	"github.com/hardneg/hardneg/internal/engine/weaviate"
	"github.com/hardneg/hardneg/internal/metrics"
)

// cluster runs deploy/cluster/cluster.sh with args on the cluster of the state file.
func cluster(t *testing.T, args ...string) {
	t.Helper()
	state := os.Getenv("HARDNEG_CLUSTER_STATE")
	if state == "" {
		state = filepath.Join("..", "..", ".cache", "cluster", "state.env")
	}
	dir, err := filepath.Abs(filepath.Dir(state))
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("bash", append([]string{filepath.Join("..", "..", "deploy", "cluster", "cluster.sh")}, args...)...)
	cmd.Env = append(os.Environ(), "CLUSTER_DIR="+dir)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("cluster.sh %v: %v\n%s", args, err, out)
	}
}

// streamItems streams batches of 50 items (ids "<prefix><seq>-<i>") as writer over st
// from sequence from to to, and returns the ids of every acknowledged batch.
func streamItems(t *testing.T, st hardnegv1.MinerService_UpsertStreamClient, coll, writer, prefix string, from, to uint64, dim int, between func(seq uint64)) ([]string, error) {
	t.Helper()
	r := rand.New(rand.NewPCG(from, 1))
	var acked []string
	for seq := from; seq <= to; seq++ {
		ids := make([]string, 50)
		for i := range ids {
			ids[i] = fmt.Sprintf("%s%d-%d", prefix, seq, i)
		}
		req := &hardnegv1.UpsertStreamRequest{Collection: coll, WriterId: writer, Sequence: seq,
			Items: &hardnegv1.ItemBatch{Ids: ids, Dim: uint32(dim), Vectors: f32bytes(randVecs(r, 50, dim)...)}}
		if err := st.Send(req); err != nil {
			return acked, err
		}
		ack, err := st.Recv()
		if err != nil {
			return acked, err
		}
		if ack.Sequence != seq || ack.DurableSequence < seq || ack.Duplicate {
			t.Fatalf("ack %v for sequence %d", ack, seq)
		}
		acked = append(acked, ids...)
		if between != nil {
			between(seq)
		}
	}
	return acked, nil
}

// checkPresent fails unless every id is stored.
func checkPresent(t *testing.T, c hardnegv1.MinerServiceClient, coll string, ids []string) {
	t.Helper()
	for lo := 0; lo < len(ids); lo += 1000 {
		gi, err := c.GetItems(context.Background(), &hardnegv1.GetItemsRequest{Collection: coll, Ids: ids[lo:min(lo+1000, len(ids))]})
		if err != nil {
			t.Fatal(err)
		}
		if len(gi.MissingIds) > 0 {
			t.Fatalf("%d acknowledged items lost, e.g. %v", len(gi.MissingIds), gi.MissingIds[:min(5, len(gi.MissingIds))])
		}
	}
}

// httpc asks the nodes' REST API directly; a node that accepts but never answers fails
// the request instead of hanging the test.
var httpc = &http.Client{Timeout: 10 * time.Second}

// raftLeader returns the index of the node that leads the cluster's schema (Raft), or
// -1 when the nodes that answer do not agree on one (or none answers).
func raftLeader(t *testing.T, st map[string]string) int {
	t.Helper()
	leader := -1
	for _, addr := range strings.Split(st["WEAVIATE_HTTP_ADDRS"], ",") {
		resp, err := httpc.Get("http://" + addr + "/v1/cluster/statistics")
		if err != nil {
			continue
		}
		var body struct {
			Statistics []struct {
				LeaderID string `json:"leaderId"`
			} `json:"statistics"`
		}
		err = json.NewDecoder(resp.Body).Decode(&body)
		resp.Body.Close()
		if err != nil || len(body.Statistics) == 0 {
			continue
		}
		i, err := strconv.Atoi(strings.TrimPrefix(body.Statistics[0].LeaderID, "weaviate-"))
		switch {
		case err != nil || (leader >= 0 && i != leader):
			return -1
		default:
			leader = i
		}
	}
	return leader
}

// waitClusterHealthy waits until every node reports itself HEALTHY and the nodes agree
// on a schema leader: a node restarted by an earlier test may still be catching up.
func waitClusterHealthy(t *testing.T, st map[string]string) {
	t.Helper()
	addrs := strings.Split(st["WEAVIATE_HTTP_ADDRS"], ",")
	var last string
	for range 240 {
		healthy := 0
		for _, addr := range addrs {
			resp, err := httpc.Get("http://" + addr + "/v1/nodes")
			if err != nil {
				last = err.Error()
				continue
			}
			var body struct {
				Nodes []struct {
					Name   string `json:"name"`
					Status string `json:"status"`
				} `json:"nodes"`
			}
			err = json.NewDecoder(resp.Body).Decode(&body)
			resp.Body.Close()
			n := 0
			for _, nd := range body.Nodes {
				if nd.Status == "HEALTHY" {
					n++
				}
			}
			if err == nil && n == len(addrs) {
				healthy++
			} else {
				last = fmt.Sprintf("%s sees %v", addr, body.Nodes)
			}
		}
		if healthy == len(addrs) && raftLeader(t, st) >= 0 {
			return
		}
		time.Sleep(500 * time.Millisecond)
	}
	t.Fatalf("cluster not healthy after 2 minutes: %s", last)
}

// TestScaleoutNodeKilledDuringIngestAndMining kills -9 one of the three Weaviate nodes,
// the schema (Raft) leader when there is one, while a writer streams and a trainer
// mines through a miner in front of another node: with replication factor 3 and QUORUM
// writes and reads, every batch is acknowledged (the engine retries what the cluster
// refuses while it re-elects a leader), Mine keeps answering, no acknowledged item is
// lost, and the node rejoins.
func TestScaleoutNodeKilledDuringIngestAndMining(t *testing.T) {
	st := clusterState(t)
	waitClusterHealthy(t, st)
	victim := raftLeader(t, st)
	if victim < 0 {
		victim = 2
	}
	t.Logf("killing node %d (the schema leader: %v)", victim, raftLeader(t, st) == victim)
	ts := startServerArgs(t, t.TempDir(), append(weaviateArgs(st, victim+1), "-weaviate-timeout=10s")...)
	const dim = 16
	ctx := context.Background()
	coll := "fault_" + strconv.FormatInt(time.Now().UnixNano(), 36)
	if _, err := ts.client.CreateCollection(ctx, &hardnegv1.CreateCollectionRequest{Name: coll, Dim: dim, Metric: hardnegv1.Metric_METRIC_COSINE}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ts.client.DeleteCollection(context.Background(), &hardnegv1.DeleteCollectionRequest{Name: coll})
	})
	stream, err := ts.client.UpsertStream(ctx)
	if err != nil {
		t.Fatal(err)
	}
	acked, err := streamItems(t, stream, coll, "writer-"+coll, "a", 1, 10, dim, nil)
	if err != nil {
		t.Fatal(err)
	}

	// A trainer mines without pause while the node dies and comes back.
	stop := make(chan struct{})
	var stopOnce sync.Once
	halt := func() { stopOnce.Do(func() { close(stop) }) }
	t.Cleanup(halt) // also when a step below fails the test
	var mined, failed int
	var mineErr error
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			default:
			}
			_, err := ts.client.Mine(ctx, &hardnegv1.MineRequest{Collection: coll, Anchors: []*hardnegv1.Anchor{{Id: "a1-0", PositiveIds: []string{"a1-1"}}},
				Policy: &hardnegv1.MiningPolicy{NumNegatives: 8}})
			if err != nil {
				failed++
				mineErr = err
			} else {
				mined++
			}
		}
	}()
	down := false
	t.Cleanup(func() { // later tests need the whole cluster
		if down {
			cluster(t, "start-node", strconv.Itoa(victim))
		}
		waitClusterHealthy(t, st)
	})
	more, err := streamItems(t, stream, coll, "writer-"+coll, "a", 11, 40, dim, func(seq uint64) {
		switch seq {
		case 15:
			cluster(t, "kill-node", strconv.Itoa(victim))
			down = true
		case 30:
			cluster(t, "start-node", strconv.Itoa(victim))
			down = false
		}
	})
	halt()
	wg.Wait()
	if err != nil {
		t.Fatalf("stream failed with a node down: %v", err)
	}
	acked = append(acked, more...)
	if failed > 0 || mined == 0 {
		t.Errorf("Mine: %d answered, %d failed (last: %v); want every call answered", mined, failed, mineErr)
	}
	checkPresent(t, ts.client, coll, acked)
	waitItemCount(t, ts.client, coll, uint64(len(acked)))
	fams := scrape(t, ts.srv.HTTPAddr())
	for _, n := range metrics.RemoteNames {
		if fams[n] == nil {
			t.Errorf("a -backend weaviate server does not export %s", n)
		}
	}
	if f := fams[metrics.NameRemoteRetries]; f != nil {
		t.Logf("%s = %v after the node loss", metrics.NameRemoteRetries, f.Metric[0].GetCounter().GetValue())
	}
	// The restarted node catches up (asynchronous replication) on what it missed:
	// read the batches streamed while it was down from that node alone.
	node := strings.Split(st["WEAVIATE_HTTP_ADDRS"], ",")[victim]
	var missing []string
	for range 300 {
		missing = missing[:0]
		for seq := 16; seq <= 30; seq++ {
			id := fmt.Sprintf("a%d-%d", seq, seq%50)
			class, uid := weaviate.ObjectPath(coll, id)
			resp, err := httpc.Get(fmt.Sprintf("http://%s/v1/objects/%s/%s?node_name=weaviate-%d", node, class, uid, victim))
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				missing = append(missing, id)
			}
		}
		if len(missing) == 0 {
			return
		}
		time.Sleep(time.Second)
	}
	t.Errorf("the restarted node still lacks %v after 5 minutes", missing)
}

// l2Collection creates an L2 collection of dim named prefix + a unique suffix through
// create, to be deleted through drop when the test ends, and returns its name.
func l2Collection(t *testing.T, create, drop hardnegv1.MinerServiceClient, prefix string, dim uint32) string {
	t.Helper()
	name := prefix + strconv.FormatInt(time.Now().UnixNano(), 36)
	if _, err := create.CreateCollection(context.Background(), &hardnegv1.CreateCollectionRequest{Name: name, Dim: dim, Metric: hardnegv1.Metric_METRIC_L2}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { drop.DeleteCollection(context.Background(), &hardnegv1.DeleteCollectionRequest{Name: name}) })
	return name
}

// startMinerProcess starts bin/miner-server (HARDNEG_SERVER_BIN) in front of the cluster,
// with extra flags after the usual ones, and returns its gRPC address and process.
func startMinerProcess(t *testing.T, st map[string]string, node int, extra ...string) (string, *exec.Cmd) {
	t.Helper()
	bin := os.Getenv("HARDNEG_SERVER_BIN")
	if bin == "" {
		bin = filepath.Join("..", "..", "bin", "miner-server")
	}
	addr := freeAddr(t)
	cmd := exec.Command(bin, append(append(weaviateArgs(st, node), "-grpc-addr="+addr, "-http-addr=127.0.0.1:0", "-data-dir="+t.TempDir(), "-log-level=error"), extra...)...)
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v (make build)", bin, err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	waitServing(t, conn)
	return addr, cmd
}

// TestScaleoutMinerKilledMidStream kills -9 the miner a writer streams to; the writer
// reconnects to another miner, resends its unacknowledged batch and goes on: nothing
// is lost and nothing applied twice, because the writer's position lives in Weaviate.
func TestScaleoutMinerKilledMidStream(t *testing.T) {
	st := clusterState(t)
	addrA, procA := startMinerProcess(t, st, 0)
	addrB, _ := startMinerProcess(t, st, 1)
	a, b := dialMiner(t, addrA), dialMiner(t, addrB)
	ctx := context.Background()
	const dim = 8
	coll := l2Collection(t, a, b, "resume_", dim)
	writer := "trainer-" + coll
	sa, err := a.UpsertStream(ctx)
	if err != nil {
		t.Fatal(err)
	}
	acked, err := streamItems(t, sa, coll, writer, "r", 1, 5, dim, nil)
	if err != nil {
		t.Fatal(err)
	}
	// Batch 6 is sent, then the miner dies before (or after) answering.
	r := rand.New(rand.NewPCG(6, 1))
	ids6 := make([]string, 50)
	for i := range ids6 {
		ids6[i] = fmt.Sprintf("r6-%d", i)
	}
	b6 := &hardnegv1.UpsertStreamRequest{Collection: coll, WriterId: writer, Sequence: 6, Items: &hardnegv1.ItemBatch{Ids: ids6, Dim: dim, Vectors: f32bytes(randVecs(r, 50, dim)...)}}
	if err := sa.Send(b6); err != nil {
		t.Fatal(err)
	}
	procA.Process.Signal(syscall.SIGKILL)
	procA.Wait()
	if ack, err := sa.Recv(); err == nil {
		acked = append(acked, ids6...) // answered before it died
		_ = ack
	}
	// The writer resumes on miner B from its first unacknowledged batch.
	sb, err := b.UpsertStream(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := sb.Send(b6); err != nil {
		t.Fatal(err)
	}
	ack, err := sb.Recv()
	if err != nil || ack.Sequence != 6 || ack.NextSequence != 7 {
		t.Fatalf("resent batch 6: %v, %v", ack, err)
	}
	acked = append(acked, ids6...)
	more, err := streamItems(t, sb, coll, writer, "r", 7, 10, dim, nil)
	if err != nil {
		t.Fatal(err)
	}
	acked = append(acked, more...)
	checkPresent(t, b, coll, acked)
	waitItemCount(t, b, coll, 500) // ten batches of 50, none twice
	// Replaying an old batch on B is a duplicate.
	if err := sb.Send(b6); err != nil {
		t.Fatal(err)
	}
	if ack, err := sb.Recv(); err != nil || !ack.Duplicate {
		t.Fatalf("replayed batch 6 on B: %v, %v; want a duplicate", ack, err)
	}
}

// TestScaleoutTwoMinersBehindOneAddress balances one client over two miner-servers
// (gRPC round_robin): writes through either are seen by both, and both mine the same
// negatives.
func TestScaleoutTwoMinersBehindOneAddress(t *testing.T) {
	st := clusterState(t)
	addrA, _ := startMinerProcess(t, st, 0)
	addrB, _ := startMinerProcess(t, st, 2)
	rb := manual.NewBuilderWithScheme("miners")
	rb.InitialState(resolver.State{Addresses: []resolver.Address{{Addr: addrA}, {Addr: addrB}}})
	conn, err := grpc.NewClient("miners:///hardneg", grpc.WithResolvers(rb), grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithDefaultServiceConfig(`{"loadBalancingConfig": [{"round_robin":{}}]}`))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	c := hardnegv1.NewMinerServiceClient(conn)
	ctx := context.Background()
	const dim = 8
	coll := "rr_" + strconv.FormatInt(time.Now().UnixNano(), 36)
	if _, err := c.CreateCollection(ctx, &hardnegv1.CreateCollectionRequest{Name: coll, Dim: dim, Metric: hardnegv1.Metric_METRIC_COSINE}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.DeleteCollection(context.Background(), &hardnegv1.DeleteCollectionRequest{Name: coll}) })
	r := rand.New(rand.NewPCG(9, 9))
	for b := range 10 {
		ids := make([]string, 40)
		for i := range ids {
			ids[i] = fmt.Sprintf("d%d-%d", b, i)
		}
		if _, err := c.Upsert(ctx, &hardnegv1.UpsertRequest{Collection: coll, Items: &hardnegv1.ItemBatch{Ids: ids, Dim: dim, Vectors: f32bytes(randVecs(r, 40, dim)...)}}); err != nil {
			t.Fatal(err)
		}
	}
	req := &hardnegv1.MineRequest{Collection: coll, Anchors: []*hardnegv1.Anchor{{Id: "d0-0", PositiveIds: []string{"d3-3"}}, {Id: "d5-7"}},
		Policy: &hardnegv1.MiningPolicy{NumNegatives: 10}}
	var first []string
	for i := range 6 { // round_robin alternates: three calls on each miner
		mr, err := c.Mine(ctx, req)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, res := range mr.Results {
			for _, n := range res.Negatives {
				got = append(got, n.Id)
			}
		}
		if len(got) != 20 {
			t.Fatalf("call %d: %d negatives, want 20", i, len(got))
		}
		if i == 0 {
			first = got
		} else if fmt.Sprint(got) != fmt.Sprint(first) {
			t.Errorf("call %d: %v, want %v", i, got, first)
		}
	}
	waitItemCount(t, c, coll, 400)
}

// freeAddr returns a loopback address no one listens on now.
func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// waitItemCount waits until the collection's item count is want: the Weaviate engine
// counts from one replica per shard, which can trail acknowledged writes for a moment.
func waitItemCount(t *testing.T, c hardnegv1.MinerServiceClient, coll string, want uint64) {
	t.Helper()
	var got uint64
	for range 600 {
		gc, err := c.GetCollection(context.Background(), &hardnegv1.GetCollectionRequest{Name: coll})
		if err == nil {
			if got = gc.Collection.Stats.GetItemCount(); got == want {
				return
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("item count %d, want %d", got, want)
}

// TestScaleoutSnapshotIsUnimplemented: a Weaviate-backed miner has nothing to snapshot
// and says so.
func TestScaleoutSnapshotIsUnimplemented(t *testing.T) {
	ts := startServerArgs(t, t.TempDir(), weaviateArgs(clusterState(t), 0)...)
	ctx := context.Background()
	coll := "snap_" + strconv.FormatInt(time.Now().UnixNano(), 36)
	if _, err := ts.client.CreateCollection(ctx, &hardnegv1.CreateCollectionRequest{Name: coll, Dim: 4, Metric: hardnegv1.Metric_METRIC_DOT}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ts.client.DeleteCollection(context.Background(), &hardnegv1.DeleteCollectionRequest{Name: coll})
	})
	if _, err := ts.client.SnapshotCollection(ctx, &hardnegv1.SnapshotCollectionRequest{Name: coll}); codeOf(err) != codes.Unimplemented {
		t.Fatalf("snapshot: %v, want Unimplemented", err)
	}
}

// TestScaleoutStreamWritersExpire runs a miner with -stream-writer-ttl 2s under a
// prefix of its own: a writer idle for longer is forgotten when a new writer starts
// (its position object deleted from the cluster, counted in
// hardneg_stream_writers_expired_total); resuming it past sequence 1 fails with
// FAILED_PRECONDITION naming the TTL, and sequence 1 starts it again.
func TestScaleoutStreamWritersExpire(t *testing.T) {
	st := clusterState(t)
	prefix := "Ttl" + strconv.FormatInt(time.Now().UnixNano(), 36)
	httpAddr := freeAddr(t)
	addr, _ := startMinerProcess(t, st, 0, "-stream-writer-ttl=2s", "-weaviate-prefix="+prefix, "-weaviate-replication-factor=1", "-http-addr="+httpAddr)
	c := dialMiner(t, addr)
	ctx := context.Background()
	const dim = 8
	coll := l2Collection(t, c, c, "ttl_", dim)
	stream := func() hardnegv1.MinerService_UpsertStreamClient {
		s, err := c.UpsertStream(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	if _, err := streamItems(t, stream(), coll, "idle", "a", 1, 2, dim, nil); err != nil {
		t.Fatal(err)
	}
	time.Sleep(3200 * time.Millisecond) // past the TTL in whole seconds, and past a sweep interval
	if _, err := streamItems(t, stream(), coll, "new", "b", 1, 1, dim, nil); err != nil {
		t.Fatal(err)
	}
	// The new writer's batch started a sweep in the background.
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		got := value(scrape(t, httpAddr), metrics.NameStreamWritersExpired)
		if got == 1 {
			break
		}
		if got > 1 || time.Now().After(deadline) {
			t.Fatalf("%s = %v after the sweep, want 1 (the idle writer)", metrics.NameStreamWritersExpired, got)
		}
	}
	_, err := streamItems(t, stream(), coll, "idle", "a", 3, 3, dim, nil)
	if status.Code(err) != codes.FailedPrecondition || !strings.Contains(err.Error(), "forgotten after 2s without a batch") {
		t.Fatalf("resuming the forgotten writer at 3: %v; want FAILED_PRECONDITION saying it was forgotten", err)
	}
	if _, err := streamItems(t, stream(), coll, "idle", "c", 1, 2, dim, nil); err != nil {
		t.Fatalf("starting the forgotten writer again at 1: %v", err)
	}
	waitItemCount(t, c, coll, 5*50) // a1, a2, b1, c1, c2: the refused batch applied nothing
	// Idle past the TTL again, with no new writer since to sweep it: its own next batch
	// finds it forgotten, so starting again at 1 applies the batch (it is not dropped as
	// a duplicate of the position still stored).
	time.Sleep(3200 * time.Millisecond)
	if _, err := streamItems(t, stream(), coll, "idle", "d", 1, 1, dim, nil); err != nil { // a duplicate ack fails in streamItems
		t.Fatalf("starting the writer idle past its TTL, not yet swept, again at 1: %v; want the batch applied", err)
	}
	waitItemCount(t, c, coll, 6*50)
}
