package main

import (
	"context"
	"errors"
	"io"
	"log/slog"

	hardnegv1 "github.com/hardneg/hardneg/gen/go/hardneg/v1"
	"github.com/hardneg/hardneg/internal/index"
	"github.com/hardneg/hardneg/internal/mining"
	"github.com/hardneg/hardneg/internal/validate"
)

// service implements hardneg.v1.MinerService on top of an index.DB. Handlers translate
// between proto messages and domain types and return domain errors unchanged; the
// error interceptors turn them into statuses (errors.go).
type service struct {
	hardnegv1.UnimplementedMinerServiceServer
	db    *index.DB
	log   *slog.Logger
	mined *mining.Recorder // cumulative mining statistics, read by metrics
}

func (s *service) CreateCollection(_ context.Context, req *hardnegv1.CreateCollectionRequest) (*hardnegv1.CreateCollectionResponse, error) {
	cfg := index.Config{Name: req.Name, Dim: int(req.Dim), Metric: metricFromPB[req.Metric]}
	if p := req.IndexParams; p != nil {
		cfg.Params = index.Params{M: int(p.M), EfConstruction: int(p.EfConstruction), EfSearch: int(p.EfSearch), ExactThreshold: int(p.ExactThreshold)}
	}
	c, err := s.db.CreateCollection(cfg)
	if err != nil {
		return nil, err
	}
	s.log.Info("collection created", "collection", c.Name(), "dim", c.Dim(), "metric", c.Metric().String())
	return &hardnegv1.CreateCollectionResponse{Collection: toCollection(c)}, nil
}

func (s *service) GetCollection(_ context.Context, req *hardnegv1.GetCollectionRequest) (*hardnegv1.GetCollectionResponse, error) {
	c, err := s.db.Collection(req.Name)
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
	if err := s.db.DeleteCollection(req.Name); err != nil {
		return nil, err
	}
	s.log.Info("collection deleted", "collection", req.Name)
	return &hardnegv1.DeleteCollectionResponse{}, nil
}

func (s *service) Upsert(_ context.Context, req *hardnegv1.UpsertRequest) (*hardnegv1.UpsertResponse, error) {
	c, err := s.db.Collection(req.Collection)
	if err != nil {
		return nil, err
	}
	b, err := fromItemBatch(req.Items, c.Dim(), "items")
	if err != nil {
		return nil, err
	}
	res, err := s.db.Upsert(req.Collection, b, "items")
	if err != nil {
		return nil, err
	}
	return &hardnegv1.UpsertResponse{Inserted: uint64(res.Inserted), Replaced: uint64(res.Replaced), Sequence: res.Sequence}, nil
}

func (s *service) Delete(_ context.Context, req *hardnegv1.DeleteRequest) (*hardnegv1.DeleteResponse, error) {
	res, err := s.db.Delete(req.Collection, req.Ids, "ids")
	if err != nil {
		return nil, err
	}
	return &hardnegv1.DeleteResponse{Deleted: uint64(res.Deleted), NotFound: uint64(res.NotFound), Sequence: res.Sequence}, nil
}

func (s *service) UpsertStream(stream hardnegv1.MinerService_UpsertStreamServer) error {
	for {
		req, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		if req.WriterId == "" || len(req.WriterId) > 128 {
			return validate.Field("writer_id", "must be 1–128 bytes")
		}
		if req.Sequence == 0 {
			return validate.Field("sequence", "must start at 1")
		}
		c, err := s.db.Collection(req.Collection)
		if err != nil {
			return err
		}
		b, err := fromItemBatch(req.Items, c.Dim(), "items")
		if err != nil {
			return err
		}
		res, err := s.db.StreamBatch(req.WriterId, req.Sequence, req.Collection, b, req.DeleteIds)
		if err != nil {
			return err
		}
		seq := res.Upsert.Sequence
		if res.Delete.Sequence != 0 {
			seq = res.Delete.Sequence
		}
		if err := stream.Send(&hardnegv1.UpsertStreamResponse{
			WriterId:        req.WriterId,
			Sequence:        req.Sequence,
			DurableSequence: res.Durable,
			Duplicate:       res.Duplicate,
			LogSequence:     seq,
		}); err != nil {
			return err
		}
	}
}

func (s *service) GetItems(_ context.Context, req *hardnegv1.GetItemsRequest) (*hardnegv1.GetItemsResponse, error) {
	c, err := s.db.Collection(req.Collection)
	if err != nil {
		return nil, err
	}
	if err := index.ValidateIDs("ids", req.Ids, false); err != nil {
		return nil, err
	}
	items, missing := c.Get(req.Ids, req.IncludeVectors)
	return &hardnegv1.GetItemsResponse{Items: toItemBatch(items, c.Dim(), req.IncludeVectors), MissingIds: missing}, nil
}

func (s *service) Mine(ctx context.Context, req *hardnegv1.MineRequest) (*hardnegv1.MineResponse, error) {
	c, err := s.db.Collection(req.Collection)
	if err != nil {
		return nil, err
	}
	pol, perr := fromPolicy(req.Policy)
	anchors, aerr := fromAnchors(req.Anchors, c.Dim())
	if err := errors.Join(perr, aerr); err != nil {
		return nil, mergeValidation(perr, aerr)
	}
	results, err := mining.Mine(ctx, c, mining.Request{Anchors: anchors, Policy: pol, IncludeVectors: req.IncludeVectors})
	if err != nil {
		return nil, err
	}
	s.mined.Record(results)
	resp := &hardnegv1.MineResponse{Results: make([]*hardnegv1.AnchorResult, len(results))}
	for i := range results {
		resp.Results[i] = toAnchorResult(&results[i], req.IncludeVectors)
	}
	return resp, nil
}

// mergeValidation joins validation errors into one *validate.Error.
func mergeValidation(errs ...error) error {
	var out validate.Error
	for _, err := range errs {
		var v *validate.Error
		if errors.As(err, &v) {
			out.Violations = append(out.Violations, v.Violations...)
		} else if err != nil {
			return err
		}
	}
	return out.Err()
}
