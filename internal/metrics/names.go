package metrics

import "github.com/prometheus/client_golang/prometheus"

// Metric names exported by the collector. Dashboards, alerts and docs refer to these.
const (
	NameBuildInfo = "hardneg_build_info"

	NameCollections          = "hardneg_collections"
	NameCollectionItems      = "hardneg_collection_items"
	NameCollectionVectorSize = "hardneg_collection_vector_bytes"
	NameCollectionLastSeq    = "hardneg_collection_last_sequence"

	NameIngestItems    = "hardneg_ingest_items_total"
	NameIngestBytes    = "hardneg_ingest_bytes_total"
	NameDeletedItems   = "hardneg_deleted_items_total"
	NameDeleteNotFound = "hardneg_delete_not_found_items_total"

	NameBackups              = "hardneg_backups_total"
	NameBackupBytes          = "hardneg_backup_bytes_total"
	NameBackupsInProgress    = "hardneg_backups_in_progress"
	NameMineRequests         = "hardneg_mine_requests_total"
	NameMineAnchors          = "hardneg_mine_anchors_total"
	NameMineNegatives        = "hardneg_mine_negatives_total"
	NameMineExamined         = "hardneg_mine_candidates_examined_total"
	NameMineRemoved          = "hardneg_mine_candidates_removed_total"
	NameMineShortfalls       = "hardneg_mine_shortfall_anchors_total"
	NameMineShortNegatives   = "hardneg_mine_shortfall_negatives_total"
	NameMineWidenings        = "hardneg_mine_search_widenings_total"
	NameMineExactScans       = "hardneg_mine_exact_scans_total"
	NameMineExactFallbacks   = "hardneg_mine_exact_fallbacks_total"
	NameMineFloorsReached    = "hardneg_mine_floor_reached_anchors_total"
	NameMineCalibration      = "hardneg_mine_calibration_score"
	NameMinePositiveScore    = "hardneg_mine_positive_score"
	NameMineNegativeScore    = "hardneg_mine_negative_score"
	NameWALFsyncSeconds      = "hardneg_wal_fsync_duration_seconds"
	NameWALWrittenBytes      = "hardneg_wal_written_bytes_total"
	NameWALRecords           = "hardneg_wal_records_total"
	NameWALSize              = "hardneg_wal_size_bytes"
	NameSnapshotSeconds      = "hardneg_snapshot_duration_seconds"
	NameSnapshots            = "hardneg_snapshots_total"
	NameSnapshotLastSuccess  = "hardneg_snapshot_last_success_timestamp_seconds"
	NameRecoveryTruncated    = "hardneg_recovery_truncated_bytes_total"
	NameRecoverySeconds      = "hardneg_recovery_duration_seconds"
	NameStreamWriters        = "hardneg_stream_writers"
	NameStreamWritersExpired = "hardneg_stream_writers_expired_total"
	NameVolumeSize           = "hardneg_data_volume_size_bytes"
	NameVolumeAvailable      = "hardneg_data_volume_available_bytes"
	NameInFlight             = "hardneg_in_flight_requests"
	NameInFlightRejected     = "hardneg_in_flight_rejected_total"
	NameRemoteRetries        = "hardneg_remote_retries_total"
	NameRemoteGaveUp         = "hardneg_remote_retries_exhausted_total"
	NameLoopStateSaves       = "hardneg_loop_state_saves_total"
	NameLoopStateLastSave    = "hardneg_loop_state_last_save_timestamp_seconds"
	NameTLSNotAfter          = "hardneg_tls_certificate_expiry_timestamp_seconds"
	NameTLSReloads           = "hardneg_tls_certificate_reloads_total"
	NameTLSReloadErrors      = "hardneg_tls_certificate_reload_errors_total"
	NameTokenReloads         = "hardneg_auth_token_file_reloads_total"
	NameTokenReloadErrors    = "hardneg_auth_token_file_reload_errors_total"
	NameTokenFileFailing     = "hardneg_auth_token_file_failing"
	NameGRPCHandled          = "grpc_server_handled_total"
	NameGRPCHandlingSeconds  = "grpc_server_handling_seconds"
	NameGRPCStarted          = "grpc_server_started_total"
	NameGRPCMsgReceived      = "grpc_server_msg_received_total"
	NameGRPCMsgSent          = "grpc_server_msg_sent_total"
	NameProcessStartTime     = "process_start_time_seconds"
	NameCollectionTombstones = "hardneg_collection_tombstones"
	NameCollectionSlots      = "hardneg_collection_slots"
	NameCollectionFreeSlots  = "hardneg_collection_free_slots"

	NameRecovering                   = "hardneg_recovering"
	NameCollectionUnsnapshottedBytes = "hardneg_collection_unsnapshotted_bytes"
	NameCollectionUnsnapshottedSince = "hardneg_collection_unsnapshotted_since_timestamp_seconds"
)

// RemoteNames are the metrics that exist only when a Remote source is wired (the
// Weaviate engine).
var RemoteNames = []string{NameRemoteRetries, NameRemoteGaveUp}

// DurabilityNames are the metrics that exist only when a Durability source is wired.
var DurabilityNames = []string{
	NameWALFsyncSeconds, NameWALWrittenBytes, NameWALRecords, NameWALSize,
	NameSnapshotSeconds, NameSnapshots, NameSnapshotLastSuccess,
	NameRecoveryTruncated, NameRecoverySeconds, NameStreamWriters, NameStreamWritersExpired,
}

var (
	descBuildInfo = prometheus.NewDesc(NameBuildInfo, "Build information of the running server; always 1.", []string{"version", "revision", "goversion"}, nil)

	descCollections          = prometheus.NewDesc(NameCollections, "Number of collections.", nil, nil)
	descCollectionItems      = prometheus.NewDesc(NameCollectionItems, "Items stored in a collection.", []string{"collection"}, nil)
	descCollectionTombstones = prometheus.NewDesc(NameCollectionTombstones, "Deleted items of a collection whose space is not reclaimed yet.", []string{"collection"}, nil)
	descCollectionSlots      = prometheus.NewDesc(NameCollectionSlots, "Storage slots of a collection: live items, tombstones and free slots; bounds its vector memory.", []string{"collection"}, nil)
	descCollectionFreeSlots  = prometheus.NewDesc(NameCollectionFreeSlots, "Slots of a collection freed by compaction and ready for reuse.", []string{"collection"}, nil)
	descCollectionVectorSize = prometheus.NewDesc(NameCollectionVectorSize, "Memory reserved for a collection's vectors, in bytes.", []string{"collection"}, nil)
	descCollectionLastSeq    = prometheus.NewDesc(NameCollectionLastSeq, "Sequence number of the last write applied to a collection.", []string{"collection"}, nil)

	descRecovering                   = prometheus.NewDesc(NameRecovering, "1 while storage is being recovered at start-up (collection metrics are not exported then), else 0.", nil, nil)
	descCollectionUnsnapshottedBytes = prometheus.NewDesc(NameCollectionUnsnapshottedBytes, "Write-ahead-log bytes written for a collection since its last snapshot; a restart replays them.", []string{"collection"}, nil)
	descCollectionUnsnapshottedSince = prometheus.NewDesc(NameCollectionUnsnapshottedSince, "Unix time of a collection's oldest write not yet in a snapshot; absent while its snapshot holds every write.", []string{"collection"}, nil)

	descIngestItems    = prometheus.NewDesc(NameIngestItems, "Items received in upsert batches, by result (inserted, replaced, duplicate, rejected).", []string{"result"}, nil)
	descIngestBytes    = prometheus.NewDesc(NameIngestBytes, "Vector payload of items received in upsert batches in bytes, by result.", []string{"result"}, nil)
	descDeletedItems   = prometheus.NewDesc(NameDeletedItems, "Items removed by deletes.", nil, nil)
	descDeleteNotFound = prometheus.NewDesc(NameDeleteNotFound, "Ids named in deletes that were not present.", nil, nil)

	descBackups           = prometheus.NewDesc(NameBackups, "Collections backed up (Backup) or restored (Restore), by operation and result (ok, error).", []string{"op", "result"}, nil)
	descBackupBytes       = prometheus.NewDesc(NameBackupBytes, "Bytes of collection encodings sent by Backup and received by Restore, counted as they move.", []string{"op"}, nil)
	descBackupsInProgress = prometheus.NewDesc(NameBackupsInProgress, "Backups and restores running now, by operation.", []string{"op"}, nil)

	descMineRequests       = prometheus.NewDesc(NameMineRequests, "Mine requests answered.", nil, nil)
	descMineAnchors        = prometheus.NewDesc(NameMineAnchors, "Anchors mined.", nil, nil)
	descMineNegatives      = prometheus.NewDesc(NameMineNegatives, "Negatives returned.", nil, nil)
	descMineExamined       = prometheus.NewDesc(NameMineExamined, "Candidates produced by the searches before filtering.", nil, nil)
	descMineRemoved        = prometheus.NewDesc(NameMineRemoved, "Candidates removed by a false-negative or selection rule; each counts under the first rule that removed it.", []string{"rule"}, nil)
	descMineShortfalls     = prometheus.NewDesc(NameMineShortfalls, "Anchors that got fewer negatives than requested.", nil, nil)
	descMineShortNegatives = prometheus.NewDesc(NameMineShortNegatives, "Negatives missing from short anchors, in total.", nil, nil)
	descMineWidenings      = prometheus.NewDesc(NameMineWidenings, "Search passes beyond the first, run because too few candidates survived.", nil, nil)
	descMineExactScans     = prometheus.NewDesc(NameMineExactScans, "Anchors whose search ended in an exact scan.", nil, nil)
	descMineExactFallbacks = prometheus.NewDesc(NameMineExactFallbacks, "Anchors on graph-searched collections whose widening ended in a full exact scan.", nil, nil)
	descMineFloorsReached  = prometheus.NewDesc(NameMineFloorsReached, "Anchors whose search reached the hardness floor (max_rank) before k negatives survived.", nil, nil)
	descMineCalibration    = prometheus.NewDesc(NameMineCalibration, "Scores observed while mining a collection, by stream: positive (s⁺ per anchor), candidate (anchor–candidate scores) and positive_similarity (candidates' highest similarity to a positive); quantiles over the most recent 4,096, count and sum over all.", []string{"collection", "stream"}, nil)
	descMinePositiveScore  = prometheus.NewDesc(NameMinePositiveScore, "Positive score s⁺ (minimum over an anchor's positives) per mined anchor.", nil, nil)
	descMineNegativeScore  = prometheus.NewDesc(NameMineNegativeScore, "Score of every returned negative.", nil, nil)

	descWALFsyncSeconds      = prometheus.NewDesc(NameWALFsyncSeconds, "Duration of write-ahead-log fsyncs in seconds.", nil, nil)
	descWALWrittenBytes      = prometheus.NewDesc(NameWALWrittenBytes, "Bytes appended to the write-ahead log.", nil, nil)
	descWALRecords           = prometheus.NewDesc(NameWALRecords, "Records appended to the write-ahead log.", nil, nil)
	descWALSize              = prometheus.NewDesc(NameWALSize, "Current size of the write-ahead log on disk in bytes.", nil, nil)
	descSnapshotSeconds      = prometheus.NewDesc(NameSnapshotSeconds, "Duration of successful snapshots in seconds.", nil, nil)
	descSnapshots            = prometheus.NewDesc(NameSnapshots, "Snapshots attempted, by result (success, failure).", []string{"result"}, nil)
	descSnapshotLastSuccess  = prometheus.NewDesc(NameSnapshotLastSuccess, "Unix time of the newest complete snapshot on disk.", nil, nil)
	descRecoveryTruncated    = prometheus.NewDesc(NameRecoveryTruncated, "Bytes of torn or corrupt write-ahead-log tail cut off during recovery.", nil, nil)
	descRecoverySeconds      = prometheus.NewDesc(NameRecoverySeconds, "Duration of the last startup recovery in seconds.", nil, nil)
	descStreamWriters        = prometheus.NewDesc(NameStreamWriters, "Stream writers whose position (last applied sequence) is stored.", nil, nil)
	descStreamWritersExpired = prometheus.NewDesc(NameStreamWritersExpired, "Stream writers forgotten after -stream-writer-ttl without a batch, since start (-backend weaviate: the writer positions this miner deleted from the cluster).", nil, nil)

	descVolumeSize      = prometheus.NewDesc(NameVolumeSize, "Size of the file system holding the data directory in bytes.", nil, nil)
	descVolumeAvailable = prometheus.NewDesc(NameVolumeAvailable, "Bytes available to the server on the file system holding the data directory.", nil, nil)

	descInFlight         = prometheus.NewDesc(NameInFlight, "Requests and streams being served.", nil, nil)
	descInFlightRejected = prometheus.NewDesc(NameInFlightRejected, "Requests refused with RESOURCE_EXHAUSTED because their client had too many in flight.", nil, nil)

	descRemoteRetries     = prometheus.NewDesc(NameRemoteRetries, "Calls to the remote store (-backend weaviate) repeated after a transient failure (a node lost, the schema leader re-elected).", nil, nil)
	descLoopStateSaves    = prometheus.NewDesc(NameLoopStateSaves, "Saves of a collection's training-loop state (rotation, exposure, hardness, calibration) to the data directory, or to the cluster under -backend weaviate, by result (ok, error).", []string{"result"}, nil)
	descLoopStateLastSave = prometheus.NewDesc(NameLoopStateLastSave, "Unix time of the last round that saved every changed collection's training-loop state; absent until one has.", nil, nil)
	descRemoteGaveUp      = prometheus.NewDesc(NameRemoteGaveUp, "Calls to the remote store that still failed when -weaviate-retry-for ran out.", nil, nil)

	descTLSNotAfter       = prometheus.NewDesc(NameTLSNotAfter, "Unix time at which the served TLS certificate expires.", nil, nil)
	descTLSReloads        = prometheus.NewDesc(NameTLSReloads, "TLS certificate reloads after the files changed.", nil, nil)
	descTLSReloadErrors   = prometheus.NewDesc(NameTLSReloadErrors, "TLS certificate reloads that failed; the previous certificate stays in use.", nil, nil)
	descTokenReloads      = prometheus.NewDesc(NameTokenReloads, "Reloads of the bearer-token file after it changed.", nil, nil)
	descTokenReloadErrors = prometheus.NewDesc(NameTokenReloadErrors, "Reloads of the bearer-token file that failed; the previous tokens stay in use.", nil, nil)
	descTokenFileFailing  = prometheus.NewDesc(NameTokenFileFailing, "1 while the bearer-token file on disk does not load (the previous tokens are in use), else 0.", nil, nil)
)
