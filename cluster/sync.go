package cluster

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/clusterf/clusterf/chunk"
	"github.com/clusterf/clusterf/crdt"
	"github.com/clusterf/clusterf/transport"
)

// Metadata sync: pull what we lack, push what a peer lacks. A pull round
// that ends with nothing more to fetch is a *complete report* of the peer:
// we then hold every op it held, and it told us which chunks it pins. The
// garbage collector and compaction trust only complete reports (gc.go).

// Batch bounds: a batch of ops stays well under the transport's frame
// limit (64 MiB) whatever the ops carry; the pinned set a peer reports is
// bounded too (beyond it the peer says "overflow" and nobody collects).
const (
	maxBatchBytes = 4 << 20
	maxPins       = 256 << 10
)

// A batch that does not arrive within a round's deadline (a slow link, a
// loaded peer) would be asked for again, whole, every round, and the peer
// would never catch up. So each peer has its own byte budget: halved
// after a round times out, down to minBatchBytes (a batch always carries
// at least one op, however large), and doubled after each full batch that
// arrives, back up to maxBatchBytes.
const minBatchBytes = 64 << 10

// Wire messages (CBOR).
type pullRequest struct {
	VV    crdt.VersionVector `cbor:"1,keyasint"`
	Limit int                `cbor:"2,keyasint"`
	// PinsGen is the generation of the responder's pins the requester
	// already has: the response carries the set only when it changed.
	PinsGen uint64 `cbor:"3,keyasint,omitempty"`
	// MaxBytes bounds the batch's encoded ops (0, or from an older node:
	// maxBatchBytes).
	MaxBytes int `cbor:"4,keyasint,omitempty"`
}

type pullResponse struct {
	Ops          []byte             `cbor:"1,keyasint"` // crdt.EncodeOps
	More         bool               `cbor:"2,keyasint"`
	NeedSnapshot bool               `cbor:"3,keyasint"`
	VV           crdt.VersionVector `cbor:"4,keyasint"`
	PinsGen      uint64             `cbor:"5,keyasint,omitempty"`
	Pins         []chunk.ID         `cbor:"6,keyasint,omitempty"` // set when PinsGen differs from the request's
	PinsOverflow bool               `cbor:"7,keyasint,omitempty"` // too many pins to list: treat everything as pinned
}

type pushRequest struct {
	Ops []byte `cbor:"1,keyasint"`
}

type pushResponse struct {
	VV crdt.VersionVector `cbor:"1,keyasint"`
}

type chunkRequest struct {
	ID chunk.ID `cbor:"1,keyasint"`
}

// handlePull answers a pull. Order matters for the garbage collector: the
// pins are read before the version vector and the ops, so a chunk a commit
// pinned is either in the pins or named by an op in the same response.
func (c *Cluster) handlePull(from transport.PeerInfo, req []byte) ([]byte, error) {
	var r pullRequest
	if err := decode(req, &r); err != nil {
		return nil, err
	}
	limit := r.Limit
	if limit <= 0 || limit > c.cfg.PullBatch {
		limit = c.cfg.PullBatch
	}
	var resp pullResponse
	gen, pins := c.cfg.Chunks.Pins(r.PinsGen)
	resp.PinsGen = gen
	if gen != r.PinsGen {
		if len(pins) > maxPins {
			resp.PinsOverflow = true
		} else {
			resp.Pins = pins
		}
	}
	resp.VV = c.cfg.Meta.VersionVector()
	budget := maxBatchBytes
	if r.MaxBytes > 0 {
		budget = min(max(r.MaxBytes, minBatchBytes), maxBatchBytes)
	}
	ops, err := c.cfg.Meta.Missing(r.VV, limit+1, budget)
	switch {
	case errors.Is(err, crdt.ErrNeedSnapshot):
		resp.NeedSnapshot = true
	case err != nil:
		return nil, err
	default:
		if len(ops) > limit {
			ops = ops[:limit]
		}
		more, _ := c.cfg.Meta.Missing(crdt.AfterOps(r.VV, ops), 1, 0)
		resp.More = len(more) > 0
		if len(ops) > 0 {
			resp.Ops = crdt.EncodeOps(ops)
		}
	}
	c.notePeerVV(crdt.NodeID(from.ID), r.VV)
	return encode(resp), nil
}

func (c *Cluster) handlePush(req []byte) ([]byte, error) {
	var r pushRequest
	if err := decode(req, &r); err != nil {
		return nil, err
	}
	ops, err := crdt.DecodeOps(r.Ops)
	if err != nil {
		return nil, err
	}
	applied, err := c.cfg.Meta.Apply(ops)
	if err != nil {
		return nil, err
	}
	c.applied(applied)
	return encode(pushResponse{VV: c.cfg.Meta.VersionVector()}), nil
}

// pull fetches and applies the ops we lack from p, in batches. When the
// last batch leaves nothing more, the round is p's complete report.
func (c *Cluster) pull(ctx context.Context, p *peer, addr string) error {
	for {
		c.mu.Lock()
		known := p.pinsGen
		c.mu.Unlock()
		req := pullRequest{VV: c.cfg.Meta.VersionVector(), Limit: c.cfg.PullBatch, PinsGen: known, MaxBytes: c.batchBytes(p)}
		sent := time.Now()
		raw, err := c.cfg.Transport.Call(ctx, addr, string(p.id), methodPull, encode(req))
		if err != nil {
			c.batchTimedOut(p, err)
			return fmt.Errorf("pull from %s: %w", p.id, err)
		}
		var resp pullResponse
		if err := decode(raw, &resp); err != nil {
			return fmt.Errorf("pull from %s: %w", p.id, err)
		}
		c.setPeerVV(p, resp.VV)
		c.notePins(p, known, resp)
		if resp.NeedSnapshot {
			return errSnapshotNeeded // fetched outside the round's deadline (syncPeer)
		}
		var applied []crdt.Op
		if len(resp.Ops) > 0 {
			ops, err := crdt.DecodeOps(resp.Ops)
			if err != nil {
				return fmt.Errorf("pull from %s: %w", p.id, err)
			}
			if applied, err = c.cfg.Meta.Apply(ops); err != nil {
				return fmt.Errorf("apply ops from %s: %w", p.id, err)
			}
			c.applied(applied)
		}
		if resp.More && len(applied) == 0 {
			return nil // nothing applicable (deferred or gapped ops): retry next round, no report
		}
		if resp.More {
			c.batchArrived(p)
		}
		if !resp.More {
			if ours := c.cfg.Meta.VersionVector(); covers(ours, resp.VV) {
				c.noteReport(p, sent, resp.VV)
			}
			return nil
		}
	}
}

// batchBytes is the byte budget of p's next batch (see minBatchBytes).
func (c *Cluster) batchBytes(p *peer) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	if p.batchBytes == 0 {
		return maxBatchBytes
	}
	return p.batchBytes
}

// batchTimedOut halves p's budget when err is a deadline.
func (c *Cluster) batchTimedOut(p *peer, err error) {
	if !errors.Is(err, context.DeadlineExceeded) {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	cur := cmp.Or(p.batchBytes, maxBatchBytes)
	p.batchBytes = max(cur/2, minBatchBytes)
	if p.batchBytes < cur {
		c.log.Debug("batch did not arrive in time; smaller batches", "peer", p.id, "bytes", p.batchBytes)
	}
}

// batchArrived doubles p's budget after a full batch came in time.
func (c *Cluster) batchArrived(p *peer) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if p.batchBytes != 0 {
		p.batchBytes = min(p.batchBytes*2, maxBatchBytes)
	}
}

// errSnapshotNeeded: the peer compacted past us; pull ends its round so
// that the snapshot is fetched without the round's deadline.
var errSnapshotNeeded = errors.New("peer compacted past us: snapshot needed")

// progressReader calls progress after every read that returned bytes.
type progressReader struct {
	r        io.Reader
	progress func()
}

func (p progressReader) Read(b []byte) (int, error) {
	n, err := p.r.Read(b)
	if n > 0 {
		p.progress()
	}
	return n, err
}

// covers reports whether a has seen everything b has.
func covers(a, b crdt.VersionVector) bool {
	o := a.Compare(b)
	return o == crdt.Equal || o == crdt.Greater
}

// notePins records the pinned set of a pull response.
func (c *Cluster) notePins(p *peer, known uint64, resp pullResponse) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if resp.PinsGen == known {
		return
	}
	p.pinsGen, p.pinsOverflow = resp.PinsGen, resp.PinsOverflow
	p.pins = make(map[chunk.ID]struct{}, len(resp.Pins))
	for _, id := range resp.Pins {
		p.pins[id] = struct{}{}
	}
}

// noteReport records a complete report of p: the request that started
// its last batch was sent at sent, and we now hold everything in vv.
func (c *Cluster) noteReport(p *peer, sent time.Time, vv crdt.VersionVector) {
	c.mu.Lock()
	defer c.mu.Unlock()
	p.report = &memberReport{at: sent, vv: vv, pins: p.pins, overflow: p.pinsOverflow}
}

// A snapshot may be far larger than what a sync round's deadline lets
// cross the link, so the fetch has no deadline of its own: it is given up
// only when no byte came for stall (or ctx ends).
func (c *Cluster) installSnapshot(ctx context.Context, p *peer, addr string, stall time.Duration) error {
	c.log.Info("fetching snapshot: too far behind for delta sync", "peer", p.id)
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	stalled := fmt.Errorf("snapshot from %s: no data for %s: %w", p.id, stall, context.DeadlineExceeded)
	watchdog := time.AfterFunc(stall, func() { cancel(stalled) })
	defer watchdog.Stop()
	body, err := c.cfg.Transport.CallStream(ctx, addr, string(p.id), methodSnapshot, nil, nil)
	if err != nil {
		return fmt.Errorf("snapshot from %s: %w", p.id, cmp.Or(context.Cause(ctx), err))
	}
	raw, err := io.ReadAll(io.LimitReader(progressReader{body, func() { watchdog.Reset(stall) }}, crdt.MaxSnapshotBytes+1))
	body.Close()
	if err != nil && context.Cause(ctx) != nil {
		err = context.Cause(ctx)
	}
	if err != nil {
		return fmt.Errorf("snapshot from %s: %w", p.id, err)
	}
	s, err := crdt.DecodeSnapshot(raw)
	if err != nil {
		return fmt.Errorf("snapshot from %s: %w", p.id, err)
	}
	if err := c.cfg.Meta.InstallSnapshot(s); err != nil {
		return fmt.Errorf("install snapshot from %s: %w", p.id, err)
	}
	if c.cfg.OnSnapshot != nil {
		c.cfg.OnSnapshot()
	}
	return nil
}

// HandleStream serves the cluster's streaming RPCs (transport.StreamHandler):
// the snapshot, which may be larger than one frame.
func (c *Cluster) HandleStream(ctx context.Context, from transport.PeerInfo, method string, req []byte, body io.Reader, resp io.Writer) error {
	if c.forgotten(crdt.NodeID(from.ID)) {
		return fmt.Errorf("node %s was removed from this cluster (forget-node)", from.ID)
	}
	if method != methodSnapshot {
		return fmt.Errorf("unknown stream method %q", method)
	}
	snap, err := c.cfg.Meta.Snapshot()
	if err != nil {
		return err
	}
	_, err = resp.Write(crdt.EncodeSnapshot(snap))
	return err
}

// push sends p the ops it lacks according to its last reported VV.
func (c *Cluster) push(ctx context.Context, p *peer, addr string) error {
	c.mu.Lock()
	theirs := p.vv.Clone()
	c.mu.Unlock()
	for {
		ops, err := c.cfg.Meta.Missing(theirs, c.cfg.PullBatch, c.batchBytes(p))
		if errors.Is(err, crdt.ErrNeedSnapshot) {
			return nil // the peer fetches a snapshot when it pulls
		}
		if err != nil {
			return fmt.Errorf("push to %s: %w", p.id, err)
		}
		if len(ops) == 0 {
			return nil
		}
		raw, err := c.cfg.Transport.Call(ctx, addr, string(p.id), methodPush, encode(pushRequest{Ops: crdt.EncodeOps(ops)}))
		if err != nil {
			c.batchTimedOut(p, err)
			return fmt.Errorf("push to %s: %w", p.id, err)
		}
		var resp pushResponse
		if err := decode(raw, &resp); err != nil {
			return fmt.Errorf("push to %s: %w", p.id, err)
		}
		c.setPeerVV(p, resp.VV)
		if resp.VV.Compare(theirs) != crdt.Greater {
			return nil // it applied nothing new (gap); the next round retries
		}
		theirs = resp.VV
	}
}

func (c *Cluster) setPeerVV(p *peer, vv crdt.VersionVector) {
	c.mu.Lock()
	p.vv = vv
	c.mu.Unlock()
}

// serveChunk answers chunk/get with a copy that verifies: a corrupt local
// copy is never sent (the asker tries the next holder).
func (c *Cluster) serveChunk(ctx context.Context, id chunk.ID) ([]byte, error) {
	blob, err := c.cfg.Chunks.Get(ctx, id)
	if err != nil {
		return nil, err
	}
	if _, err := chunk.Decode(id, blob); err != nil {
		c.log.Error("corrupt local chunk asked for by a peer; not sending it", "chunk", id, "err", err)
		return nil, fmt.Errorf("chunk %s: local copy corrupt", id)
	}
	return blob, nil
}
