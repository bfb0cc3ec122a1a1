// Package metrics owns hardneg's Prometheus instrumentation. It is the only package
// that imports client_golang.
//
// New builds a private registry holding the Go and process collectors, the standard
// gRPC server metrics (go-grpc-middleware's Prometheus provider, with handling-time
// histograms) and a collector that turns statistics snapshots into hardneg_* metrics
// at scrape time. Statistics reach the collector through Sources: plain functions
// returning plain structs, so domain packages never import Prometheus, and a missing
// source (a nil function) simply exports nothing.
//
// Metric names follow the Prometheus conventions: the hardneg_ prefix, base units
// (seconds, bytes), _total on counters, and no item or anchor ids in labels; the only
// unbounded label is the collection name, which operators choose.
package metrics
