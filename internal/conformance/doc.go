// Package conformance is the MinerService contract written once as Go tests, run
// against every engine (hashicorp/raft's bench package does the same for its log
// stores): the embedded index in `make test` and the Weaviate backend in
// `make test-scaleout` (cmd/miner-server's conformance tests).
//
// Run takes a Factory that boots a server (or connects to one) and returns a client;
// every test creates its own uniquely named collections and deletes them when it ends,
// so one long-lived server or cluster can serve all of them. The mining tests compare
// each rule's results with a brute-force reference in this package (reference.go) that
// scores every item exactly and shares no code with internal/mining.
package conformance
