package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"

	hardnegv1 "github.com/hardneg/hardneg/gen/go/hardneg/v1"
	"github.com/hardneg/hardneg/internal/engine"
	"github.com/hardneg/hardneg/internal/mining"
	"github.com/hardneg/hardneg/internal/validate"
	"go.opentelemetry.io/otel/attribute"
	"google.golang.org/protobuf/proto"
)

// service implements hardneg.v1.MinerService on top of an engine.Engine. Handlers translate
// between proto messages and domain types and return domain errors unchanged; the
// error interceptors turn them into statuses (errors.go).
type service struct {
	hardnegv1.UnimplementedMinerServiceServer
	db      engine.Engine
	log     *slog.Logger
	mined   *mining.Recorder                    // cumulative mining statistics, read by metrics
	ingest  *ingestRecorder                     // cumulative write statistics, read by metrics
	backups *backupRecorder                     // backup and restore counters, read by metrics
	cal     *perCollection[*mining.Calibration] // per-collection score statistics of mining, read by metrics
	exp     *perCollection[*mining.Exposure]    // per-collection counts of served negatives (loop.go)
	hard    *perCollection[*mining.Hardness]    // per-collection closed-loop hardness of anchor keys (loop.go)
	// maxMsgBytes is the largest message the server sends (-grpc-max-msg-bytes); 0: no
	// limit of its own. Backup chunks stay under it.
	maxMsgBytes int
	// stopping is closed when the server starts to shut down (stopStreams): upsert
	// streams end between batches instead of holding the graceful stop.
	stopping chan struct{}
	stopOnce sync.Once
}

// stopStreams makes open upsert streams end (UNAVAILABLE) once the batch each may be
// applying is queued for acknowledgement.
func (s *service) stopStreams() {
	s.stopOnce.Do(func() {
		if s.stopping != nil {
			close(s.stopping)
		}
	})
}

func (s *service) CreateCollection(_ context.Context, req *hardnegv1.CreateCollectionRequest) (*hardnegv1.CreateCollectionResponse, error) {
	cfg := engine.Config{Name: req.Name, Dim: int(req.Dim), Metric: metricFromPB[req.Metric], Ephemeral: req.Ephemeral}
	if p := req.IndexParams; p != nil {
		cfg.Params = engine.Params{M: int(p.M), EfConstruction: int(p.EfConstruction), EfSearch: int(p.EfSearch), ExactThreshold: int(p.ExactThreshold),
			Quantization: quantizationFromPB(p.Quantization)}
	}
	c, err := s.db.CreateCollection(cfg)
	if err != nil {
		return nil, err
	}
	s.log.Info("collection created", "collection", c.Name(), "dim", c.Dim(), "metric", c.Metric().String())
	return &hardnegv1.CreateCollectionResponse{Collection: toCollection(c)}, nil
}

// collection looks up the collection a request names in field. A name no collection can
// have is a validation error naming field; a well-formed unknown name is
// engine.ErrCollectionNotFound.
func (s *service) collection(field, name string) (engine.Collection, error) {
	if err := engine.ValidateName(field, name); err != nil {
		return nil, err
	}
	return s.db.Collection(name)
}

func (s *service) GetCollection(_ context.Context, req *hardnegv1.GetCollectionRequest) (*hardnegv1.GetCollectionResponse, error) {
	c, err := s.collection("name", req.Name)
	if err != nil {
		return nil, err
	}
	return &hardnegv1.GetCollectionResponse{Collection: toCollection(c)}, nil
}

func (s *service) ListCollections(context.Context, *hardnegv1.ListCollectionsRequest) (*hardnegv1.ListCollectionsResponse, error) {
	resp := &hardnegv1.ListCollectionsResponse{}
	for _, c := range s.db.Collections() {
		resp.Collections = append(resp.Collections, toCollection(c))
	}
	return resp, nil
}

func (s *service) DeleteCollection(_ context.Context, req *hardnegv1.DeleteCollectionRequest) (*hardnegv1.DeleteCollectionResponse, error) {
	if err := engine.ValidateName("name", req.Name); err != nil {
		return nil, err
	}
	c, _ := s.db.Collection(req.Name)
	if err := s.db.DeleteCollection(req.Name); err != nil {
		return nil, err
	}
	if c != nil {
		s.cal.drop(c)
		s.exp.drop(c)
		s.hard.drop(c)
	}
	s.log.Info("collection deleted", "collection", req.Name)
	return &hardnegv1.DeleteCollectionResponse{}, nil
}

func (s *service) Upsert(ctx context.Context, req *hardnegv1.UpsertRequest) (resp *hardnegv1.UpsertResponse, err error) {
	var res engine.UpsertResult
	defer func() { s.ingest.upsert(req.Items, res, false, err) }()
	c, err := s.collection("collection", req.Collection)
	if err != nil {
		return nil, err
	}
	b, err := fromItemBatch(req.Items, c.Dim(), "items")
	if err != nil {
		return nil, err
	}
	_, span := startSpan(ctx, "index.Upsert", attribute.String("collection", req.Collection), attribute.Int("items", len(b.IDs)))
	if d, ok := s.db.(engine.DeferredUpserter); ok && req.DeferDurability {
		res, err = d.UpsertDeferred(req.Collection, b, "items") // applies, then waits for the WAL write
	} else {
		res, err = s.db.Upsert(req.Collection, b, "items") // applies, then waits for the WAL
	}
	endSpan(span, err)
	if err != nil {
		return nil, err
	}
	return &hardnegv1.UpsertResponse{Inserted: uint64(res.Inserted), Replaced: uint64(res.Replaced), Sequence: res.Sequence}, nil
}

func (s *service) Delete(ctx context.Context, req *hardnegv1.DeleteRequest) (*hardnegv1.DeleteResponse, error) {
	if err := engine.ValidateName("collection", req.Collection); err != nil {
		return nil, err
	}
	_, span := startSpan(ctx, "index.Delete", attribute.String("collection", req.Collection), attribute.Int("ids", len(req.Ids)))
	res, err := s.db.Delete(req.Collection, req.Ids, "ids") // applies, then waits for the WAL
	endSpan(span, err)
	if err != nil {
		return nil, err
	}
	s.ingest.delete(res)
	return &hardnegv1.DeleteResponse{Deleted: uint64(res.Deleted), NotFound: uint64(res.NotFound), Sequence: res.Sequence}, nil
}

// streamWindow is how many batches of one UpsertStream may be applied but not yet
// acknowledged. When it is full the handler stops reading, and gRPC flow control
// pushes back on the client.
const streamWindow = 32

// streamAck is a batch applied by UpsertStream, waiting for its acknowledgement.
type streamAck struct {
	writer    string
	seq       uint64 // the batch's sequence
	writerSeq uint64 // the writer's last applied sequence once this batch is durable
	lsn       uint64
	prevSeq   uint64 // the writer's last applied batch before this one
	prevLSN   uint64
	duplicate bool
	items     uint64 // items inserted or replaced; 0 for a duplicate
	deleted   uint64 // ids removed; 0 for a duplicate
}

// UpsertStream applies batches as they arrive and acknowledges each, in order, once
// the write-ahead log holds it as the sync policy requires. Receiving and
// acknowledging run concurrently, so up to streamWindow batches share log writes.
func (s *service) UpsertStream(stream hardnegv1.MinerService_UpsertStreamServer) error {
	ctx, cancel := context.WithCancel(stream.Context())
	defer cancel()
	acks := make(chan streamAck, streamWindow)
	sent := make(chan error, 1)
	go func() {
		err := s.sendStreamAcks(ctx, stream, acks)
		if err != nil {
			cancel()
		}
		sent <- err
	}()
	// The receiver runs apart so that a stop can end a stream that waits for its
	// writer's next batch: the gate lets the stop wait for a batch being applied and
	// keeps any later one from being applied.
	var gate streamGate
	received := make(chan error, 1)
	go func() { received <- s.receiveStream(ctx, stream, acks, &gate) }()
	var recvErr error
	select {
	case recvErr = <-received:
	case <-s.stopping: // nil when the service runs without a server: never
		gate.stop()
		select {
		case recvErr = <-received: // it ended on its own meanwhile
		default:
			recvErr = s.stopCause() // it waits in Recv, which ends when this handler returns
		}
	}
	close(acks)
	sendErr := <-sent
	if recvErr != nil && !(errors.Is(recvErr, context.Canceled) && sendErr != nil) {
		return recvErr
	}
	return sendErr
}

// stopCause is why a stream ends at a stop: the storage failure that stops the server,
// when that is the reason (so the writer's logs say why ingest stopped), else the stop.
func (s *service) stopCause() error {
	if fc, ok := s.db.(interface{ FailureCause() error }); ok {
		if err := fc.FailureCause(); err != nil {
			return fmt.Errorf("%w: %w; the server is stopping: resume the stream from the next unacknowledged batch once it is back", engine.ErrStorageFailed, err)
		}
	}
	return errShuttingDown
}

// streamGate is held by an upsert stream's receiver while it applies a batch and
// queues its acknowledgement; a stop takes it to end the stream between batches.
type streamGate struct {
	mu      sync.Mutex
	stopped bool
}

// stop waits for the batch being applied, if any, and keeps later ones out.
func (g *streamGate) stop() {
	g.mu.Lock()
	g.stopped = true
	g.mu.Unlock()
}

// receiveStream applies incoming batches and queues their acknowledgements.
func (s *service) receiveStream(ctx context.Context, stream hardnegv1.MinerService_UpsertStreamServer, acks chan<- streamAck, gate *streamGate) error {
	for {
		req, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		if err := s.receiveBatch(ctx, req, acks, gate); err != nil {
			return err
		}
	}
}

// receiveBatch applies one batch and queues its acknowledgement, under the gate.
func (s *service) receiveBatch(ctx context.Context, req *hardnegv1.UpsertStreamRequest, acks chan<- streamAck, gate *streamGate) error {
	gate.mu.Lock()
	defer gate.mu.Unlock()
	if gate.stopped {
		return s.stopCause()
	}
	if req.WriterId == "" || len(req.WriterId) > engine.MaxWriterIDBytes || strings.IndexByte(req.WriterId, 0) >= 0 {
		return validate.Field("writer_id", "must be 1–%d bytes without NUL", engine.MaxWriterIDBytes)
	}
	if req.Sequence == 0 {
		return validate.Field("sequence", "must start at 1")
	}
	res, err := s.streamBatch(ctx, req)
	s.ingest.upsert(req.Items, res.Upsert, res.Duplicate, err)
	if err != nil {
		return err
	}
	s.ingest.delete(res.Delete)
	ack := streamAck{writer: req.WriterId, seq: req.Sequence, writerSeq: req.Sequence, lsn: res.LSN,
		prevSeq: res.PrevSequence, prevLSN: res.PrevLSN, duplicate: res.Duplicate,
		items: uint64(res.Upsert.Inserted + res.Upsert.Replaced), deleted: uint64(res.Delete.Deleted)}
	if res.Duplicate {
		ack.writerSeq = res.WriterSequence
	}
	select {
	case acks <- ack:
	case <-ctx.Done():
		return ctx.Err()
	}
	return nil
}

// streamBatch logs and applies one UpsertStream batch without waiting for the log.
func (s *service) streamBatch(ctx context.Context, req *hardnegv1.UpsertStreamRequest) (engine.StreamResult, error) {
	c, err := s.collection("collection", req.Collection)
	if err != nil {
		return engine.StreamResult{}, err
	}
	var b *engine.Batch
	if req.Items != nil {
		if b, err = fromItemBatch(req.Items, c.Dim(), "items"); err != nil {
			return engine.StreamResult{}, err
		}
	}
	if ca, ok := s.db.(engine.ContextStreamAppender); ok {
		return ca.StreamAppendContext(ctx, req.WriterId, req.Sequence, req.Collection, b, req.DeleteIds)
	}
	return s.db.StreamAppend(req.WriterId, req.Sequence, req.Collection, b, req.DeleteIds)
}

// sendStreamAcks acknowledges batches in order. durable_sequence is the highest
// sequence of the writer whose batch is at or below the log's durable LSN.
func (s *service) sendStreamAcks(ctx context.Context, stream hardnegv1.MinerService_UpsertStreamServer, acks <-chan streamAck) error {
	type pos struct{ seq, lsn uint64 }
	pending := map[string][]pos{} // per writer, oldest first: acknowledged, durability unknown
	durable := map[string]uint64{}
	for a := range acks {
		_, span := startSpan(ctx, "wal.WaitLogged", attribute.Int64("lsn", int64(a.lsn)))
		err := s.db.WaitLogged(ctx, a.lsn)
		endSpan(span, err)
		if err != nil {
			return err
		}
		if _, seen := durable[a.writer]; !seen {
			// The writer's batches from before this stream become durable too.
			durable[a.writer] = 0
			pending[a.writer] = append(pending[a.writer], pos{a.prevSeq, a.prevLSN})
		}
		pending[a.writer] = append(pending[a.writer], pos{a.writerSeq, a.lsn})
		d := s.db.DurableLSN()
		q := pending[a.writer]
		for len(q) > 0 && q[0].lsn <= d {
			durable[a.writer] = max(durable[a.writer], q[0].seq)
			q = q[1:]
		}
		pending[a.writer] = q
		if err := stream.Send(&hardnegv1.UpsertStreamResponse{
			WriterId:        a.writer,
			Sequence:        a.seq,
			DurableSequence: durable[a.writer],
			Duplicate:       a.duplicate,
			LogSequence:     a.lsn,
			ItemsApplied:    a.items,
			IdsDeleted:      a.deleted,
			NextSequence:    a.writerSeq + 1,
		}); err != nil {
			return err
		}
	}
	return nil
}

func (s *service) SnapshotCollection(ctx context.Context, req *hardnegv1.SnapshotCollectionRequest) (*hardnegv1.SnapshotCollectionResponse, error) {
	if err := engine.ValidateName("name", req.Name); err != nil {
		return nil, err
	}
	st, ok := s.db.(engine.Storage)
	if !ok {
		return nil, fmt.Errorf("snapshot collection %q: the engine keeps no snapshots: %w", req.Name, engine.ErrUnsupported)
	}
	info, err := st.Snapshot(ctx, req.Name)
	if err != nil {
		return nil, err
	}
	return &hardnegv1.SnapshotCollectionResponse{Sequence: info.LSN, Bytes: uint64(info.Bytes)}, nil
}

func (s *service) GetItems(_ context.Context, req *hardnegv1.GetItemsRequest) (*hardnegv1.GetItemsResponse, error) {
	c, err := s.collection("collection", req.Collection)
	if err != nil {
		return nil, err
	}
	if err := engine.ValidateIDs("ids", req.Ids, false); err != nil {
		return nil, err
	}
	items, missing := c.Get(req.Ids, req.IncludeVectors)
	resp := &hardnegv1.GetItemsResponse{Items: toItemBatch(items, c.Dim(), req.IncludeVectors), MissingIds: missing}
	if err := s.fitResponse(resp, "ids", "ask for fewer ids per request"); err != nil {
		return nil, err
	}
	return resp, nil
}

func (s *service) Mine(ctx context.Context, req *hardnegv1.MineRequest) (*hardnegv1.MineResponse, error) {
	c, err := s.collection("collection", req.Collection)
	if err != nil {
		return nil, err
	}
	pol, perr := fromPolicy(req.Policy)
	var guide engine.Collection
	gdim := 0
	if name := req.GetPolicy().GetGuideCollection(); name != "" {
		if guide, err = s.collection("policy.guide_collection", name); err != nil {
			if errors.Is(err, engine.ErrCollectionNotFound) { // not the request's own collection: say which
				err = fmt.Errorf("policy.guide_collection: %w", err)
			}
			return nil, err
		}
		gdim = guide.Dim()
	}
	var anchors []mining.Anchor
	pbs, aerr := requestAnchors(req, c.Dim(), gdim)
	if aerr == nil {
		anchors, aerr = fromAnchors(pbs, c.Dim(), gdim)
	}
	var verr error
	if perr == nil {
		verr = pol.Validate(c.Metric())
	}
	if err := errors.Join(perr, aerr, verr); err != nil {
		return nil, mergeValidation(perr, aerr, verr)
	}
	if err := s.checkVectorsFit(req.IncludeVectors, &pol, len(anchors), c.Dim()); err != nil {
		return nil, err
	}
	searchedAny := false
	mreq := mining.Request{Anchors: anchors, Policy: pol, IncludeVectors: req.IncludeVectors, Explain: int(req.Explain), AnchorOffset: req.AnchorOffset, Calibration: s.cal.get(c), Exposure: s.exp.get(c), Hardness: s.hard.get(c)}
	if guide != nil {
		if pol.UsesGuide() && guide != c {
			release, err := claimGuideRoles(c, guide)
			if err != nil {
				return nil, err
			}
			// A request refused before any search (an unknown anchor, a bad positive)
			// leaves the roles as they were.
			defer func() { release(searchedAny) }()
		}
		mreq.Guide = guide
	}
	searched, err := forRequest(ctx, c, &mreq)
	if err != nil {
		return nil, err
	}
	results, err := mining.Mine(ctx, searched, mreq)
	searchedAny = err == nil || !isValidation(err) // mining validates everything before it searches
	if err != nil {
		return nil, err
	}
	var resp *hardnegv1.MineResponse
	if req.Columnar {
		cols, extras := toColumns(results, req.IncludeVectors, c.Dim(), req.Explain > 0 || req.GetPolicy().GetSynthetic() != nil)
		resp = &hardnegv1.MineResponse{Columns: cols, Results: extras}
	} else {
		resp = &hardnegv1.MineResponse{Results: make([]*hardnegv1.AnchorResult, len(results))}
		for i := range results {
			resp.Results[i] = toAnchorResult(&results[i], req.IncludeVectors)
		}
	}
	resp.Warnings = policyWarnings(req.Policy, c.Metric())
	// Ids longer than checkVectorsFit's floor (or many unknown positives echoed back)
	// can still make the answer too large; refused here it is an error the client can
	// act on (split the anchors), not a transport failure counted as OK.
	if err := s.fitResponse(resp, "anchors", "send fewer anchors per request or ask for fewer negatives"); err != nil {
		return nil, err
	}
	s.mined.Record(results)
	return resp, nil
}

// claimGuideRoles claims the mined role for c and the guide role for guide, both or
// neither; release ends both claims.
func claimGuideRoles(c, guide engine.Collection) (release func(used bool), err error) {
	relMined, errMined := c.ClaimGuideRole(false)
	relGuide, errGuide := guide.ClaimGuideRole(true)
	if errMined != nil || errGuide != nil {
		if relMined != nil {
			relMined(false)
		}
		if relGuide != nil {
			relGuide(false)
		}
		if errMined != nil && errGuide != nil { // one line, not two
			return nil, fmt.Errorf("collection %q is another collection's guide and %q is mined with guide rules, so they cannot take these roles: %w",
				c.Name(), guide.Name(), engine.ErrGuideRole)
		}
		return nil, errors.Join(errMined, errGuide)
	}
	return func(used bool) { relMined(used); relGuide(used) }, nil
}

func isValidation(err error) bool {
	var v *validate.Error
	return errors.As(err, &v)
}

// responseTooLarge is the refusal of a request whose answer would not fit in one
// message of -grpc-max-msg-bytes: INVALID_ARGUMENT naming the field to reduce, with an
// ErrorInfo (ReasonResponseTooLarge) saying how many bytes the answer takes, so a
// client can split the request without parsing the message.
type responseTooLarge struct {
	verr        *validate.Error
	need, limit int64
}

func (e *responseTooLarge) Error() string { return e.verr.Error() }
func (e *responseTooLarge) Unwrap() error { return e.verr }

// ReasonResponseTooLarge is the ErrorInfo reason of responseTooLarge; its metadata give
// the answer's size ("bytes", at least) and the server's limit ("limit").
const ReasonResponseTooLarge = "RESPONSE_TOO_LARGE"

func (s *service) tooLarge(field string, need int64, format string, args ...any) error {
	var e validate.Error
	e.Add(field, format, args...)
	return &responseTooLarge{verr: &e, need: need, limit: int64(s.maxMsgBytes)}
}

// fitResponse refuses resp when it is larger than the largest message the server sends;
// field and advice say what the caller should reduce.
func (s *service) fitResponse(resp proto.Message, field, advice string) error {
	if s.maxMsgBytes <= 0 {
		return nil
	}
	n := proto.Size(resp)
	if n <= s.maxMsgBytes {
		return nil
	}
	return s.tooLarge(field, int64(n), "the answer takes %d bytes, over the largest response (-grpc-max-msg-bytes %d): %s", n, s.maxMsgBytes, advice)
}

// checkVectorsFit refuses, before any mining, a request whose vectors alone (the
// negatives' with include_vectors, and the synthetic negatives') would not fit in one
// response message (-grpc-max-msg-bytes). Mined anyway, it would fail in transport
// after all the work, with the rotation and exposure state already advanced. pol is
// valid (Policy.Validate), so its counts are in range.
func (s *service) checkVectorsFit(includeVectors bool, pol *mining.Policy, anchors, dim int) error {
	syn := &pol.Synthetic
	if s.maxMsgBytes <= 0 {
		return nil
	}
	// Each vector with the rest of its negative (id, score, rank, …): 48 bytes is a
	// short id's share, so the estimate is a floor.
	const perNegative = 48
	perAnchor, field := syn.NumMixed+syn.NumQueryMixed, "policy.synthetic"
	if includeVectors {
		perAnchor, field = perAnchor+max(pol.NumNegatives, 1), "include_vectors"
	}
	need := int64(anchors) * int64(perAnchor) * (int64(dim)*4 + perNegative)
	if need <= int64(s.maxMsgBytes) {
		return nil
	}
	advice := "send fewer anchors per request"
	if anchors == 1 {
		advice = "ask for fewer negatives"
		if includeVectors {
			advice += " or leave include_vectors off"
		}
		if syn.NumMixed+syn.NumQueryMixed > 0 {
			advice += " or fewer synthetic negatives"
		}
	}
	return s.tooLarge(field, need, "%d anchors × %d negatives with their %d-dimensional vectors take at least %d bytes, over the largest response (-grpc-max-msg-bytes %d): %s",
		anchors, perAnchor, dim, need, s.maxMsgBytes, advice)
}

// requestReader is implemented by collections whose reads are calls to a remote engine
// (the Weaviate engine's): ForRequest returns a view of the collection for one Mine
// request that has read the stored items among ids and the false-negative verdicts of
// keys up front, in a few calls, instead of one call per id and per anchor key.
type requestReader interface {
	ForRequest(ctx context.Context, ids, keys []string) (engine.Collection, error)
}

// forRequest returns the collection to mine req against: c itself, or when c is a
// requestReader its view with the anchors' ids, positives and exclusions (and with
// feedback on, the anchor keys) read up front; when the policy uses a guide, req.Guide
// is replaced by its view with the anchors' ids and positives (the same view when the
// guide is c). A request over mining's size limits is left to mining to reject, unread.
func forRequest(ctx context.Context, c engine.Collection, req *mining.Request) (mining.Searcher, error) {
	rr, ok := c.(requestReader)
	guide, gok := req.Guide.(requestReader)
	if !ok && !gok || len(req.Anchors) > mining.MaxAnchors {
		return c, nil
	}
	var ids, keys, anchorIDs []string
	for i := range req.Anchors {
		a := &req.Anchors[i]
		if len(a.PositiveIDs) > mining.MaxPositives || len(a.ExcludeIDs) > mining.MaxExcludes {
			return c, nil // mining rejects the request before it reads anything
		}
		if a.ID != "" {
			anchorIDs = append(anchorIDs, a.ID)
		}
		anchorIDs = append(anchorIDs, a.PositiveIDs...)
		ids = append(ids, a.ExcludeIDs...)
		if key := a.FeedbackKey(); req.Policy.UseFeedback && key != "" {
			keys = append(keys, key)
		}
	}
	ids = append(ids, anchorIDs...)
	var searched mining.Searcher = c
	if ok {
		v, err := rr.ForRequest(ctx, ids, keys)
		if err != nil {
			return nil, err
		}
		searched = v
	}
	switch {
	case req.Guide == nil || !req.Policy.UsesGuide():
	case req.Guide == mining.Searcher(c):
		req.Guide = searched
	case gok:
		v, err := guide.ForRequest(ctx, anchorIDs, nil)
		if err != nil {
			return nil, err
		}
		req.Guide = v
	}
	return searched, nil
}

// mergeValidation joins validation errors into one *validate.Error.
func mergeValidation(errs ...error) error {
	var out validate.Error
	for _, err := range errs {
		var v *validate.Error
		if errors.As(err, &v) {
			out.Merge(v)
		} else if err != nil {
			return err
		}
	}
	return out.Err()
}

func (s *service) ReportFalseNegatives(ctx context.Context, req *hardnegv1.ReportFalseNegativesRequest) (*hardnegv1.ReportFalseNegativesResponse, error) {
	c, err := s.collection("collection", req.Collection)
	if err != nil {
		return nil, err
	}
	reports := fromFalseNegativeReports(req.Reports)
	if err := engine.ValidateFalseNegatives(reports, "reports"); err != nil {
		return nil, err
	}
	fresh := newVerdicts(c, reports)
	_, span := startSpan(ctx, "index.ReportFalseNegatives", attribute.String("collection", c.Name()))
	recorded, err := s.db.ReportFalseNegatives(c.Name(), reports, "reports") // waits for the WAL
	endSpan(span, err)
	if err != nil {
		return nil, err
	}
	if h, ok := s.hard.lookup(c); ok {
		for key, n := range fresh {
			h.BackOff(key, n)
		}
	}
	return &hardnegv1.ReportFalseNegativesResponse{Recorded: uint64(recorded)}, nil
}
