package crdt

import (
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"
)

// ErrClosed is returned by a Replica after Close.
var ErrClosed = errors.New("crdt: replica closed")

// Replica is one node's copy of the replicated namespace: the state, the
// per-origin op logs and the undo log of the move algorithm. Safe for
// concurrent use. Every method that changes state returns only after the
// changes are durable in the Store (group commit: concurrent callers share one
// Store.Append).
type Replica struct {
	node      NodeID
	clock     *Clock
	store     Store
	snapEvery int
	newID     func() InodeID // NewInodeID; tests make it deterministic

	mu     sync.RWMutex // guards st, pending, enqueued, closed
	st     *state
	closed bool

	// group commit: ops applied in memory wait in pending (in apply order);
	// one flusher at a time writes all of them with one Store.Append.
	pending   []Op
	enqueued  uint64 // ops ever enqueued
	snapDue   bool
	flushMu   sync.Mutex // guards durable, sinceSnap; taken before mu
	durable   uint64     // ops ever made durable
	sinceSnap int

	// ownDurable is the highest local sequence number that is durable in
	// the Store (guarded by mu). Missing, Snapshot and VersionVector never
	// show a local op above it: an op that may still be lost in a crash
	// must not leave the node, or its sequence number would be issued a
	// second time after a restart (peers would drop the new op as a
	// duplicate of the lost one and diverge for ever).
	ownDurable uint64

	brokenMu sync.Mutex // leaf lock
	broken   error      // first store error; the replica refuses changes after it

	guard guard // refused ops: counters and logging (guard.go)
}

// Options configures a Replica.
type Options struct {
	Node  NodeID
	Clock *Clock // nil: NewClock(Node, time.Now)
	Store Store  // nil: in-memory only (tests)
	// SnapshotEvery: write a snapshot to Store after this many new ops so
	// start-up replays a bounded log (0: 10000).
	SnapshotEvery int
	// Logger receives warnings about refused ops (nil: discarded).
	Logger *slog.Logger
}

// Open loads the replica from opts.Store (latest snapshot plus the ops after
// it) or starts empty (a fresh namespace has the root directory with mode
// 0755, uid/gid 0).
func Open(opts Options) (*Replica, error) {
	if !ValidNodeID(opts.Node) {
		return nil, fmt.Errorf("crdt: invalid node id %q", opts.Node)
	}
	r := &Replica{node: opts.Node, clock: opts.Clock, store: opts.Store, snapEvery: opts.SnapshotEvery, newID: NewInodeID}
	if r.clock == nil {
		r.clock = NewClock(opts.Node, time.Now)
	}
	if r.snapEvery <= 0 {
		r.snapEvery = 10000
	}
	r.guard.log = opts.Logger
	if r.guard.log == nil {
		r.guard.log = discardLogger
	}
	r.st = newState()
	if r.store != nil {
		snap, ops, err := r.store.Load()
		if err != nil {
			return nil, fmt.Errorf("crdt: load: %w", err)
		}
		if snap != nil {
			st, err := restore(snap)
			if err != nil {
				return nil, fmt.Errorf("crdt: load snapshot: %w", err)
			}
			r.st = st
		}
		for i := range ops {
			if err := validateOp(&ops[i]); err != nil {
				return nil, fmt.Errorf("crdt: load: %w", err)
			}
			r.st.applyRemote(&ops[i])
			r.observeStored(ops[i].TS)
		}
		r.sinceSnap = len(ops)
	}
	r.observeState()
	r.st.dirty = true
	r.st.refresh()
	r.ownDurable = r.st.vv[r.node] // everything loaded is durable
	return r, nil
}

// Close flushes and closes the store.
func (r *Replica) Close() error {
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return nil
	}
	r.closed = true
	target := r.enqueued
	r.mu.Unlock()
	err := r.flush(target)
	if r.store != nil {
		err = errors.Join(err, r.store.Close())
	}
	return err
}

// Node returns the local node id.
func (r *Replica) Node() NodeID { return r.node }

// Clock returns the replica's clock.
func (r *Replica) Clock() *Clock { return r.clock }

// Update runs fn under the replica's write lock. fn reads the current state
// through tx and issues changes with tx's methods; each change becomes an op
// (next local sequence number, Clock.Now()) and is applied immediately, so
// later reads in fn see it. fn must validate before issuing ops: ops issued
// before fn returns an error are kept. Update returns the new ops once they
// are durable.
func (r *Replica) Update(fn func(tx *Tx) error) ([]Op, error) {
	tx := &Tx{r: r}
	var ferr error
	target, err := func() (uint64, error) {
		r.mu.Lock()
		defer r.mu.Unlock()
		if err := r.usableLocked(); err != nil {
			return 0, err
		}
		tx.View = &View{s: r.st}
		// Ops issued before a panic in fn are applied: queue them anyway.
		defer func() { tx.View.s = nil }() // the view must not escape
		defer func() { r.enqueueLocked(tx.ops) }()
		ferr = fn(tx)
		return r.enqueued + uint64(len(tx.ops)), nil
	}()
	if err != nil {
		return nil, err
	}
	if r.store == nil {
		target = 0
	}
	if err := r.flush(target); err != nil {
		return tx.ops, err
	}
	return tx.ops, ferr
}

func (r *Replica) usableLocked() error {
	if r.closed {
		return ErrClosed
	}
	return r.brokenErr()
}

func (r *Replica) brokenErr() error {
	r.brokenMu.Lock()
	defer r.brokenMu.Unlock()
	return r.broken
}

func (r *Replica) enqueueLocked(ops []Op) uint64 {
	if r.store != nil && len(ops) > 0 {
		r.pending = append(r.pending, ops...)
		r.enqueued += uint64(len(ops))
	}
	return r.enqueued
}

// flush makes every op enqueued up to target durable (group commit).
func (r *Replica) flush(target uint64) error {
	if r.store == nil {
		return nil
	}
	r.flushMu.Lock()
	defer r.flushMu.Unlock()
	if err := r.brokenErr(); err != nil {
		return err
	}
	r.mu.Lock()
	if r.durable >= target && !r.snapDue {
		r.mu.Unlock()
		return nil
	}
	batch, end := r.pending, r.enqueued
	r.pending = nil
	r.sinceSnap += len(batch)
	var snap *Snapshot
	// The interval grows with the history (half the ops seen so far), so
	// snapshot copies cost O(1) per op amortized while start-up replays at
	// most about a third of the history.
	var seen uint64
	for _, n := range r.st.vv {
		seen += n
	}
	if r.snapDue || r.sinceSnap >= max(r.snapEvery, int(seen/2)) {
		snap = r.st.snapshot()
		r.snapDue = false
		r.sinceSnap = 0
	}
	r.mu.Unlock()
	if len(batch) > 0 {
		if err := r.store.Append(batch); err != nil {
			// Not durable, so not acknowledged: the callers get the error
			// (a full disk, say). The ops stay applied in memory and queued
			// in front, so the next flush writes them once the store works
			// again, in order; the replica is not given up on.
			r.mu.Lock()
			r.pending = append(batch, r.pending...)
			r.sinceSnap -= len(batch)
			r.snapDue = r.snapDue || snap != nil
			r.mu.Unlock()
			return fmt.Errorf("crdt: append ops: %w", err)
		}
	}
	r.durable = end
	if own := lastOwnSeq(batch, r.node); own > 0 {
		r.mu.Lock()
		r.ownDurable = max(r.ownDurable, own)
		r.mu.Unlock()
	}
	if snap != nil {
		if err := r.store.SaveSnapshot(snap); err != nil {
			// The ops are durable in the log; the snapshot is only an
			// optimisation of start-up. Retry at the next flush.
			r.mu.Lock()
			r.snapDue = true
			r.mu.Unlock()
			return nil
		}
	}
	return nil
}

// lastOwnSeq returns the highest sequence number of node's ops in batch.
func lastOwnSeq(batch []Op, node NodeID) uint64 {
	var seq uint64
	for i := range batch {
		if batch[i].ID.Node == node && batch[i].ID.Seq > seq {
			seq = batch[i].ID.Seq
		}
	}
	return seq
}

// servedSeqLocked is the highest local sequence number that may leave the
// node: the durable one (everything, without a Store).
func (r *Replica) servedSeqLocked() uint64 {
	if r.store == nil {
		return r.st.vv[r.node]
	}
	return r.ownDurable
}

// AllDurable reports whether every local op is durable: only then does
// the state show nothing a crash could take back (the garbage collector
// decides on such a state only).
func (r *Replica) AllDurable() bool {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return r.servedSeqLocked() == r.st.vv[r.node]
}

// View runs fn under the read lock. The View must not escape fn.
func (r *Replica) View(fn func(v *View) error) error {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return fn(&View{s: r.st})
}

// VersionVector returns a copy of the ops seen per origin, with the local
// entry at the last durable local op (what this replica can vouch for to
// peers; local ops still waiting for their store append are not counted).
func (r *Replica) VersionVector() VersionVector {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return r.servedVVLocked()
}

func (r *Replica) servedVVLocked() VersionVector {
	v := r.st.vv.Clone()
	if v == nil {
		v = VersionVector{}
	}
	if seq := r.servedSeqLocked(); seq > 0 {
		v[r.node] = seq
	} else {
		delete(v, r.node)
	}
	return v
}

// EncodeState returns the canonical encoding of the materialized state (tree,
// attributes, content registers, xattrs, settings, version vector), excluding
// logs. Replicas that have applied the same ops return identical bytes.
func (r *Replica) EncodeState() []byte {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return encodeState(r.st.stateRec())
}

// Footprint says how much history the replica keeps (what compaction
// shrinks): for status pages, the CRDT inspector and growth tests.
type Footprint struct {
	LogOps     int // ops kept in the per-origin logs (served to peers)
	MoveLog    int // move-log entries with undo data
	Dentries   int // tree nodes, tombstones included
	Tombstones int // deleted dentries not yet compacted
	Inodes     int // inode attribute records
	Xattrs     int // inodes with xattr records
}

// Footprint returns the current sizes.
func (r *Replica) Footprint() Footprint {
	r.mu.RLock()
	defer r.mu.RUnlock()
	s := r.st
	fp := Footprint{MoveLog: len(s.mlog), Dentries: len(s.tree), Tombstones: len(s.children[TrashID]),
		Inodes: len(s.attrs), Xattrs: len(s.xattrs)}
	for _, l := range s.logs {
		fp.LogOps += len(l)
	}
	return fp
}
