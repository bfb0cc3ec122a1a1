package index

import (
	"slices"
	"strconv"
	"testing"
)

func TestVersionsSummariseLiveItems(t *testing.T) {
	db := testDB(t)
	if _, err := db.CreateCollection(Config{Name: "v", Dim: 2, Metric: Dot}); err != nil {
		t.Fatal(err)
	}
	c, _ := db.Collection("v")
	if s := c.Versions(3); s.Distinct != 0 || s.Newest != nil {
		t.Fatalf("empty collection: %+v", s)
	}
	b := &Batch{}
	// Versions 1 (3 items), 2 (2), 5 (1), 9 (1); item "i6" (version 9) is deleted below.
	for i, v := range []int64{1, 1, 1, 2, 2, 5, 9} {
		b.IDs = append(b.IDs, "i"+strconv.Itoa(i))
		b.Vectors = append(b.Vectors, 1, float32(i))
		b.Versions = append(b.Versions, v)
	}
	if _, err := db.Upsert("v", b, "items"); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Delete("v", []string{"i6"}, "ids"); err != nil {
		t.Fatal(err)
	}
	s := c.Versions(2)
	if s.Min != 1 || s.Max != 5 || s.Distinct != 3 {
		t.Fatalf("summary %+v: want min 1, max 5, 3 distinct", s)
	}
	if want := []VersionCount{{5, 1}, {2, 2}}; !slices.Equal(s.Newest, want) {
		t.Fatalf("newest %v, want %v", s.Newest, want)
	}
}
