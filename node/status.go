package node

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/clusterf/clusterf/api"
	"github.com/clusterf/clusterf/cluster"
	"github.com/clusterf/clusterf/crdt"
)

// clusterView answers the HTTP cluster endpoints (api.Cluster) for a node.
type clusterView Node

var _ api.Cluster = (*clusterView)(nil)

func (c *clusterView) node() *Node { return (*Node)(c) }

// SetIntSetting sets an integer cluster setting (replication factor, sync
// interval) and announces it.
func (n *Node) SetIntSetting(key string, v int) error {
	_, err := n.Meta.Update(func(tx *crdt.Tx) error { return tx.SetSetting(key, crdt.EncodeValue(v)) })
	if err == nil {
		n.Cluster.Changed()
		n.Cluster.KickRepair()
		_ = n.Meta.View(func(v *crdt.View) error { // remote members log it from their change feed
			if ev, ok := settingEvent(v, key, string(n.ID)); ok {
				n.dash.events.add(ev)
			}
			return nil
		})
	}
	return err
}

// reportTTL bounds how stale the replication report behind /status and the
// partition endpoints may be: building it asks every holder about every
// referenced chunk, too much for each poll of a status page.
const reportTTL = 5 * time.Second

// replicationReport returns the cluster's report, rebuilt at most every
// reportTTL.
func (n *Node) replicationReport(ctx context.Context) ([]cluster.PartitionState, error) {
	n.reportMu.Lock()
	defer n.reportMu.Unlock()
	if n.report != nil && time.Since(n.reportAt) < reportTTL {
		return n.report, nil
	}
	rep, err := n.Cluster.Report(ctx)
	if err != nil {
		return nil, err
	}
	n.report, n.reportAt = rep, time.Now()
	return rep, nil
}

// summary counts partitions from the replication report.
func (c *clusterView) summary(ctx context.Context) (api.PartitionSummary, []cluster.PartitionState, error) {
	n := c.node()
	rep, err := n.replicationReport(ctx)
	if err != nil {
		return api.PartitionSummary{}, nil, err
	}
	var stats crdt.Stats
	_ = n.Meta.View(func(v *crdt.View) error { stats = v.Stats(); return nil })
	s := api.PartitionSummary{
		TotalPartitions:   n.Cluster.Partitions(),
		ReplicationFactor: n.Cluster.ReplicationFactor(),
		TotalFiles:        int64(stats.Files),
	}
	self := string(n.ID)
	for _, p := range rep {
		if slices.Contains(p.Expected, self) {
			s.LocalPartitions++
			if !slices.Contains(p.Holders, self) {
				s.PendingSync++
			}
		}
		if len(p.Holders) < p.Want {
			s.UnderReplicated++
		}
	}
	return s, rep, nil
}

func (c *clusterView) Status(ctx context.Context) (api.Status, error) {
	n := c.node()
	sum, _, err := c.summary(ctx)
	if err != nil {
		return api.Status{}, err
	}
	st := api.Status{
		NodeID:                       string(n.ID),
		DataDir:                      n.Dir,
		HTTPPort:                     n.httpPort,
		DiscoveryPort:                n.cfg.DiscoveryPort,
		ReplicationFactor:            sum.ReplicationFactor,
		PartitionStats:               sum,
		PeerList:                     []api.Peer{},
		Version:                      n.cfg.Version,
		StartedAt:                    n.started,
		PartitionSyncIntervalSeconds: int(n.Cluster.SyncInterval().Seconds()),
		NoStore:                      n.cfg.NoStore,
		Warnings:                     append([]string(nil), n.warnings...),
		VersionVector:                map[string]uint64{},
	}
	for o, seq := range n.Meta.VersionVector() {
		st.VersionVector[string(o)] = seq
	}
	if openLAN(n.cfg) {
		st.OpenMode = true
		st.Warnings = append(st.Warnings, "open LAN mode: no cluster key, any machine on the network can join")
	}
	tot, fp := n.Cluster.Totals(), n.Meta.Footprint()
	st.Reclaim = &api.ReclaimStatus{
		CollectedChunks: tot.Collected, CollectedBytes: tot.CollectedBytes, DroppedBytes: tot.DroppedBytes,
		WaitingFor: string(n.Cluster.LastRepair().WaitingFor), LogOps: fp.LogOps, Tombstones: fp.Tombstones,
		CompactedOps: tot.CompactedOps,
	}
	if w := st.Reclaim.WaitingFor; w != "" && !n.peerUp(w) {
		st.Warnings = append(st.Warnings, "garbage collection and compaction wait for member "+w+
			" (no recent sync with it); if it is gone for good: clusterf forget-node "+w)
	}
	for _, p := range n.Cluster.Peers() {
		st.PeerList = append(st.PeerList, api.Peer{
			NodeID: string(p.ID), Address: p.Addr, HTTPPort: p.HTTPPort,
			DiscoveryPort: n.cfg.DiscoveryPort, LastSeen: p.LastSeen, Connected: p.Up,
		})
	}
	return st, nil
}

func (c *clusterView) ClusterStats(ctx context.Context) (api.ClusterStats, error) {
	st, err := c.Status(ctx)
	if err != nil {
		return api.ClusterStats{}, err
	}
	var stats crdt.Stats
	_ = c.node().Meta.View(func(v *crdt.View) error { stats = v.Stats(); return nil })
	cs := api.ClusterStats{
		Status:     st,
		TotalNodes: 1 + len(st.PeerList),
		TotalDirs:  int64(stats.Dirs),
		TotalBytes: stats.Bytes,
		Conflicts:  stats.Conflicts,
	}
	cs.ConnectedNodes = 1
	for _, p := range st.PeerList {
		if p.Connected {
			cs.ConnectedNodes++
		}
	}
	return cs, nil
}

func (c *clusterView) PartitionStats(ctx context.Context) (api.PartitionReport, error) {
	sum, rep, err := c.summary(ctx)
	if err != nil {
		return api.PartitionReport{}, err
	}
	out := api.PartitionReport{PartitionSummary: sum, Partitions: []api.PartitionInfo{}}
	self := string(c.node().ID)
	for _, p := range rep {
		out.Partitions = append(out.Partitions, api.PartitionInfo{
			PartitionID:       strconv.Itoa(p.Partition),
			Holders:           nonNil(p.Holders),
			ReplicationFactor: p.Want,
			FileCount:         int64(p.Chunks),
			Local:             slices.Contains(p.Expected, self),
			PendingSync:       len(p.Holders) < len(p.Expected),
		})
	}
	return out, nil
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

func (c *clusterView) ReplicationFactor(ctx context.Context) (int, error) {
	return c.node().Cluster.ReplicationFactor(), nil
}

func (c *clusterView) SetReplicationFactor(ctx context.Context, rf int) error {
	if rf < 1 {
		return fmt.Errorf("replication factor %d: %w", rf, crdt.ErrInvalid)
	}
	return c.node().SetIntSetting(crdt.SettingReplicationFactor, rf)
}

func (c *clusterView) SetPartitionSyncInterval(ctx context.Context, seconds int) error {
	if seconds < 1 {
		return fmt.Errorf("partition sync interval %d: %w", seconds, crdt.ErrInvalid)
	}
	return c.node().SetIntSetting(crdt.SettingPartitionSyncInterval, seconds)
}

func (c *clusterView) UnderReplicated(ctx context.Context) (api.UnderReplicatedReport, error) {
	n := c.node()
	_, rep, err := c.summary(ctx)
	if err != nil {
		return api.UnderReplicatedReport{}, err
	}
	out := api.UnderReplicatedReport{ReplicationFactor: n.Cluster.ReplicationFactor(), Partitions: []api.UnderReplicatedPartition{}}
	for _, p := range rep {
		if len(p.Holders) >= p.Want {
			continue
		}
		out.Partitions = append(out.Partitions, api.UnderReplicatedPartition{
			PartitionID:       strconv.Itoa(p.Partition),
			Holders:           nonNil(p.Holders),
			ReplicationFactor: p.Want,
			MissingReplicas:   p.Want - len(p.Holders),
			FileCount:         int64(p.Chunks),
			Reason:            n.shortReason(p.Partition, p.Holders, p.Expected, p.Want),
		})
	}
	return out, nil
}

// IntegrityCheck re-hashes every local chunk and replaces corrupt ones with
// a verified copy from a peer when one has it.
func (c *clusterView) IntegrityCheck(ctx context.Context) (api.IntegrityReport, error) {
	n := c.node()
	start := time.Now()
	r, err := n.FS.CheckIntegrity(ctx)
	if err != nil {
		return api.IntegrityReport{}, err
	}
	rep := api.IntegrityReport{
		ChunksChecked: int64(r.Checked),
		BytesChecked:  r.Bytes,
		Corrupt:       []api.CorruptChunk{},
		StartedAt:     start,
		Duration:      api.Duration(r.Duration),
		Details: map[string]string{
			"missing_referenced_chunks": strconv.Itoa(len(r.Missing)),
			"unreferenced_chunks":       strconv.Itoa(r.Unreferenced),
		},
	}
	for _, id := range r.Corrupt {
		cc := api.CorruptChunk{ChunkID: id.String(), Error: "content does not match its id"}
		if err := n.FS.RepairChunk(ctx, id); err == nil {
			rep.Repaired++
			cc.Error += "; repaired from a peer"
		} else if !errors.Is(err, context.Canceled) {
			cc.Error += "; no good copy: " + err.Error()
		}
		rep.Corrupt = append(rep.Corrupt, cc)
	}
	rep.Success = len(r.Corrupt) == rep.Repaired
	ev := api.Event{Kind: "integrity_check", Message: fmt.Sprintf("integrity check: %d chunks verified, %d corrupt, %d repaired", r.Checked, len(r.Corrupt), rep.Repaired)}
	if !rep.Success {
		ev.Level = "error"
	} else if len(r.Corrupt) > 0 {
		ev.Level = "warn"
	}
	n.dash.events.add(ev)
	return rep, nil
}

// ForgetNode forgets a member that is gone for good (cluster.Forget).
func (c *clusterView) ForgetNode(ctx context.Context, id string) error {
	err := c.node().Cluster.Forget(crdt.NodeID(id))
	if errors.Is(err, cluster.ErrForgetUp) {
		return fmt.Errorf("%w (%v)", api.ErrMemberUp, err)
	}
	return err
}

// peerUp reports whether the member is up as this node sees it.
func (n *Node) peerUp(id string) bool {
	for _, p := range n.Cluster.Peers() {
		if string(p.ID) == id {
			return p.Up
		}
	}
	return false
}
