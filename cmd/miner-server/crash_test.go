package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	hardnegv1 "github.com/hardneg/hardneg/gen/go/hardneg/v1"
)

var crashIterations = flag.Int("crash.iterations", envInt("HARDNEG_CRASH_ITERATIONS", 20),
	"kill -9 / restart cycles of TestCrashLoop (default from HARDNEG_CRASH_ITERATIONS, else 20)")

var crashSeed = flag.Uint64("crash.seed", 0, "seed of TestCrashLoop (0: a new one, logged)")

func envInt(name string, def int) int {
	if n, err := strconv.Atoi(os.Getenv(name)); err == nil && n > 0 {
		return n
	}
	return def
}

// serverEnv makes the test binary run as miner-server (see TestMain).
const serverEnv = "HARDNEG_TEST_AS_SERVER"

func TestMain(m *testing.M) {
	if os.Getenv(serverEnv) == "1" {
		main()
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// serverProcess is miner-server running as a child process.
type serverProcess struct {
	cmd    *exec.Cmd
	addr   string
	mu     sync.Mutex // guards stderr
	stderr bytes.Buffer
	exited chan struct{}
}

// spawn starts the test binary as a server on dir and waits until it serves.
func spawn(t *testing.T, dir string, args ...string) *serverProcess {
	t.Helper()
	return start(t, serverCmd(dir, args...))
}

// serverCmd is the command spawn runs: this test binary as miner-server on dir.
func serverCmd(dir string, args ...string) *exec.Cmd {
	cmd := exec.Command(os.Args[0], append([]string{
		"-grpc-addr=127.0.0.1:0", "-http-addr=127.0.0.1:0", "-data-dir=" + dir,
		"-log-format=json", "-shutdown-timeout=5s", "-snapshot-interval=-1ns",
	}, args...)...)
	cmd.Env = append(os.Environ(), serverEnv+"=1")
	return cmd
}

// start starts cmd (from serverCmd) and waits until it serves.
func start(t *testing.T, cmd *exec.Cmd) *serverProcess {
	t.Helper()
	pipe, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &serverProcess{cmd: cmd, exited: make(chan struct{})}
	addr := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(pipe)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			p.mu.Lock()
			p.stderr.Write(sc.Bytes())
			p.stderr.WriteByte('\n')
			p.mu.Unlock()
			var line struct {
				Msg  string `json:"msg"`
				GRPC string `json:"grpc"`
			}
			if json.Unmarshal(sc.Bytes(), &line) == nil && line.Msg == "serving" {
				addr <- line.GRPC
			}
		}
		close(p.exited)
	}()
	select {
	case p.addr = <-addr:
		return p
	case <-p.exited:
		cmd.Wait()
		t.Fatalf("server exited before serving:\n%s", p.log())
	case <-time.After(30 * time.Second):
		cmd.Process.Kill()
		t.Fatalf("server did not start:\n%s", p.log())
	}
	return nil
}

func (p *serverProcess) log() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.stderr.String()
}

// kill sends SIGKILL and reaps the process.
func (p *serverProcess) kill() {
	p.cmd.Process.Kill()
	p.cmd.Wait()
	<-p.exited
}

// crashBatch is one stream batch of the crash loop; its ids are unique to it.
type crashBatch struct {
	seq  uint64
	ids  []string
	vecs [][]float32
}

func (b *crashBatch) request() *hardnegv1.UpsertStreamRequest {
	return &hardnegv1.UpsertStreamRequest{Collection: "crash", WriterId: "trainer", Sequence: b.seq,
		Items: &hardnegv1.ItemBatch{Ids: b.ids, Dim: crashDim, Vectors: f32bytes(b.vecs...)}}
}

const crashDim = 8

// TestCrashLoop streams upserts into a real server process, kills it with SIGKILL at
// random moments, restarts it, and checks after every restart that every batch
// acknowledged as durable is present with its exact vectors, that every other batch
// is either entirely present or entirely absent, and that the resumed stream
// neither duplicates nor skips a batch.
func TestCrashLoop(t *testing.T) {
	dir := t.TempDir()
	seed := *crashSeed
	if seed == 0 {
		seed = uint64(time.Now().UnixNano())
	}
	// The seed fixes the batches, kill points and snapshot choices; when the kill
	// lands still depends on timing.
	t.Logf("seed %d (rerun with -crash.seed=%d)", seed, seed)
	r := rand.New(rand.NewPCG(seed, 1))
	var batches []*crashBatch // batches[i].seq == i+1
	newBatch := func() *crashBatch {
		b := &crashBatch{seq: uint64(len(batches) + 1), vecs: randVecs(r, 1+r.IntN(8), crashDim)}
		for i := range b.vecs {
			b.ids = append(b.ids, fmt.Sprintf("b%d-%d", b.seq, i))
		}
		batches = append(batches, b)
		return b
	}
	var durable uint64 // highest durable_sequence acknowledged by any server so far
	for it := 0; it <= *crashIterations; it++ {
		var args []string
		if it%2 == 1 {
			args = append(args, "-fsync=interval", "-fsync-interval=5ms")
		}
		p := spawn(t, dir, args...)
		conn, err := grpc.NewClient(p.addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
		if err != nil {
			t.Fatal(err)
		}
		client := hardnegv1.NewMinerServiceClient(conn)
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		if it == 0 {
			if _, err := client.CreateCollection(ctx, &hardnegv1.CreateCollectionRequest{Name: "crash", Dim: crashDim, Metric: hardnegv1.Metric_METRIC_L2}); err != nil {
				t.Fatal(err)
			}
		}
		applied := verifyCrashState(t, ctx, client, batches, durable, p)
		if it == *crashIterations {
			cancel()
			conn.Close()
			p.cmd.Process.Signal(syscall.SIGTERM)
			if err := p.cmd.Wait(); err != nil {
				t.Fatalf("graceful stop: %v\n%s", err, p.log())
			}
			t.Logf("%d iterations, %d batches sent, %d durable, %d applied", *crashIterations, len(batches), durable, applied)
			break
		}

		// Resume from the durable point: resend everything after it, then new
		// batches, until the server is killed at a random point of the stream
		// (after a random number of acknowledgements plus a random delay, so
		// batches are in flight).
		k := killPoint{acks: 1 + r.IntN(80), delay: time.Duration(r.IntN(3000)) * time.Microsecond}
		snapshot := r.IntN(2) == 0
		d := streamUntilKilled(t, ctx, client, p, k, snapshot, durable, applied, batches, newBatch)
		durable = max(durable, d)
		cancel()
		conn.Close()
	}
}

// verifyCrashState checks the server's content against the batches sent and returns
// the highest applied sequence.
func verifyCrashState(t *testing.T, ctx context.Context, client hardnegv1.MinerServiceClient, batches []*crashBatch, durable uint64, p *serverProcess) uint64 {
	t.Helper()
	var applied uint64
	total := 0
	// Read the items of many batches per request.
	for start := 0; start < len(batches); {
		end, n := start, 0
		var ids []string
		for end < len(batches) && n+len(batches[end].ids) <= 8192 {
			ids = append(ids, batches[end].ids...)
			n += len(batches[end].ids)
			end++
		}
		resp, err := client.GetItems(ctx, &hardnegv1.GetItemsRequest{Collection: "crash", Ids: ids, IncludeVectors: true})
		if err != nil {
			t.Fatalf("GetItems: %v\n%s", err, p.log())
		}
		missing := map[string]bool{}
		for _, id := range resp.MissingIds {
			missing[id] = true
		}
		vecs := resp.GetItems().GetVectors()
		for _, b := range batches[start:end] {
			present := 0
			for _, id := range b.ids {
				if !missing[id] {
					present++
				}
			}
			switch {
			case present == 0 && b.seq <= durable:
				t.Fatalf("batch %d was acknowledged durable (durable_sequence %d) but is missing after kill -9\n%s", b.seq, durable, p.log())
			case present == 0:
				continue
			case present != len(b.ids):
				t.Fatalf("batch %d half-applied: %d of %d items\n%s", b.seq, present, len(b.ids), p.log())
			case b.seq != applied+1:
				t.Fatalf("batch %d applied but batch %d is not: a gap\n%s", b.seq, applied+1, p.log())
			}
			want := f32bytes(b.vecs...)
			if len(vecs) < len(want) || !bytes.Equal(vecs[:len(want)], want) {
				t.Fatalf("batch %d: vectors differ after restart", b.seq)
			}
			vecs = vecs[len(want):]
			applied = b.seq
			total += len(b.ids)
		}
		start = end
	}
	gc, err := client.GetCollection(ctx, &hardnegv1.GetCollectionRequest{Name: "crash"})
	if err != nil {
		t.Fatal(err)
	}
	if n := gc.Collection.Stats.ItemCount; n != uint64(total) {
		t.Fatalf("collection holds %d items, the applied batches %d", n, total)
	}
	return applied
}

// killPoint says when streamUntilKilled kills the server.
type killPoint struct {
	acks  int           // after this many acknowledgements
	delay time.Duration // and this much longer
}

// streamUntilKilled streams batches from durable+1 on and kills the server at k. It
// returns the highest durable_sequence acknowledged.
func streamUntilKilled(t *testing.T, ctx context.Context, client hardnegv1.MinerServiceClient, p *serverProcess,
	k killPoint, snapshot bool, durable, applied uint64, batches []*crashBatch, newBatch func() *crashBatch) uint64 {
	t.Helper()
	st, err := client.UpsertStream(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// Batches to send, in order: the unacknowledged tail, then new ones.
	var queue []*crashBatch
	for _, b := range batches {
		if b.seq > durable {
			queue = append(queue, b)
		}
	}
	const window = 16
	sent := make(chan uint64, window)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		defer close(sent)
		for i := 0; ; i++ {
			var b *crashBatch
			if i < len(queue) {
				b = queue[i]
			} else {
				b = newBatch()
			}
			select {
			case sent <- b.seq: // blocks while window batches are unacknowledged
			case <-stop:
				return
			}
			if st.Send(b.request()) != nil {
				return
			}
		}
	})
	var killOnce sync.Once
	kill := func() { killOnce.Do(func() { go func() { time.Sleep(k.delay); p.kill() }() }) }
	backstop := time.AfterFunc(20*time.Second, kill)
	defer backstop.Stop()
	best := durable
	for n := 1; ; n++ {
		ack, err := st.Recv()
		if err != nil {
			break
		}
		want := <-sent
		if ack.Sequence != want {
			t.Errorf("ack for sequence %d, want %d", ack.Sequence, want)
		}
		if dup := ack.Sequence <= applied; ack.Duplicate != dup {
			t.Errorf("batch %d: duplicate = %v, want %v (highest applied before restart %d)", ack.Sequence, ack.Duplicate, dup, applied)
		}
		if ack.DurableSequence < best || ack.DurableSequence > max(ack.Sequence, applied) {
			t.Errorf("batch %d: durable_sequence %d went back or ahead (was %d)", ack.Sequence, ack.DurableSequence, best)
		}
		best = max(best, ack.DurableSequence)
		if snapshot && n == k.acks/2 {
			wg.Go(func() { client.SnapshotCollection(ctx, &hardnegv1.SnapshotCollectionRequest{Name: "crash"}) })
		}
		if n == k.acks {
			kill()
		}
	}
	ended := false
	killOnce.Do(func() { ended = true })
	close(stop)
	for range sent {
	}
	wg.Wait()
	if ended {
		p.kill()
		t.Fatalf("stream ended before the kill:\n%s", p.log())
	}
	<-p.exited
	return best
}
