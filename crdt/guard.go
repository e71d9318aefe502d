package crdt

import (
	"log/slog"
	"sync/atomic"
)

// guard holds what Apply needs to refuse ops it cannot trust: counters
// (atomic, read without locks) and the last deferred seq logged per origin
// (guarded by Replica.mu, like everything Apply touches).
type guard struct {
	log        *slog.Logger
	future     atomic.Uint64
	lastFuture map[NodeID]uint64
}

// FutureOps returns how many times Apply deferred an op whose timestamp was
// more than MaxClockSkew ahead of the local wall clock (each offer counts).
func (r *Replica) FutureOps() uint64 { return r.guard.future.Load() }

// admitLocked reports whether Apply may apply the validated remote op now.
// An op too far in the future is deferred: not applied and not observed,
// so it is offered again later (the origin's later ops wait behind it, as
// behind any gap; other origins are not held up).
func (r *Replica) admitLocked(op *Op) bool {
	if op.ID.Seq != r.st.vv[op.ID.Node]+1 {
		return false // duplicate or gap: applyRemote would skip it too
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
