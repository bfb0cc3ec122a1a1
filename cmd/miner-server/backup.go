package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"sync/atomic"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	hardnegv1 "github.com/hardneg/hardneg/gen/go/hardneg/v1"
	"github.com/hardneg/hardneg/internal/engine"
	"github.com/hardneg/hardneg/internal/metrics"
	"github.com/hardneg/hardneg/internal/validate"
)

// backupRecorder counts backups and restores for metrics. Safe for concurrent use;
// the zero value is ready.
type backupRecorder struct {
	backup, restore backupOpRecorder
}

type backupOpRecorder struct {
	ok, errors, bytes atomic.Uint64
	running           atomic.Int64
}

// start counts a transfer as running; the returned func counts it finished.
func (r *backupOpRecorder) start() func(err error) {
	r.running.Add(1)
	return func(err error) {
		r.running.Add(-1)
		if err != nil {
			r.errors.Add(1)
		} else {
			r.ok.Add(1)
		}
	}
}

func (r *backupOpRecorder) stats() metrics.BackupOpStats {
	return metrics.BackupOpStats{OK: r.ok.Load(), Errors: r.errors.Load(), Bytes: r.bytes.Load(), InProgress: r.running.Load()}
}

// snapshot returns the counters so far.
func (r *backupRecorder) snapshot() metrics.BackupStats {
	return metrics.BackupStats{Backup: r.backup.stats(), Restore: r.restore.stats()}
}

// Chunk sizes of a Backup stream (BackupRequest.chunk_bytes).
const (
	backupChunkDefault = 1 << 20
	backupChunkMin     = 4 << 10
	backupChunkMax     = 8 << 20
	// backupFraming is what a chunk's message adds to its bytes, with room to spare: a
	// chunk is at most the server's largest message less this.
	backupFraming = 1 << 10
	// progressEvery is how often a long backup or restore logs its progress.
	progressEvery = 5 * time.Second
)

func (s *service) ListSnapshots(_ context.Context, req *hardnegv1.ListSnapshotsRequest) (*hardnegv1.ListSnapshotsResponse, error) {
	if req.Collection != "" {
		if _, err := s.collection("collection", req.Collection); err != nil {
			return nil, err
		}
	}
	bk, err := s.backupEngine("list snapshots")
	if err != nil {
		return nil, err
	}
	files, err := bk.ListSnapshots(req.Collection)
	if err != nil {
		return nil, err
	}
	resp := &hardnegv1.ListSnapshotsResponse{}
	for _, f := range files {
		resp.Snapshots = append(resp.Snapshots, &hardnegv1.SnapshotFile{
			Collection: f.Collection,
			Sequence:   f.LSN,
			Bytes:      uint64(f.Bytes),
			CreatedAt:  timestamppb.New(f.ModTime),
			ItemCount:  uint64(max(f.Items, 0)),
		})
	}
	return resp, nil
}

// Backup streams each selected collection as a header and the chunks of its encoding.
func (s *service) Backup(req *hardnegv1.BackupRequest, stream hardnegv1.MinerService_BackupServer) error {
	most, def := backupChunkMax, backupChunkDefault
	if s.maxMsgBytes > 0 {
		most = min(most, s.maxMsgBytes-backupFraming)
		def = min(def, most)
	}
	chunk := int(min(req.ChunkBytes, math.MaxInt32))
	if chunk == 0 {
		chunk = def
	}
	if chunk < backupChunkMin || chunk > most {
		var e validate.Error
		why := ""
		if most < backupChunkMax {
			why = fmt.Sprintf(" (this server sends messages of at most %d bytes, -grpc-max-msg-bytes)", s.maxMsgBytes)
		}
		e.Add("chunk_bytes", "must be %d–%d%s, or 0 for %d; got %d", backupChunkMin, most, why, def, req.ChunkBytes)
		return &e
	}
	if _, err := s.backupEngine("backup"); err != nil {
		return err
	}
	names := []string{req.Collection}
	if req.Collection != "" {
		if err := engine.ValidateName("collection", req.Collection); err != nil {
			return err
		}
	} else {
		names = names[:0]
		for _, c := range s.db.Collections() {
			names = append(names, c.Name())
		}
	}
	for _, name := range names {
		err := s.backupOne(stream, name, chunk)
		if req.Collection == "" && errors.Is(err, engine.ErrCollectionNotFound) {
			continue // deleted since it was listed
		}
		if err != nil {
			return err
		}
	}
	return nil
}

func (s *service) backupOne(stream hardnegv1.MinerService_BackupServer, name string, chunk int) (err error) {
	done := s.backups.backup.start()
	defer func() { done(err) }()
	ctx := stream.Context()
	start := time.Now()
	bk, err := s.backupEngine("backup")
	if err != nil {
		return err
	}
	b, err := bk.Backup(ctx, name)
	if err != nil {
		return err
	}
	defer b.Close()
	if err := stream.Send(&hardnegv1.BackupResponse{Part: &hardnegv1.BackupResponse_Header{Header: backupHeader(b)}}); err != nil {
		return err
	}
	buf := make([]byte, chunk)
	var sent int64
	last := time.Now()
	for {
		n, rerr := io.ReadFull(b, buf)
		if n > 0 {
			if err := stream.Send(&hardnegv1.BackupResponse{Part: &hardnegv1.BackupResponse_Chunk{Chunk: buf[:n]}}); err != nil {
				return err
			}
			sent += int64(n)
			s.backups.backup.bytes.Add(uint64(n))
			if time.Since(last) >= progressEvery {
				last = time.Now()
				s.log.Info("backup in progress", "collection", name, "bytes_sent", sent, "bytes", b.Bytes)
			}
		}
		if errors.Is(rerr, io.EOF) || errors.Is(rerr, io.ErrUnexpectedEOF) {
			break
		}
		if rerr != nil {
			return fmt.Errorf("backup %q: read: %w", name, rerr)
		}
	}
	if sent != b.Bytes {
		return fmt.Errorf("backup %q: sent %d of %d bytes", name, sent, b.Bytes)
	}
	s.log.Info("backup sent", "collection", name, "items", b.Items, "bytes", b.Bytes, "lsn", b.LSN, "duration", time.Since(start))
	return nil
}

// backupHeader describes b.
func backupHeader(b *engine.Backup) *hardnegv1.BackupHeader {
	p := b.Config.Params
	return &hardnegv1.BackupHeader{
		FormatVersion: b.Format,
		Collection: &hardnegv1.Collection{
			Name:      b.Config.Name,
			Dim:       uint32(b.Config.Dim),
			Metric:    metricToPB[b.Config.Metric],
			Ephemeral: b.Config.Ephemeral,
			IndexParams: &hardnegv1.IndexParams{
				M:              uint32(p.M),
				EfConstruction: uint32(p.EfConstruction),
				EfSearch:       uint32(p.EfSearch),
				ExactThreshold: uint32(p.ExactThreshold),
				Quantization:   quantizationToPB[p.Quantization],
			},
			Stats: &hardnegv1.CollectionStats{ItemCount: uint64(b.Items), LastAppliedSequence: b.LSN},
		},
		ItemCount: uint64(b.Items),
		SizeBytes: uint64(b.Bytes),
		Crc32C:    b.Checksum,
		Sequence:  b.LSN,
		TakenAt:   timestamppb.New(b.TakenAt),
	}
}

// Restore receives a backup stream and creates a collection from it.
func (s *service) Restore(stream hardnegv1.MinerService_RestoreServer) (err error) {
	done := s.backups.restore.start()
	defer func() { done(err) }()
	bk, err := s.backupEngine("restore")
	if err != nil {
		return err
	}
	first, err := stream.Recv()
	if errors.Is(err, io.EOF) {
		return fmt.Errorf("%w: empty stream; the first message must carry the header", engine.ErrBackupInvalid)
	}
	if err != nil {
		return err
	}
	h := first.GetHeader()
	if h == nil {
		return fmt.Errorf("%w: the first message must carry the header", engine.ErrBackupInvalid)
	}
	name, field := first.Collection, "collection"
	if name == "" {
		name, field = h.GetCollection().GetName(), "header.collection.name"
	}
	if err := engine.ValidateName(field, name); err != nil {
		return err
	}
	old, _ := s.db.Collection(name)
	if old != nil {
		// Refused before the upload rather than after it: the engine checks again as it
		// installs the restored collection, so a write racing this one is caught there.
		if n := old.Stats().Items; n > 0 {
			return fmt.Errorf("%q holds %d items: %w; restore under a new name or delete it first", name, n, engine.ErrCollectionNotEmpty)
		}
	}
	start, last := time.Now(), time.Now()
	var counted int64
	progress := func(n int64) {
		s.backups.restore.bytes.Add(uint64(n - counted))
		counted = n
		if time.Since(last) >= progressEvery {
			last = time.Now()
			s.log.Info("restore in progress", "collection", name, "bytes_received", n, "bytes", h.SizeBytes)
		}
	}
	if h.SizeBytes > math.MaxInt64 {
		return fmt.Errorf("%w: header.size_bytes is %d; a backup's encoding is 1 to 2^63−1 bytes", engine.ErrBackupInvalid, h.SizeBytes)
	}
	src := engine.RestoreSource{FormatVersion: h.FormatVersion, Bytes: int64(h.SizeBytes), Checksum: h.Crc32C,
		Dim: int(h.GetCollection().GetDim()), Items: h.ItemCount, Name: h.GetCollection().GetName()}
	src.Metric, src.HasMetric = metricFromPB[h.GetCollection().GetMetric()]
	res, err := bk.Restore(stream.Context(), &restoreReader{stream: stream}, src, name, progress)
	if err != nil {
		return err
	}
	if old != nil {
		s.cal.drop(old)
		s.exp.drop(old)
		s.hard.drop(old)
	}
	s.log.Info("restore done", "collection", name, "bytes", res.Bytes, "duration", time.Since(start))
	return stream.SendAndClose(&hardnegv1.RestoreResponse{Collection: toCollection(res.Collection), Bytes: uint64(res.Bytes)})
}

// backupEngine returns the engine's backup operations, or ErrUnsupported naming op.
func (s *service) backupEngine(op string) (engine.Backups, error) {
	bk, ok := s.db.(engine.Backups)
	if !ok {
		return nil, fmt.Errorf("%s: the engine keeps no snapshots or backups: %w", op, engine.ErrUnsupported)
	}
	return bk, nil
}

// restoreReader reads the chunks of a Restore stream after its first message.
type restoreReader struct {
	stream hardnegv1.MinerService_RestoreServer
	buf    []byte
}

func (r *restoreReader) Read(p []byte) (int, error) {
	for len(r.buf) == 0 {
		m, err := r.stream.Recv()
		if err != nil {
			return 0, err // io.EOF at the end of the stream
		}
		if m.GetHeader() != nil || m.Collection != "" {
			return 0, fmt.Errorf("%w: header or collection name after the first message", engine.ErrBackupInvalid)
		}
		r.buf = m.GetChunk()
	}
	n := copy(p, r.buf)
	r.buf = r.buf[n:]
	return n, nil
}
