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
)

func (c *nodeCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descChunks, descBytes, descFiles, descConf, descPeerUp, descPeerLag, descRF, descParts, descMembers, descMetaOps, descUptime} {
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
}
