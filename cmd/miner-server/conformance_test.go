package main

import (
	"testing"

	hardnegv1 "github.com/hardneg/hardneg/gen/go/hardneg/v1"
	"github.com/hardneg/hardneg/internal/conformance"
)

// TestConformanceEmbedded runs the MinerService contract against the embedded engine,
// one real server for the whole suite (the Weaviate run is in
// conformance_scaleout_test.go, under the scaleout build tag).
func TestConformanceEmbedded(t *testing.T) {
	ts := startServer(t, t.TempDir())
	conformance.Run(t, func(*testing.T) hardnegv1.MinerServiceClient { return ts.client })
}
