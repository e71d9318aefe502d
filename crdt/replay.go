package crdt

import "fmt"

// replayJournal applies the journal's ops after what the Store held
// (duplicates of checkpointed ops are skipped like any duplicate). Local
// ops after the last durable mark go through keep first: a power loss may
// have kept such a record but not the chunks it names, and the first one
// refused is cut off with everything after it (none of it ever left the
// node: it was not durable). Everything kept is synced and marked.
func (r *Replica) replayJournal(keep func(*Op) bool) error {
	recs := r.journal.records()
	lastMark := -1
	for i, rec := range recs {
		if rec.typ == recMark {
			lastMark = i
		}
	}
	var cut uint64
	replayed := 0
	for i, rec := range recs {
		if rec.typ != recOps {
			continue
		}
		ops, err := DecodeOps(rec.data)
		if err == nil {
			for k := range ops {
				if err = validateOp(&ops[k]); err != nil {
					break
				}
			}
		}
		if err != nil {
			r.guard.log.Error("metadata journal: undecodable record; it and everything after it are dropped", "record", rec.recno, "err", err)
			cut = rec.recno
			break
		}
		if i > lastMark && keep != nil && !r.keepAll(ops, keep) {
			r.guard.log.Warn("metadata journal: a change written before a power loss names data that did not survive it; it and the changes after it are dropped (none was durable)", "record", rec.recno)
			cut = rec.recno
			break
		}
		var applied []Op
		for k := range ops {
			if r.st.applyRemote(&ops[k]) {
				r.observeStored(ops[k].TS)
				applied = append(applied, ops[k])
			}
		}
		if len(applied) > 0 {
			r.ckpt = append(r.ckpt, applied...)
			r.ckptRecs = append(r.ckptRecs, EncodeOps(applied))
			replayed += len(applied)
		}
	}
	if err := r.journal.start(cut); err != nil {
		return fmt.Errorf("crdt: journal: %w", err)
	}
	r.sinceSnap += replayed
	if rec := r.journal.Recno(); rec > 0 {
		// What replay kept is durable now (start synced it); a mark says so.
		if err := r.journal.Mark(rec); err != nil {
			return err
		}
		if err := r.journal.Sync(); err != nil {
			return err
		}
	}
	return nil
}

// keepAll reports whether keep accepts every local op of ops that would
// be applied (not a duplicate of one the Store held).
func (r *Replica) keepAll(ops []Op, keep func(*Op) bool) bool {
	next := r.st.vv[r.node] + 1
	for k := range ops {
		op := &ops[k]
		if op.ID.Node != r.node || op.ID.Seq < next {
			continue
		}
		next = op.ID.Seq + 1
		if !keep(op) {
			return false
		}
	}
	return true
}
