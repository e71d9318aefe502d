package api

import (
	"context"
	"errors"
	"strconv"
	"time"

	"github.com/clusterf/clusterf/media"
)

// Cluster is what the node provides to the cluster endpoints. Methods are
// called from request goroutines, concurrently; ctx ends when the client
// goes away. Errors may be wrapped; they are mapped to statuses like file
// errors (an unknown error is a logged 500). The API validates arguments
// before calling the setters (replication factor 1..MaxReplicationFactor,
// sync interval 1..MaxPartitionSyncInterval seconds).
//
// JSON field names follow the original clusterF so its scripts keep working.
type Cluster interface {
	// Status describes this node (GET /status).
	Status(ctx context.Context) (Status, error)
	// ClusterStats describes this node and the cluster as it sees it
	// (GET /api/cluster-stats).
	ClusterStats(ctx context.Context) (ClusterStats, error)
	// PartitionStats lists partitions and their holders (GET /api/partition-stats).
	PartitionStats(ctx context.Context) (PartitionReport, error)
	// ReplicationFactor returns the cluster-wide replication factor.
	ReplicationFactor(ctx context.Context) (int, error)
	// SetReplicationFactor changes the cluster-wide replication factor.
	SetReplicationFactor(ctx context.Context, n int) error
	// SetPartitionSyncInterval changes how often partitions are synced.
	SetPartitionSyncInterval(ctx context.Context, seconds int) error
	// UnderReplicated lists partitions with fewer holders than the
	// replication factor (GET /api/under-replicated).
	UnderReplicated(ctx context.Context) (UnderReplicatedReport, error)
	// IntegrityCheck verifies the locally stored chunks against their ids
	// and reports what is corrupt (POST /api/integrity-check). It may take
	// long; it should stop when ctx ends.
	IntegrityCheck(ctx context.Context) (IntegrityReport, error)
	// ForgetNode removes a member that is gone for good, so garbage
	// collection and compaction stop waiting for it (POST /api/forget-node).
	// A member that is up is an error wrapping ErrMemberUp; an unknown one
	// wraps crdt.ErrNotFound.
	ForgetNode(ctx context.Context, nodeID string) error
}

// ErrMemberUp is returned (wrapped) by Cluster.ForgetNode for a member
// that is up: stop it first (409).
var ErrMemberUp = errors.New("the member is up: stop it before forgetting it")

// Bounds checked before calling the Cluster setters.
const (
	MaxReplicationFactor     = 1000
	MaxPartitionSyncInterval = 86400 // seconds
)

// Status is the answer of GET /status. PeerList must not be nil (an empty
// list is encoded as []).
type Status struct {
	NodeID            string           `json:"node_id"`
	DataDir           string           `json:"data_dir"`
	HTTPPort          int              `json:"http_port"`
	DiscoveryPort     int              `json:"discovery_port"`
	ReplicationFactor int              `json:"replication_factor"`
	PartitionStats    PartitionSummary `json:"partition_stats"`
	PeerList          []Peer           `json:"peer_list"`

	// Our additions.
	Version                      string    `json:"version,omitempty"`
	StartedAt                    time.Time `json:"started_at"`
	PartitionSyncIntervalSeconds int       `json:"partition_sync_interval_seconds"`
	NoStore                      bool      `json:"no_store"` // client mode: stores no data
	// VersionVector is the metadata this node has applied, by origin.
	VersionVector map[string]uint64 `json:"version_vector,omitempty"`
	// OpenMode is true in open LAN mode: no cluster key, and a transport
	// other machines can reach; Warnings then says so in words.
	OpenMode bool     `json:"open_mode"`
	Warnings []string `json:"warnings,omitempty"`
	// Reclaim describes garbage collection and compaction on this node.
	Reclaim *ReclaimStatus `json:"reclaim,omitempty"`
	// Media describes media streaming (filled by the API from
	// Config.Media; absent without it).
	Media *media.Status `json:"media,omitempty"`
}

// ReclaimStatus is what garbage collection and compaction did and whether
// they wait for a member (docs/reliability.md, "Chunk lifecycle").
type ReclaimStatus struct {
	CollectedChunks int64  `json:"collected_chunks"`
	CollectedBytes  int64  `json:"collected_bytes"`
	DroppedBytes    int64  `json:"dropped_copy_bytes"`
	WaitingFor      string `json:"waiting_for,omitempty"` // a member with no fresh report: nothing is collected or compacted until it reports or is forgotten
	LogOps          int    `json:"metadata_log_ops"`
	Tombstones      int    `json:"metadata_tombstones"`
	CompactedOps    int64  `json:"compacted_log_ops"`
}

// PartitionSummary counts partitions as this node sees them.
type PartitionSummary struct {
	LocalPartitions   int   `json:"local_partitions"`
	TotalPartitions   int   `json:"total_partitions"`
	UnderReplicated   int   `json:"under_replicated"`
	PendingSync       int   `json:"pending_sync"`
	ReplicationFactor int   `json:"replication_factor"`
	TotalFiles        int64 `json:"total_files"`
}

// Peer is one known cluster member.
type Peer struct {
	NodeID        string    `json:"node_id"`
	Address       string    `json:"address"`
	HTTPPort      int       `json:"http_port"`
	DiscoveryPort int       `json:"discovery_port,omitempty"`
	LastSeen      time.Time `json:"last_seen"`
	Connected     bool      `json:"connected"`
	NoStore       bool      `json:"no_store"`
}

// ClusterStats is the answer of GET /api/cluster-stats: the node's Status
// (same fields, inline) plus cluster-wide totals.
type ClusterStats struct {
	Status
	TotalNodes     int   `json:"total_nodes"`
	ConnectedNodes int   `json:"connected_nodes"`
	TotalDirs      int64 `json:"total_dirs"`
	TotalBytes     int64 `json:"total_bytes"`
	Conflicts      int   `json:"conflicts"`
}

// PartitionReport is the answer of GET /api/partition-stats.
type PartitionReport struct {
	PartitionSummary
	Partitions []PartitionInfo `json:"partitions"`
}

// PartitionInfo describes one partition.
type PartitionInfo struct {
	PartitionID       string   `json:"partition_id"`
	Holders           []string `json:"holders"`
	ReplicationFactor int      `json:"replication_factor"`
	FileCount         int64    `json:"file_count"`
	Local             bool     `json:"local"`
	PendingSync       bool     `json:"pending_sync"`
}

// UnderReplicatedReport is the answer of GET /api/under-replicated.
type UnderReplicatedReport struct {
	ReplicationFactor int                        `json:"replication_factor"`
	Partitions        []UnderReplicatedPartition `json:"partitions"`
}

// UnderReplicatedPartition is one partition short of replicas.
type UnderReplicatedPartition struct {
	PartitionID       string   `json:"partition_id"`
	Holders           []string `json:"holders"`
	ReplicationFactor int      `json:"replication_factor"`
	MissingReplicas   int      `json:"missing_replicas"`
	Reason            string   `json:"reason,omitempty"` // why: holders down, repair in progress
	FileCount         int64    `json:"file_count"`
}

// IntegrityReport is the answer of POST /api/integrity-check.
type IntegrityReport struct {
	Success       bool              `json:"success"` // nothing corrupt
	ChunksChecked int64             `json:"chunks_checked"`
	BytesChecked  int64             `json:"bytes_checked"`
	Corrupt       []CorruptChunk    `json:"corrupt"`
	Repaired      int               `json:"repaired"`
	StartedAt     time.Time         `json:"started_at"`
	Duration      Duration          `json:"duration_seconds"`
	Details       map[string]string `json:"details,omitempty"`
}

// CorruptChunk is one chunk that failed verification.
type CorruptChunk struct {
	ChunkID string   `json:"chunk_id"`
	Paths   []string `json:"paths,omitempty"` // files using it, when known
	Error   string   `json:"error"`
}

// Duration encodes as seconds (a JSON number).
type Duration time.Duration

// MarshalJSON encodes d in seconds.
func (d Duration) MarshalJSON() ([]byte, error) {
	return strconv.AppendFloat(nil, time.Duration(d).Seconds(), 'f', -1, 64), nil
}

// UnmarshalJSON decodes seconds.
func (d *Duration) UnmarshalJSON(b []byte) error {
	f, err := strconv.ParseFloat(string(b), 64)
	if err != nil {
		return err
	}
	*d = Duration(f * float64(time.Second))
	return nil
}
