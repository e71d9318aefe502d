package sim

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"github.com/clusterf/clusterf/node"
)

// Config describes a simulated cluster.
type Config struct {
	Nodes        int
	BasePort     int    // HTTP ports BasePort..BasePort+Nodes-1; discovery ports follow
	DataDir      string // base data dir
	ClusterKey   string
	ChunkSize    int
	SyncInterval time.Duration // metadata anti-entropy per peer (0 = node default)
	Logger       *slog.Logger
	Version      string
}

// Cluster is a running simulation.
type Cluster struct {
	cfg Config
	ctx context.Context

	mu    sync.Mutex
	nodes []*node.Node // nil while a node is stopped
}

// NodeConfig returns the configuration of node i.
func (c *Cluster) NodeConfig(i int) node.Config {
	cfg := c.cfg
	var bcast []string
	for j := range cfg.Nodes {
		if j != i {
			bcast = append(bcast, net.JoinHostPort("127.0.0.1", strconv.Itoa(cfg.BasePort+cfg.Nodes+j)))
		}
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return node.Config{
		NodeID:             "sim-" + strconv.Itoa(i),
		DataDir:            cfg.DataDir,
		HTTPPort:           cfg.BasePort + i,
		HTTPAddr:           "127.0.0.1",
		DiscoveryPort:      cfg.BasePort + cfg.Nodes + i,
		DiscoveryHost:      "127.0.0.1",
		DiscoveryRateLimit: float64(10 * cfg.Nodes),
		BroadcastAddrs:     bcast,
		QUICHost:           "127.0.0.1",
		QUICPort:           cfg.BasePort + 2*cfg.Nodes + i,
		ClusterKey:         cfg.ClusterKey,
		ChunkSize:          cfg.ChunkSize,
		SyncInterval:       cfg.SyncInterval,
		Logger:             log,
		Version:            cfg.Version,
	}
}

// Start starts every node; they run until ctx ends or Close.
func Start(ctx context.Context, cfg Config) (*Cluster, error) {
	if cfg.Nodes < 1 {
		return nil, fmt.Errorf("sim: need at least one node, got %d", cfg.Nodes)
	}
	if cfg.BasePort <= 0 || cfg.BasePort+3*cfg.Nodes > 65535 {
		return nil, fmt.Errorf("sim: base port %d cannot fit %d nodes (HTTP, discovery and QUIC ports)", cfg.BasePort, cfg.Nodes)
	}
	if cfg.DataDir == "" {
		cfg.DataDir = "data"
	}
	c := &Cluster{cfg: cfg, ctx: ctx, nodes: make([]*node.Node, cfg.Nodes)}
	for i := range cfg.Nodes {
		if err := c.StartNode(i); err != nil {
			c.Close()
			return nil, err
		}
	}
	return c, nil
}

// StartNode starts (or restarts) node i.
func (c *Cluster) StartNode(i int) error {
	n, err := node.New(c.NodeConfig(i))
	if err != nil {
		return fmt.Errorf("sim node %d: %w", i, err)
	}
	if err := n.Start(c.ctx); err != nil {
		n.Close()
		return fmt.Errorf("sim node %d: %w", i, err)
	}
	c.mu.Lock()
	c.nodes[i] = n
	c.mu.Unlock()
	return nil
}

// StopNode closes node i (its data dir stays for a restart).
func (c *Cluster) StopNode(i int) error {
	c.mu.Lock()
	n := c.nodes[i]
	c.nodes[i] = nil
	c.mu.Unlock()
	if n == nil {
		return nil
	}
	return n.Close()
}

// Node returns node i, nil while it is stopped.
func (c *Cluster) Node(i int) *node.Node {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.nodes[i]
}

// Live returns the running nodes.
func (c *Cluster) Live() []*node.Node {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []*node.Node
	for _, n := range c.nodes {
		if n != nil {
			out = append(out, n)
		}
	}
	return out
}

// Close stops every node.
func (c *Cluster) Close() error {
	var errs []error
	for i := range c.cfg.Nodes {
		errs = append(errs, c.StopNode(i))
	}
	return errors.Join(errs...)
}

// DataDir returns node i's data directory.
func (c *Cluster) DataDir(i int) string {
	return filepath.Join(c.cfg.DataDir, "sim-"+strconv.Itoa(i))
}
