package hnsw

import "errors"

// Sentinel errors returned by this package; callers test them with errors.Is.
var (
	// ErrInvalidOptions reports Options that New or Read cannot use.
	ErrInvalidOptions = errors.New("hnsw: invalid options")
	// ErrNilArgument reports a nil Distance or VectorSource.
	ErrNilArgument = errors.New("hnsw: nil distance or vector source")
	// ErrBadFormat reports a serialized graph that is truncated, of an unknown
	// version, fails its checksum, or is internally inconsistent.
	ErrBadFormat = errors.New("hnsw: bad serialized graph")
)
