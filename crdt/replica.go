package crdt

import (
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"
)

// ErrClosed is returned by a Replica after Close.
var ErrClosed = errors.New("crdt: replica closed")

// Replica is one node's copy of the replicated namespace: the state, the
// per-origin op logs and the undo log of the move algorithm. Safe for
// concurrent use. Every method that changes state returns only after the
// changes are durable (group commit: concurrent callers share one write
// and one sync), except UpdateAsync, which returns once they are
// journaled (commit.go).
type Replica struct {
	node      NodeID
	clock     *Clock
	store     Store
	journal   *Journal // nil: every append goes to store, durable at once
	snapEvery int
	newID     func() InodeID // NewInodeID; tests make it deterministic

	mu     sync.RWMutex // guards st, pending, enqueued, closed, snapDue, sinceSnap, ownDurable
	st     *state
	closed bool

	// group commit (commit.go): transactions applied in memory wait in
	// pending (in apply order) until one appendPending writes them all.
	pending   [][]Op
	enqueued  uint64 // ops ever enqueued
	snapDue   bool
	sinceSnap int

	appendMu     sync.Mutex // one writer at a time; taken before mu; guards ckpt
	ckpt         []Op       // journaled ops not in the Store yet
	ckptRecs     [][]byte   // the same, encoded as journaled (EncodeOps payloads)
	syncMu       sync.Mutex // one sync round or checkpoint at a time; taken before appendMu
	unsynced     bool       // a mark was written but its sync failed (guarded by syncMu)
	lastCkpt     time.Time  // guarded by syncMu
	dmu          sync.Mutex // leaf lock: guards journaled, journaledOwn, durable, waits, dclosed
	journaled    uint64     // ops ever written (journal or Store)
	journaledOwn uint64     // highest local sequence number written
	durable      uint64     // ops ever made durable
	waits        []durableWait
	dclosed      bool

	beforeDurable func() error
	onDurable     func()
	stop, kick    chan struct{}
	loopDone      chan struct{}

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
	// Journal, when set, takes every change first (OpenJournal; Store must
	// be set too): UpdateAsync returns once its ops are written there, a
	// background committer makes them durable within milliseconds and
	// moves them into Store in batches (commit.go).
	Journal *Journal
	// BeforeDurable is called before journaled ops are made durable, with
	// no lock held: it must make durable whatever those ops rely on (the
	// node syncs the chunks written since the last call).
	BeforeDurable func() error
	// KeepReplayed decides at Open whether a local op found in the journal
	// after its last durable mark is kept (written, but maybe not durable
	// when a power loss came: the chunks it names may be gone). False
	// drops it and every record after it, none of which ever left the
	// node. Nil keeps everything.
	KeepReplayed func(*Op) bool
	// OnDurable is called (from the goroutine that made them durable; it
	// must not block) after local ops became durable, so that the cluster
	// layer pushes them to peers.
	OnDurable func()
}

// Open loads the replica from opts.Store (latest snapshot plus the ops after
// it) or starts empty (a fresh namespace has the root directory with mode
// 0755, uid/gid 0).
func Open(opts Options) (*Replica, error) {
	if !ValidNodeID(opts.Node) {
		return nil, fmt.Errorf("crdt: invalid node id %q", opts.Node)
	}
	if opts.Journal != nil && opts.Store == nil {
		return nil, errors.New("crdt: a journal needs a store")
	}
	r := &Replica{node: opts.Node, clock: opts.Clock, store: opts.Store, journal: opts.Journal,
		snapEvery: opts.SnapshotEvery, newID: NewInodeID, beforeDurable: opts.BeforeDurable, onDurable: opts.OnDurable}
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
	if r.journal != nil {
		if err := r.replayJournal(opts.KeepReplayed); err != nil {
			return nil, err
		}
	}
	r.observeState()
	r.st.dirty = true
	r.st.refresh()
	r.ownDurable = r.st.vv[r.node] // everything loaded is durable
	if r.journal != nil {
		r.stop, r.kick, r.loopDone = make(chan struct{}), make(chan struct{}, 1), make(chan struct{})
		r.lastCkpt = time.Now()
		go r.commitLoop()
	}
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
	r.mu.Unlock()
	err := r.closeCommit()
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
	ops, target, ferr, err := r.applyTx(fn)
	if err != nil {
		return nil, err
	}
	if err := r.flush(target); err != nil {
		return ops, err
	}
	return ops, ferr
}

// applyTx runs fn and applies and queues its ops; target is the position
// of its last op (0 without a Store).
func (r *Replica) applyTx(fn func(tx *Tx) error) (ops []Op, target uint64, ferr, err error) {
	tx := &Tx{r: r}
	target, err = func() (uint64, error) {
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
		return nil, 0, nil, err
	}
	if r.store == nil {
		target = 0
	}
	return tx.ops, target, ferr, nil
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
		r.pending = append(r.pending, slices.Clone(ops))
		r.enqueued += uint64(len(ops))
	}
	return r.enqueued
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
