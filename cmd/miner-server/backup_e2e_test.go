package main

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	hardnegv1 "github.com/hardneg/hardneg/gen/go/hardneg/v1"
	"github.com/hardneg/hardneg/internal/storage"
)

// backupStream is one collection of a Backup stream, as received.
type backupStream struct {
	header *hardnegv1.BackupHeader
	chunks [][]byte
}

func (b backupStream) bytes() []byte { return slices.Concat(b.chunks...) }

// takeBackup calls Backup and collects the collections it streams.
func takeBackup(t *testing.T, c hardnegv1.MinerServiceClient, req *hardnegv1.BackupRequest) []backupStream {
	t.Helper()
	st, err := c.Backup(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	var out []backupStream
	for {
		m, err := st.Recv()
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			t.Fatalf("backup: %v", err)
		}
		switch p := m.Part.(type) {
		case *hardnegv1.BackupResponse_Header:
			out = append(out, backupStream{header: p.Header})
		case *hardnegv1.BackupResponse_Chunk:
			if len(out) == 0 {
				t.Fatal("chunk before any header")
			}
			out[len(out)-1].chunks = append(out[len(out)-1].chunks, p.Chunk)
		}
	}
}

// restore sends a header (nil: none) and chunks as one Restore stream.
func restore(c hardnegv1.MinerServiceClient, name string, h *hardnegv1.BackupHeader, chunks [][]byte) (*hardnegv1.RestoreResponse, error) {
	st, err := c.Restore(context.Background())
	if err != nil {
		return nil, err
	}
	first := &hardnegv1.RestoreRequest{Collection: name}
	if h != nil {
		first.Part = &hardnegv1.RestoreRequest_Header{Header: h}
	} else if len(chunks) > 0 {
		first.Part = &hardnegv1.RestoreRequest_Chunk{Chunk: chunks[0]}
		chunks = chunks[1:]
	}
	if err := st.Send(first); err != nil && !errors.Is(err, io.EOF) {
		return nil, err
	}
	for _, ch := range chunks {
		if err := st.Send(&hardnegv1.RestoreRequest{Part: &hardnegv1.RestoreRequest_Chunk{Chunk: ch}}); err != nil {
			break // the server answered early; CloseAndRecv returns its status
		}
	}
	return st.CloseAndRecv()
}

// fillCollection creates name with n items (groups, versions, a graph), deletes some
// and records false-negative verdicts; it returns the live ids.
func fillCollection(t *testing.T, c hardnegv1.MinerServiceClient, name string, n, dim int) []string {
	t.Helper()
	ctx := context.Background()
	if _, err := c.CreateCollection(ctx, &hardnegv1.CreateCollectionRequest{Name: name, Dim: uint32(dim), Metric: hardnegv1.Metric_METRIC_COSINE,
		IndexParams: &hardnegv1.IndexParams{M: 8, EfConstruction: 64, ExactThreshold: 100}}); err != nil {
		t.Fatal(err)
	}
	r := rand.New(rand.NewPCG(7, 7))
	var ids []string
	b := &hardnegv1.ItemBatch{Dim: uint32(dim), Vectors: f32bytes(randVecs(r, n, dim)...)}
	for i := range n {
		id := "doc-" + strconv.Itoa(i)
		ids = append(ids, id)
		b.Ids = append(b.Ids, id)
		b.Groups = append(b.Groups, &hardnegv1.GroupList{Groups: []string{"src-" + strconv.Itoa(i/5)}})
		b.Versions = append(b.Versions, int64(i%3))
	}
	if _, err := c.Upsert(ctx, &hardnegv1.UpsertRequest{Collection: name, Items: b}); err != nil {
		t.Fatal(err)
	}
	var gone []string
	for i := 0; i < n; i += 17 {
		gone = append(gone, ids[i])
	}
	if _, err := c.Delete(ctx, &hardnegv1.DeleteRequest{Collection: name, Ids: gone}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.ReportFalseNegatives(ctx, &hardnegv1.ReportFalseNegativesRequest{Collection: name,
		Reports: []*hardnegv1.FalseNegativeReport{{AnchorKey: "doc-1", ItemIds: []string{"doc-2", "doc-3"}}}}); err != nil {
		t.Fatal(err)
	}
	return slices.DeleteFunc(ids, func(id string) bool { return slices.Contains(gone, id) })
}

// allItems reads every item of ids with vectors.
func allItems(t *testing.T, c hardnegv1.MinerServiceClient, name string, ids []string) *hardnegv1.GetItemsResponse {
	t.Helper()
	resp, err := c.GetItems(context.Background(), &hardnegv1.GetItemsRequest{Collection: name, Ids: ids, IncludeVectors: true})
	if err != nil {
		t.Fatal(err)
	}
	return resp
}

// mineSome mines a fixed set of anchors with a fixed policy.
func mineSome(t *testing.T, c hardnegv1.MinerServiceClient, name string) *hardnegv1.MineResponse {
	t.Helper()
	var anchors []*hardnegv1.Anchor
	for _, i := range []int{1, 4, 40, 77, 200} {
		anchors = append(anchors, &hardnegv1.Anchor{Id: "doc-" + strconv.Itoa(i), PositiveIds: []string{"doc-" + strconv.Itoa(i+1)}})
	}
	resp, err := c.Mine(context.Background(), &hardnegv1.MineRequest{Collection: name, Anchors: anchors,
		Policy: &hardnegv1.MiningPolicy{NumNegatives: 10}, Explain: 20})
	if err != nil {
		t.Fatal(err)
	}
	return resp
}

func TestBackupRestoreRoundTripIntoFreshServer(t *testing.T) {
	a := startServer(t, t.TempDir())
	ids := fillCollection(t, a.client, "docs", 400, 16)
	fillCollection(t, a.client, "small", 30, 4)
	ctx := context.Background()

	bs := takeBackup(t, a.client, &hardnegv1.BackupRequest{Collection: "docs", ChunkBytes: 4096})
	if len(bs) != 1 {
		t.Fatalf("backup of one collection streamed %d", len(bs))
	}
	h, data := bs[0].header, bs[0].bytes()
	// The checksum is the CRC-32C of the encoding without its last 4 bytes, which hold it.
	if h.ItemCount != uint64(len(ids)) || h.SizeBytes != uint64(len(data)) || h.Crc32C != crc32.Checksum(data[:len(data)-4], crc32.MakeTable(crc32.Castagnoli)) ||
		h.Crc32C != binary.LittleEndian.Uint32(data[len(data)-4:]) {
		t.Fatalf("header %v does not describe the %d items and %d bytes received", h, len(ids), len(data))
	}
	if h.FormatVersion != storage.SnapshotVersion || h.Collection.GetName() != "docs" || h.Collection.GetDim() != 16 || h.Collection.GetIndexParams().GetExactThreshold() != 100 ||
		h.Collection.GetIndexParams().GetQuantization() != hardnegv1.Quantization_QUANTIZATION_INT8 {
		t.Fatalf("header config: %v", h)
	}
	if len(bs[0].chunks) < 2 {
		t.Fatalf("%d bytes came in %d chunks of at most 4096", len(data), len(bs[0].chunks))
	}

	dir := t.TempDir()
	b := startServer(t, dir)
	resp, err := restore(b.client, "", h, bs[0].chunks)
	if err != nil {
		t.Fatal(err)
	}
	if resp.Collection.GetName() != "docs" || resp.Collection.GetStats().GetItemCount() != uint64(len(ids)) || resp.Bytes != uint64(len(data)) {
		t.Fatalf("restore answered %v", resp)
	}
	wantItems, wantMine := allItems(t, a.client, "docs", ids), mineSome(t, a.client, "docs")
	check := func(c hardnegv1.MinerServiceClient, name string) {
		t.Helper()
		got := allItems(t, c, name, ids)
		if len(got.MissingIds) > 0 || !proto.Equal(got.Items, wantItems.Items) {
			t.Fatalf("%s: items differ from the source (missing %v)", name, got.MissingIds)
		}
		if m := mineSome(t, c, name); !proto.Equal(m, wantMine) {
			t.Fatalf("%s: mining differs:\n got %v\nwant %v", name, m, wantMine)
		}
		info, err := c.GetCollection(ctx, &hardnegv1.GetCollectionRequest{Name: name})
		if err != nil || info.Collection.Stats.ItemCount != uint64(len(ids)) || !info.Collection.Stats.GraphSearch {
			t.Fatalf("%s: %v %v", name, info, err)
		}
	}
	check(b.client, "docs")
	fa, fb := scrape(t, a.srv.HTTPAddr()), scrape(t, b.srv.HTTPAddr())
	for _, m := range []struct {
		fams   map[string]*dto.MetricFamily
		name   string
		labels []string
		want   float64
	}{
		{fa, "hardneg_backups_total", []string{"op", "backup", "result", "ok"}, 1},
		{fa, "hardneg_backup_bytes_total", []string{"op", "backup"}, float64(len(data))},
		{fa, "hardneg_backups_in_progress", []string{"op", "backup"}, 0},
		{fb, "hardneg_backups_total", []string{"op", "restore", "result", "ok"}, 1},
		{fb, "hardneg_backups_total", []string{"op", "restore", "result", "error"}, 0},
		{fb, "hardneg_backup_bytes_total", []string{"op", "restore"}, float64(len(data))},
		// The restore wrote the collection's snapshot.
		{fb, "hardneg_snapshots_total", []string{"result", "success"}, 1},
	} {
		if got := value(m.fams, m.name, m.labels...); got != m.want {
			t.Errorf("%s%v = %v, want %v", m.name, m.labels, got, m.want)
		}
	}

	// Durable: the restored collection survives a restart.
	b.stop(t)
	b = startServer(t, dir)
	check(b.client, "docs")

	// Not onto a collection with items, refused before the data is received; under a
	// new name it works.
	if _, err := restore(b.client, "", h, bs[0].chunks); codeOf(err) != codes.FailedPrecondition {
		t.Fatalf("restore onto a non-empty collection: %v, want FAILED_PRECONDITION", err)
	}
	if got := value(scrape(t, b.srv.HTTPAddr()), "hardneg_backup_bytes_total", "op", "restore"); got != 0 {
		t.Errorf("a restore refused for its non-empty target received %v bytes, want 0", got)
	}
	if _, err := restore(b.client, "docs-copy", h, bs[0].chunks); err != nil {
		t.Fatal(err)
	}
	check(b.client, "docs-copy")
	// Onto an empty collection (of another configuration): it is replaced.
	if _, err := b.client.CreateCollection(ctx, &hardnegv1.CreateCollectionRequest{Name: "empty", Dim: 3, Metric: hardnegv1.Metric_METRIC_DOT}); err != nil {
		t.Fatal(err)
	}
	if _, err := restore(b.client, "empty", h, bs[0].chunks); err != nil {
		t.Fatal(err)
	}
	check(b.client, "empty")

	// Every collection in one stream; the snapshots are listed.
	all := takeBackup(t, a.client, &hardnegv1.BackupRequest{})
	if len(all) != 2 || all[0].header.Collection.Name != "docs" || all[1].header.Collection.Name != "small" || all[1].header.ItemCount != 28 {
		t.Fatalf("backup of everything: %d collections", len(all))
	}
	if _, err := a.client.SnapshotCollection(ctx, &hardnegv1.SnapshotCollectionRequest{Name: "docs"}); err != nil {
		t.Fatal(err)
	}
	ls, err := a.client.ListSnapshots(ctx, &hardnegv1.ListSnapshotsRequest{Collection: "docs"})
	if err != nil {
		t.Fatal(err)
	}
	if len(ls.Snapshots) != 1 || ls.Snapshots[0].ItemCount != uint64(len(ids)) || ls.Snapshots[0].Bytes == 0 || ls.Snapshots[0].CreatedAt.AsTime().IsZero() {
		t.Fatalf("snapshots of docs: %v", ls.Snapshots)
	}
	if _, err := a.client.ListSnapshots(ctx, &hardnegv1.ListSnapshotsRequest{Collection: "nope"}); codeOf(err) != codes.NotFound {
		t.Fatalf("snapshots of a missing collection: %v", err)
	}
	if other := takeBackup(t, a.client, &hardnegv1.BackupRequest{Collection: "small"}); other[0].header.Crc32C == h.Crc32C {
		t.Fatalf("two collections' backups have the same checksum %08x", h.Crc32C)
	}
}

func TestRestoreRejectsDamagedStreamsApplyingNothing(t *testing.T) {
	a := startServer(t, t.TempDir())
	fillCollection(t, a.client, "docs", 200, 8)
	bs := takeBackup(t, a.client, &hardnegv1.BackupRequest{Collection: "docs", ChunkBytes: 4096})[0]
	data := bs.bytes()
	crc := func(p []byte) uint32 { return crc32.Checksum(p, crc32.MakeTable(crc32.Castagnoli)) }
	hdr := func(edit func(h *hardnegv1.BackupHeader)) *hardnegv1.BackupHeader {
		h := proto.Clone(bs.header).(*hardnegv1.BackupHeader)
		edit(h)
		return h
	}
	flipped := slices.Clone(data)
	flipped[len(flipped)/2] ^= 0x40
	garbage := slices.Clone(data)
	garbage[20] ^= 0xff // inside the header: the encoding itself does not decode
	tests := []struct {
		name   string
		header *hardnegv1.BackupHeader
		chunks [][]byte
		code   codes.Code
	}{
		{"flipped byte", bs.header, [][]byte{flipped}, codes.DataLoss},
		{"truncated", bs.header, bs.chunks[:len(bs.chunks)-1], codes.DataLoss},
		{"no chunks", bs.header, nil, codes.DataLoss},
		{"header checksum differs", hdr(func(h *hardnegv1.BackupHeader) { h.Crc32C++ }), bs.chunks, codes.DataLoss},
		{"undecodable with a matching checksum", hdr(func(h *hardnegv1.BackupHeader) { h.Crc32C = crc(garbage) }), [][]byte{garbage}, codes.DataLoss},
		{"bytes past the declared size", bs.header, append(slices.Clone(bs.chunks), []byte("more")), codes.InvalidArgument},
		{"unknown format version", hdr(func(h *hardnegv1.BackupHeader) { h.FormatVersion = 99 }), bs.chunks, codes.InvalidArgument},
		{"size beyond int64", hdr(func(h *hardnegv1.BackupHeader) { h.SizeBytes = 1 << 63 }), bs.chunks, codes.InvalidArgument},
		{"size 0", hdr(func(h *hardnegv1.BackupHeader) { h.SizeBytes = 0 }), bs.chunks, codes.InvalidArgument},
		{"header dim differs from the data", hdr(func(h *hardnegv1.BackupHeader) { h.Collection.Dim = 7 }), bs.chunks, codes.InvalidArgument},
		{"header item count differs from the data", hdr(func(h *hardnegv1.BackupHeader) { h.ItemCount = 5 }), bs.chunks, codes.InvalidArgument},
		{"header name differs from the data", hdr(func(h *hardnegv1.BackupHeader) { h.Collection.Name = "x" + h.Collection.Name }), bs.chunks, codes.InvalidArgument},
		{"header metric differs from the data", hdr(func(h *hardnegv1.BackupHeader) { h.Collection.Metric = hardnegv1.Metric_METRIC_L2 }), bs.chunks, codes.InvalidArgument},
		{"no header", nil, bs.chunks, codes.InvalidArgument},
		{"second header", bs.header, [][]byte{data[:10]}, codes.InvalidArgument},
	}
	b := startServer(t, t.TempDir())
	// A header from servers that put the CRC of the whole encoding there restores.
	if resp, err := restore(b.client, "old-style", hdr(func(h *hardnegv1.BackupHeader) { h.Crc32C = crc(data) }), bs.chunks); err != nil || resp.Collection.GetStats().GetItemCount() == 0 {
		t.Fatalf("restore with the whole encoding's CRC in the header: %v %v", resp, err)
	}
	if _, err := b.client.DeleteCollection(context.Background(), &hardnegv1.DeleteCollectionRequest{Name: "old-style"}); err != nil {
		t.Fatal(err)
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var err error
			if tc.name == "second header" {
				err = restoreWithSecondHeader(b.client, bs.header, data[:10])
			} else {
				_, err = restore(b.client, "", tc.header, tc.chunks)
			}
			if codeOf(err) != tc.code {
				t.Fatalf("got %v, want %v", err, tc.code)
			}
			if msg := status.Convert(err).Message(); strings.HasPrefix(msg, "restore:") {
				t.Errorf("message carries the server's internal prefix: %q", msg)
			}
			cols, lerr := b.client.ListCollections(context.Background(), &hardnegv1.ListCollectionsRequest{})
			if lerr != nil || len(cols.Collections) != 0 {
				t.Fatalf("a rejected restore left collections %v (%v)", cols, lerr)
			}
			snaps, lerr := b.client.ListSnapshots(context.Background(), &hardnegv1.ListSnapshotsRequest{})
			if lerr != nil || len(snaps.Snapshots) != 0 {
				t.Fatalf("a rejected restore left snapshots %v (%v)", snaps, lerr)
			}
		})
	}
}

func restoreWithSecondHeader(c hardnegv1.MinerServiceClient, h *hardnegv1.BackupHeader, chunk []byte) error {
	st, err := c.Restore(context.Background())
	if err != nil {
		return err
	}
	st.Send(&hardnegv1.RestoreRequest{Part: &hardnegv1.RestoreRequest_Header{Header: h}})
	st.Send(&hardnegv1.RestoreRequest{Part: &hardnegv1.RestoreRequest_Chunk{Chunk: chunk}})
	st.Send(&hardnegv1.RestoreRequest{Part: &hardnegv1.RestoreRequest_Header{Header: h}})
	_, err = st.CloseAndRecv()
	return err
}

// Batches written while backups are taken: each backup holds a prefix of the batches,
// every batch whole, and the "state" item stamped by the last batch of that prefix.
func TestBackupDuringWritesIsPointInTime(t *testing.T) {
	a := startServer(t, t.TempDir())
	ctx := context.Background()
	const dim, per = 8, 20
	if _, err := a.client.CreateCollection(ctx, &hardnegv1.CreateCollectionRequest{Name: "live", Dim: dim, Metric: hardnegv1.Metric_METRIC_L2,
		IndexParams: &hardnegv1.IndexParams{ExactThreshold: 50, M: 8, EfConstruction: 32}}); err != nil {
		t.Fatal(err)
	}
	var written atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		r := rand.New(rand.NewPCG(1, 2))
		for batch := int64(1); ; batch++ {
			select {
			case <-stop:
				return
			default:
			}
			b := &hardnegv1.ItemBatch{Dim: dim, Vectors: f32bytes(randVecs(r, per+1, dim)...)}
			for i := range per {
				b.Ids = append(b.Ids, fmt.Sprintf("b%d-%d", batch, i))
				b.Versions = append(b.Versions, batch)
			}
			b.Ids = append(b.Ids, "state")
			b.Versions = append(b.Versions, batch)
			if _, err := a.client.Upsert(ctx, &hardnegv1.UpsertRequest{Collection: "live", Items: b}); err != nil {
				t.Error(err)
				return
			}
			written.Store(batch)
		}
	}()
	b := startServer(t, t.TempDir())
	var seen []int64
	for i := 0; len(seen) < 3 && i < 200; i++ {
		// Let batches land between backups: at least 3 more, and at least one past the
		// last backup's state, so each backup sees a later state than the one before.
		floor := int64(len(seen)+1) * 3
		if len(seen) > 0 {
			floor = max(floor, seen[len(seen)-1]+1)
		}
		for written.Load() < floor {
			time.Sleep(time.Millisecond)
		}
		bs := takeBackup(t, a.client, &hardnegv1.BackupRequest{Collection: "live"})[0]
		name := "copy" + strconv.Itoa(len(seen))
		if _, err := restore(b.client, name, bs.header, bs.chunks); err != nil {
			t.Fatal(err)
		}
		st, err := b.client.GetItems(ctx, &hardnegv1.GetItemsRequest{Collection: name, Ids: []string{"state"}})
		if err != nil || len(st.Items.Ids) != 1 {
			t.Fatalf("state: %v %v", st, err)
		}
		last := st.Items.Versions[0]
		items := int(bs.header.ItemCount)
		if items != int(last)*per+1 {
			t.Fatalf("backup holds %d items, but its state says %d batches of %d (+1)", items, last, per)
		}
		var want []string
		for batch := int64(1); batch <= last; batch++ {
			for i := range per {
				want = append(want, fmt.Sprintf("b%d-%d", batch, i))
			}
		}
		got, err := b.client.GetItems(ctx, &hardnegv1.GetItemsRequest{Collection: name, Ids: append(want, fmt.Sprintf("b%d-0", last+1))})
		if err != nil {
			t.Fatal(err)
		}
		if len(got.Items.Ids) != len(want) || !slices.Equal(got.MissingIds, []string{fmt.Sprintf("b%d-0", last+1)}) {
			t.Fatalf("backup at batch %d: %d of %d items, missing %v", last, len(got.Items.Ids), len(want), got.MissingIds)
		}
		seen = append(seen, last)
	}
	close(stop)
	wg.Wait()
	if len(seen) < 3 {
		t.Fatalf("backups at batches %v: want three taken while writes went on", seen)
	}
	for i := 1; i < len(seen); i++ {
		if seen[i] <= seen[i-1] {
			t.Fatalf("backups at batches %v: want each later than the one before", seen)
		}
	}
}

func TestBackupAndRestoreNeedRoleWrite(t *testing.T) {
	ss := startSecureServer(t)
	ctx := context.Background()
	if _, err := ss.client.CreateCollection(withToken(ctx, writeToken), &hardnegv1.CreateCollectionRequest{Name: "docs", Dim: 4, Metric: hardnegv1.Metric_METRIC_COSINE}); err != nil {
		t.Fatal(err)
	}
	backup := func(tok string) error {
		st, err := ss.client.Backup(withToken(ctx, tok), &hardnegv1.BackupRequest{Collection: "docs"})
		if err != nil {
			return err
		}
		for {
			if _, err := st.Recv(); err != nil {
				if errors.Is(err, io.EOF) {
					return nil
				}
				return err
			}
		}
	}
	if err := backup(readToken); codeOf(err) != codes.PermissionDenied {
		t.Fatalf("read token backing up: %v, want PermissionDenied", err)
	}
	if err := backup(""); codeOf(err) != codes.Unauthenticated {
		t.Fatalf("no token backing up: %v, want Unauthenticated", err)
	}
	if err := backup(writeToken); err != nil {
		t.Fatalf("write token backing up: %v", err)
	}
	st, err := ss.client.Restore(withToken(ctx, readToken))
	if err == nil {
		_, err = st.CloseAndRecv()
	}
	if codeOf(err) != codes.PermissionDenied {
		t.Fatalf("read token restoring: %v, want PermissionDenied", err)
	}
	if _, err := ss.client.ListSnapshots(withToken(ctx, readToken), &hardnegv1.ListSnapshotsRequest{}); err != nil {
		t.Fatalf("read token listing snapshots: %v", err)
	}
}

// TestBackupChunksFitTheMessageLimit: on a server whose largest message is the
// smallest allowed (1 MiB), a backup with the default chunk size streams chunks under
// the limit, and a chunk size above it is refused naming chunk_bytes.
func TestBackupChunksFitTheMessageLimit(t *testing.T) {
	a := startServerArgs(t, t.TempDir(), "-grpc-max-msg-bytes", strconv.Itoa(1<<20))
	fillCollection(t, a.client, "big", 200, 1024)
	r := rand.New(rand.NewPCG(8, 8))
	more := &hardnegv1.ItemBatch{Dim: 1024, Vectors: f32bytes(randVecs(r, 200, 1024)...)}
	for i := range 200 {
		more.Ids = append(more.Ids, "more-"+strconv.Itoa(i))
	}
	if _, err := a.client.Upsert(context.Background(), &hardnegv1.UpsertRequest{Collection: "big", Items: more}); err != nil {
		t.Fatal(err)
	}
	bs := takeBackup(t, a.client, &hardnegv1.BackupRequest{Collection: "big"})
	if len(bs) != 1 || bs[0].header.SizeBytes <= 1<<20 || len(bs[0].chunks) < 2 {
		t.Fatalf("backup of %d collections, %d bytes in %d chunks; want one of over 1 MiB in several", len(bs), bs[0].header.SizeBytes, len(bs[0].chunks))
	}
	for i, ch := range bs[0].chunks {
		if len(ch) > 1<<20-1024 {
			t.Errorf("chunk %d: %d bytes, over the limit less 1 KiB", i, len(ch))
		}
	}
	stream, err := a.client.Backup(context.Background(), &hardnegv1.BackupRequest{Collection: "big", ChunkBytes: 1 << 20})
	if err == nil {
		_, err = stream.Recv()
	}
	if codeOf(err) != codes.InvalidArgument || !strings.Contains(statusText(err), "chunk_bytes: must be 4096–1047552 (this server sends messages of at most 1048576 bytes") {
		t.Errorf("chunk_bytes 1 MiB on a 1 MiB server: %v", err)
	}
}
