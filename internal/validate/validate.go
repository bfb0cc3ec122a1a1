// Package validate carries input-validation failures from the domain packages to the
// API edge. A *validate.Error lists the offending fields with a reason; the server maps
// it to INVALID_ARGUMENT with a google.rpc.BadRequest detail, so a client can tell which
// field and which item of a batch was bad. Its message names the first offending field
// once and counts the rest, so a batch with hundreds of bad items reads as one line.
package validate

import (
	"fmt"
	"strings"
	"unicode/utf8"
)

// Violation names one bad field. Field uses the request's field path with indices, for
// example "items.ids[3]" or "anchors[2].positive_vectors".
type Violation struct {
	Field       string
	Description string
}

// Error is a validation failure. Nothing of the request it belongs to has been applied.
type Error struct {
	// Violations are the first MaxViolations violations found.
	Violations []Violation
	// Total counts every violation found, including those not kept in Violations.
	Total int
	// similar counts, per field shape (indices removed, see shape), the distinct values
	// of the first index with violations (two problems with anchors[0].key, or with
	// anchors[0].positive_ids[0] and [1], are one anchor affected), including those not
	// kept.
	similar map[string]int
	// fields holds shape and first index of the fields with violations, for similar.
	fields map[string]struct{}
}

// MaxViolations bounds how many violations one error carries; later ones are counted
// in Total only.
const MaxViolations = 10

// MaxFieldBytes and MaxDescriptionBytes bound a violation's field path and description
// (longer ones keep their start and end with "…" between, see Clip): a description quotes
// the bad value, and ten quoted ids of a few hundred bytes each, escaped, would not fit
// in the 8 KiB of trailers a gRPC client in Python (C-core) accepts by default, which
// then reports the error as INTERNAL without the field.
const (
	MaxFieldBytes       = 256
	MaxDescriptionBytes = 400
)

// Error implements error. It describes the first violation and counts the others:
// "anchors[3].vector: has 100 floats; the collection's dimension is 384 (7 anchors
// affected)".
func (e *Error) Error() string {
	if len(e.Violations) == 0 {
		return "invalid argument"
	}
	first := e.Violations[0]
	msg := first.Field + ": " + first.Description
	total := max(e.Total, len(e.Violations))
	if total == 1 {
		return msg
	}
	same := e.similar[shape(first.Field)]
	var notes []string
	if same > 1 {
		notes = append(notes, fmt.Sprintf("%d %s affected", same, noun(first.Field)))
	}
	if other := total - max(same, 1); other > 0 {
		notes = append(notes, fmt.Sprintf("%d other problem%s", other, plural(other)))
	}
	return msg + " (" + strings.Join(notes, "; ") + ")"
}

// Add records a violation. It keeps at most MaxViolations and counts the rest.
func (e *Error) Add(field, format string, args ...any) {
	e.add(Violation{Field: field, Description: fmt.Sprintf(format, args...)})
}

func (e *Error) add(v Violation) {
	v.Field, v.Description = Clip(v.Field, MaxFieldBytes), Clip(v.Description, MaxDescriptionBytes)
	e.Total++
	if e.similar == nil {
		e.similar, e.fields = map[string]int{}, map[string]struct{}{}
	}
	if k := affected(v.Field); !has(e.fields, k) {
		e.fields[k] = struct{}{}
		e.similar[shape(v.Field)]++
	}
	if len(e.Violations) < MaxViolations {
		e.Violations = append(e.Violations, v)
	}
}

// Merge adds the violations of another *Error, counting those it had dropped too.
func (e *Error) Merge(o *Error) {
	if o == nil {
		return
	}
	kept, keptFields := map[string]int{}, map[string]struct{}{}
	for _, v := range o.Violations {
		e.add(v)
		if k := affected(v.Field); !has(keptFields, k) {
			keptFields[k] = struct{}{}
			kept[shape(v.Field)]++
		}
	}
	e.Total += max(o.Total-len(o.Violations), 0)
	for s, n := range o.similar {
		if extra := n - kept[s]; extra > 0 {
			e.similar[s] += extra
		}
	}
}

// Err returns e as an error when it holds violations, else nil.
func (e *Error) Err() error {
	if e == nil || len(e.Violations) == 0 {
		return nil
	}
	return e
}

// Field returns an error with one violation.
func Field(field, format string, args ...any) error {
	e := &Error{}
	e.Add(field, format, args...)
	return e
}

// affected is what a violation of field counts against in "N … affected": its shape
// and its first index ("anchors[3]" of "anchors[3].positive_ids[1]").
func affected(field string) string {
	first := field
	if i := strings.IndexByte(field, ']'); i >= 0 {
		first = field[:i+1]
	}
	return shape(field) + "\x00" + first
}

func has(m map[string]struct{}, k string) bool {
	_, ok := m[k]
	return ok
}

// shape removes the indices of a field path: "anchors[3].vector" → "anchors[].vector".
func shape(field string) string {
	var b strings.Builder
	skip := false
	for _, r := range field {
		switch {
		case r == '[':
			skip = true
			b.WriteRune(r)
		case r == ']':
			skip = false
			b.WriteRune(r)
		case !skip:
			b.WriteRune(r)
		}
	}
	return b.String()
}

// noun names what the first index of a field path counts: "anchors" for
// "anchors[3].vector", "vectors" for "items.vectors[2]", "fields" without an index.
func noun(field string) string {
	i := strings.IndexByte(field, '[')
	if i < 0 {
		return "fields"
	}
	name := field[:i]
	if j := strings.LastIndexByte(name, '.'); j >= 0 {
		name = name[j+1:]
	}
	return name
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}

// Clip returns s if it holds at most n bytes, else its start and its end joined by "…"
// (3 bytes) in at most n bytes, two thirds of them the start, each cut at a character
// boundary: a description that quotes a long value keeps the start of the value and
// the reason after it ("…" is not in the collection).
func Clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	if n < len("…") { // no room for the mark: the longest start that fits
		for n > 0 && !utf8.RuneStart(s[n]) {
			n--
		}
		return s[:max(n, 0)]
	}
	room := n - len("…")
	head := room * 2 / 3
	for head > 0 && !utf8.RuneStart(s[head]) {
		head--
	}
	tail := len(s) - (room - head)
	for tail < len(s) && !utf8.RuneStart(s[tail]) {
		tail++
	}
	return s[:head] + "…" + s[tail:]
}
