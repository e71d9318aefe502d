package cluster

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/clusterf/clusterf/chunk"
	"github.com/clusterf/clusterf/crdt"
)

// Events: what the cluster layer tells the node about as it happens (the
// dashboard's event log, node/events.go), through Config.OnEvent. Peer
// transitions, repair rounds that changed something, corrupt copies the
// scrub found, and garbage collection starting or stopping to wait for a
// member.

// EventKind says what happened.
type EventKind string

// Event kinds.
const (
	EventPeerUp          EventKind = "peer_up"          // a sync round with Peer succeeded after it was down (or new)
	EventPeerUnreachable EventKind = "peer_unreachable" // a round with an up Peer failed (not declared down yet)
	EventPeerDown        EventKind = "peer_down"        // Peer failed rounds for longer than DownAfter
	EventRepair          EventKind = "repair"           // a repair round fetched, dropped, collected or failed something (Repair)
	EventCorrupt         EventKind = "corrupt_chunk"    // the scrub found Chunk corrupt and dropped it; Repaired: fetched again
	EventGCWaiting       EventKind = "gc_waiting"       // collection and compaction wait for Peer ("" = no longer)
)

// Event is one thing that happened in the cluster layer.
type Event struct {
	Kind     EventKind
	Peer     crdt.NodeID
	Chunk    chunk.ID
	Repaired bool
	Repair   *RepairStats
	Err      string
}

// emit hands e to Config.OnEvent. Never called with the peer table's lock
// held, so the callback may read the cluster's state (Peers, Placement);
// scrub events come from within a repair round, so it must not block or
// run a repair round itself.
func (c *Cluster) emit(e Event) {
	if c.cfg.OnEvent != nil {
		c.cfg.OnEvent(e)
	}
}

// roundEvents emits the events of a finished repair round: the round
// itself when it did something, and a change of the member that garbage
// collection waits for.
func (c *Cluster) roundEvents(prev, st RepairStats) {
	if st.Fetched+st.Dropped+st.Collected+st.Errors+st.Corrupt > 0 {
		s := st
		c.emit(Event{Kind: EventRepair, Repair: &s})
	}
	if st.WaitingFor != prev.WaitingFor {
		c.emit(Event{Kind: EventGCWaiting, Peer: st.WaitingFor})
	}
}

// Transfer counts chunk copies fetched from one peer.
type Transfer struct {
	Chunks int64 `json:"chunks"`
	Bytes  int64 `json:"bytes"`
}

// trafficLog counts fetched chunks by the peer that served them (repair,
// reads of chunks not stored here, scrub refetches).
type trafficLog struct {
	mu   sync.Mutex
	from map[crdt.NodeID]Transfer
}

func (t *trafficLog) note(peer string, bytes int) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.from == nil {
		t.from = map[crdt.NodeID]Transfer{}
	}
	x := t.from[crdt.NodeID(peer)]
	x.Chunks++
	x.Bytes += int64(bytes)
	t.from[crdt.NodeID(peer)] = x
}

// Traffic returns the chunks fetched from each peer since start (the
// dashboard draws repair traffic from its growth; also a metric).
func (c *Cluster) Traffic() map[crdt.NodeID]Transfer {
	c.traffic.mu.Lock()
	defer c.traffic.mu.Unlock()
	out := make(map[crdt.NodeID]Transfer, len(c.traffic.from))
	for k, v := range c.traffic.from {
		out[k] = v
	}
	return out
}

// Member info: what one member tells others about itself for status pages
// (the dashboard's member table and topology), over RPC methodInfo.

const methodInfo = "cluster/info" // nil -> MemberInfo

// MemberInfo is one member's own account of itself.
type MemberInfo struct {
	ID        crdt.NodeID  `cbor:"1,keyasint" json:"node_id"`
	NoStore   bool         `cbor:"2,keyasint" json:"no_store"`
	Version   string       `cbor:"3,keyasint" json:"version,omitempty"`
	StartedAt time.Time    `cbor:"4,keyasint" json:"started_at"`
	Chunks    int64        `cbor:"5,keyasint" json:"chunks"`
	Bytes     int64        `cbor:"6,keyasint" json:"bytes"`
	DiskFree  int64        `cbor:"7,keyasint" json:"disk_free"`
	DiskTotal int64        `cbor:"8,keyasint" json:"disk_total"`
	Peers     []PeerStatus `cbor:"9,keyasint" json:"peers"` // its view of its peers
	// Traffic: the chunks it fetched from each peer since it started.
	Traffic map[crdt.NodeID]Transfer `cbor:"10,keyasint" json:"traffic,omitempty"`
	Err     string                   `cbor:"-" json:"error,omitempty"`
}

// Info returns this member's MemberInfo: Config.Info's fields plus the
// peers as this node sees them.
func (c *Cluster) Info(ctx context.Context) MemberInfo {
	var mi MemberInfo
	if c.cfg.Info != nil {
		mi = c.cfg.Info(ctx)
	}
	mi.ID, mi.NoStore = c.cfg.Self, c.cfg.NoStore
	mi.Peers = c.Peers()
	mi.Traffic = c.Traffic()
	return mi
}

// infoTimeout bounds one member's info answer.
const infoTimeout = 3 * time.Second

// MemberInfos asks every known peer for its MemberInfo (at most 16 at a
// time; a peer that is down or does not answer within infoTimeout gets
// an entry with Err set). This node's own info comes first.
func (c *Cluster) MemberInfos(ctx context.Context) []MemberInfo {
	peers := c.Peers()
	out := make([]MemberInfo, 1+len(peers))
	out[0] = c.Info(ctx)
	var wg sync.WaitGroup
	sem := make(chan struct{}, 16)
	for i, p := range peers {
		out[i+1] = MemberInfo{ID: p.ID}
		if !p.Up {
			out[i+1].Err = "down"
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			raw, err := c.call(ctx, infoTimeout, p.Addr, string(p.ID), methodInfo, nil)
			var mi MemberInfo
			if err == nil {
				err = decode(raw, &mi)
			}
			if err != nil {
				out[i+1].Err = err.Error()
				return
			}
			mi.ID = p.ID // a member speaks only for itself
			out[i+1] = mi
		}()
	}
	wg.Wait()
	return out
}

func (c *Cluster) handleInfo(ctx context.Context) ([]byte, error) {
	return encode(c.Info(ctx)), nil
}

// PeerVectors returns each peer's version vector as it last reported it
// (for the CRDT inspector: what each peer has, what it lacks).
func (c *Cluster) PeerVectors() map[crdt.NodeID]crdt.VersionVector {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make(map[crdt.NodeID]crdt.VersionVector, len(c.peers))
	for id, p := range c.peers {
		vv := make(crdt.VersionVector, len(p.vv))
		for n, s := range p.vv {
			vv[n] = s
		}
		out[id] = vv
	}
	return out
}

// HolderHas asks a member which of ids it has a verified copy of (this
// node answers for itself); for the dashboard's file details.
func (c *Cluster) HolderHas(ctx context.Context, member string, ids []chunk.ID) ([]bool, error) {
	if member != string(c.cfg.Self) {
		return c.peerHas(ctx, member, ids)
	}
	out := make([]bool, len(ids))
	budget := int64(haveBudget)
	for i, id := range ids {
		ok, err := c.cfg.Chunks.Present(ctx, id, &budget)
		if err != nil {
			return nil, err
		}
		out[i] = ok
	}
	return out, nil
}

// A member that shuts down says so (methodBye) to every peer that is up,
// so they show it down at once instead of after DownAfter.

const (
	methodBye  = "cluster/bye" // nil -> nil
	byeTimeout = time.Second
)

// sayBye tells every up peer that this member is leaving (best effort,
// in parallel, at most byeTimeout).
func (c *Cluster) sayBye() {
	c.leaving.Store(true) // from now on every RPC is refused (HandleRPC)
	// A root on purpose: the goodbye runs at Close, after Run's context
	// ended; byeTimeout bounds it.
	ctx, cancel := context.WithTimeout(context.Background(), byeTimeout)
	defer cancel()
	var wg sync.WaitGroup
	for _, p := range c.Peers() {
		if !p.Up {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, _ = c.cfg.Transport.Call(ctx, p.Addr, string(p.ID), methodBye, nil)
		}()
	}
	wg.Wait()
}

// handleBye marks the peer down: it is shutting down.
func (c *Cluster) handleBye(from crdt.NodeID) ([]byte, error) {
	c.mu.Lock()
	p := c.peers[from]
	wasUp := p != nil && p.up
	if p != nil {
		p.up, p.lastErr = false, errLeft
	}
	c.mu.Unlock()
	if wasUp {
		c.log.Info("peer down: it is shutting down", "peer", from)
		c.KickRepair()
		c.emit(Event{Kind: EventPeerDown, Peer: from, Err: errLeft.Error()})
	}
	return nil, nil
}

var errLeft = errors.New("it said it is shutting down")

// ErrPeerLeft is the Err of a peer_down event of a member that said
// goodbye.
var ErrPeerLeft = errLeft

// errLeaving answers every RPC once this member said goodbye.
var errLeaving = errors.New("this member is shutting down")
