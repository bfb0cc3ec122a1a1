package hnsw

import "fmt"

// Options configures a Graph. The zero value means "defaults"; New validates the
// result once and returns an error for values it cannot use.
type Options struct {
	// M is the number of links a node keeps on each upper layer; layer 0 keeps 2·M.
	// Larger M raises recall and memory (≈ 8·M bytes per node) and slows inserts.
	// Default 16; valid 2…256.
	M int
	// EfConstruction is the beam width used while inserting. Larger values build a
	// better graph more slowly. Default 200; must be at least M.
	EfConstruction int
	// EfSearch is the beam width Search uses when its ef argument is ≤ 0. Search
	// always uses at least k. Default 64.
	EfSearch int
	// Seed makes node levels reproducible: a node's level is a pure function of
	// Seed and its id, independent of insertion order and concurrency. Default 0.
	Seed int64
	// CompactRatio is the share of tombstones (deleted / (live + deleted)) above
	// which NeedsCompact reports true. Default 0.1; valid (0, 1].
	CompactRatio float64
}

// Defaults used for zero-valued Options fields.
const (
	DefaultM              = 16
	DefaultEfConstruction = 200
	DefaultEfSearch       = 64
	DefaultCompactRatio   = 0.1

	maxM     = 256
	maxLevel = 32 // levels above this are clamped; with M ≥ 2 they occur with p < 2⁻³²
)

// withDefaults fills zero fields and validates the result.
func (o Options) withDefaults() (Options, error) {
	if o.M == 0 {
		o.M = DefaultM
	}
	if o.EfConstruction == 0 {
		o.EfConstruction = DefaultEfConstruction
	}
	if o.EfSearch == 0 {
		o.EfSearch = DefaultEfSearch
	}
	if o.CompactRatio == 0 {
		o.CompactRatio = DefaultCompactRatio
	}
	switch {
	case o.M < 2 || o.M > maxM:
		return o, fmt.Errorf("%w: M = %d, want 2…%d", ErrInvalidOptions, o.M, maxM)
	case o.EfConstruction < o.M:
		return o, fmt.Errorf("%w: EfConstruction = %d, want ≥ M (%d)", ErrInvalidOptions, o.EfConstruction, o.M)
	case o.EfSearch < 1:
		return o, fmt.Errorf("%w: EfSearch = %d, want ≥ 1", ErrInvalidOptions, o.EfSearch)
	case !(o.CompactRatio > 0 && o.CompactRatio <= 1):
		return o, fmt.Errorf("%w: CompactRatio = %g, want (0, 1]", ErrInvalidOptions, o.CompactRatio)
	}
	return o, nil
}
