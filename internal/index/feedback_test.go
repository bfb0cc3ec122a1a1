package index

import (
	"errors"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/hardneg/hardneg/internal/engine"
	"github.com/hardneg/hardneg/internal/validate"
)

func TestFalseNegativesAreRememberedPerKey(t *testing.T) {
	db := testDB(t)
	c, _ := db.create(engine.Config{Name: "c", Dim: 2, Metric: engine.Dot})
	if n := c.AddFalseNegatives("a", []string{"x", "y", "x"}); n != 2 {
		t.Errorf("recorded %d, want 2 (x twice)", n)
	}
	if n := c.AddFalseNegatives("a", []string{"y", "z"}); n != 1 {
		t.Errorf("recorded %d, want 1 (y known)", n)
	}
	c.AddFalseNegatives("b", []string{"x"})
	got := c.FalseNegatives("a")
	if len(got) != 3 || c.FalseNegativePairs() != 4 {
		t.Fatalf("a → %v, %d pairs", got, c.FalseNegativePairs())
	}
	delete(got, "x")
	if _, ok := c.FalseNegatives("a")["x"]; !ok {
		t.Error("FalseNegatives returned the stored set, not a copy")
	}
	if c.FalseNegatives("unknown") != nil {
		t.Error("unknown key has verdicts")
	}
	seen := map[string][]string{}
	c.RangeFalseNegatives(func(k string, ids []string) bool {
		slices.Sort(ids)
		seen[k] = ids
		return true
	})
	if !slices.Equal(seen["a"], []string{"x", "y", "z"}) || !slices.Equal(seen["b"], []string{"x"}) || len(seen) != 2 {
		t.Errorf("range saw %v", seen)
	}
}

func TestFalseNegativesConcurrentWithSearch(t *testing.T) {
	db := testDB(t)
	c, _ := db.create(engine.Config{Name: "c", Dim: 2, Metric: engine.Dot})
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 200 {
				c.AddFalseNegatives("k"+strconv.Itoa(i%5), []string{strconv.Itoa(w*1000 + i)})
				_ = c.FalseNegatives("k" + strconv.Itoa(i%7))
			}
		}()
	}
	wg.Wait()
	if c.FalseNegativePairs() != 800 {
		t.Errorf("%d pairs, want 800", c.FalseNegativePairs())
	}
}

func TestValidateFalseNegatives(t *testing.T) {
	long := strings.Repeat("k", engine.MaxIDBytes+1)
	many := make([]string, engine.MaxFeedbackIDs+1)
	for i := range many {
		many[i] = strconv.Itoa(i)
	}
	for _, tc := range []struct {
		name    string
		reports []engine.FalseNegativeReport
		field   string
	}{
		{"no reports", nil, "reports"},
		{"empty key", []engine.FalseNegativeReport{{Key: "", IDs: []string{"a"}}}, "reports[0].anchor_key"},
		{"long key", []engine.FalseNegativeReport{{Key: long, IDs: []string{"a"}}}, "reports[0].anchor_key"},
		{"no ids", []engine.FalseNegativeReport{{Key: "k"}}, "reports[0].item_ids"},
		{"empty id", []engine.FalseNegativeReport{{Key: "k", IDs: []string{"a"}}, {Key: "k", IDs: []string{"b", ""}}}, "reports[1].item_ids[1]"},
		{"too many ids", []engine.FalseNegativeReport{{Key: "k", IDs: many}}, "reports"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := engine.ValidateFalseNegatives(tc.reports, "reports")
			var v *validate.Error
			if !errors.As(err, &v) || v.Violations[0].Field != tc.field {
				t.Fatalf("err = %v, want a violation of %s", err, tc.field)
			}
		})
	}
	if err := engine.ValidateFalseNegatives([]engine.FalseNegativeReport{{Key: "k", IDs: []string{"a", "b"}}}, "reports"); err != nil {
		t.Errorf("valid reports rejected: %v", err)
	}
}
