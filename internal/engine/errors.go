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
	// ErrNoSpace is returned by work that writes a large file to the data directory (a
	// snapshot, a backup, a restore) when the volume has too little free space for it
	// and the room kept for the write-ahead log: refused before writing, so the log's
	// own writes, which stop the server when they fail, still find space.
	ErrNoSpace = errors.New("not enough free space on the data volume")
	// ErrBackupInvalid is returned by Restore for what is not a backup the engine can
	// restore (an unknown format version, a missing header, more bytes than declared).
	ErrBackupInvalid = errors.New("invalid backup")
	// ErrBackupDamaged is returned by Restore for a backup whose bytes are truncated,
	// do not match its checksum, or do not decode.
	ErrBackupDamaged = errors.New("damaged backup")
	// ErrCollectionNotEmpty is returned by Restore when the target collection holds
	// items.
	ErrCollectionNotEmpty = errors.New("collection is not empty")
	// ErrUnsupported is returned for an operation the running engine does not offer
	// (snapshots, log statistics and other operations of the embedded engine's
	// Storage interface, when a remote engine runs). Wrap it with what was asked.
	ErrUnsupported = errors.New("not supported by this engine")
	// ErrEphemeral is returned for what needs a collection on disk (a snapshot, a
	// restore over it) when the collection is ephemeral (Config.Ephemeral).
	ErrEphemeral = errors.New("collection is ephemeral (kept in memory only)")
)
