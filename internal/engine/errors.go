package engine

import "errors"

// Errors returned by engines. Validation failures are *validate.Error values. The
// service maps each of them to one gRPC status code (cmd/miner-server/errors.go).
var (
	// ErrCollectionNotFound is returned for a collection name that does not exist.
	ErrCollectionNotFound = errors.New("collection not found")
	// ErrCollectionExists is returned when creating a collection whose name is taken.
	ErrCollectionExists = errors.New("collection already exists")
	// ErrRecovering is returned for collection lookups before Recover has finished.
	ErrRecovering = errors.New("storage is recovering")
	// ErrClosed is returned by an engine after Close.
	ErrClosed = errors.New("index closed")
	// ErrStorageFailed is returned once the engine can no longer make writes durable
	// (the embedded engine: a write or fsync error of its log). Nothing more is
	// accepted; the process should exit and recover on restart.
	ErrStorageFailed = errors.New("storage failed")
	// ErrSequenceGap is returned when a stream batch skips sequence numbers of its writer.
	ErrSequenceGap = errors.New("sequence gap")
	// ErrGuideRole is returned by Collection.ClaimGuideRole when a collection that
	// served as a guide is to be mined with guide rules, or the other way round.
	ErrGuideRole = errors.New("collection already used in the other guide role")
	// ErrUnsupported is returned for an operation the running engine does not offer
	// (snapshots, log statistics and other operations of the embedded engine's
	// Storage interface, when a remote engine runs). Wrap it with what was asked.
	ErrUnsupported = errors.New("not supported by this engine")
)
