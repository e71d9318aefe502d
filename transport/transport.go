package transport

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/quic-go/quic-go"
)

// Handler serves unary RPCs. It is called in its own goroutine, one per
// RPC, possibly concurrently. ctx ends when the caller cancels, the RPC
// deadline (Config.RPCTimeout) passes or the connection closes. A returned
// error reaches the caller as a *RemoteError carrying err.Error().
type Handler interface {
	HandleRPC(ctx context.Context, peer PeerInfo, method string, req []byte) ([]byte, error)
}

// StreamHandler is implemented by a Handler that also serves CallStream.
// body is the caller's raw byte stream (until EOF); whatever the handler
// writes to resp reaches the caller's respBody. If the handler returns an
// error before writing, the caller gets a *RemoteError from CallStream; if
// it fails after writing, the caller's respBody.Read fails (the stream is
// reset) instead of ending in a silent truncation.
type StreamHandler interface {
	HandleStream(ctx context.Context, peer PeerInfo, method string, req []byte, body io.Reader, resp io.Writer) error
}

// HandlerFunc adapts a function to Handler.
type HandlerFunc func(ctx context.Context, peer PeerInfo, method string, req []byte) ([]byte, error)

// HandleRPC calls f.
func (f HandlerFunc) HandleRPC(ctx context.Context, peer PeerInfo, method string, req []byte) ([]byte, error) {
	return f(ctx, peer, method, req)
}

// PeerInfo describes an authenticated connection to a peer.
type PeerInfo struct {
	ID             string
	Addr           string // remote UDP address (the peer's listening address)
	Inbound        bool   // the peer dialed us
	ConnectedSince time.Time
	RTT            time.Duration // smoothed RTT from quic-go
}

// Config configures a Transport.
type Config struct {
	NodeID     string
	ClusterKey []byte // nil: open LAN mode (no membership check)
	Listen     string // UDP address, "0.0.0.0:0" style
	Logger     *slog.Logger
	Handler    Handler       // may be nil: incoming RPCs then fail
	MaxMessage int           // largest frame payload; default 64 MiB
	RPCTimeout time.Duration // default 30s, used when ctx has no deadline

	// Optional QUIC tuning; zero means the default.
	KeepAlivePeriod  time.Duration // default 5s
	IdleTimeout      time.Duration // default 30s
	HandshakeTimeout time.Duration // default 10s (dial + hello)
}

const (
	defaultMaxMessage = 64 << 20
	defaultRPCTimeout = 30 * time.Second
	minBackoff        = 100 * time.Millisecond
	maxBackoff        = 10 * time.Second
	pingMethod        = "clusterf/ping"
)

// Stats are monotonic counters.
type Stats struct {
	Dialed, Accepted     uint64 // connections that passed the hello
	AuthFailures         uint64 // handshakes refused by us (either direction)
	HandshakeFailures    uint64 // other handshake failures
	RPCsServed, RPCsSent uint64
}

// Transport is a QUIC RPC endpoint: it listens, dials, authenticates
// members and multiplexes RPCs on one connection per peer.
type Transport struct {
	cfg       Config
	log       *slog.Logger
	udp       *net.UDPConn
	qt        *quic.Transport
	ln        *quic.Listener
	serverTLS *tls.Config
	clientTLS *tls.Config
	qconf     *quic.Config

	ctx    context.Context // ends at Close
	cancel context.CancelFunc

	mu      sync.Mutex
	closed  bool
	serving bool
	conns   map[string]*peerConn   // by remote address, used for Call
	all     map[*peerConn]struct{} // every live authenticated connection
	dials   map[string]*dialState

	wg        sync.WaitGroup // every goroutine we start
	serveWG   sync.WaitGroup // the Serve loop (caller's goroutine)
	closeOnce sync.Once

	dialed, accepted, authFailures, handshakeFailures, served, sent atomic.Uint64
}

type peerConn struct {
	conn    *quic.Conn
	id      string
	addr    string
	inbound bool
	since   time.Time
}

func (pc *peerConn) info() PeerInfo {
	return PeerInfo{
		ID: pc.id, Addr: pc.addr, Inbound: pc.inbound, ConnectedSince: pc.since,
		RTT: pc.conn.ConnectionStats().SmoothedRTT,
	}
}

type dialState struct {
	inflight chan struct{} // closed when the running dial ends; nil if none
	lastErr  error
	failures int
	next     time.Time // no new dial before this
}

// New validates cfg, binds the UDP socket and prepares TLS. It does not
// accept connections until Serve runs; Call works right away.
func New(cfg Config) (*Transport, error) {
	if cfg.NodeID == "" || len(cfg.NodeID) > maxNodeIDLen {
		return nil, errors.New("transport: NodeID must be 1..256 bytes")
	}
	if cfg.ClusterKey != nil && len(cfg.ClusterKey) == 0 {
		return nil, errors.New("transport: ClusterKey is empty; use nil for open mode")
	}
	if cfg.Listen == "" {
		cfg.Listen = "0.0.0.0:0"
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.MaxMessage <= 0 {
		cfg.MaxMessage = defaultMaxMessage
	}
	if cfg.MaxMessage > 1<<31 {
		return nil, errors.New("transport: MaxMessage above 2 GiB")
	}
	if cfg.RPCTimeout <= 0 {
		cfg.RPCTimeout = defaultRPCTimeout
	}
	if cfg.KeepAlivePeriod <= 0 {
		cfg.KeepAlivePeriod = 5 * time.Second
	}
	if cfg.IdleTimeout <= 0 {
		cfg.IdleTimeout = 30 * time.Second
	}
	if cfg.HandshakeTimeout <= 0 {
		cfg.HandshakeTimeout = 10 * time.Second
	}
	log := cfg.Logger.With("component", "transport") // the caller's logger names the node

	cert, err := newCertificate(cfg.NodeID)
	if err != nil {
		return nil, fmt.Errorf("transport: %w", err)
	}
	uaddr, err := net.ResolveUDPAddr("udp", cfg.Listen)
	if err != nil {
		return nil, fmt.Errorf("transport: listen address %q: %w", cfg.Listen, err)
	}
	udp, err := net.ListenUDP("udp", uaddr)
	if err != nil {
		return nil, fmt.Errorf("transport: listen %s: %w", cfg.Listen, err)
	}
	qt := &quic.Transport{Conn: udp}
	if cfg.ClusterKey != nil {
		// Deterministic per node and secret to the cluster, so a node that
		// restarts can reset its peers' stale connections at once.
		var k quic.StatelessResetKey
		m := hmac.New(sha256.New, cfg.ClusterKey)
		m.Write([]byte("clusterf/1 stateless reset"))
		m.Write([]byte(cfg.NodeID))
		copy(k[:], m.Sum(nil))
		qt.StatelessResetKey = &k
	} else {
		// The node warns about open LAN mode once; this is detail.
		log.Debug("no cluster key: any host that can reach this port can join")
	}

	t := &Transport{
		cfg: cfg,
		log: log,
		udp: udp,
		qt:  qt,
		serverTLS: &tls.Config{
			Certificates: []tls.Certificate{cert},
			NextProtos:   []string{alpn},
			MinVersion:   tls.VersionTLS13,
		},
		clientTLS: &tls.Config{
			Certificates: []tls.Certificate{cert},
			NextProtos:   []string{alpn},
			MinVersion:   tls.VersionTLS13,
			ServerName:   "clusterf",
			// Identity comes from the cluster-key proof over the TLS
			// exporter (channel binding), not from certificates.
			InsecureSkipVerify: true,
		},
		qconf: &quic.Config{
			HandshakeIdleTimeout:           cfg.HandshakeTimeout,
			MaxIdleTimeout:                 cfg.IdleTimeout,
			KeepAlivePeriod:                cfg.KeepAlivePeriod,
			MaxIncomingStreams:             1024,
			MaxIncomingUniStreams:          -1,
			InitialStreamReceiveWindow:     1 << 20,
			MaxStreamReceiveWindow:         16 << 20,
			InitialConnectionReceiveWindow: 2 << 20,
			MaxConnectionReceiveWindow:     64 << 20,
		},
		conns: make(map[string]*peerConn),
		all:   make(map[*peerConn]struct{}),
		dials: make(map[string]*dialState),
	}
	t.ctx, t.cancel = context.WithCancel(context.Background())
	return t, nil
}

// Addr is the bound UDP address.
func (t *Transport) Addr() net.Addr { return t.udp.LocalAddr() }

// NodeID is our node id.
func (t *Transport) NodeID() string { return t.cfg.NodeID }

// Stats returns a snapshot of the counters.
func (t *Transport) Stats() Stats {
	return Stats{
		Dialed: t.dialed.Load(), Accepted: t.accepted.Load(),
		AuthFailures: t.authFailures.Load(), HandshakeFailures: t.handshakeFailures.Load(),
		RPCsServed: t.served.Load(), RPCsSent: t.sent.Load(),
	}
}

// spawn runs fn in a goroutine owned by t, unless t is closed.
func (t *Transport) spawn(fn func()) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return false
	}
	t.wg.Add(1)
	go func() {
		defer t.wg.Done()
		fn()
	}()
	return true
}

// Serve accepts connections until ctx ends or Close is called, then shuts
// the transport down (as Close does) and returns nil. It may run once.
func (t *Transport) Serve(ctx context.Context) error {
	t.mu.Lock()
	if t.closed {
		t.mu.Unlock()
		return ErrClosed
	}
	if t.serving {
		t.mu.Unlock()
		return errors.New("transport: Serve already running")
	}
	ln, err := t.qt.Listen(t.serverTLS, t.qconf)
	if err != nil {
		t.mu.Unlock()
		return fmt.Errorf("transport: listen: %w", err)
	}
	t.serving = true
	t.ln = ln
	t.serveWG.Add(1)
	t.mu.Unlock()
	defer t.serveWG.Done()

	stop := context.AfterFunc(ctx, t.shutdown)
	defer stop()
	t.log.Debug("transport serving", "addr", t.Addr().String(), "open_mode", t.cfg.ClusterKey == nil)
	var acceptErr error
	for {
		c, err := ln.Accept(t.ctx)
		if err != nil {
			if t.ctx.Err() == nil {
				acceptErr = fmt.Errorf("transport: accept: %w", err)
			}
			break
		}
		if !t.spawn(func() { t.handleInbound(c) }) {
			c.CloseWithError(codeShutdown, "shutting down")
		}
	}
	t.shutdown()
	t.wg.Wait()
	return acceptErr
}

// Close shuts the transport down: it stops accepting, closes every
// connection, fails in-flight RPCs, closes the socket and waits for every
// goroutine it started (and for Serve to return). Safe to call twice.
func (t *Transport) Close() error {
	t.shutdown()
	t.wg.Wait()
	t.serveWG.Wait()
	return nil
}

func (t *Transport) shutdown() {
	t.closeOnce.Do(func() {
		t.mu.Lock()
		t.closed = true
		ln := t.ln
		conns := make([]*peerConn, 0, len(t.all))
		for pc := range t.all {
			conns = append(conns, pc)
		}
		t.mu.Unlock()
		t.cancel()
		if ln != nil {
			ln.Close()
		}
		for _, pc := range conns {
			pc.conn.CloseWithError(codeShutdown, "shutting down")
		}
		t.qt.Close() // also closes the UDP socket
		t.udp.Close()
	})
}

// Peers lists the live authenticated connections.
func (t *Transport) Peers() []PeerInfo {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := make([]PeerInfo, 0, len(t.all))
	for pc := range t.all {
		if pc.conn.Context().Err() == nil {
			out = append(out, pc.info())
		}
	}
	return out
}

// handleInbound authenticates an accepted connection and serves it.
func (t *Transport) handleInbound(c *quic.Conn) {
	hctx, cancel := context.WithTimeout(t.ctx, t.cfg.HandshakeTimeout)
	id, err := t.serverHandshake(hctx, c)
	cancel()
	if err != nil {
		t.handshakeFailed(c, "inbound", c.RemoteAddr().String(), err)
		return
	}
	pc := &peerConn{conn: c, id: id, addr: c.RemoteAddr().String(), inbound: true, since: time.Now()}
	if !t.register(pc) {
		return
	}
	t.accepted.Add(1)
	t.log.Debug("peer connected", "peer", id, "addr", pc.addr, "inbound", true)
	t.serveConn(pc)
}

func (t *Transport) handshakeFailed(c *quic.Conn, dir, addr string, err error) {
	var af *authFailure
	if errors.As(err, &af) {
		if errors.Is(err, ErrUnauthorized) {
			t.authFailures.Add(1)
		} else {
			t.handshakeFailures.Add(1)
		}
		t.log.Warn("refusing peer", "dir", dir, "addr", addr, "err", err)
		c.CloseWithError(af.code, af.err.Error())
		return
	}
	t.handshakeFailures.Add(1)
	t.log.Debug("handshake failed", "dir", dir, "addr", addr, "err", err)
	c.CloseWithError(codeProtocol, "handshake failed")
}

// register records an authenticated connection. For calls, the first live
// connection to an address wins; a second one (simultaneous dial) is still
// served until it closes.
func (t *Transport) register(pc *peerConn) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		pc.conn.CloseWithError(codeShutdown, "shutting down")
		return false
	}
	t.all[pc] = struct{}{}
	if old := t.conns[pc.addr]; old == nil || old.conn.Context().Err() != nil {
		t.conns[pc.addr] = pc
	}
	return true
}

func (t *Transport) unregister(pc *peerConn) {
	t.mu.Lock()
	defer t.mu.Unlock()
	delete(t.all, pc)
	if t.conns[pc.addr] == pc {
		delete(t.conns, pc.addr)
	}
}

// serveConn accepts RPC streams from an authenticated peer until the
// connection ends. It runs in a goroutine owned by t.
func (t *Transport) serveConn(pc *peerConn) {
	defer t.unregister(pc)
	for {
		str, err := pc.conn.AcceptStream(t.ctx)
		if err != nil {
			t.log.Debug("peer connection ended", "peer", pc.id, "addr", pc.addr, "err", err)
			return
		}
		if !t.spawn(func() { t.serveStream(pc, str) }) {
			str.CancelRead(streamCanceled)
			str.CancelWrite(streamCanceled)
			return
		}
	}
}

// getConn returns a live authenticated connection to addr, dialing (once
// for all concurrent callers) with exponential backoff after failures.
func (t *Transport) getConn(ctx context.Context, addr, peerID string) (*peerConn, error) {
	raddr, err := net.ResolveUDPAddr("udp", addr)
	if err != nil {
		return nil, fmt.Errorf("transport: resolve %q: %w", addr, err)
	}
	key := raddr.String()
	for {
		t.mu.Lock()
		if t.closed {
			t.mu.Unlock()
			return nil, ErrClosed
		}
		if pc := t.conns[key]; pc != nil {
			if pc.conn.Context().Err() == nil {
				t.mu.Unlock()
				if peerID != "" && pc.id != peerID {
					return nil, fmt.Errorf("%w: %s is %q, want %q", ErrPeerMismatch, addr, pc.id, peerID)
				}
				return pc, nil
			}
			delete(t.conns, key)
		}
		ds := t.dials[key]
		if ds == nil {
			ds = &dialState{}
			t.dials[key] = ds
		}
		if ch := ds.inflight; ch != nil {
			t.mu.Unlock()
			select {
			case <-ch:
			case <-ctx.Done():
				return nil, ctx.Err()
			}
			t.mu.Lock()
			err := ds.lastErr
			t.mu.Unlock()
			if err != nil && !errors.Is(err, context.Canceled) && !errors.Is(err, context.DeadlineExceeded) {
				return nil, err
			}
			continue
		}
		if wait := time.Until(ds.next); wait > 0 {
			lastErr := ds.lastErr
			t.mu.Unlock()
			if dl, ok := ctx.Deadline(); ok && time.Until(dl) < wait {
				return nil, fmt.Errorf("%w: %s: next attempt in %s; last error: %v", ErrBackoff, addr, wait.Round(time.Millisecond), lastErr)
			}
			timer := time.NewTimer(wait)
			select {
			case <-timer.C:
			case <-ctx.Done():
				timer.Stop()
				return nil, ctx.Err()
			case <-t.ctx.Done():
				timer.Stop()
				return nil, ErrClosed
			}
			continue
		}
		ch := make(chan struct{})
		ds.inflight = ch
		t.mu.Unlock()

		pc, err := t.dial(ctx, raddr)

		t.mu.Lock()
		ds.inflight = nil
		ds.lastErr = err
		switch {
		case err == nil:
			ds.failures, ds.next = 0, time.Time{}
		case ctx.Err() != nil || errors.Is(err, ErrClosed):
			// the caller gave up; not the peer's fault
		default:
			ds.failures++
			b := minBackoff << min(ds.failures-1, 10)
			if b > maxBackoff {
				b = maxBackoff
			}
			ds.next = time.Now().Add(jitter(b))
		}
		close(ch)
		t.mu.Unlock()
		if err != nil {
			return nil, err
		}
		if peerID != "" && pc.id != peerID {
			return nil, fmt.Errorf("%w: %s is %q, want %q", ErrPeerMismatch, addr, pc.id, peerID)
		}
		return pc, nil
	}
}

// jitter returns d ± 20%.
func jitter(d time.Duration) time.Duration {
	n := time.Now().UnixNano()
	f := 0.8 + 0.4*float64(n%1000)/1000
	return time.Duration(float64(d) * f)
}

func (t *Transport) dial(ctx context.Context, raddr *net.UDPAddr) (*peerConn, error) {
	hctx, cancel := context.WithTimeout(ctx, t.cfg.HandshakeTimeout)
	defer cancel()
	stop := context.AfterFunc(t.ctx, cancel)
	defer stop()
	c, err := t.qt.Dial(hctx, raddr, t.clientTLS, t.qconf)
	if err != nil {
		if t.ctx.Err() != nil {
			return nil, ErrClosed
		}
		return nil, fmt.Errorf("transport: dial %s: %w", raddr, mapConnError(err))
	}
	id, err := t.clientHandshake(hctx, c)
	if err != nil {
		t.handshakeFailed(c, "outbound", raddr.String(), err)
		var af *authFailure
		switch {
		case errors.As(err, &af):
		case hctx.Err() != nil:
			err = fmt.Errorf("%w (%v)", context.Cause(hctx), err)
		case errors.Is(err, os.ErrDeadlineExceeded):
			// The stream's deadline (hctx's) fired a moment before
			// hctx's own timer: the same deadline.
			err = fmt.Errorf("%w (%v)", context.DeadlineExceeded, err)
		}
		return nil, fmt.Errorf("transport: handshake with %s: %w", raddr, err)
	}
	pc := &peerConn{conn: c, id: id, addr: raddr.String(), since: time.Now()}
	if !t.register(pc) {
		return nil, ErrClosed
	}
	if !t.spawn(func() { t.serveConn(pc) }) {
		t.unregister(pc)
		return nil, ErrClosed
	}
	t.dialed.Add(1)
	t.log.Debug("peer connected", "peer", id, "addr", pc.addr, "inbound", false)
	return pc, nil
}
