package node

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/clusterf/clusterf/crdt"
)

// nodeCollector exposes the node's state as Prometheus metrics at scrape
// time: chunks and bytes stored, namespace size, peers and how far behind
// each one is (replication lag in ops), replication settings.
type nodeCollector Node

var (
	descChunks  = prometheus.NewDesc("clusterf_chunks_stored", "Chunks stored on this node.", nil, nil)
	descBytes   = prometheus.NewDesc("clusterf_chunk_bytes_stored", "Bytes of chunk blobs stored on this node.", nil, nil)
	descFiles   = prometheus.NewDesc("clusterf_namespace_inodes", "Live inodes in the namespace, by kind.", []string{"kind"}, nil)
	descConf    = prometheus.NewDesc("clusterf_namespace_conflicts", "Conflict copies currently shown.", nil, nil)
	descPeerUp  = prometheus.NewDesc("clusterf_peer_up", "1 if the peer answered the last sync round.", []string{"peer"}, nil)
	descPeerLag = prometheus.NewDesc("clusterf_replication_lag_ops", "Metadata ops this node has that the peer has not acknowledged.", []string{"peer"}, nil)
	descRF      = prometheus.NewDesc("clusterf_replication_factor", "Cluster replication factor setting.", nil, nil)
	descParts   = prometheus.NewDesc("clusterf_partitions", "Number of partitions (fixed at cluster creation).", nil, nil)
	descMembers = prometheus.NewDesc("clusterf_storage_members", "Live storage members as this node sees them.", nil, nil)
	descMetaOps = prometheus.NewDesc("clusterf_metadata_ops_seen", "Metadata ops applied, by origin node.", []string{"origin"}, nil)
	descUptime  = prometheus.NewDesc("clusterf_uptime_seconds", "Seconds since the node started.", nil, nil)

	descGCChunks  = prometheus.NewDesc("clusterf_gc_collected_chunks_total", "Unreferenced chunks deleted by garbage collection.", nil, nil)
	descGCBytes   = prometheus.NewDesc("clusterf_gc_collected_bytes_total", "Stored bytes freed by garbage collection.", nil, nil)
	descDropBytes = prometheus.NewDesc("clusterf_dropped_copy_bytes_total", "Stored bytes freed by dropping copies other holders confirmed.", nil, nil)
	descGCWait    = prometheus.NewDesc("clusterf_gc_waiting", "1 while garbage collection or compaction waits for a member (no fresh report from it).", []string{"member"}, nil)
	descHistory   = prometheus.NewDesc("clusterf_metadata_history", "Metadata history kept (shrinks with compaction), by kind.", []string{"kind"}, nil)
	descCompacted = prometheus.NewDesc("clusterf_compacted_total", "Metadata removed by compaction, by kind.", []string{"kind"}, nil)
	descRefused   = prometheus.NewDesc("clusterf_ops_refused_total", "Remote ops not applied: deferred (from the future) or forged.", []string{"reason"}, nil)
	descFetched   = prometheus.NewDesc("clusterf_chunk_fetched_bytes_total", "Bytes of chunk copies fetched from each peer (repair, reads of chunks not stored here).", []string{"peer"}, nil)
)

func (c *nodeCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descChunks, descBytes, descFiles, descConf, descPeerUp, descPeerLag, descRF, descParts, descMembers, descMetaOps, descUptime,
		descGCChunks, descGCBytes, descDropBytes, descGCWait, descHistory, descCompacted, descRefused, descFetched} {
		ch <- d
	}
}

func (c *nodeCollector) Collect(ch chan<- prometheus.Metric) {
	n := (*Node)(c)
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if u, err := n.Chunks.Usage(ctx); err == nil {
		gauge(descChunks, float64(u.Chunks))
		gauge(descBytes, float64(u.Bytes))
	}
	var st crdt.Stats
	_ = n.Meta.View(func(v *crdt.View) error { st = v.Stats(); return nil })
	gauge(descFiles, float64(st.Files), "file")
	gauge(descFiles, float64(st.Dirs), "dir")
	gauge(descFiles, float64(st.Symlinks), "symlink")
	gauge(descConf, float64(st.Conflicts))
	for _, p := range n.Cluster.Peers() {
		up := 0.0
		if p.Up {
			up = 1
		}
		gauge(descPeerUp, up, string(p.ID))
		gauge(descPeerLag, float64(p.Behind), string(p.ID))
	}
	gauge(descRF, float64(n.Cluster.ReplicationFactor()))
	gauge(descParts, float64(n.Cluster.Partitions()))
	gauge(descMembers, float64(len(n.Cluster.StorageMembers())))
	for origin, seq := range n.Meta.VersionVector() {
		ch <- prometheus.MustNewConstMetric(descMetaOps, prometheus.CounterValue, float64(seq), string(origin))
	}
	if !n.started.IsZero() {
		gauge(descUptime, time.Since(n.started).Seconds())
	}
	counter := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, v, labels...)
	}
	tot := n.Cluster.Totals()
	counter(descGCChunks, float64(tot.Collected))
	counter(descGCBytes, float64(tot.CollectedBytes))
	counter(descDropBytes, float64(tot.DroppedBytes))
	counter(descCompacted, float64(tot.CompactedOps), "log_ops")
	counter(descCompacted, float64(tot.CompactedDead), "tombstones")
	if w := n.Cluster.LastRepair().WaitingFor; w != "" {
		gauge(descGCWait, 1, string(w))
	}
	fp := n.Meta.Footprint()
	gauge(descHistory, float64(fp.LogOps), "log_ops")
	gauge(descHistory, float64(fp.MoveLog), "move_log")
	gauge(descHistory, float64(fp.Tombstones), "tombstones")
	gauge(descHistory, float64(fp.Dentries), "dentries")
	counter(descRefused, float64(n.Meta.FutureOps()), "future")
	counter(descRefused, float64(n.Meta.Forgeries()), "forged")
	for peer, t := range n.Cluster.Traffic() {
		counter(descFetched, float64(t.Bytes), string(peer))
	}
}
