package main

import (
	"github.com/hardneg/hardneg/internal/engine"
	"github.com/hardneg/hardneg/internal/metrics"
	"github.com/hardneg/hardneg/internal/mining"
	"github.com/hardneg/hardneg/internal/storage"
)

// version is the server's release, set at link time (make build does):
// go build -ldflags "-X main.version=v1.2.3 -X main.revision=$(git rev-parse HEAD)".
var version, revision string

// buildInfo is what -version prints and hardneg_build_info exports: the link-time
// values, else the binary's build information.
func buildInfo() metrics.BuildInfo {
	return metrics.CompleteBuild(metrics.BuildInfo{Version: version, Revision: revision})
}

// lastBackground is implemented by collections whose background estimate costs a read
// of a cluster (weaviate.Collection): a scrape exports the estimate mining last made and
// does not measure.
type lastBackground interface {
	LastBackground() (b float64, ok bool)
}

// metricsSources wires the server's statistics into the metrics collector. The log,
// snapshot and volume statistics exist only for an engine with local storage.
func (s *Server) metricsSources() metrics.Sources {
	src := metrics.Sources{
		Recovering: func() bool { return !s.ready.Load() },
		Collections: func() []metrics.CollectionStats {
			cs := s.db.Collections()
			out := make([]metrics.CollectionStats, len(cs))
			for i, c := range cs {
				out[i] = metrics.CollectionStats{Name: c.Name(), Stats: c.Stats()}
				if sc, ok := c.(engine.StoredCollection); ok {
					out[i].UnsnapshottedBytes, out[i].UnsnapshottedSince = sc.Unsnapshotted()
				}
			}
			return out
		},
		Ingest:  s.ingest.snapshot,
		Backups: s.backups.snapshot,
		Mining:  s.mined.Snapshot,
		Calibration: func() []metrics.CollectionCalibration {
			var out []metrics.CollectionCalibration
			for _, c := range s.db.Collections() {
				if cal, ok := s.cal.lookup(c); ok {
					out = append(out, metrics.CollectionCalibration{Name: c.Name(), Stats: cal.Stats()})
				}
			}
			return out
		},
		Limits:    s.limiter.stats,
		Remote:    s.remoteStats(),
		TLS:       s.certs.stats,
		TokenFile: s.tokens.stats,
		Loop: func() []metrics.CollectionLoop {
			cs := s.db.Collections()
			out := make([]metrics.CollectionLoop, len(cs))
			for i, c := range cs {
				out[i] = metrics.CollectionLoop{Name: c.Name(), Versions: c.VersionStats()}
				if x, ok := s.exp.lookup(c); ok {
					out[i].Exposure, out[i].HasExposure = x.Stats(), true
				}
				if h, ok := s.hard.lookup(c); ok {
					out[i].HardnessKeys, out[i].HasHardness = h.Len(), true
				}
				if lb, ok := c.(lastBackground); ok {
					out[i].Background, out[i].HasBackground = lb.LastBackground()
				} else {
					out[i].Background, out[i].HasBackground = mining.BackgroundOf(c)
				}
			}
			return out
		},
	}
	if st, ok := s.db.(engine.Storage); ok {
		src.Durability = func() metrics.DurabilityStats { return durabilityStats(st.DurabilityStats()) }
		src.Volume = func() (metrics.VolumeStats, error) { return volumeStats(st.Dir()) }
	}
	if s.loop != nil {
		src.LoopState = s.loop.stats
	}
	return src
}

// durabilityStats converts storage statistics for the collector.
func durabilityStats(st engine.DurabilityStats) metrics.DurabilityStats {
	out := metrics.DurabilityStats{
		WALFsyncSeconds:      metrics.Histogram(st.Log.SyncSeconds),
		WALWrittenBytes:      st.Log.AppendedBytes,
		WALRecords:           st.Log.Appends,
		WALSizeBytes:         st.LogBytes,
		SnapshotSeconds:      metrics.Histogram(st.SnapshotSeconds),
		Snapshots:            st.Snapshots,
		SnapshotFailures:     st.SnapshotFailures,
		LastSnapshotSuccess:  st.LastSnapshot,
		RecoverySeconds:      st.Recovery.Duration.Seconds(),
		StreamWriters:        st.StreamWriters,
		StreamWritersExpired: st.StreamWritersExpired,
	}
	if t := st.Recovery.Log.Truncated; t != nil {
		out.RecoveryTruncatedBytes = uint64(t.Bytes)
	}
	return out
}

// volumeStats reports the file system holding dir.
func volumeStats(dir string) (metrics.VolumeStats, error) {
	size, avail, err := storage.Volume(dir)
	if err != nil {
		return metrics.VolumeStats{}, err
	}
	return metrics.VolumeStats{SizeBytes: uint64(size), AvailableBytes: uint64(avail)}, nil
}

// remoteStats exports the retry counters of an engine that calls a remote store; nil
// (no metrics) for the embedded engine.
func (s *Server) remoteStats() func() metrics.RemoteStats {
	r, ok := s.db.(engine.Retrier)
	if !ok {
		return nil
	}
	return func() metrics.RemoteStats {
		retries, gaveUp := r.RetryStats()
		out := metrics.RemoteStats{Retries: retries, GaveUp: gaveUp}
		if w, ok := s.db.(engine.WriterExpirer); ok {
			out.StreamWritersExpired, out.HasWriterTTL = w.StreamWritersExpired(), true
		}
		return out
	}
}
