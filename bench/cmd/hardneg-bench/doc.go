// Command hardneg-bench measures hardneg's index in-process, and the Go baseline
// github.com/coder/hnsw v0.6.1, on a data set written by bench/py/data.py (or any
// directory in the same format): build time and inserts/s at the given thread counts,
// resident memory per vector, µs/query and recall@10 across an ef sweep, the exact
// scan one query per call and batched (every query, in groups scored by one pass over
// the rows, as Mine searches an exact collection), the recall of Mine against exact
// search, and in-process Mine latency. It prints one JSON object that bench/run.py
// merges into the report.
//
//	go run ./bench/cmd/hardneg-bench -data bench/out/data/synthetic-100000 -system hardneg
//
// Data directory format: meta.json ({"n", "nq", "dim", "gt_k"}), base.f32 (n × dim
// little-endian float32, unit length), queries.f32 (nq × dim), gt.i32 (nq × gt_k
// little-endian int32 row numbers of the exact neighbours, best first), and optionally
// groups.i32 (n int32 group numbers; item i belongs to group "g<groups[i]>").
package main
