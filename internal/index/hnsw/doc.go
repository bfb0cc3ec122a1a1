// Package hnsw is hardneg's approximate nearest-neighbour graph: a hierarchical
// navigable small world (Malkov & Yashunin, "Efficient and robust approximate nearest
// neighbor search using Hierarchical Navigable Small World graphs", 2016/2018) over
// uint32 ids whose vectors the caller stores and serves through a VectorSource.
//
// # Algorithm
//
// Every node draws a level floor(-ln U · mL) with mL = 1/ln M (U uniform, derived
// from Options.Seed and the id, so levels do not depend on insertion order). Layers
// above 0 keep up to M links per node, layer 0 keeps 2·M. An insert descends greedily
// from the entry point to the node's level, then on each layer from there down runs
// a beam search of width EfConstruction, picks M links with the neighbour-selection
// heuristic (keep a candidate only if it is closer to the new node than to every
// link already kept, which spreads links over directions and keeps clusters joined)
// and, once all its own lists are set, adds the reverse links, re-running the
// heuristic on any list that overflows.
// A search descends greedily to layer 0 and runs a beam of width max(ef, k) there;
// ef is chosen per query, independent of EfConstruction. The layer-0 loop reads the
// chunk table once per search, marks visited nodes inline, scores an expanded node's
// unvisited links in one batch, and asks the CPU for the next candidate's link list
// (vec.Prefetch) before scoring the current one's. A graph whose Distance is −vec.Dot
// (UseDot) scores that batch on floats in one vec.DotRows call, which asks for each next
// link's vector while it scores the current one (the same distances bit for bit; 3–10%
// faster per query than a Distance call per link, docs/BENCHMARKS.md). While the graph holds no tombstones
// and no dropped nodes it reads no per-node state word: every id in a link list is a
// ready node, so only self (during an insert) and accept are checked.
//
// # Searching on int8 codes
//
// With UseCodes a search walks on the vectors' int8 codes (vec.Int8Codes, which the
// caller keeps next to the vectors): the query is quantized once, the descent and the
// beam compare codes with the integer kernel (AVX-512 VNNI, AVX2 or portable; one call
// per expanded node's unvisited links), and the final beam is
// re-scored with Distance, so the results are the beam's best k by Distance with their
// exact distances. A code is a quarter of a float vector's bytes, so the traversal's
// random reads touch a quarter of the cache lines; recall is that of the float search
// because the beam is re-scored (docs/BENCHMARKS.md). The re-score is lazy: a node gets
// its float distance only while its approximate distance is within
// vec.Int8Codes.ErrorBound of the nearest scored node not yet handed out, so Search for
// k and SearchOrdered (the same results one at a time) skip the float distances of the
// beam nodes that cannot be among the first k handed out. Inserts walk on the codes too and
// re-score each layer's beam before choosing links; Compact compares floats.
//
// # Concurrency
//
// Link lists are flat uint32 arrays (count, then ids) in chunks of 4,096 nodes that
// never move; every word is read and written atomically. A writer holds the lock of
// the one node whose list it rewrites, never two at once, so inserts proceed in
// parallel (InsertBatch) and searches take no locks at all: a search that reads a
// list mid-rewrite sees old and new ids, all of them valid nodes. No other node links
// to an inserting node before its own lists on every layer are set, so no search (an
// insert's above all) reaches a node whose lower lists are still empty and ends its
// descent or its beam there; and Compact moves the entry point off a tombstone only to
// a node whose insert has finished. Only an insert that
// raises the top level of the graph also holds the entry-point lock, about log_M(n)
// times over a graph's life.
//
// # Deletes, filters and compaction
//
// Delete sets a tombstone. Tombstoned nodes and nodes rejected by a search's accept
// function still route the search but never enter its results; while fewer than ef
// acceptable nodes are found the beam keeps expanding, so selective filters cost
// distance evaluations rather than results. Once tombstones pass
// Options.CompactRatio, NeedsCompact reports it and Compact (safe alongside searches
// and inserts) rewrites every list that points at a tombstone, choosing by the
// heuristic among the remaining links and the tombstone's own live links. Compact
// first marks the tombstones it drops, and inserts never add a link to a marked node,
// so once it returns only other dropped nodes link to them. An updated vector is
// inserted under a new id and the old one deleted; once Compact has dropped the old
// id, Reclaim releases it, and the caller may give it a new vector and insert it
// again, so memory follows the live nodes rather than every id ever used. Reclaim
// needs no search, insert or WriteTo to run alongside it, but a later Compact may; a
// node's level is a function of its id, so a re-inserted node reuses its upper-layer
// lists.
//
// # Memory and persistence
//
// Per node the graph holds a state word, a mutex, the layer-0 list (4·(2M+1) bytes)
// and a slice header for upper layers (on average 1/(M−1) of a layer of 4·(M+1)
// bytes): ≈ 180 B at M = 16 against ≈ 275 B for hnswlib. Searches reuse pooled
// visited sets (one bit per id, so that they stay in the first-level cache; each
// search clears the words the one before it set) and heaps, so a steady-state search
// allocates nothing. WriteTo/Read persist the graph in a versioned, CRC-32C checked,
// block-framed format that Read consumes exactly; loading is far faster than
// rebuilding from vectors (see docs/BENCHMARKS.md).
//
// # Why not github.com/coder/hnsw
//
// It was the library the product was first drawn around, but v0.6.1 — the only
// version the Go module proxy serves — measured recall@10 ≈ 0.065 on 100k × 384
// clustered vectors whatever EfSearch was, corrupted the graph on Delete, panicked on
// Add of an existing key, and is not safe for Add during Search. It remains a
// baseline in bench/ann so the comparison can be re-run.
package hnsw
