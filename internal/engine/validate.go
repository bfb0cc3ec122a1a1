package engine

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/hardneg/hardneg/internal/index/vec"
	"github.com/hardneg/hardneg/internal/validate"
)

// CheckID checks one id (1–MaxIDBytes bytes of UTF-8 without NUL), records a
// violation under field when it fails, and reports whether it passed.
func CheckID(e *validate.Error, field, id string) bool {
	switch {
	case id == "":
		e.Add(field, "must not be empty")
	case len(id) > MaxIDBytes:
		e.Add(field, "is %d bytes; at most %d", len(id), MaxIDBytes)
	case !utf8.ValidString(id):
		e.Add(field, "is not valid UTF-8")
	case strings.IndexByte(id, 0) >= 0:
		e.Add(field, "contains a NUL byte")
	default:
		return true
	}
	return false
}

// ValidateIDs checks a list of ids for a delete or lookup: each valid, at most
// MaxBatchItems, and (when unique is set) no repeats. field is the list's name.
func ValidateIDs(field string, ids []string, unique bool) error {
	var e validate.Error
	if len(ids) > MaxBatchItems {
		e.Add(field, "has %d ids; at most %d per request", len(ids), MaxBatchItems)
		return e.Err()
	}
	seen := make(map[string]int, len(ids))
	for i, id := range ids {
		f := fmt.Sprintf("%s[%d]", field, i)
		if !CheckID(&e, f, id) {
			continue
		}
		if j, dup := seen[id]; dup && unique {
			e.Add(f, "duplicates %s[%d] (%q)", field, j, id)
		}
		seen[id] = i
	}
	return e.Err()
}

// MaxNorm is the largest Euclidean norm a vector may have under dot and L2: with it,
// every score (at most MaxNorm² under dot, 4·MaxNorm² under L2) and every difference
// of scores stays finite in float32. Under cosine vectors are normalised and any
// non-zero finite norm is accepted.
const MaxNorm = 1e9

// CheckVector validates one vector of a collection: its length, finite values, a
// non-zero norm under cosine and a norm of at most MaxNorm under dot and L2. It returns
// a description of the problem, or "".
func CheckVector(v []float32, dim int, m Metric) string {
	_, msg := checkVector(v, dim, m)
	return msg
}

// checkVector is CheckVector that also returns v's norm (vec.Norm) when v passes. One
// pass over v checks both: a NaN or infinite value makes the float64 sum of squares NaN
// or infinite, and float32 squares cannot overflow it, so the values are looked at one
// by one only to name the bad one.
func checkVector(v []float32, dim int, m Metric) (float64, string) {
	if len(v) != dim {
		return 0, fmt.Sprintf("has %d floats; the collection's dimension is %d", len(v), dim)
	}
	n := vec.Norm(v)
	if math.IsNaN(n) || math.IsInf(n, 0) {
		for j, x := range v {
			if math.IsNaN(float64(x)) || math.IsInf(float64(x), 0) {
				return 0, fmt.Sprintf("value %d is %v; vectors must be finite", j, x)
			}
		}
	}
	switch {
	case m == Cosine && n == 0:
		return 0, "is a zero vector, which has no direction under cosine"
	case m != Cosine && n > MaxNorm:
		return 0, fmt.Sprintf("has norm %s, above the limit: under %s the norm must be at most %.0e so that scores stay finite", strconv.FormatFloat(n, 'g', 7, 64), m, float64(MaxNorm))
	}
	return n, ""
}

// PrepareVector checks v like CheckVector and, under cosine, normalises it in place. It
// returns a description of the problem, or "".
func PrepareVector(v []float32, dim int, m Metric) string {
	n, msg := checkVector(v, dim, m)
	if msg != "" {
		return msg
	}
	if m == Cosine && !normalized(v, n) {
		return "cannot be normalised to a finite unit vector"
	}
	return ""
}

// normalized normalises v, whose norm is n, in place (vec.NormalizeBy) and reports
// whether the result is a finite vector of unit length (to float32 rounding): the sum
// of squares NormalizeBy returns is finite exactly when every value is, and its root
// is the result's norm.
func normalized(v []float32, n float64) bool {
	s, ok := vec.NormalizeBy(v, n)
	return ok && !math.IsNaN(s) && !math.IsInf(s, 0) && math.Abs(math.Sqrt(s)-1) <= 1e-5
}

// ValidateBatch checks a batch against a collection's dimension and metric and, under
// cosine, normalises its vectors in place. prefix is the field path of the batch in the
// request (e.g. "items").
func ValidateBatch(b *Batch, dim int, m Metric, prefix string) error {
	var e validate.Error
	n := len(b.IDs)
	if n > MaxBatchItems {
		e.Add(prefix+".ids", "has %d items; at most %d per batch", n, MaxBatchItems)
		return e.Err()
	}
	if len(b.Vectors) != n*dim {
		e.Add(prefix+".vectors", "has %d floats; %d ids × dimension %d need %d", len(b.Vectors), n, dim, n*dim)
		return e.Err()
	}
	if b.Groups != nil && len(b.Groups) != n {
		e.Add(prefix+".groups", "has %d entries; must be empty or one per id (%d)", len(b.Groups), n)
	}
	if b.Versions != nil && len(b.Versions) != n {
		e.Add(prefix+".versions", "has %d entries; must be empty or one per id (%d)", len(b.Versions), n)
	}
	seen := make(map[string]int, n)
	for i, id := range b.IDs {
		f := fmt.Sprintf("%s.ids[%d]", prefix, i)
		if CheckID(&e, f, id) {
			if j, dup := seen[id]; dup {
				e.Add(f, "duplicates %s.ids[%d] (%q) in the same batch", prefix, j, id)
			}
			seen[id] = i
		}
		if msg := PrepareVector(b.Row(i, dim), dim, m); msg != "" {
			e.Add(fmt.Sprintf("%s.vectors[%d]", prefix, i), "item %q: %s", id, msg)
		}
		if b.Groups != nil && i < len(b.Groups) {
			g := b.Groups[i]
			if len(g) > MaxItemGroups {
				e.Add(fmt.Sprintf("%s.groups[%d]", prefix, i), "item %q has %d groups; at most %d", id, len(g), MaxItemGroups)
			}
			for j, name := range g {
				if !ValidGroup(name) {
					e.Add(fmt.Sprintf("%s.groups[%d].groups[%d]", prefix, i, j), "item %q: groups must be 1–%d bytes of UTF-8 without NUL", id, MaxGroupBytes)
				}
			}
		}
	}
	return e.Err()
}

// ValidateFalseNegatives checks reports: every key and id 1–512 bytes of UTF-8, at least
// one id per report and at most MaxFeedbackIDs ids in total. field is the reports'
// path in the request.
func ValidateFalseNegatives(reports []FalseNegativeReport, field string) error {
	var e validate.Error
	if len(reports) == 0 {
		e.Add(field, "must hold at least one report")
		return e.Err()
	}
	total := 0
	for _, r := range reports {
		total += len(r.IDs)
	}
	if total > MaxFeedbackIDs {
		e.Add(field, "name %d item ids in total; at most %d per request", total, MaxFeedbackIDs)
		return e.Err()
	}
	for i, r := range reports {
		f := fmt.Sprintf("%s[%d]", field, i)
		switch {
		case r.Key == "":
			e.Add(f+".anchor_key", "must not be empty")
		case len(r.Key) > MaxIDBytes:
			e.Add(f+".anchor_key", "is %d bytes; at most %d", len(r.Key), MaxIDBytes)
		case !utf8.ValidString(r.Key):
			e.Add(f+".anchor_key", "is not valid UTF-8")
		case strings.IndexByte(r.Key, 0) >= 0:
			e.Add(f+".anchor_key", "must not contain NUL")
		}
		if len(r.IDs) == 0 {
			e.Add(f+".item_ids", "must name at least one item")
		}
		for j, id := range r.IDs {
			CheckID(&e, fmt.Sprintf("%s.item_ids[%d]", f, j), id)
		}
	}
	return e.Err()
}

// ValidGroup reports whether name can be a group: 1–MaxGroupBytes bytes of UTF-8
// without NUL.
func ValidGroup(name string) bool {
	return name != "" && len(name) <= MaxGroupBytes && utf8.ValidString(name) && strings.IndexByte(name, 0) < 0
}
