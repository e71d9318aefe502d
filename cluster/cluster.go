package cluster

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/fxamacker/cbor/v2"

	"github.com/clusterf/clusterf/chunk"
	"github.com/clusterf/clusterf/chunk/lifecycle"
	"github.com/clusterf/clusterf/crdt"
	"github.com/clusterf/clusterf/transport"
)

// RPC methods served by a member.
const (
	methodPull     = "meta/pull"     // pullRequest -> pullResponse
	methodPush     = "meta/push"     // pushRequest -> pushResponse
	methodSnapshot = "meta/snapshot" // nil -> encoded crdt.Snapshot
	methodChunkGet = "chunk/get"     // chunkRequest -> encoded chunk blob
)

// Caller is the part of the transport the cluster uses (transport.Transport).
type Caller interface {
	Call(ctx context.Context, addr, peerID, method string, req []byte) ([]byte, error)
	CallStream(ctx context.Context, addr, peerID, method string, req []byte, body io.Reader) (io.ReadCloser, error)
}

// Config configures a Cluster.
type Config struct {
	Self crdt.NodeID
	Meta *crdt.Replica
	// Chunks is the node's chunk keeper (chunk/lifecycle): stores, pins
	// and the only deletes.
	Chunks    *lifecycle.Keeper
	Transport Caller
	Logger    *slog.Logger
	// SyncInterval is the anti-entropy period per peer (default 2s).
	SyncInterval time.Duration
	// DownAfter marks a peer down after this long without a successful RPC
	// (default 4 × SyncInterval).
	DownAfter time.Duration
	// PullBatch bounds the ops per pull response (default 5000).
	PullBatch int
	// OnApplied is called with remote ops after they are applied and durable
	// (the mount invalidates kernel caches). It must not block for long.
	OnApplied func(ops []crdt.Op)
	// OnSnapshot is called after a snapshot from a peer replaced the
	// state (anything may have changed).
	OnSnapshot func()
	// OnEvent is called with peer transitions, repair rounds that did
	// something, corrupt copies found and garbage collection waiting for a
	// member (events.go), never with the peer table's lock held. It must
	// not block for long.
	OnEvent func(Event)
	// Info fills this member's MemberInfo for the status pages of other
	// members (usage, disk, version; nil: only what the cluster knows).
	Info func(ctx context.Context) MemberInfo
	// NoStore makes this node a client: it holds no partitions and keeps
	// chunks only as a read cache of at most CacheSize bytes.
	NoStore   bool
	CacheSize int64 // default 256 MiB
	// RepairInterval overrides the partition sync interval setting (tests).
	RepairInterval time.Duration
	// GCGrace is how long a chunk must stay unreferenced before it is
	// collected (default 10 minutes).
	GCGrace time.Duration
	// ForgetAfter forgets a member that has not been seen for this long
	// since this node started (0: never; see Forget).
	ForgetAfter time.Duration
}

// Cluster replicates the metadata with peers, tracks their liveness and
// fetches chunks from them.
type Cluster struct {
	cfg Config
	log *slog.Logger

	mu    sync.Mutex
	peers map[crdt.NodeID]*peer
	ctx   context.Context
	wg    sync.WaitGroup

	repairKick chan struct{}
	repairMu   sync.Mutex // one repair round at a time
	gc         gcState    // guarded by repairMu
	lastMu     sync.Mutex
	last       RepairStats // the latest repair round
	totals     RepairTotals

	// testAfterReferenced, when set (tests only), runs in RepairOnce right
	// after the referenced set is computed: a failpoint for the window
	// between deciding and deleting.
	testAfterReferenced func()
	started             time.Time
	cache               lruTracker  // client mode read cache
	traffic             trafficLog  // chunks fetched, by peer
	leaving             atomic.Bool // said goodbye (events.go): refuses RPCs

	// extra serves the RPC methods other packages register (Handle).
	extraMu sync.RWMutex
	extra   map[string]RPCHandler

	fwd forwarder // passes pushed chunks on along their chain (forward.go)
}

// peer is what we know about one member.
type peer struct {
	id       crdt.NodeID
	addr     string
	httpPort int
	up       bool
	lastOK   time.Time
	lastErr  error
	vv       crdt.VersionVector // the peer's version vector as last reported
	wake     chan struct{}
	stop     context.CancelFunc

	// pins: the chunks the peer pins, as of its latest pull response.
	pinsGen      uint64
	pins         map[chunk.ID]struct{}
	pinsOverflow bool
	report       *memberReport // its latest complete report (gc.go)
	batchBytes   int           // budget of its next op batch (0: maxBatchBytes; sync.go)
}

// PeerStatus is the view of a peer for status pages.
type PeerStatus struct {
	ID       crdt.NodeID `json:"node_id"`
	Addr     string      `json:"address"`
	HTTPPort int         `json:"http_port"`
	Up       bool        `json:"up"`
	LastSeen time.Time   `json:"last_seen"`
	Error    string      `json:"error,omitempty"`
	Behind   int         `json:"ops_behind"` // ops it lacks that we have
}

// New returns a Cluster; Run starts it.
func New(cfg Config) *Cluster {
	if cfg.SyncInterval <= 0 {
		cfg.SyncInterval = 2 * time.Second
	}
	if cfg.DownAfter <= 0 {
		cfg.DownAfter = 4 * cfg.SyncInterval
	}
	if cfg.PullBatch <= 0 {
		cfg.PullBatch = 5000
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.CacheSize <= 0 {
		cfg.CacheSize = 256 << 20
	}
	if cfg.GCGrace <= 0 {
		cfg.GCGrace = 10 * time.Minute
	}
	return &Cluster{
		cfg:        cfg,
		log:        cfg.Logger,
		peers:      make(map[crdt.NodeID]*peer),
		repairKick: make(chan struct{}, 1),
		gc:         gcState{unref: map[chunk.ID]uint64{}},
		started:    time.Now(),
	}
}

// Run serves until ctx ends, then waits for every peer loop.
func (c *Cluster) Run(ctx context.Context) error {
	c.mu.Lock()
	c.ctx = ctx
	for _, p := range c.peers {
		c.startPeerLocked(p)
	}
	c.mu.Unlock()
	c.fwd.start(c, ctx)
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		c.repairLoop(ctx)
	}()
	<-ctx.Done()
	c.sayBye()
	c.wg.Wait()
	return nil
}

// AddPeer records a member's address (from discovery or --peers) and starts
// syncing with it. Calling it again updates the address.
func (c *Cluster) AddPeer(id crdt.NodeID, addr string, httpPort int) {
	if id == c.cfg.Self || !crdt.ValidNodeID(id) || c.forgotten(id) {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	p := c.peers[id]
	if p == nil {
		p = &peer{id: id, wake: make(chan struct{}, 1)}
		c.peers[id] = p
		c.log.Info("peer discovered", "peer", id, "addr", addr)
	}
	if p.addr != addr && p.addr != "" {
		c.log.Info("peer address changed", "peer", id, "old", p.addr, "new", addr)
	}
	p.addr, p.httpPort = addr, httpPort
	if c.ctx != nil && p.stop == nil {
		c.startPeerLocked(p)
	}
}

func (c *Cluster) startPeerLocked(p *peer) {
	ctx, cancel := context.WithCancel(c.ctx)
	p.stop = cancel
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		c.peerLoop(ctx, p)
	}()
}

// Changed tells the cluster that local ops were committed: they are pushed
// to every live peer at once instead of at the next anti-entropy round.
func (c *Cluster) Changed() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, p := range c.peers {
		select {
		case p.wake <- struct{}{}:
		default:
		}
	}
}

// Peers lists known peers sorted by id.
func (c *Cluster) Peers() []PeerStatus {
	vv := c.cfg.Meta.VersionVector()
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]PeerStatus, 0, len(c.peers))
	for _, p := range c.peers {
		st := PeerStatus{ID: p.id, Addr: p.addr, HTTPPort: p.httpPort, Up: p.up, LastSeen: p.lastOK}
		if p.lastErr != nil {
			st.Error = p.lastErr.Error()
		}
		for n, s := range vv {
			if s > p.vv[n] {
				st.Behind += int(s - p.vv[n])
			}
		}
		out = append(out, st)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// peerLoop syncs with one peer every SyncInterval and whenever local
// changes are committed.
func (c *Cluster) peerLoop(ctx context.Context, p *peer) {
	for {
		c.syncPeer(ctx, p)
		select {
		case <-ctx.Done():
			return
		case <-time.After(c.roundInterval()):
		case <-p.wake:
		}
	}
}

// roundInterval is the anti-entropy period per peer: SyncInterval, stretched
// in large clusters so that the total number of rounds per node stays
// bounded (about 16 peers per SyncInterval), with ±20% jitter so that the
// rounds of many peers spread out. Pushes after local commits are not
// affected: they go to every peer at once.
func (c *Cluster) roundInterval() time.Duration {
	c.mu.Lock()
	n := len(c.peers)
	c.mu.Unlock()
	d := c.cfg.SyncInterval * time.Duration(max(1, n/16))
	return d - d/5 + time.Duration(rand.Int64N(int64(d/5)*2+1))
}

func (c *Cluster) syncPeer(ctx context.Context, p *peer) {
	c.mu.Lock()
	addr := p.addr
	c.mu.Unlock()
	// A dead peer must fail the round quickly (not after QUIC's idle
	// timeout), so that it is marked down and repair starts.
	rctx, cancel := context.WithTimeout(ctx, c.cfg.DownAfter/2)
	err := c.pull(rctx, p, addr)
	cancel()
	if errors.Is(err, errSnapshotNeeded) { // the peer answered: it is up
		err = c.installSnapshot(ctx, p, addr, c.cfg.DownAfter/2)
	} else if err == nil {
		rctx, cancel = context.WithTimeout(ctx, c.cfg.DownAfter/2)
		err = c.push(rctx, p, addr)
		cancel()
	}
	if ctx.Err() != nil {
		return
	}
	c.mu.Lock()
	now := time.Now()
	var ev EventKind
	switch {
	case err == nil:
		if !p.up {
			c.log.Info("peer up", "peer", p.id, "addr", addr)
			c.KickRepair()
			ev = EventPeerUp
		}
		p.up, p.lastOK, p.lastErr = true, now, nil
	case p.up && now.Sub(p.lastOK) > c.cfg.DownAfter:
		p.lastErr = err
		p.up = false
		c.log.Warn("peer down", "peer", p.id, "addr", addr, "err", err)
		c.KickRepair()
		ev = EventPeerDown
	case p.up:
		if p.lastErr == nil {
			ev = EventPeerUnreachable
		}
		p.lastErr = err
	default:
		p.lastErr = err
		c.log.Debug("peer unreachable", "peer", p.id, "addr", addr, "err", err)
	}
	c.mu.Unlock()
	if ev != "" {
		e := Event{Kind: ev, Peer: p.id}
		if err != nil {
			e.Err = err.Error()
		}
		c.emit(e)
	}
}

var decMode = func() cbor.DecMode {
	dm, err := cbor.DecOptions{
		MaxArrayElements: 1 << 16,
		MaxMapPairs:      1 << 16,
		MaxNestedLevels:  16,
		DupMapKey:        cbor.DupMapKeyEnforcedAPF,
	}.DecMode()
	if err != nil {
		panic(err)
	}
	return dm
}()

func encode(v any) []byte {
	b, err := cbor.Marshal(v)
	if err != nil {
		panic(fmt.Sprintf("cluster: encode %T: %v", v, err)) // our own types always encode
	}
	return b
}

func decode(b []byte, v any) error {
	if err := decMode.Unmarshal(b, v); err != nil {
		return fmt.Errorf("decode %T: %w", v, err)
	}
	return nil
}

func (c *Cluster) applied(ops []crdt.Op) {
	if c.cfg.OnApplied != nil {
		c.cfg.OnApplied(ops)
	}
}

// HandleRPC serves the cluster's RPCs (transport.Handler).
func (c *Cluster) HandleRPC(ctx context.Context, from transport.PeerInfo, method string, req []byte) ([]byte, error) {
	if c.leaving.Load() {
		return nil, errLeaving
	}
	if c.forgotten(crdt.NodeID(from.ID)) {
		return nil, fmt.Errorf("node %s was removed from this cluster (forget-node): start it again with an empty data dir", from.ID)
	}
	switch method {
	case methodPull:
		return c.handlePull(from, req)
	case methodPush:
		return c.handlePush(req)
	case methodChunkPut:
		return c.handlePut(ctx, req)
	case methodChunkHave:
		return c.handleHave(ctx, req)
	case methodInfo:
		return c.handleInfo(ctx)
	case methodBye:
		return c.handleBye(crdt.NodeID(from.ID))
	case methodChunkGet:
		var r chunkRequest
		if err := decode(req, &r); err != nil {
			return nil, err
		}
		return c.serveChunk(ctx, r.ID)
	default:
		c.extraMu.RLock()
		h := c.extra[method]
		c.extraMu.RUnlock()
		if h != nil {
			return h(ctx, from, req)
		}
		return nil, fmt.Errorf("unknown method %q", method)
	}
}

// RPCHandler serves one RPC method registered with Handle. Its request
// comes from an authenticated member that is not forgotten; it must
// decode it with limits.
type RPCHandler func(ctx context.Context, from transport.PeerInfo, req []byte) ([]byte, error)

// Handle registers the handler of another package's RPC method (the
// search index's search/extract). The cluster's own methods are refused.
func (c *Cluster) Handle(method string, h RPCHandler) error {
	switch method {
	case methodPull, methodPush, methodSnapshot, methodChunkGet, methodChunkPut, methodChunkHave:
		return fmt.Errorf("cluster: method %q is the cluster's own", method)
	}
	c.extraMu.Lock()
	defer c.extraMu.Unlock()
	if c.extra == nil {
		c.extra = map[string]RPCHandler{}
	}
	c.extra[method] = h
	return nil
}

// CallMember sends one RPC to a member that is up, within timeout.
func (c *Cluster) CallMember(ctx context.Context, id string, timeout time.Duration, method string, req []byte) ([]byte, error) {
	addr, ok := c.peerAddr(id)
	if !ok {
		return nil, fmt.Errorf("member %s is not up", id)
	}
	return c.call(ctx, timeout, addr, id, method, req)
}

// UpMembers returns the ids of the peers that are up.
func (c *Cluster) UpMembers() map[string]bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := map[string]bool{}
	for id, p := range c.peers {
		if p.up {
			out[string(id)] = true
		}
	}
	return out
}

// notePeerVV remembers what a pulling peer has, so pushes send only the rest.
func (c *Cluster) notePeerVV(id crdt.NodeID, vv crdt.VersionVector) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if p := c.peers[id]; p != nil {
		p.vv = vv
	}
}

// FetchChunk gets a verified chunk blob from the holders of its partition,
// then from any other live peer; a bad copy is logged and skipped.
func (c *Cluster) FetchChunk(ctx context.Context, id chunk.ID) ([]byte, error) {
	c.cache.touch(id)
	return c.fetchFrom(ctx, c.Placement().Holders(id), id)
}

// ChunkUsed records a local read of a chunk (client read cache order).
func (c *Cluster) ChunkUsed(id chunk.ID) {
	if c.cfg.NoStore {
		c.cache.touch(id)
	}
}
