package node

import (
	"cmp"
	"context"
	"fmt"
	"io"
	"net"
	"strconv"
	"time"

	"github.com/clusterf/clusterf/api"
	"github.com/clusterf/clusterf/cluster"
	"github.com/clusterf/clusterf/crdt"
	"github.com/clusterf/clusterf/discovery"
	"github.com/clusterf/clusterf/transport"
)

// OpenModeWarning is logged once at start when the node has no cluster
// key and other machines can reach its transport (openLAN), with the
// line that fixes it.
const OpenModeWarning = "OPEN LAN MODE: no cluster key, so any machine on this network can join and read and write the files; " +
	"to fix, set the same --cluster-key (or CLUSTERF_CLUSTER_KEY) on every node"

// openLAN reports whether a node of cfg is in open LAN mode: no cluster
// key, and a transport other machines can reach. A node whose transport
// binds a loopback address (simulation mode, tests) can only be joined
// from this machine, so it is not warned about.
func openLAN(cfg Config) bool {
	if cfg.ClusterKey != "" {
		return false
	}
	if cfg.QUICHost == "localhost" {
		return false
	}
	ip := net.ParseIP(cfg.QUICHost)
	return ip == nil || !ip.IsLoopback()
}

// openCluster binds the QUIC transport and builds the cluster layer.
func (n *Node) openCluster() error {
	var key []byte
	if n.cfg.ClusterKey != "" {
		key = []byte(n.cfg.ClusterKey)
	}
	tr, err := transport.New(transport.Config{
		NodeID:     string(n.ID),
		ClusterKey: key,
		Listen:     net.JoinHostPort(cmp.Or(n.cfg.QUICHost, "0.0.0.0"), strconv.Itoa(n.cfg.QUICPort)),
		Logger:     n.log,
		Handler:    rpcHandler{n},
	})
	if err != nil {
		return fmt.Errorf("start transport: %w", err)
	}
	n.Transport = tr
	n.dash = newDashState()
	n.Cluster = cluster.New(cluster.Config{
		Self:         n.ID,
		Meta:         n.Meta,
		Chunks:       n.Chunks,
		Transport:    tr,
		Logger:       n.log.With("component", "cluster"),
		SyncInterval: n.cfg.SyncInterval,
		OnApplied:    n.onRemoteOps,
		OnSnapshot:   func() { n.FS.NoteReset(); n.Cluster.KickRepair() },
		OnEvent:      n.onClusterEvent,
		Info:         n.selfInfo,
		NoStore:      n.cfg.NoStore,
		CacheSize:    n.cfg.CacheSize,
		GCGrace:      n.cfg.GCGrace,
		ForgetAfter:  n.cfg.ForgetAfter,
	})
	return nil
}

// rpcHandler serves the cluster's RPCs (transport.Handler and
// StreamHandler). A peer that reached us first (it has us as a static peer
// or heard our announcement) becomes known without discovery.
type rpcHandler struct{ n *Node }

func (h rpcHandler) HandleRPC(ctx context.Context, p transport.PeerInfo, method string, req []byte) ([]byte, error) {
	h.n.Cluster.AddPeer(crdt.NodeID(p.ID), p.Addr, 0)
	return h.n.Cluster.HandleRPC(ctx, p, method, req)
}

func (h rpcHandler) HandleStream(ctx context.Context, p transport.PeerInfo, method string, req []byte, body io.Reader, resp io.Writer) error {
	h.n.Cluster.AddPeer(crdt.NodeID(p.ID), p.Addr, 0)
	return h.n.Cluster.HandleStream(ctx, p, method, req, body, resp)
}

// QUICPort returns the port the transport listens on.
func (n *Node) QUICPort() int { return n.Transport.Addr().(*net.UDPAddr).Port }

// startCluster runs the transport, the cluster loops, discovery and the
// static peer resolver under ctx.
func (n *Node) startCluster(ctx context.Context) error {
	if openLAN(n.cfg) {
		// The one warning about it (transport and discovery stay quiet).
		n.log.Warn(OpenModeWarning)
	}
	if err := n.publishMember(); err != nil {
		return fmt.Errorf("publish member record: %w", err)
	}
	// The transport serves until the cluster's Run has returned: on the way
	// out Run tells the peers that this member is leaving.
	tctx, stopTransport := context.WithCancel(context.WithoutCancel(ctx))
	n.goFunc(func() { n.Transport.Serve(tctx) })
	n.goFunc(func() { defer stopTransport(); n.Cluster.Run(ctx) })
	n.dash.mu.Lock()
	n.dash.ctx = ctx
	n.dash.mu.Unlock()
	n.goFunc(func() { n.followFeed(ctx) })
	n.goFunc(func() { n.dash.history.run(ctx, n.Registry) })
	n.dash.events.add(api.Event{Kind: "started", Node: string(n.ID), Message: string(n.ID) + " started"})
	var key []byte
	if n.cfg.ClusterKey != "" {
		key = []byte(n.cfg.ClusterKey)
	}
	d, err := discovery.New(discovery.Config{
		NodeID:         string(n.ID),
		ClusterKey:     key,
		Port:           n.cfg.DiscoveryPort,
		BroadcastAddrs: n.cfg.BroadcastAddrs,
		ListenHost:     n.cfg.DiscoveryHost,
		RateLimit:      n.cfg.DiscoveryRateLimit,
		StaticPeers:    n.cfg.Peers,
		QUICPort:       n.QUICPort(),
		HTTPPort:       n.httpPort,
		Logger:         n.log,
		OnPeer: func(p discovery.Peer) {
			if p.NodeID == "" { // a static peer: learn its id from the QUIC hello
				n.goFunc(func() { n.resolveStaticPeer(ctx, p.Addr) })
				return
			}
			n.Cluster.AddPeer(crdt.NodeID(p.NodeID), p.Addr, p.HTTPPort)
		},
	})
	if err != nil {
		return fmt.Errorf("start discovery: %w", err)
	}
	n.Discovery = d
	n.goFunc(func() {
		if err := d.Run(ctx); err != nil && ctx.Err() == nil {
			n.log.Error("discovery stopped", "err", err)
		}
	})
	return nil
}

// resolveStaticPeer pings a --peers address until it answers, then adds
// the member behind it.
func (n *Node) resolveStaticPeer(ctx context.Context, addr string) {
	backoff := 200 * time.Millisecond
	for ctx.Err() == nil {
		pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		_, err := n.Transport.Ping(pctx, addr)
		cancel()
		if err == nil {
			for _, p := range n.Transport.Peers() {
				if p.Addr == addr || sameHostPort(p.Addr, addr) {
					n.Cluster.AddPeer(crdt.NodeID(p.ID), addr, 0)
					return
				}
			}
		}
		n.log.Debug("static peer not reachable yet", "addr", addr, "err", err)
		select {
		case <-ctx.Done():
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 10*time.Second)
	}
}

func sameHostPort(a, b string) bool {
	ua, err1 := net.ResolveUDPAddr("udp", a)
	ub, err2 := net.ResolveUDPAddr("udp", b)
	return err1 == nil && err2 == nil && ua.IP.Equal(ub.IP) && ua.Port == ub.Port
}

// onRemoteOps runs after remote ops are applied: they go to the change feed
// (the mount invalidates its kernel caches from it, so `ls` shows a remote
// change at once); setting changes start a repair round.
func (n *Node) onRemoteOps(ops []crdt.Op) {
	n.FS.NoteRemote(ops) // the change feed: the mount's invalidation follows it
	for _, op := range ops {
		if op.Setting != nil { // RF, sync interval or membership changed
			n.Cluster.KickRepair()
			break
		}
	}
}

// publishMember records this node's member record (client or storage) in
// the cluster settings if it changed.
func (n *Node) publishMember() error {
	want := crdt.EncodeValue(cluster.MemberRecord{NoStore: n.cfg.NoStore})
	key := crdt.SettingMemberPrefix + string(n.ID)
	same := false
	_ = n.Meta.View(func(v *crdt.View) error {
		b, ok := v.Setting(key)
		same = ok && string(b) == string(want)
		return nil
	})
	if same {
		return nil
	}
	_, err := n.Meta.Update(func(tx *crdt.Tx) error { return tx.SetSetting(key, want) })
	return err
}

// goFunc runs fn in a goroutine owned by the node (Close waits for it).
func (n *Node) goFunc(fn func()) {
	n.wg.Add(1)
	go func() {
		defer n.wg.Done()
		fn()
	}()
}
