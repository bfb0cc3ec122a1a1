package index

// Lock order. A goroutine that holds several of the index's locks took them in this
// order, top to bottom, and never takes one while holding one of the same rank or
// below (so never two collections' locks of one kind at once):
//
//  1. DB.snapMu          snapshots, snapshot pruning and log truncation
//  2. DB.streamMu        stream batches (StreamAppend)
//  3. Collection.writeMu one collection's writers and snapshot (logApply, DeleteCollection)
//  4. DB.mu              the collection table (DeleteCollection takes it under writeMu)
//  5. Collection.mu      one collection's metadata and vectors
//  6. Collection.fbMu    false-negative verdicts (written under mu by ReportFalseNegatives)
//  7. Collection.compactedMu slots dropped by background compactions
//  8. DB.writersMu       stream writers' positions (written under mu by StreamAppend)
//
// One exception to "never two collections' locks of one kind": Mine's guide rules take
// the guide collection's Collection.mu (read) while the mined collection's is held.
// ClaimGuideRole keeps every collection in one of the two roles, so that nesting is a
// strict order between the mined and the guide collections (guide.go).
//
// Below all of them, and taken last: the HNSW graph's own locks, the write-ahead
// log's, and DB.snapStats.mu. Built with -tags lockorder, every Lock and RLock of the
// locks above checks the order and panics when it is broken (lockorder_check.go);
// otherwise the types below are plain sync mutexes.
type lockRank int

const (
	rankSnap lockRank = iota + 1
	rankStream
	rankWrite
	rankDB
	rankCollection
	rankFeedback
	rankCompacted
	rankWriters
)

var rankNames = [...]string{
	rankSnap:       "DB.snapMu",
	rankStream:     "DB.streamMu",
	rankWrite:      "Collection.writeMu",
	rankDB:         "DB.mu",
	rankCollection: "Collection.mu",
	rankFeedback:   "Collection.fbMu",
	rankCompacted:  "Collection.compactedMu",
	rankWriters:    "DB.writersMu",
}

func (r lockRank) String() string { return rankNames[r] }

// A ranker names a lock's place in the order; the lock types take it as a type
// argument, so a lock's declaration states its rank.
type ranker interface{ rank() lockRank }

type (
	snapRank       struct{}
	streamRank     struct{}
	writeRank      struct{}
	dbRank         struct{}
	collectionRank struct{}
	feedbackRank   struct{}
	compactedRank  struct{}
	writersRank    struct{}
)

func (snapRank) rank() lockRank       { return rankSnap }
func (streamRank) rank() lockRank     { return rankStream }
func (writeRank) rank() lockRank      { return rankWrite }
func (dbRank) rank() lockRank         { return rankDB }
func (collectionRank) rank() lockRank { return rankCollection }
func (feedbackRank) rank() lockRank   { return rankFeedback }
func (compactedRank) rank() lockRank  { return rankCompacted }
func (writersRank) rank() lockRank    { return rankWriters }
