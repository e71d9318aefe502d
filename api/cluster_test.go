package api

import (
	"context"
	"errors"
	"fmt"
	"github.com/clusterf/clusterf/crdt"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// fakeCluster stands in for the node, which this package cannot start;
// these tests are about the HTTP mapping only (the node has its own).
type fakeCluster struct {
	mu       sync.Mutex
	rf       int
	interval int
	err      error // returned by every method when set
}

func (f *fakeCluster) status() Status {
	return Status{
		NodeID: "n1", DataDir: "/data/n1", HTTPPort: 8080, DiscoveryPort: 9999, ReplicationFactor: f.rf,
		PartitionStats: PartitionSummary{LocalPartitions: 3, TotalPartitions: 16, UnderReplicated: 1, PendingSync: 2, ReplicationFactor: f.rf, TotalFiles: 42},
		PeerList:       nil, // the API turns it into []
	}
}

func (f *fakeCluster) Status(ctx context.Context) (Status, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.status(), f.err
}

func (f *fakeCluster) ClusterStats(ctx context.Context) (ClusterStats, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	st := f.status()
	st.PeerList = []Peer{{NodeID: "n2", Address: "10.0.0.2", HTTPPort: 8081, LastSeen: time.Unix(1700000000, 0).UTC(), Connected: true}}
	return ClusterStats{Status: st, TotalNodes: 2, ConnectedNodes: 2}, f.err
}

func (f *fakeCluster) PartitionStats(ctx context.Context) (PartitionReport, error) {
	return PartitionReport{PartitionSummary: PartitionSummary{TotalPartitions: 16}}, f.err
}

func (f *fakeCluster) ReplicationFactor(ctx context.Context) (int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.rf, f.err
}

func (f *fakeCluster) SetReplicationFactor(ctx context.Context, n int) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.err == nil {
		f.rf = n
	}
	return f.err
}

func (f *fakeCluster) SetPartitionSyncInterval(ctx context.Context, secs int) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.err == nil {
		f.interval = secs
	}
	return f.err
}

func (f *fakeCluster) UnderReplicated(ctx context.Context) (UnderReplicatedReport, error) {
	return UnderReplicatedReport{ReplicationFactor: f.rf, Partitions: []UnderReplicatedPartition{
		{PartitionID: "p7", Holders: []string{"n1"}, ReplicationFactor: f.rf, MissingReplicas: f.rf - 1, FileCount: 9},
	}}, f.err
}

func (f *fakeCluster) IntegrityCheck(ctx context.Context) (IntegrityReport, error) {
	return IntegrityReport{Success: true, ChunksChecked: 10, Duration: Duration(1500 * time.Millisecond)}, f.err
}

func (f *fakeCluster) ForgetNode(ctx context.Context, id string) error {
	switch id {
	case "gone":
		return f.err
	case "up":
		return fmt.Errorf("forget up: %w", ErrMemberUp)
	}
	return fmt.Errorf("forget %s: %w", id, crdt.ErrNotFound)
}

func TestForgetNodeRoute(t *testing.T) {
	e := newEnv(t, Config{Cluster: &fakeCluster{rf: 3}})
	e.want(200, "POST", "/api/forget-node", strings.NewReader(`{"node_id":"gone"}`))
	e.want(409, "POST", "/api/forget-node", strings.NewReader(`{"node_id":"up"}`))
	e.want(404, "POST", "/api/forget-node", strings.NewReader(`{"node_id":"nobody"}`))
	e.want(400, "POST", "/api/forget-node", strings.NewReader(`{}`))
	e.want(400, "POST", "/api/forget-node", strings.NewReader(`not json`))
}

func TestClusterRoutes(t *testing.T) {
	fc := &fakeCluster{rf: 3}
	e := newEnv(t, Config{Cluster: fc})

	st := decode[map[string]any](t, e.want(200, "GET", "/status", nil))
	for _, k := range []string{"node_id", "data_dir", "http_port", "discovery_port", "replication_factor", "partition_stats", "peer_list", "open_mode"} {
		if _, ok := st[k]; !ok {
			t.Errorf("/status lacks %q", k)
		}
	}
	if pl, ok := st["peer_list"].([]any); !ok || len(pl) != 0 {
		t.Errorf("peer_list %v, want []", st["peer_list"])
	}
	ps := st["partition_stats"].(map[string]any)
	for _, k := range []string{"local_partitions", "total_partitions", "under_replicated", "pending_sync", "replication_factor", "total_files"} {
		if _, ok := ps[k]; !ok {
			t.Errorf("partition_stats lacks %q", k)
		}
	}
	cs := decode[map[string]any](t, e.want(200, "GET", "/api/cluster-stats", nil))
	if cs["node_id"] != "n1" || cs["total_nodes"] != float64(2) || len(cs["peer_list"].([]any)) != 1 {
		t.Errorf("cluster-stats %v", cs)
	}
	pr := decode[map[string]any](t, e.want(200, "GET", "/api/partition-stats", nil))
	if pr["total_partitions"] != float64(16) || pr["partitions"] == nil {
		t.Errorf("partition-stats %v", pr)
	}

	if b := strings.TrimSpace(string(e.want(200, "GET", "/api/replication-factor", nil))); b != `{"replication_factor":3}` {
		t.Errorf("get RF: %s", b)
	}
	e.want(200, "PUT", "/api/replication-factor", strings.NewReader(`{"replication_factor": 1000}`))
	for _, body := range []string{`{"replication_factor": 0}`, `{"replication_factor": 1001}`, `{"replication_factor": -2}`, `{"replication_factor": "5"}`, `{}`, `nope`, ``} {
		e.wantErr(400, "PUT", "/api/replication-factor", strings.NewReader(body))
	}
	if fc.rf != 1000 {
		t.Errorf("rf %d after bad requests", fc.rf)
	}
	for _, body := range []string{`{"partition_sync_interval_seconds": 0}`, `{"partition_sync_interval_seconds": 86401}`, `{}`, `[`} {
		e.wantErr(400, "PUT", "/api/partition-sync-interval", strings.NewReader(body))
	}

	ur := decode[map[string]any](t, e.want(200, "GET", "/api/under-replicated", nil))
	parts := ur["partitions"].([]any)
	p0 := parts[0].(map[string]any)
	for _, k := range []string{"partition_id", "holders", "replication_factor", "missing_replicas", "file_count"} {
		if _, ok := p0[k]; !ok {
			t.Errorf("under-replicated partition lacks %q", k)
		}
	}
	ic := decode[map[string]any](t, e.want(200, "POST", "/api/integrity-check", nil))
	if ic["success"] != true || ic["duration_seconds"] != 1.5 {
		t.Errorf("integrity %v", ic)
	}

	// Cluster errors map like file errors.
	fc.err = errors.New("boom")
	e.wantErr(500, "GET", "/status", nil)
	fc.err = syscall.ENOSPC
	e.wantErr(507, "POST", "/api/integrity-check", nil)
	fc.err = context.DeadlineExceeded
	e.wantErr(504, "GET", "/api/under-replicated", nil)
	fc.err = nil

	// Wrong methods.
	e.wantErr(405, "POST", "/status", nil)
	e.wantErr(405, "DELETE", "/api/replication-factor", nil)
	e.wantErr(404, "GET", "/api/nothing-here", nil)
}

func TestNoCluster(t *testing.T) {
	e := newEnv(t, Config{})
	for _, r := range [][2]string{{"GET", "/status"}, {"GET", "/api/cluster-stats"}, {"GET", "/api/partition-stats"}, {"GET", "/api/replication-factor"}, {"GET", "/api/under-replicated"}, {"POST", "/api/integrity-check"}} {
		e.wantErr(503, r[0], r[1], nil)
	}
	e.wantErr(503, "PUT", "/api/replication-factor", strings.NewReader(`{"replication_factor": 2}`))
}
