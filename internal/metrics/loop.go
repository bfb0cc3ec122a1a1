package metrics

import (
	"github.com/hardneg/hardneg/internal/engine"
	"github.com/hardneg/hardneg/internal/mining"
	"github.com/prometheus/client_golang/prometheus"
)

// CollectionLoop names one collection's training-loop statistics: the versions of its
// items and, once Mine has served negatives from it, its exposure window.
type CollectionLoop struct {
	Name     string
	Versions engine.VersionStats
	// Exposure is valid when HasExposure.
	Exposure    mining.ExposureStats
	HasExposure bool
	// HardnessKeys is the number of anchor keys with closed-loop hardness in memory;
	// valid when HasHardness (the collection has a hardness tracker).
	HardnessKeys int
	HasHardness  bool
	// Background is the mean cosine of two of the collection's items
	// (index.Collection.Background); valid when HasBackground.
	Background    float64
	HasBackground bool
}

// Training-loop metric names.
const (
	NameCollectionStaleness       = "hardneg_collection_item_staleness_versions"
	NameCollectionNewestVersion   = "hardneg_collection_newest_version"
	NameCollectionOldestVersion   = "hardneg_collection_oldest_version"
	NameCollectionExposureMax     = "hardneg_collection_exposure_max"
	NameCollectionExposureServed  = "hardneg_collection_exposure_window_served"
	NameCollectionExposureWindows = "hardneg_collection_exposure_windows_total"
	NameCollectionRotationKeys    = "hardneg_collection_rotation_keys"
	NameCollectionHardnessKeys    = "hardneg_collection_hardness_keys"
	NameCollectionBackground      = "hardneg_collection_background_similarity"
)

var (
	descCollectionStaleness       = prometheus.NewDesc(NameCollectionStaleness, "Staleness of a collection's items: its newest item version minus each item's version, in versions (e.g. training steps).", []string{"collection"}, nil)
	descCollectionNewestVersion   = prometheus.NewDesc(NameCollectionNewestVersion, "Largest item version in a collection.", []string{"collection"}, nil)
	descCollectionOldestVersion   = prometheus.NewDesc(NameCollectionOldestVersion, "Smallest item version in a collection.", []string{"collection"}, nil)
	descCollectionExposureMax     = prometheus.NewDesc(NameCollectionExposureMax, "Most times one item of a collection was returned as a negative in the current exposure window.", []string{"collection"}, nil)
	descCollectionExposureServed  = prometheus.NewDesc(NameCollectionExposureServed, "Negatives asked for from a collection in the current exposure window, returned or short.", []string{"collection"}, nil)
	descCollectionExposureWindows = prometheus.NewDesc(NameCollectionExposureWindows, "Exposure windows of a collection completed since the server started.", []string{"collection"}, nil)
	descCollectionRotationKeys    = prometheus.NewDesc(NameCollectionRotationKeys, "Anchor keys of a collection with rotation state in memory (at most 100,000).", []string{"collection"}, nil)
	descCollectionHardnessKeys    = prometheus.NewDesc(NameCollectionHardnessKeys, "Anchor keys of a collection with closed-loop hardness in memory (at most 100,000).", []string{"collection"}, nil)
	descCollectionBackground      = prometheus.NewDesc(NameCollectionBackground, "Mean cosine of two items of a cosine collection (from up to 4,096 of them); above 0.25 the cosine mining defaults read its scores on its own scale.", []string{"collection"}, nil)
)

var loopDescs = []*prometheus.Desc{
	descCollectionStaleness, descCollectionNewestVersion, descCollectionOldestVersion,
	descCollectionExposureMax, descCollectionExposureServed, descCollectionExposureWindows,
	descCollectionRotationKeys, descCollectionHardnessKeys, descCollectionBackground,
}

func collectLoop(ch chan<- prometheus.Metric, cs []CollectionLoop) {
	for _, c := range cs {
		v := c.Versions
		if v.Items > 0 {
			gauge(ch, descCollectionNewestVersion, float64(v.Newest), c.Name)
			gauge(ch, descCollectionOldestVersion, float64(v.Oldest), c.Name)
		}
		if len(v.Staleness) == len(engine.StalenessBounds) {
			buckets := make(map[float64]uint64, len(v.Staleness))
			for i, b := range engine.StalenessBounds {
				buckets[b] = v.Staleness[i]
			}
			ch <- prometheus.MustNewConstHistogram(descCollectionStaleness, uint64(v.Items), v.StalenessSum, buckets, c.Name)
		}
		if c.HasExposure {
			gauge(ch, descCollectionExposureMax, float64(c.Exposure.Max), c.Name)
			gauge(ch, descCollectionExposureServed, float64(c.Exposure.Served), c.Name)
			counter(ch, descCollectionExposureWindows, c.Exposure.Windows, c.Name)
			gauge(ch, descCollectionRotationKeys, float64(c.Exposure.RotationKeys), c.Name)
		}
		if c.HasHardness {
			gauge(ch, descCollectionHardnessKeys, float64(c.HardnessKeys), c.Name)
		}
		if c.HasBackground {
			gauge(ch, descCollectionBackground, c.Background, c.Name)
		}
	}
}
