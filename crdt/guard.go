package crdt

import (
	"bytes"
	"fmt"
	"log/slog"
	"sync/atomic"
)

// guard holds what Apply needs to refuse ops it cannot trust: counters
// (atomic, read without locks) and the last deferred seq logged per origin
// (guarded by Replica.mu, like everything Apply touches).
type guard struct {
	log        *slog.Logger
	future     atomic.Uint64
	forgeries  atomic.Uint64
	lastFuture map[NodeID]uint64
	lastForged map[NodeID]uint64
}

// FutureOps returns how many times Apply deferred an op whose timestamp was
// more than MaxClockSkew ahead of the local wall clock (each offer counts).
func (r *Replica) FutureOps() uint64 { return r.guard.future.Load() }

// Forgeries returns how many ops and snapshots contradicted what this
// replica holds: an op id we hold with other content, an op of our own
// origin we never issued, a snapshot claiming either. Each is logged.
func (r *Replica) Forgeries() uint64 { return r.guard.forgeries.Load() }

// admitLocked reports whether Apply may apply the validated remote op now.
// A duplicate is compared with the op we hold (a difference is a forgery or
// corruption: counted, logged, ignored); an op of our own origin we never
// issued is a forgery (refused). An op too far in the future is deferred:
// not applied and not observed, so it is offered again later (the origin's
// later ops wait behind it, as behind any gap; other origins are not held
// up).
func (r *Replica) admitLocked(op *Op) bool {
	have := r.st.vv[op.ID.Node]
	switch {
	case op.ID.Seq <= have:
		if held, ok := r.st.heldOp(op.ID); ok && !sameOp(&held, op) {
			r.forgedLocked(op.ID, "an op we hold arrived with other content")
		}
		return false
	case op.ID.Node == r.node:
		r.forgedLocked(op.ID, "an op of our own node id that we never issued (a member forging our ops, or this node id was used before with a data dir that is gone: then start with a new node id)")
		return false
	case op.ID.Seq != have+1:
		return false // a gap: resent after the next exchange
	}
	if r.clock.Ahead(op.TS) {
		r.guard.future.Add(1)
		if r.guard.lastFuture == nil {
			r.guard.lastFuture = map[NodeID]uint64{}
		}
		if r.guard.lastFuture[op.ID.Node] != op.ID.Seq {
			r.guard.lastFuture[op.ID.Node] = op.ID.Seq
			r.guard.log.Warn("deferring an op from the future (clock skew or a crafted timestamp)",
				"origin", op.ID.Node, "seq", op.ID.Seq, "op_time", op.TS.Time(), "max_skew", MaxClockSkew)
		}
		return false
	}
	return true
}

func (r *Replica) forgedLocked(id OpID, why string) {
	r.guard.forgeries.Add(1)
	if r.guard.lastForged == nil {
		r.guard.lastForged = map[NodeID]uint64{}
	}
	if r.guard.lastForged[id.Node] != id.Seq {
		r.guard.lastForged[id.Node] = id.Seq
		r.guard.log.Warn("ignoring a forged or corrupt op: "+why, "origin", id.Node, "seq", id.Seq)
	}
}

// heldOp returns the op with id from the retained log (false if it was
// compacted away or never arrived).
func (s *state) heldOp(id OpID) (Op, bool) {
	base := s.logBase[id.Node]
	if id.Seq <= base || id.Seq > s.vv[id.Node] {
		return Op{}, false
	}
	return s.logs[id.Node][id.Seq-base-1], true
}

// sameOp compares two ops by their canonical encoding.
func sameOp(a, b *Op) bool { return bytes.Equal(encode(a), encode(b)) }

// checkSnapshotLocked refuses (ErrForged, counted and logged) a snapshot
// that contradicts what we hold: one claiming ops of our own origin beyond
// what we issued (nobody can hold those), or one whose retained logs hold,
// under an id we hold, an op with other content. Ops the snapshot compacted
// away cannot be compared: its state is trusted for them.
func (r *Replica) checkSnapshotLocked(ns *state) error {
	s := r.st
	// A snapshot cannot be deferred in part: one holding another origin's
	// timestamp from beyond MaxClockSkew is refused until our clock has
	// caught up (it would drag the clock along, as the ops Apply defers).
	var ahead *Timestamp
	check := func(ts Timestamp) {
		if ahead == nil && ts.Node != r.node && r.clock.Ahead(ts) {
			ahead = &ts
		}
	}
	check(ns.maxTS)
	ns.eachTS(check)
	if ahead != nil {
		r.guard.future.Add(1)
		r.guard.log.Warn("refusing a snapshot holding an op from the future (clock skew or a crafted timestamp); retried later",
			"origin", ahead.Node, "op_time", ahead.Time(), "max_skew", MaxClockSkew)
		return fmt.Errorf("install snapshot: it holds a timestamp of %s at %v, more than %v ahead of our clock (retry later): %w",
			ahead.Node, ahead.Time(), MaxClockSkew, ErrFuture)
	}
	if mine, theirs := s.vv[r.node], ns.vv[r.node]; theirs > mine {
		r.guard.forgeries.Add(1)
		r.guard.log.Warn("refusing a snapshot that claims ops of ours we never issued (forged, or this node id was used before with a data dir that is gone)",
			"ours", mine, "claimed", theirs)
		return fmt.Errorf("install snapshot: it claims our ops up to %d, we issued %d: %w", theirs, mine, ErrForged)
	}
	for o, log := range ns.logs {
		for i := range log {
			held, ok := s.heldOp(log[i].ID)
			if ok && !sameOp(&held, &log[i]) {
				r.guard.forgeries.Add(1)
				r.guard.log.Warn("refusing a snapshot whose op differs from the one we hold (forged or corrupt)", "origin", o, "seq", log[i].ID.Seq)
				return fmt.Errorf("install snapshot: op %s:%d differs from ours: %w", o, log[i].ID.Seq, ErrForged)
			}
		}
	}
	return nil
}

// observeStored merges a persisted timestamp into the clock at Open. Our
// own timestamps always count (our history must stay monotonic even if the
// wall clock went back); another origin's only if Apply would accept it now,
// so an op from the far future stored before the check existed cannot
// poison the clock at every start.
func (r *Replica) observeStored(ts Timestamp) {
	if ts.Node == r.node || !r.clock.Ahead(ts) {
		r.clock.Observe(ts)
	}
}

// observeState observes the loaded state's timestamps. Usually its maximum
// is enough; if that is another origin's future timestamp, every timestamp
// the state still holds is looked at.
func (r *Replica) observeState() {
	s := r.st
	if s.maxTS.Node == r.node || !r.clock.Ahead(s.maxTS) {
		r.clock.Observe(s.maxTS)
		return
	}
	r.guard.log.Warn("loaded metadata holds an op from the future; the clock ignores it",
		"origin", s.maxTS.Node, "op_time", s.maxTS.Time(), "max_skew", MaxClockSkew)
	s.eachTS(r.observeStored)
}

// eachTS calls fn with every timestamp the state holds.
func (s *state) eachTS(fn func(Timestamp)) {
	for _, log := range s.logs {
		for i := range log {
			fn(log[i].TS)
		}
	}
	for _, t := range s.tree {
		fn(t.TS)
	}
	for _, e := range s.mlog {
		fn(e.TS)
	}
	for _, a := range s.attrs {
		for _, ts := range a.TS {
			fn(ts)
		}
	}
	for _, c := range s.content {
		for _, v := range c.Versions {
			fn(v.TS)
		}
	}
	for _, m := range s.xattrs {
		for _, x := range m {
			fn(x.TS)
		}
	}
	for _, x := range s.settings {
		fn(x.TS)
	}
}

// discardLogger is the default when Options.Logger is nil.
var discardLogger = slog.New(slog.DiscardHandler)
