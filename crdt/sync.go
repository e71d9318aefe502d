package crdt

import (
	"errors"
	"fmt"
	"math"
	"sort"
)

// Apply merges remote ops: duplicates are ignored; an op whose sequence number
// does not directly follow the local version vector entry of its origin (a
// gap) is not applied (the caller resends after the next Missing exchange);
// moves that arrive out of timestamp order are handled by undo/redo; invalid
// ops (unknown fields, zero ids, names with '/' or NUL, bad kinds) return an
// error wrapping ErrMalformed and change nothing. An op whose timestamp is
// more than MaxClockSkew ahead of the local wall clock is deferred (not
// applied, counted by FutureOps; it is applied when offered again after the
// local clock caught up). Returns the ops newly applied, after they are
// durable.
func (r *Replica) Apply(ops []Op) ([]Op, error) {
	for i := range ops {
		if err := validateOp(&ops[i]); err != nil {
			return nil, fmt.Errorf("apply: %w", err)
		}
	}
	sorted := append([]Op(nil), ops...)
	sort.SliceStable(sorted, func(i, j int) bool { return sorted[i].ID.Compare(sorted[j].ID) < 0 })
	r.mu.Lock()
	if err := r.usableLocked(); err != nil {
		r.mu.Unlock()
		return nil, err
	}
	var applied []Op
	for i := range sorted {
		op := &sorted[i]
		if r.admitLocked(op) && r.st.applyRemote(op) {
			r.clock.Observe(op.TS)
			applied = append(applied, *op)
		}
	}
	r.st.refresh()
	target := r.enqueueLocked(applied)
	r.mu.Unlock()
	if err := r.flush(target); err != nil {
		return applied, err
	}
	return applied, nil
}

// Missing returns the ops the holder of theirs lacks, per origin in sequence
// order, origins sorted by id: at most limit ops (0: no limit) and, past
// the first op, at most maxBytes of estimated encoding (0: no limit; see
// OpSize), so a batch always fits a transport frame whatever its ops carry.
// Local ops that are not durable yet are never returned. If some of the ops
// were compacted away it returns ErrNeedSnapshot.
func (r *Replica) Missing(theirs VersionVector, limit, maxBytes int) ([]Op, error) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	s := r.st
	// What each origin has for them: a contiguous slice of its log.
	var pending [][]Op
	for _, o := range s.vv.Nodes() {
		have, from := s.vv[o], theirs[o]
		if o == r.node {
			have = r.servedSeqLocked()
		}
		if from >= have {
			continue
		}
		base := s.logBase[o]
		if from < base {
			return nil, fmt.Errorf("missing %s from %d (log starts at %d): %w", o, from+1, base+1, ErrNeedSnapshot)
		}
		pending = append(pending, s.logs[o][from-base:have-base])
	}
	if len(pending) == 0 {
		return nil, nil
	}
	// Fair shares first, so one origin with a long backlog (or ops a peer
	// defers) cannot starve the others; then whatever budget is left.
	taken := make([]int, len(pending))
	var out []Op
	size := 0
	take := func(k, upto int, byteCap int) {
		for taken[k] < len(pending[k]) && taken[k] < upto {
			op := &pending[k][taken[k]]
			n := OpSize(op)
			if len(out) > 0 && maxBytes > 0 && size+n > byteCap {
				return
			}
			if limit > 0 && len(out) >= limit {
				return
			}
			out = append(out, *op)
			size += n
			taken[k]++
		}
	}
	if limit > 0 || maxBytes > 0 {
		share, byteShare := math.MaxInt, math.MaxInt
		if limit > 0 {
			share = max(1, limit/len(pending))
		}
		for k := range pending {
			if maxBytes > 0 {
				byteShare = size + max(1, maxBytes/len(pending))
			}
			take(k, share, byteShare)
		}
	}
	for k := range pending {
		take(k, math.MaxInt, maxBytes)
	}
	return out, nil
}

// OpSize is an upper bound of the encoded size of op in bytes (cheap: no
// encoding), used to bound sync batches.
func OpSize(op *Op) int {
	n := 128 + len(op.ID.Node) + len(op.TS.Node)
	vv := func(v VersionVector) int {
		m := 0
		for o := range v {
			m += len(o) + 12
		}
		return m
	}
	switch {
	case op.Move != nil:
		n += len(op.Move.Name) + 64 + vv(op.Move.Context)
	case op.Attr != nil:
		n += len(op.Attr.Symlink) + 96
	case op.Xattr != nil:
		n += len(op.Xattr.Name) + len(op.Xattr.Value) + 32
	case op.Content != nil:
		n += vv(op.Content.Context) + 32
		if c := op.Content.Content; c != nil {
			n += len(c.Inline) + 35*len(c.Chunks) + 48*len(c.Sparse) + 32
		}
	case op.Setting != nil:
		n += len(op.Setting.Key) + len(op.Setting.Value) + 16
	}
	return n
}

// Snapshot returns the full replica state (state, version vector, retained
// logs) for a new or long-absent peer. It first makes every queued op
// durable: a snapshot must not carry a local op that a crash could still
// lose (its sequence number would be reused). It fails when that is
// impossible (the store refuses the append, e.g. a full disk).
func (r *Replica) Snapshot() (*Snapshot, error) {
	for range 3 {
		r.mu.RLock()
		target := r.enqueued
		r.mu.RUnlock()
		if err := r.flush(target); err != nil {
			return nil, fmt.Errorf("snapshot: %w", err)
		}
		r.mu.RLock()
		if r.servedSeqLocked() == r.st.vv[r.node] {
			snap := r.st.snapshot()
			r.mu.RUnlock()
			return snap, nil
		}
		r.mu.RUnlock()
	}
	return nil, errors.New("snapshot: local ops keep arriving faster than they become durable; try again")
}

// InstallSnapshot merges a peer's snapshot: the result is as if every op the
// snapshot covers had been applied here. Local ops the snapshot lacks are
// kept and re-applied. It fails (changing nothing) if some of those were
// compacted away here, if the snapshot is malformed, or (ErrForged) if it
// contradicts ops we hold: it claims ops of our own origin we never issued,
// or an op it retains differs from ours under the same id; or (ErrFuture,
// retry later) if it holds another origin's timestamp more than
// MaxClockSkew ahead of the local clock.
func (r *Replica) InstallSnapshot(snap *Snapshot) error {
	ns, err := restore(snap)
	if err != nil {
		return err
	}
	r.mu.Lock()
	if err := r.usableLocked(); err != nil {
		r.mu.Unlock()
		return err
	}
	s := r.st
	if c := s.vv.Compare(ns.vv); c == Equal || c == Greater {
		r.mu.Unlock()
		return nil
	}
	if err := r.checkSnapshotLocked(ns); err != nil {
		r.mu.Unlock()
		return err
	}
	var extra []Op
	for _, o := range s.vv.Nodes() {
		have, from := s.vv[o], ns.vv[o]
		if from >= have {
			continue
		}
		if from < s.logBase[o] {
			r.mu.Unlock()
			return fmt.Errorf("install snapshot: local ops of %s after %d were compacted: %w", o, from, ErrNeedSnapshot)
		}
		extra = append(extra, s.logs[o][from-s.logBase[o]:have-s.logBase[o]]...)
	}
	for i := range extra {
		ns.applyRemote(&extra[i])
	}
	ns.dirty = true
	ns.refresh()
	r.clock.Observe(ns.maxTS)
	r.st = ns
	r.snapDue = r.store != nil
	// Ops still pending belong to the old state and are in the new one too;
	// the snapshot written by flush makes everything durable.
	target := r.enqueued
	r.mu.Unlock()
	return r.flush(target)
}

// CompactStats says what one Compact removed.
type CompactStats struct {
	Ops        int // log ops (no peer still needs them)
	Moves      int // move-log entries (undo data no late op can need)
	Tombstones int // deleted dentries, with their inode records when unlinked everywhere
	Inodes     int // inode records removed with them
	Xattrs     int // xattr remove tombstones
}

// Compact drops what can never be needed again, given stable: a version
// vector every known member has seen, in a state from which the caller has
// pulled every member's ops up to the vector it reported (see
// docs/reliability.md, "Causal stability"). Then every op still to arrive
// is either covered by stable or causally after it, and:
//
//   - log ops covered by stable are dropped (a peer behind stable needs a
//     snapshot);
//   - the floor is the oldest timestamp among the held ops stable does not
//     cover: no op still to arrive is older than an op below it, so
//     move-log undo entries below the floor are dropped, and so are
//     removed-xattr tombstones;
//   - deleted dentries (trash children, not resurrected, no children)
//     below the floor are dropped, with their inode's attributes, content
//     and xattrs once no dentry of the inode is left: a write concurrent
//     with the delete would have been among the pulled ops.
//
// One case is outside that promise: a node that is not a member yet (its
// member record has not arrived) and whose wall clock lags may send ops
// older than the floor. They are applied after the compacted prefix; as
// such a node can only have created new entries of its own, the result is
// the same on every replica.
func (r *Replica) Compact(stable VersionVector) CompactStats {
	r.mu.Lock()
	defer r.mu.Unlock()
	var cs CompactStats
	s := r.st
	floor := Timestamp{Wall: math.MaxInt64, Logical: math.MaxUint32}
	for o, log := range s.logs {
		for i := range log {
			if !stable.Covers(log[i].ID) {
				if log[i].TS.Compare(floor) < 0 {
					floor = log[i].TS
				}
				break // per-origin logs are in timestamp order
			}
		}
		upto := min(stable[o], s.vv[o])
		base := s.logBase[o]
		if upto <= base {
			continue
		}
		cs.Ops += int(upto - base)
		s.logs[o] = append([]Op(nil), log[upto-base:]...)
		s.logBase[o] = upto
	}
	i := sort.Search(len(s.mlog), func(i int) bool { return s.mlog[i].TS.Compare(floor) >= 0 })
	if i > 0 {
		cs.Moves = i
		s.mlog = append([]*moveEntry(nil), s.mlog[i:]...)
	}
	var gone []InodeID
	for k := range s.children[TrashID] {
		t := s.tree[k]
		if !s.der.res[k] && len(s.children[k]) == 0 && stable.Covers(t.Op) && t.TS.Compare(floor) < 0 {
			gone = append(gone, k)
		}
	}
	sortIDs(gone)
	for _, k := range gone {
		ino := s.tree[k].M.Inode
		s.setNode(k, nil)
		cs.Tombstones++
		if len(s.inodeDentries[ino]) == 0 {
			delete(s.attrs, ino)
			delete(s.content, ino)
			delete(s.xattrs, ino)
			cs.Inodes++
		}
	}
	for ino, m := range s.xattrs {
		for name, x := range m {
			if x.Removed && x.TS.Compare(floor) < 0 {
				delete(m, name)
				cs.Xattrs++
			}
		}
		if len(m) == 0 {
			delete(s.xattrs, ino)
		}
	}
	s.refresh()
	if cs == (CompactStats{}) {
		return cs
	}
	// Go maps never give memory back: after a large compaction, rebuild
	// the state from its own snapshot so the heap shrinks with it.
	if cs.Tombstones > 1024 && cs.Tombstones > len(s.tree)/2 {
		if ns, err := restore(s.snapshot()); err == nil {
			ns.dirty = true
			ns.refresh()
			r.st = ns
		}
	}
	r.snapDue = r.store != nil
	return cs
}
