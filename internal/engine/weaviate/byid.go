package weaviate

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync"

	"github.com/weaviate/weaviate-go-client/v5/weaviate/fault"
	"github.com/weaviate/weaviate/entities/models"
)

// byIDParallel bounds the concurrent object reads of one getByID call.
const byIDParallel = 16

// getByID reads objects by their UUIDs at the engine's consistency level: unlike a
// filtered search, which asks one replica per shard, a read by id asks as many replicas
// as the level says and returns the newest copy, so it sees every write acknowledged at
// that level. The result holds the objects found, by UUID.
func (c *conn) getByID(ctx context.Context, class string, uuids []string, withVector bool) (map[string]*models.Object, error) {
	out := make(map[string]*models.Object, len(uuids))
	var mu sync.Mutex
	var firstErr error
	sem := make(chan struct{}, byIDParallel)
	var wg sync.WaitGroup
	for _, id := range uuids {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			g := c.rest.Data().ObjectsGetter().WithClassName(class).WithID(id).WithConsistencyLevel(c.opts.Consistency)
			if withVector {
				g = g.WithVector()
			}
			var objs []*models.Object
			err := c.retry(ctx, func(ctx context.Context) (err error) { // a 404 is not retried (transient)
				objs, err = g.Do(ctx)
				return err
			})
			mu.Lock()
			defer mu.Unlock()
			var we *fault.WeaviateClientError
			switch {
			case errors.As(err, &we) && we.StatusCode == http.StatusNotFound:
			case err != nil:
				if firstErr == nil {
					firstErr = fmt.Errorf("weaviate: read object %s of %s: %w", id, class, err)
				}
			case len(objs) == 1:
				out[id] = objs[0]
			}
		}()
	}
	wg.Wait()
	return out, firstErr
}

// deleteByID deletes one object by UUID at the engine's consistency level; an object
// already gone is not an error.
func (c *conn) deleteByID(ctx context.Context, class, id string) error {
	d := c.rest.Data().Deleter().WithClassName(class).WithID(id).WithConsistencyLevel(c.opts.Consistency)
	err := c.retry(ctx, func(ctx context.Context) error { return d.Do(ctx) })
	if err != nil && !isNotFound(err) {
		return fmt.Errorf("weaviate: delete object %s of %s: %w", id, class, err)
	}
	return nil
}

// propText, propTexts and propInt read an object's properties as the REST API returns
// them (JSON: strings, lists of strings, numbers).
func propText(o *models.Object, name string) string {
	m, _ := o.Properties.(map[string]any)
	s, _ := m[name].(string)
	return s
}

func propTexts(o *models.Object, name string) []string {
	m, _ := o.Properties.(map[string]any)
	l, _ := m[name].([]any)
	out := make([]string, 0, len(l))
	for _, x := range l {
		if s, ok := x.(string); ok {
			out = append(out, s)
		}
	}
	if len(out) == 0 {
		return nil
	}
	return out
}

func propInt(o *models.Object, name string) int64 {
	m, _ := o.Properties.(map[string]any)
	switch x := m[name].(type) {
	case float64:
		return int64(x)
	case int64:
		return x
	}
	return 0
}
