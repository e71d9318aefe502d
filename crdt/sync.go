package crdt

import (
	"fmt"
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
// order, origins sorted by id, at most limit ops (0: no limit). If some of them
// were compacted away it returns ErrNeedSnapshot.
func (r *Replica) Missing(theirs VersionVector, limit int) ([]Op, error) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	s := r.st
	var out []Op
	for _, o := range s.vv.Nodes() {
		have, from := s.vv[o], theirs[o]
		if from >= have {
			continue
		}
		base := s.logBase[o]
		if from < base {
			return nil, fmt.Errorf("missing %s from %d (log starts at %d): %w", o, from+1, base+1, ErrNeedSnapshot)
		}
		log := s.logs[o][from-base : have-base]
		if limit > 0 && len(out)+len(log) > limit {
			log = log[:limit-len(out)]
		}
		out = append(out, log...)
		if limit > 0 && len(out) >= limit {
			break
		}
	}
	return out, nil
}

// Snapshot returns the full replica state (state, version vector, retained
// logs) for a new or long-absent peer.
func (r *Replica) Snapshot() *Snapshot {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return r.st.snapshot()
}

// InstallSnapshot merges a peer's snapshot: the result is as if every op the
// snapshot covers had been applied here. Local ops the snapshot lacks are
// kept and re-applied. It fails (changing nothing) if some of those were
// compacted away here, or if the snapshot is malformed.
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

// Compact drops what can never be needed again: log ops covered by stable
// (delivered to every member) and move-undo entries with a timestamp below
// floor (no op still to arrive can be older); tombstoned inodes whose delete is
// both stable and below floor are removed with their content records.
//
// The caller guarantees that no op older than floor and no op concurrent with
// an op covered by stable is still to arrive; an op that breaks this is still
// applied but may leave replicas that compacted differently apart.
func (r *Replica) Compact(stable VersionVector, floor Timestamp) {
	r.mu.Lock()
	defer r.mu.Unlock()
	s := r.st
	for o, log := range s.logs {
		upto := stable[o]
		if upto > s.vv[o] {
			upto = s.vv[o]
		}
		base := s.logBase[o]
		if upto <= base {
			continue
		}
		s.logs[o] = append([]Op(nil), log[upto-base:]...)
		s.logBase[o] = upto
	}
	i := sort.Search(len(s.mlog), func(i int) bool { return s.mlog[i].TS.Compare(floor) >= 0 })
	if i > 0 {
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
		if len(s.inodeDentries[ino]) == 0 {
			delete(s.attrs, ino)
			delete(s.content, ino)
			delete(s.xattrs, ino)
		}
	}
	s.refresh()
	r.snapDue = r.store != nil
}
