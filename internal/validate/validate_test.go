package validate

import (
	"fmt"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestErrorNamesTheFirstViolationOnceAndCountsTheRest(t *testing.T) {
	for _, tc := range []struct {
		name string
		add  func(e *Error)
		want string
		kept int
	}{
		{"one violation", func(e *Error) {
			e.Add("items.ids[0]", "must not be empty")
		}, "items.ids[0]: must not be empty", 1},
		{"the same problem on several anchors", func(e *Error) {
			for i := 3; i < 10; i++ {
				e.Add(fmt.Sprintf("anchors[%d].vector", i), "has 100 floats; the collection's dimension is 384")
			}
		}, "anchors[3].vector: has 100 floats; the collection's dimension is 384 (7 anchors affected)", 7},
		{"hundreds of items", func(e *Error) {
			for i := range 500 {
				e.Add(fmt.Sprintf("items.vectors[%d]", i), "is a zero vector")
			}
			e.Add("items.ids[7]", "must not be empty")
		}, "items.vectors[0]: is a zero vector (500 vectors affected; 1 other problem)", MaxViolations},
		{"two problems with one anchor", func(e *Error) {
			e.Add("anchors[0].key", "rotation needs a key")
			e.Add("anchors[0].key", "closed_loop needs a key")
		}, "anchors[0].key: rotation needs a key (1 other problem)", 2},
		{"several bad ids of one anchor", func(e *Error) {
			for i := range 3 {
				e.Add(fmt.Sprintf("anchors[0].positive_ids[%d]", i), "must not be empty")
			}
			e.Add("anchors[4].positive_ids[0]", "must not be empty")
		}, "anchors[0].positive_ids[0]: must not be empty (2 anchors affected; 2 other problems)", 4},
		{"different problems", func(e *Error) {
			e.Add("policy.temperature", "must be positive")
			e.Add("anchors[0]", "needs an id or a vector")
			e.Add("anchors[1]", "needs an id or a vector")
		}, "policy.temperature: must be positive (2 other problems)", 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var e Error
			tc.add(&e)
			if got := e.Error(); got != tc.want {
				t.Errorf("Error() = %q\nwant      %q", got, tc.want)
			}
			if len(e.Violations) != tc.kept {
				t.Errorf("kept %d violations, want %d", len(e.Violations), tc.kept)
			}
		})
	}
}

func TestMergeCountsDroppedViolations(t *testing.T) {
	var a, b, out Error
	a.Add("policy.seed", "is odd")
	for i := range 40 {
		b.Add(fmt.Sprintf("anchors[%d].vector", i), "has 1 float; the collection's dimension is 4")
	}
	out.Merge(&a)
	out.Merge(&b)
	out.Merge(nil)
	if out.Total != 41 || len(out.Violations) != MaxViolations {
		t.Fatalf("total %d, kept %d", out.Total, len(out.Violations))
	}
	want := "policy.seed: is odd (40 other problems)"
	if got := out.Error(); got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
	var c Error
	c.Merge(&b)
	if want := "anchors[0].vector: has 1 float; the collection's dimension is 4 (40 anchors affected)"; c.Error() != want {
		t.Errorf("Error() = %q, want %q", c.Error(), want)
	}
}

func TestLongFieldsAndDescriptionsAreCut(t *testing.T) {
	if got := Clip("abc", 3); got != "abc" {
		t.Errorf("Clip(abc, 3) = %q", got)
	}
	if got := Clip("aé", 2); got != "a" {
		t.Errorf("Clip(aé, 2) = %q; want the start that fits", got)
	}
	if got := Clip("abcdefghi", 6); got != "ab…i" {
		t.Errorf("Clip(abcdefghi, 6) = %q", got)
	}
	// A cut inside a character moves to a character's start: the text stays UTF-8.
	if got := Clip("aééééééb", 9); got != "aé…éb" || !utf8.ValidString(got) {
		t.Errorf("Clip(aééééééb, 9) = %q", got)
	}
	e := &Error{}
	e.Add("anchors[0].id"+strings.Repeat("x", 1000), "%q is not in the collection", strings.Repeat("\x01", 512))
	v := e.Violations[0]
	if len(v.Field) > MaxFieldBytes || len(v.Description) > MaxDescriptionBytes || !strings.HasSuffix(v.Description, `" is not in the collection`) {
		t.Errorf("violation of %d and %d bytes kept: %q", len(v.Field), len(v.Description), v.Description)
	}
	if msg := e.Error(); len(msg) > MaxFieldBytes+2+MaxDescriptionBytes {
		t.Errorf("message of %d bytes", len(msg))
	}
}
