package node

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"time"

	"github.com/clusterf/clusterf/api"
	"github.com/clusterf/clusterf/chunk"
	"github.com/clusterf/clusterf/crdt"
)

// Cluster-wide setting defaults.
const (
	DefaultReplicationFactor     = 3
	DefaultPartitions            = 1024
	DefaultPartitionSyncInterval = 30 // seconds
)

// clusterView answers the HTTP cluster endpoints (api.Cluster) for a node.
type clusterView Node

var _ api.Cluster = (*clusterView)(nil)

func (c *clusterView) node() *Node { return (*Node)(c) }

// intSetting reads an integer cluster setting.
func (n *Node) intSetting(key string, def int) int {
	v := def
	_ = n.Meta.View(func(view *crdt.View) error {
		if b, ok := view.Setting(key); ok {
			var x int
			if crdt.DecodeValue(b, &x) == nil && x > 0 {
				v = x
			}
		}
		return nil
	})
	return v
}

func (n *Node) setIntSetting(key string, v int) error {
	_, err := n.Meta.Update(func(tx *crdt.Tx) error { return tx.SetSetting(key, crdt.EncodeValue(v)) })
	if err == nil {
		n.Cluster.Changed()
	}
	return err
}

// partitionOf maps a chunk to its partition (id mod P, over the first 8 bytes).
func partitionOf(id chunk.ID, partitions int) int {
	var x uint64
	for _, b := range id[:8] {
		x = x<<8 | uint64(b)
	}
	return int(x % uint64(partitions))
}

// partitionCounts counts this node's locally stored chunks per partition.
func (n *Node) partitionCounts(ctx context.Context, partitions int) (map[int]int64, error) {
	counts := make(map[int]int64)
	err := n.Chunks.List(ctx, func(id chunk.ID) error {
		counts[partitionOf(id, partitions)]++
		return nil
	})
	return counts, err
}

// storageMembers counts the nodes that store data: this one and its live peers.
func (n *Node) storageMembers() int {
	m := 1
	for _, p := range n.Cluster.Peers() {
		if p.Up {
			m++
		}
	}
	return m
}

func (c *clusterView) summary(ctx context.Context) (api.PartitionSummary, map[int]int64, error) {
	n := c.node()
	rf := n.intSetting(crdt.SettingReplicationFactor, DefaultReplicationFactor)
	parts := n.intSetting(crdt.SettingPartitions, DefaultPartitions)
	counts, err := n.partitionCounts(ctx, parts)
	if err != nil {
		return api.PartitionSummary{}, nil, err
	}
	var stats crdt.Stats
	_ = n.Meta.View(func(v *crdt.View) error { stats = v.Stats(); return nil })
	s := api.PartitionSummary{
		LocalPartitions:   len(counts),
		TotalPartitions:   parts,
		ReplicationFactor: rf,
		TotalFiles:        int64(stats.Files),
	}
	if n.storageMembers() < rf {
		// Until placement lands every stored copy lives on this node and
		// its peers at most: a partition cannot reach RF copies.
		s.UnderReplicated = len(counts)
	}
	return s, counts, nil
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
		PartitionSyncIntervalSeconds: n.intSetting(crdt.SettingPartitionSyncInterval, DefaultPartitionSyncInterval),
		Warnings:                     append([]string(nil), n.warnings...),
	}
	if n.cfg.ClusterKey == "" {
		st.OpenMode = true
		st.Warnings = append(st.Warnings, "open LAN mode: no cluster key, any machine on the network can join")
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
	sum, counts, err := c.summary(ctx)
	if err != nil {
		return api.PartitionReport{}, err
	}
	rep := api.PartitionReport{PartitionSummary: sum, Partitions: []api.PartitionInfo{}}
	ids := make([]int, 0, len(counts))
	for p := range counts {
		ids = append(ids, p)
	}
	sort.Ints(ids)
	for _, p := range ids {
		rep.Partitions = append(rep.Partitions, api.PartitionInfo{
			PartitionID:       strconv.Itoa(p),
			Holders:           []string{string(c.node().ID)},
			ReplicationFactor: sum.ReplicationFactor,
			FileCount:         counts[p],
			Local:             true,
		})
	}
	return rep, nil
}

func (c *clusterView) ReplicationFactor(ctx context.Context) (int, error) {
	return c.node().intSetting(crdt.SettingReplicationFactor, DefaultReplicationFactor), nil
}

func (c *clusterView) SetReplicationFactor(ctx context.Context, rf int) error {
	if rf < 1 {
		return fmt.Errorf("replication factor %d: %w", rf, crdt.ErrInvalid)
	}
	return c.node().setIntSetting(crdt.SettingReplicationFactor, rf)
}

func (c *clusterView) SetPartitionSyncInterval(ctx context.Context, seconds int) error {
	if seconds < 1 {
		return fmt.Errorf("partition sync interval %d: %w", seconds, crdt.ErrInvalid)
	}
	return c.node().setIntSetting(crdt.SettingPartitionSyncInterval, seconds)
}

func (c *clusterView) UnderReplicated(ctx context.Context) (api.UnderReplicatedReport, error) {
	n := c.node()
	sum, counts, err := c.summary(ctx)
	if err != nil {
		return api.UnderReplicatedReport{}, err
	}
	rep := api.UnderReplicatedReport{ReplicationFactor: sum.ReplicationFactor, Partitions: []api.UnderReplicatedPartition{}}
	members := n.storageMembers()
	if members >= sum.ReplicationFactor {
		return rep, nil
	}
	ids := make([]int, 0, len(counts))
	for p := range counts {
		ids = append(ids, p)
	}
	sort.Ints(ids)
	for _, p := range ids {
		rep.Partitions = append(rep.Partitions, api.UnderReplicatedPartition{
			PartitionID:       strconv.Itoa(p),
			Holders:           []string{string(n.ID)},
			ReplicationFactor: sum.ReplicationFactor,
			MissingReplicas:   sum.ReplicationFactor - 1,
			FileCount:         counts[p],
		})
	}
	return rep, nil
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
		if blob, ferr := n.Cluster.FetchChunk(ctx, id); ferr == nil {
			derr := n.Chunks.Delete(ctx, id)
			if derr == nil {
				derr = n.Chunks.Put(ctx, id, blob)
			}
			if derr == nil {
				rep.Repaired++
				cc.Error += "; repaired from a peer"
				n.log.Info("corrupt chunk repaired from a peer", "chunk", id)
			} else {
				cc.Error += "; repair failed: " + derr.Error()
			}
		} else if !errors.Is(ferr, context.Canceled) {
			cc.Error += "; no good copy: " + ferr.Error()
		}
		rep.Corrupt = append(rep.Corrupt, cc)
	}
	rep.Success = len(r.Corrupt) == rep.Repaired
	return rep, nil
}
