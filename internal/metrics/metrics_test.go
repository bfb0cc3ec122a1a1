package metrics

import (
	"errors"
	"flag"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hardneg/hardneg/internal/engine"
	"github.com/hardneg/hardneg/internal/mining"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

var update = flag.Bool("update", false, "rewrite testdata golden files")

// fullSources returns every source with fixed, distinct values.
func fullSources() Sources {
	var rec mining.Recorder
	rec.Record([]mining.Result{
		{Negatives: []mining.Negative{{Score: 0.42}, {Score: 0.7}}, PositiveScore: 0.91, HasPositiveScore: true, Examined: 40,
			Removed: mining.RuleCounts{Self: 1, Positive: 2, Duplicate: 3, Margin: 4}, Widenings: 1},
		{Negatives: []mining.Negative{{Score: -0.1}}, Examined: 12, Shortfall: 2, ExactScan: true, ExactFallback: true, FloorReached: true,
			Removed: mining.RuleCounts{SameGroup: 5, ExcludedDuplicate: 2, Diversity: 1, Stale: 6, Rotation: 7, Exposure: 8}},
	})
	return Sources{
		Recovering: func() bool { return false },
		Collections: func() []CollectionStats {
			return []CollectionStats{
				{Name: "docs", Stats: engine.Stats{Items: 1000, Tombstones: 3, Slots: 1010, FreeSlots: 7, LastSequence: 17, VectorBytes: 1536000},
					UnsnapshottedBytes: 4096, UnsnapshottedSince: time.Unix(1_800_000_100, 0)},
				{Name: "queries", Stats: engine.Stats{Items: 10, LastSequence: 18, VectorBytes: 15360}},
			}
		},
		Ingest: func() IngestStats {
			return IngestStats{
				Items:   IngestResults{Inserted: 1000, Replaced: 20, Duplicate: 5, Rejected: 2},
				Bytes:   IngestResults{Inserted: 1536000, Replaced: 30720, Duplicate: 7680, Rejected: 3072},
				Deleted: 3, DeleteNotFound: 1,
			}
		},
		Mining: rec.Snapshot,
		Calibration: func() []CollectionCalibration {
			return []CollectionCalibration{{Name: "docs", Stats: mining.CalibrationStats{
				PositiveScores:       mining.ScoreSummary{Count: 2, Sum: 1.6, Window: 2, Mean: 0.8, Std: 0.1, Quantiles: []float32{0.7, 0.7, 0.7, 0.7, 0.7, 0.9, 0.9, 0.9, 0.9}},
				CandidateScores:      mining.ScoreSummary{Count: 3, Sum: 1.5, Window: 3, Mean: 0.5, Std: 0.2, Quantiles: []float32{0.25, 0.25, 0.25, 0.25, 0.5, 0.75, 0.75, 0.75, 0.75}},
				PositiveSimilarities: mining.ScoreSummary{},
			}}}
		},
		Durability: func() DurabilityStats {
			return DurabilityStats{
				WALFsyncSeconds: Histogram{Bounds: []float64{0.001, 0.01, 0.1}, Counts: []uint64{5, 9, 10}, Count: 11, Sum: 0.75},
				WALWrittenBytes: 4096, WALRecords: 12, WALSizeBytes: 2048,
				SnapshotSeconds: Histogram{Bounds: []float64{1, 10}, Counts: []uint64{1, 2}, Count: 2, Sum: 6.5},
				Snapshots:       2, SnapshotFailures: 1,
				LastSnapshotSuccess:    time.Unix(1_800_000_000, 500_000_000),
				RecoveryTruncatedBytes: 37, RecoverySeconds: 0.25,
				StreamWriters: 4, StreamWritersExpired: 6,
			}
		},
		Volume: func() (VolumeStats, error) { return VolumeStats{SizeBytes: 10 << 30, AvailableBytes: 4 << 30}, nil },
		Limits: func() LimitStats { return LimitStats{InFlight: 3, Rejected: 9} },
		Remote: func() RemoteStats { return RemoteStats{Retries: 14, GaveUp: 2} },
		TLS: func() (TLSStats, bool) {
			return TLSStats{NotAfter: time.Unix(1_900_000_000, 0), Reloads: 2, ReloadErrors: 1}, true
		},
		Loop: func() []CollectionLoop {
			st := make([]uint64, len(engine.StalenessBounds))
			for i := range st {
				st[i] = 900
			}
			st[0], st[1], st[2] = 500, 600, 700
			return []CollectionLoop{
				{Name: "docs", Versions: engine.VersionStats{Items: 1000, Oldest: 12, Newest: 40, Staleness: st, StalenessSum: 3100},
					Exposure: mining.ExposureStats{Window: 100000, Served: 420, Windows: 3, Items: 300, Max: 9, RotationKeys: 12}, HasExposure: true, HardnessKeys: 7, HasHardness: true, Background: 0.125, HasBackground: true},
				{Name: "queries", Versions: engine.VersionStats{Items: 0, Staleness: make([]uint64, len(engine.StalenessBounds))}},
			}
		},
	}
}

var testBuild = BuildInfo{Version: "v1.2.3", Revision: "abc123", GoVersion: "go1.26.8"}

func TestCollectorMatchesGolden(t *testing.T) {
	c := &collector{src: fullSources(), build: testBuild}
	golden := filepath.Join("testdata", "collector.prom")
	if *update {
		reg := prometheus.NewPedanticRegistry()
		reg.MustRegister(c)
		var sb strings.Builder
		mfs, err := reg.Gather()
		if err != nil {
			t.Fatal(err)
		}
		for _, mf := range mfs {
			if err := writeText(&sb, mf); err != nil {
				t.Fatal(err)
			}
		}
		if err := os.WriteFile(golden, []byte(sb.String()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	f, err := os.Open(golden)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := testutil.CollectAndCompare(c, f); err != nil {
		t.Fatal(err)
	}
}

func TestCollectorLintsClean(t *testing.T) {
	c := &collector{src: fullSources(), build: testBuild}
	problems, err := testutil.CollectAndLint(c)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("%s: %s", p.Metric, p.Text)
	}
}

func TestPedanticRegistryAcceptsCollector(t *testing.T) {
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(&collector{src: fullSources(), build: testBuild})
	if _, err := reg.Gather(); err != nil {
		t.Fatalf("pedantic gather: %v", err)
	}
}

func TestMissingSourcesExportOnlyBuildInfo(t *testing.T) {
	c := &collector{build: testBuild}
	if n := testutil.CollectAndCount(c); n != 1 {
		t.Fatalf("collected %d metrics without sources, want 1 (build info)", n)
	}
	c.src.TLS = func() (TLSStats, bool) { return TLSStats{}, false }
	if n := testutil.CollectAndCount(c); n != 1 {
		t.Fatalf("collected %d metrics with TLS off, want 1", n)
	}
	if n := testutil.CollectAndCount(c, NameSnapshotLastSuccess); n != 0 {
		t.Fatalf("snapshot timestamp exported without durability source")
	}
}

func TestNoSnapshotYetOmitsTimestamp(t *testing.T) {
	c := &collector{src: Sources{Durability: func() DurabilityStats { return DurabilityStats{} }}, build: testBuild}
	if n := testutil.CollectAndCount(c, NameSnapshotLastSuccess); n != 0 {
		t.Fatalf("last-success timestamp exported before any snapshot")
	}
	if n := testutil.CollectAndCount(c, NameWALFsyncSeconds); n != 1 {
		t.Fatalf("fsync histogram missing")
	}
}

func TestBadSourcesFailTheScrapeNotTheProcess(t *testing.T) {
	for name, src := range map[string]Sources{
		"histogram shape": {Durability: func() DurabilityStats {
			return DurabilityStats{WALFsyncSeconds: Histogram{Bounds: []float64{1, 2}, Counts: []uint64{1}}}
		}},
		"volume error": {Volume: func() (VolumeStats, error) { return VolumeStats{}, errors.New("statfs: no such file") }},
	} {
		t.Run(name, func(t *testing.T) {
			reg := prometheus.NewRegistry()
			reg.MustRegister(&collector{src: src, build: testBuild})
			if _, err := reg.Gather(); err == nil {
				t.Fatal("gather succeeded; want an error naming the bad metric")
			}
		})
	}
}

func TestNewServesEveryFamily(t *testing.T) {
	m, err := New(Options{Sources: fullSources()})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(m.Handler())
	defer srv.Close()
	resp, err := http.Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d: %s", resp.StatusCode, body)
	}
	for _, name := range []string{"go_goroutines", NameProcessStartTime, NameBuildInfo, NameMineRemoved, NameWALFsyncSeconds + "_bucket", NameTLSNotAfter} {
		if !strings.Contains(string(body), "\n"+name) {
			t.Errorf("scrape lacks %s", name)
		}
	}
	problems, err := testutil.GatherAndLint(m.Gatherer())
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("lint %s: %s", p.Metric, p.Text)
	}
}

func TestNewRejectsUnorderedBuckets(t *testing.T) {
	if _, err := New(Options{HandlingBuckets: []float64{1, 0.5}}); err == nil {
		t.Fatal("New accepted decreasing buckets")
	}
}

func TestBuildInfoDefaults(t *testing.T) {
	b := CompleteBuild(BuildInfo{})
	if b.Version == "" || b.Revision == "" || !strings.HasPrefix(b.GoVersion, "go") {
		t.Fatalf("build info not filled: %+v", b)
	}
	if got := CompleteBuild(testBuild); got != testBuild {
		t.Fatalf("explicit build info changed: %+v", got)
	}
}

func TestRecoveringHidesCollectionMetrics(t *testing.T) {
	src := fullSources()
	read := false
	src.Recovering = func() bool { return true }
	src.Collections = func() []CollectionStats { read = true; return nil }
	c := &collector{src: src, build: testBuild}
	want := "# HELP hardneg_recovering 1 while storage is being recovered at start-up (collection metrics are not exported then), else 0.\n# TYPE hardneg_recovering gauge\nhardneg_recovering 1\n"
	if err := testutil.CollectAndCompare(c, strings.NewReader(want), NameRecovering); err != nil {
		t.Error(err)
	}
	for _, name := range []string{NameCollections, NameCollectionItems, NameCollectionUnsnapshottedBytes} {
		if n := testutil.CollectAndCount(c, name); n != 0 {
			t.Errorf("%s: %d series while recovering, want none", name, n)
		}
	}
	if read {
		t.Error("collections read while recovering")
	}
	src.Recovering = func() bool { return false }
	c = &collector{src: src, build: testBuild}
	if err := testutil.CollectAndCompare(c, strings.NewReader(strings.Replace(want, "\nhardneg_recovering 1\n", "\nhardneg_recovering 0\n", 1)), NameRecovering); err != nil {
		t.Error(err)
	}
	if n := testutil.CollectAndCount(c, NameCollections); n != 1 {
		t.Errorf("%s: %d series once recovered, want 1", NameCollections, n)
	}
}
