package metrics

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/hardneg/hardneg/internal/mining"
)

// collector turns Sources into metrics at scrape time.
type collector struct {
	src   Sources
	build BuildInfo
}

var _ prometheus.Collector = (*collector)(nil)

// Describe sends every descriptor the collector can produce.
func (c *collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{
		descBuildInfo,
		descRecovering, descCollectionUnsnapshottedBytes, descCollectionUnsnapshottedSince,
		descCollections, descCollectionItems, descCollectionTombstones, descCollectionSlots, descCollectionFreeSlots, descCollectionVectorSize, descCollectionLastSeq,
		descIngestItems, descIngestBytes, descDeletedItems, descDeleteNotFound,
		descBackups, descBackupBytes, descBackupsInProgress,
		descMineRequests, descMineAnchors, descMineNegatives, descMineExamined, descMineRemoved,
		descMineShortfalls, descMineShortNegatives, descMineWidenings, descMineExactScans, descMineExactFallbacks, descMineFloorsReached, descMineCalibration,
		descMinePositiveScore, descMineNegativeScore,
		descWALFsyncSeconds, descWALWrittenBytes, descWALRecords, descWALSize,
		descSnapshotSeconds, descSnapshots, descSnapshotLastSuccess, descRecoveryTruncated, descRecoverySeconds,
		descStreamWriters, descStreamWritersExpired,
		descVolumeSize, descVolumeAvailable,
		descInFlight, descInFlightRejected, descRemoteRetries, descRemoteGaveUp, descLoopStateSaves, descLoopStateLastSave,
		descTLSNotAfter, descTLSReloads, descTLSReloadErrors, descTokenReloads, descTokenReloadErrors, descTokenFileFailing,
	} {
		ch <- d
	}
	for _, d := range loopDescs {
		ch <- d
	}
}

// Collect reads every source once.
func (c *collector) Collect(ch chan<- prometheus.Metric) {
	ch <- prometheus.MustNewConstMetric(descBuildInfo, prometheus.GaugeValue, 1, c.build.Version, c.build.Revision, c.build.GoVersion)
	recovering := c.src.Recovering != nil && c.src.Recovering()
	if c.src.Recovering != nil {
		gauge(ch, descRecovering, boolGauge(recovering))
	}
	if c.src.Collections != nil && !recovering {
		collectCollections(ch, c.src.Collections())
	}
	if c.src.Loop != nil && !recovering {
		collectLoop(ch, c.src.Loop())
	}
	if c.src.Ingest != nil {
		collectIngest(ch, c.src.Ingest())
	}
	if c.src.Backups != nil {
		collectBackups(ch, c.src.Backups())
	}
	if c.src.Mining != nil {
		collectMining(ch, c.src.Mining())
	}
	if c.src.Calibration != nil {
		collectCalibration(ch, c.src.Calibration())
	}
	if c.src.Durability != nil {
		collectDurability(ch, c.src.Durability())
	}
	if c.src.Volume != nil {
		if v, err := c.src.Volume(); err != nil {
			ch <- prometheus.NewInvalidMetric(descVolumeAvailable, err)
		} else {
			gauge(ch, descVolumeSize, float64(v.SizeBytes))
			gauge(ch, descVolumeAvailable, float64(v.AvailableBytes))
		}
	}
	if c.src.Limits != nil {
		l := c.src.Limits()
		gauge(ch, descInFlight, float64(l.InFlight))
		counter(ch, descInFlightRejected, l.Rejected)
	}
	if c.src.Remote != nil {
		r := c.src.Remote()
		counter(ch, descRemoteRetries, r.Retries)
		counter(ch, descRemoteGaveUp, r.GaveUp)
		if r.HasWriterTTL {
			counter(ch, descStreamWritersExpired, r.StreamWritersExpired)
		}
	}
	if c.src.LoopState != nil {
		l := c.src.LoopState()
		counter(ch, descLoopStateSaves, l.Saved, "ok")
		counter(ch, descLoopStateSaves, l.Failed, "error")
		if !l.LastRound.IsZero() {
			gauge(ch, descLoopStateLastSave, float64(l.LastRound.UnixNano())/1e9)
		}
	}
	if c.src.TLS != nil {
		if t, ok := c.src.TLS(); ok {
			gauge(ch, descTLSNotAfter, float64(t.NotAfter.Unix()))
			counter(ch, descTLSReloads, t.Reloads)
			counter(ch, descTLSReloadErrors, t.ReloadErrors)
		}
	}
	if c.src.TokenFile != nil {
		if t, ok := c.src.TokenFile(); ok {
			counter(ch, descTokenReloads, t.Reloads)
			counter(ch, descTokenReloadErrors, t.ReloadErrors)
			failing := 0.0
			if t.Failing {
				failing = 1
			}
			gauge(ch, descTokenFileFailing, failing)
		}
	}
}

func collectCollections(ch chan<- prometheus.Metric, cs []CollectionStats) {
	gauge(ch, descCollections, float64(len(cs)))
	for _, c := range cs {
		gauge(ch, descCollectionItems, float64(c.Stats.Items), c.Name)
		gauge(ch, descCollectionTombstones, float64(c.Stats.Tombstones), c.Name)
		gauge(ch, descCollectionSlots, float64(c.Stats.Slots), c.Name)
		gauge(ch, descCollectionFreeSlots, float64(c.Stats.FreeSlots), c.Name)
		gauge(ch, descCollectionVectorSize, float64(c.Stats.VectorBytes), c.Name)
		gauge(ch, descCollectionLastSeq, float64(c.Stats.LastSequence), c.Name)
		gauge(ch, descCollectionUnsnapshottedBytes, float64(c.UnsnapshottedBytes), c.Name)
		if t := c.UnsnapshottedSince; !t.IsZero() {
			gauge(ch, descCollectionUnsnapshottedSince, float64(t.UnixNano())/1e9, c.Name)
		}
	}
}

func boolGauge(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

func collectIngest(ch chan<- prometheus.Metric, s IngestStats) {
	for _, r := range []struct {
		desc *prometheus.Desc
		v    IngestResults
	}{{descIngestItems, s.Items}, {descIngestBytes, s.Bytes}} {
		counter(ch, r.desc, r.v.Inserted, "inserted")
		counter(ch, r.desc, r.v.Replaced, "replaced")
		counter(ch, r.desc, r.v.Duplicate, "duplicate")
		counter(ch, r.desc, r.v.Rejected, "rejected")
	}
	counter(ch, descDeletedItems, s.Deleted)
	counter(ch, descDeleteNotFound, s.DeleteNotFound)
}

func collectBackups(ch chan<- prometheus.Metric, s BackupStats) {
	for _, op := range []struct {
		name string
		v    BackupOpStats
	}{{"backup", s.Backup}, {"restore", s.Restore}} {
		counter(ch, descBackups, op.v.OK, op.name, "ok")
		counter(ch, descBackups, op.v.Errors, op.name, "error")
		counter(ch, descBackupBytes, op.v.Bytes, op.name)
		gauge(ch, descBackupsInProgress, float64(op.v.InProgress), op.name)
	}
}

func collectMining(ch chan<- prometheus.Metric, s mining.Stats) {
	counter(ch, descMineRequests, s.Requests)
	counter(ch, descMineAnchors, s.Anchors)
	counter(ch, descMineNegatives, s.Negatives)
	counter(ch, descMineExamined, s.Examined)
	r := s.Removed
	for _, rule := range []struct {
		name string
		n    int
	}{
		{"self", r.Self}, {"positive", r.Positive}, {"excluded", r.Excluded}, {"in_batch", r.InBatch},
		{"feedback", r.Feedback}, {"same_group", r.SameGroup}, {"duplicate", r.Duplicate}, {"excluded_duplicate", r.ExcludedDuplicate}, {"guide", r.Guide}, {"margin", r.Margin},
		{"score_band", r.ScoreBand}, {"rank_window", r.RankWindow}, {"diversity", r.Diversity},
		{"stale", r.Stale}, {"rotation", r.Rotation}, {"exposure", r.Exposure}, {"likely_false_negative", r.LikelyFalseNegative},
	} {
		counter(ch, descMineRemoved, uint64(rule.n), rule.name)
	}
	counter(ch, descMineShortfalls, s.Shortfalls)
	counter(ch, descMineShortNegatives, s.ShortNegatives)
	counter(ch, descMineWidenings, s.Widenings)
	counter(ch, descMineExactScans, s.ExactScans)
	counter(ch, descMineExactFallbacks, s.ExactFallbacks)
	counter(ch, descMineFloorsReached, s.FloorsReached)
	histogram(ch, descMinePositiveScore, Histogram(s.PositiveScores))
	histogram(ch, descMineNegativeScore, Histogram(s.NegativeScores))
}

func collectCalibration(ch chan<- prometheus.Metric, cs []CollectionCalibration) {
	for _, c := range cs {
		for _, st := range []struct {
			name string
			s    mining.ScoreSummary
		}{{"positive", c.Stats.PositiveScores}, {"candidate", c.Stats.CandidateScores}, {"positive_similarity", c.Stats.PositiveSimilarities}} {
			q := make(map[float64]float64, len(st.s.Quantiles))
			for i, v := range st.s.Quantiles {
				q[mining.CalibrationQuantiles[i]] = float64(v)
			}
			ch <- prometheus.MustNewConstSummary(descMineCalibration, st.s.Count, st.s.Sum, q, c.Name, st.name)
		}
	}
}

func collectDurability(ch chan<- prometheus.Metric, s DurabilityStats) {
	histogram(ch, descWALFsyncSeconds, s.WALFsyncSeconds)
	counter(ch, descWALWrittenBytes, s.WALWrittenBytes)
	counter(ch, descWALRecords, s.WALRecords)
	gauge(ch, descWALSize, float64(s.WALSizeBytes))
	histogram(ch, descSnapshotSeconds, s.SnapshotSeconds)
	counter(ch, descSnapshots, s.Snapshots, "success")
	counter(ch, descSnapshots, s.SnapshotFailures, "failure")
	if !s.LastSnapshotSuccess.IsZero() {
		gauge(ch, descSnapshotLastSuccess, float64(s.LastSnapshotSuccess.UnixNano())/1e9)
	}
	counter(ch, descRecoveryTruncated, s.RecoveryTruncatedBytes)
	gauge(ch, descRecoverySeconds, s.RecoverySeconds)
	gauge(ch, descStreamWriters, float64(s.StreamWriters))
	counter(ch, descStreamWritersExpired, s.StreamWritersExpired)
}

func gauge(ch chan<- prometheus.Metric, d *prometheus.Desc, v float64, labels ...string) {
	ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
}

func counter(ch chan<- prometheus.Metric, d *prometheus.Desc, v uint64, labels ...string) {
	ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), labels...)
}

// histogram exports h; a malformed snapshot becomes an invalid metric (a scrape
// error) instead of a panic.
func histogram(ch chan<- prometheus.Metric, d *prometheus.Desc, h Histogram) {
	if len(h.Counts) != len(h.Bounds) {
		ch <- prometheus.NewInvalidMetric(d, errHistogramShape)
		return
	}
	buckets := make(map[float64]uint64, len(h.Bounds))
	for i, b := range h.Bounds {
		buckets[b] = h.Counts[i]
	}
	m, err := prometheus.NewConstHistogram(d, h.Count, h.Sum, buckets)
	if err != nil {
		m = prometheus.NewInvalidMetric(d, err)
	}
	ch <- m
}
