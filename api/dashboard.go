package api

import (
	"context"
	"time"

	"github.com/clusterf/clusterf/chunk"
)

// Dashboard is what the node provides to the endpoints the web dashboard
// needs beyond the cluster endpoints: the node's event log, the members
// as each tells about itself, metric history and chunk placement. Nil in
// Config answers those endpoints with 503. Methods are called from request
// goroutines, concurrently.
type Dashboard interface {
	// Events returns up to max events with a sequence number after after
	// (oldest first); missed is true when some of them are no longer kept
	// (or after is from another epoch's numbering).
	Events(after uint64, max int) (events []Event, missed bool)
	// LastEvent returns the sequence number of the newest event.
	LastEvent() uint64
	// WaitEvents blocks until an event after after exists or ctx ends.
	WaitEvents(ctx context.Context, after uint64) error
	// Epoch names this run of the node: sequence numbers (of the event log
	// and of the change feed) restart with it.
	Epoch() string
	// Members describes this node and every known peer (GET /api/members).
	Members(ctx context.Context) (MembersReport, error)
	// MetricsHistory returns the sampled metric series (GET /api/metrics/history).
	MetricsHistory() MetricsHistory
	// Placement says where chunks should be and where verified copies are.
	Placement(ctx context.Context, ids []chunk.ID) ([]ChunkPlacement, error)
	// PeerVectors lists each peer's version vector as it last reported it.
	PeerVectors() []PeerVector
}

// Event is one entry of the node's event log.
type Event struct {
	Seq     uint64    `json:"seq"`
	Time    time.Time `json:"time"`
	Kind    string    `json:"kind"`  // peer_up, peer_unreachable, peer_down, repair, corrupt_chunk, gc_waiting, setting, replication_factor, conflict, integrity_check, started
	Level   string    `json:"level"` // info, warn, error
	Node    string    `json:"node,omitempty"`
	Path    string    `json:"path,omitempty"`
	Message string    `json:"message"`
}

// MembersReport is the answer of GET /api/members.
type MembersReport struct {
	Self              string   `json:"self"`
	ReplicationFactor int      `json:"replication_factor"`
	Partitions        int      `json:"partitions"`
	Members           []Member `json:"members"`
}

// Member is one cluster member as this node sees it, with what it says
// about itself when it answers.
type Member struct {
	NodeID    string    `json:"node_id"`
	Self      bool      `json:"self"`
	State     string    `json:"state"`           // up, unreachable (last round failed), down
	Since     time.Time `json:"since,omitempty"` // of the latest state change seen
	LastSeen  time.Time `json:"last_seen,omitempty"`
	Address   string    `json:"address,omitempty"`
	HTTPPort  int       `json:"http_port,omitempty"`
	NoStore   bool      `json:"no_store"`
	Version   string    `json:"version,omitempty"`
	StartedAt time.Time `json:"started_at,omitempty"`
	Chunks    int64     `json:"chunks"`
	Bytes     int64     `json:"bytes"`
	DiskFree  int64     `json:"disk_free"`
	DiskTotal int64     `json:"disk_total"`
	// Partitions counts the partitions placement gives it (with data).
	Partitions int `json:"partitions"`
	// LagOps: metadata ops this node has that the member has not acknowledged.
	LagOps int    `json:"lag_ops"`
	Error  string `json:"error,omitempty"`
	// Links is the member's own view of its peers (empty when it did not answer).
	Links []MemberLink `json:"links"`
	// Fetched: chunks it fetched from each peer since it started (repair traffic).
	Fetched map[string]Transfer `json:"fetched,omitempty"`
}

// MemberLink is one peer in a member's view.
type MemberLink struct {
	NodeID   string    `json:"node_id"`
	Up       bool      `json:"up"`
	LastSeen time.Time `json:"last_seen"`
	LagOps   int       `json:"lag_ops"`
	Error    string    `json:"error,omitempty"`
}

// Transfer counts chunks moved.
type Transfer struct {
	Chunks int64 `json:"chunks"`
	Bytes  int64 `json:"bytes"`
}

// MetricsHistory is the answer of GET /api/metrics/history: samples of a
// few series, every Interval, oldest first.
type MetricsHistory struct {
	Interval Duration        `json:"interval_seconds"`
	Times    []int64         `json:"times"` // unix seconds
	Series   []MetricsSeries `json:"series"`
}

// MetricsSeries is one sampled series; Values[i] belongs to Times[i]
// (null: not available then).
type MetricsSeries struct {
	Name   string     `json:"name"`
	Unit   string     `json:"unit"` // "ops/s", "bytes/s", "seconds", "ops", "chunks", "bytes"
	Group  string     `json:"group"`
	Values []*float64 `json:"values"`
}

// ChunkPlacement is where one chunk should be and is.
type ChunkPlacement struct {
	ChunkID   string   `json:"chunk_id"`
	Partition int      `json:"partition"`
	Holders   []string `json:"holders"`  // where placement wants it
	Verified  []string `json:"verified"` // holders that have a verified copy
	Want      int      `json:"want"`
	Reason    string   `json:"reason,omitempty"` // why it has fewer verified copies than wanted
}

// PeerVector is a peer's version vector as it last reported it, and how
// many ops it lacks that this node has.
type PeerVector struct {
	NodeID string            `json:"node_id"`
	Up     bool              `json:"up"`
	Vector map[string]uint64 `json:"version_vector"`
	Behind int               `json:"ops_behind"`
}
