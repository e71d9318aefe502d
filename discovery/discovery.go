package discovery

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	mrand "math/rand/v2"
	"net"
	"net/netip"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// Peer is a member learned from an announcement or from StaticPeers.
type Peer struct {
	NodeID   string // empty for a static peer (unknown until the QUIC hello)
	Addr     string // "ip:port" of the peer's QUIC listener
	HTTPPort int
	LastSeen time.Time
	Static   bool // from Config.StaticPeers, not from an announcement
}

// Config configures Discovery.
type Config struct {
	NodeID     string
	ClusterKey []byte // nil: open mode, announcements carry no MAC
	Port       int    // UDP port, 9999 by convention; 0 = off
	// ListenHost is the address to bind (default all IPv4 interfaces).
	ListenHost string
	// BroadcastAddrs are the announcement destinations
	// (default "255.255.255.255:Port"). Tests point them at 127.0.0.1.
	BroadcastAddrs []string
	Interval       time.Duration // default 3s, ±20% jitter
	StaticPeers    []string      // "host:port" of peers' QUIC listeners
	QUICPort       int
	HTTPPort       int
	Logger         *slog.Logger
	// OnPeer is called from the receive goroutine for each accepted
	// announcement (every few seconds per peer) and once per static peer.
	// It must not block for long.
	OnPeer func(Peer)
	// RateLimit is the accepted packets per second per source IP (burst
	// twice that); default 10.
	RateLimit float64
}

// Stats are monotonic counters. Every received packet is counted in
// Received and in exactly one of Accepted or Dropped*.
type Stats struct {
	Sent, Received, Accepted uint64
	DroppedMalformed         uint64 // undecodable, oversized, truncated, bad fields
	DroppedForeign           uint64 // another cluster id (or keyed vs open)
	DroppedBadMAC            uint64
	DroppedOwn               uint64 // our own node id
	DroppedStale             uint64 // timestamp more than MaxSkew away
	DroppedReplay            uint64 // not newer than the last accepted from that node
	DroppedFull              uint64 // a new node while the node table is full
	DroppedRateLimited       uint64
}

const (
	// MaxSkew is the largest accepted |now - ts|.
	MaxSkew        = 5 * time.Minute
	maxRateSources = 4096
)

// Discovery announces this node and reports peers.
type Discovery struct {
	cfg       Config
	log       *slog.Logger
	clusterID []byte

	mu      sync.Mutex // guards the receive-path state below
	limiter *rateLimiter
	nodes   *nodeTable

	runOnce atomic.Bool

	sent, received, accepted, malformed, foreign, badMAC, own, stale, replayed, full, rateLimited atomic.Uint64
}

// New validates cfg. Nothing is bound until Run.
func New(cfg Config) (*Discovery, error) {
	if cfg.NodeID == "" || len(cfg.NodeID) > maxNodeLen {
		return nil, errors.New("discovery: NodeID must be 1..256 bytes")
	}
	if cfg.ClusterKey != nil && len(cfg.ClusterKey) == 0 {
		return nil, errors.New("discovery: ClusterKey is empty; use nil for open mode")
	}
	if cfg.Port < 0 || cfg.Port > 65535 {
		return nil, fmt.Errorf("discovery: bad port %d", cfg.Port)
	}
	if cfg.Port > 0 && (cfg.QUICPort <= 0 || cfg.QUICPort > 65535) {
		return nil, fmt.Errorf("discovery: bad QUIC port %d", cfg.QUICPort)
	}
	if cfg.HTTPPort < 0 || cfg.HTTPPort > 65535 {
		return nil, fmt.Errorf("discovery: bad HTTP port %d", cfg.HTTPPort)
	}
	if cfg.Interval <= 0 {
		cfg.Interval = 3 * time.Second
	}
	if cfg.RateLimit <= 0 {
		cfg.RateLimit = 10
	}
	if len(cfg.BroadcastAddrs) == 0 && cfg.Port > 0 {
		cfg.BroadcastAddrs = []string{net.JoinHostPort("255.255.255.255", strconv.Itoa(cfg.Port))}
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	for _, sp := range cfg.StaticPeers {
		if _, _, err := net.SplitHostPort(sp); err != nil {
			return nil, fmt.Errorf("discovery: static peer %q: %w", sp, err)
		}
	}
	return &Discovery{
		cfg:       cfg,
		log:       cfg.Logger.With("component", "discovery"), // the caller's logger names the node
		clusterID: ClusterID(cfg.ClusterKey),
		limiter:   newRateLimiter(cfg.RateLimit, 2*cfg.RateLimit, maxRateSources),
		nodes:     newNodeTable(maxNodes),
	}, nil
}

// Stats returns a snapshot of the counters.
func (d *Discovery) Stats() Stats {
	return Stats{
		Sent: d.sent.Load(), Received: d.received.Load(), Accepted: d.accepted.Load(),
		DroppedMalformed: d.malformed.Load(), DroppedForeign: d.foreign.Load(),
		DroppedBadMAC: d.badMAC.Load(), DroppedOwn: d.own.Load(), DroppedStale: d.stale.Load(),
		DroppedReplay: d.replayed.Load(), DroppedFull: d.full.Load(), DroppedRateLimited: d.rateLimited.Load(),
	}
}

// Run reports the static peers, then (if Port > 0) announces every
// Interval and handles incoming announcements until ctx ends. It returns
// nil when ctx ends and may be called once. With Port 0 it returns right
// after reporting the static peers.
func (d *Discovery) Run(ctx context.Context) error {
	if !d.runOnce.CompareAndSwap(false, true) {
		return errors.New("discovery: Run called twice")
	}
	now := time.Now()
	for _, sp := range d.cfg.StaticPeers {
		d.report(Peer{Addr: sp, LastSeen: now, Static: true})
	}
	if d.cfg.Port == 0 {
		return nil
	}
	if d.cfg.ClusterKey == nil {
		// The node warns about open LAN mode once; this is detail.
		d.log.Debug("no cluster key: announcements are unauthenticated")
	}
	lc := net.ListenConfig{Control: control}
	conn, err := lc.ListenPacket(ctx, "udp4", net.JoinHostPort(d.cfg.ListenHost, strconv.Itoa(d.cfg.Port)))
	if err != nil {
		return fmt.Errorf("discovery: listen on port %d: %w", d.cfg.Port, err)
	}
	defer conn.Close()
	var dests []*net.UDPAddr
	for _, a := range d.cfg.BroadcastAddrs {
		ua, err := net.ResolveUDPAddr("udp4", a)
		if err != nil {
			d.log.Warn("bad broadcast address", "addr", a, "err", err)
			continue
		}
		dests = append(dests, ua)
	}

	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		d.receive(conn)
	}()
	defer wg.Wait()
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()

	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			conn.Close()
			return nil
		case <-timer.C:
		}
		d.announce(conn, dests)
		f := 0.8 + 0.4*mrand.Float64()
		timer.Reset(time.Duration(float64(d.cfg.Interval) * f))
	}
}

func (d *Discovery) announce(conn net.PacketConn, dests []*net.UDPAddr) {
	a := announcement{
		V: protocolVersion, Cluster: d.clusterID, Node: d.cfg.NodeID,
		QUICPort: uint16(d.cfg.QUICPort), HTTPPort: uint16(d.cfg.HTTPPort),
		TS: time.Now().UnixMilli(), Nonce: make([]byte, nonceLen),
	}
	rand.Read(a.Nonce)
	pkt, err := encodePacket(a, d.cfg.ClusterKey)
	if err != nil {
		d.log.Error("encode announcement", "err", err)
		return
	}
	for _, dst := range dests {
		if _, err := conn.WriteTo(pkt, dst); err != nil {
			d.log.Debug("send announcement", "dst", dst.String(), "err", err)
			continue
		}
		d.sent.Add(1)
	}
}

func (d *Discovery) receive(conn net.PacketConn) {
	buf := make([]byte, MaxPacket+1) // one extra byte detects oversized packets
	for {
		n, src, err := conn.ReadFrom(buf)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			d.log.Debug("receive", "err", err)
			if ne, ok := err.(net.Error); ok && ne.Timeout() {
				continue
			}
			time.Sleep(10 * time.Millisecond) // avoid a hot loop on persistent errors
			continue
		}
		ua, ok := src.(*net.UDPAddr)
		if !ok {
			continue
		}
		ip, _ := netip.AddrFromSlice(ua.IP)
		d.handlePacket(buf[:n], ip.Unmap(), time.Now())
	}
}

// handlePacket runs the receive path for one datagram from src. It never
// panics and counts every packet exactly once.
func (d *Discovery) handlePacket(pkt []byte, src netip.Addr, now time.Time) {
	d.received.Add(1)
	if len(pkt) > MaxPacket {
		d.malformed.Add(1)
		return
	}
	d.mu.Lock()
	allowed := d.limiter.allow(src, now)
	d.mu.Unlock()
	if !allowed {
		d.rateLimited.Add(1)
		return
	}
	a, err := decodePacket(pkt, d.cfg.ClusterKey, d.clusterID)
	switch {
	case errors.Is(err, errMalformed):
		d.malformed.Add(1)
		d.log.Debug("dropped announcement", "src", src.String(), "err", err)
		return
	case errors.Is(err, errForeign):
		d.foreign.Add(1)
		return
	case errors.Is(err, errBadMAC):
		d.badMAC.Add(1)
		d.log.Debug("dropped announcement", "src", src.String(), "err", err)
		return
	case err != nil:
		d.malformed.Add(1)
		return
	}
	if a.Node == d.cfg.NodeID {
		d.own.Add(1)
		return
	}
	skew := now.Sub(time.UnixMilli(a.TS))
	if skew > MaxSkew || skew < -MaxSkew {
		d.stale.Add(1)
		d.log.Debug("dropped stale announcement", "src", src.String(), "peer", a.Node, "skew", skew)
		return
	}
	d.mu.Lock()
	verdict := d.nodes.accept(a.Node, a.TS, now)
	d.mu.Unlock()
	switch verdict {
	case replay:
		d.replayed.Add(1)
		d.log.Debug("dropped announcement not newer than the last one", "src", src.String(), "peer", a.Node)
		return
	case full:
		d.full.Add(1)
		d.log.Debug("dropped announcement of a new node: node table full", "src", src.String(), "peer", a.Node)
		return
	}
	d.accepted.Add(1)
	d.report(Peer{
		NodeID:   a.Node,
		Addr:     netip.AddrPortFrom(src, a.QUICPort).String(),
		HTTPPort: int(a.HTTPPort),
		LastSeen: now,
	})
}

func (d *Discovery) report(p Peer) {
	if d.cfg.OnPeer != nil {
		d.cfg.OnPeer(p)
	}
}

// rateLimiter is a per-source-IP token bucket with a bounded table.
type rateLimiter struct {
	rate, burst float64
	max         int
	buckets     map[netip.Addr]*bucket
}

type bucket struct {
	tokens float64
	last   time.Time
}

func newRateLimiter(rate, burst float64, max int) *rateLimiter {
	return &rateLimiter{rate: rate, burst: burst, max: max, buckets: make(map[netip.Addr]*bucket)}
}

func (r *rateLimiter) allow(ip netip.Addr, now time.Time) bool {
	b := r.buckets[ip]
	if b == nil {
		if len(r.buckets) >= r.max {
			// Forget sources whose bucket has refilled: they lose nothing.
			full := time.Duration(r.burst / r.rate * float64(time.Second))
			for k, v := range r.buckets {
				if now.Sub(v.last) >= full {
					delete(r.buckets, k)
				}
			}
			if len(r.buckets) >= r.max {
				return false
			}
		}
		b = &bucket{tokens: r.burst, last: now}
		r.buckets[ip] = b
	}
	if el := now.Sub(b.last); el > 0 {
		b.tokens = min(r.burst, b.tokens+el.Seconds()*r.rate)
		b.last = now
	}
	if b.tokens < 1 {
		return false
	}
	b.tokens--
	return true
}
