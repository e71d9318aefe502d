package crdt

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Group commit. Changes are applied in memory and queued (pending, whole
// transactions in apply order); appendPending writes every queued
// transaction with one write. Without a Journal that write is a
// Store.Append, durable on return. With one it is a journal append: the
// ops survive a crash of the process at once, and a sync round (the
// background committer, or a caller that waits) makes them durable:
//
//  1. note the position p of the last journaled op and its record r;
//  2. BeforeDurable (the node syncs the chunks the ops name);
//  3. append a mark "records up to r are durable" and fdatasync.
//
// Then every op up to p is durable: served to peers (ownDurable), and
// the callbacks waiting for p run. A checkpoint moves durable ops into the
// Store (one transaction, with a snapshot when one is due) and removes
// the journal segments they came from.

// Commit tuning; variables so that tests can shorten them.
var (
	// commitDelay lets a background round collect more ops first.
	commitDelay = 2 * time.Millisecond
	// checkpointEvery, checkpointOps and checkpointBytes bound what the
	// journal holds before a checkpoint.
	checkpointEvery = time.Second
	checkpointOps   = 20000
	checkpointBytes = int64(32 << 20)
	// recordBytes bounds one journal record (by OpSize estimate); a single
	// transaction above it gets a record of its own.
	recordBytes = 16 << 20
)

type durableWait struct {
	pos uint64
	fn  func()
}

// appendPending writes every queued transaction (group commit).
func (r *Replica) appendPending() error {
	r.appendMu.Lock()
	defer r.appendMu.Unlock()
	r.mu.Lock()
	batch, end := r.pending, r.enqueued
	r.pending = nil
	r.mu.Unlock()
	if len(batch) == 0 {
		return nil
	}
	var flat []Op
	for _, tx := range batch {
		flat = append(flat, tx...)
	}
	var err error
	var recs [][]byte
	if r.journal != nil {
		recs = packRecords(batch)
		_, err = r.journal.Append(recs...)
	} else {
		err = r.store.Append(flat)
	}
	if err != nil {
		// Not written, so not acknowledged: the callers get the error (a
		// full disk, say). The ops stay applied in memory and queued in
		// front, so the next append writes them once the store works
		// again, in order; the replica is not given up on.
		r.mu.Lock()
		r.pending = append(batch, r.pending...)
		r.mu.Unlock()
		if r.journal != nil {
			return fmt.Errorf("crdt: journal ops: %w", err)
		}
		return fmt.Errorf("crdt: append ops: %w", err)
	}
	own := lastOwnSeq(flat, r.node)
	if r.journal != nil {
		r.ckpt = append(r.ckpt, flat...)
		r.ckptRecs = append(r.ckptRecs, recs...)
	} else {
		r.mu.Lock()
		r.sinceSnap += len(flat)
		r.mu.Unlock()
	}
	r.dmu.Lock()
	r.journaled = end
	r.journaledOwn = max(r.journaledOwn, own)
	r.dmu.Unlock()
	if r.journal == nil {
		// Durable already; the callbacks run after appendMu is released.
		defer r.setDurable(end, own)
	}
	return nil
}

// packRecords encodes transactions into journal payloads of about
// recordBytes each; a transaction is never split.
func packRecords(batch [][]Op) [][]byte {
	var out [][]byte
	var cur []Op
	size := 0
	for _, tx := range batch {
		n := 0
		for i := range tx {
			n += OpSize(&tx[i])
		}
		if len(cur) > 0 && size+n > recordBytes {
			out = append(out, EncodeOps(cur))
			cur, size = nil, 0
		}
		cur = append(cur, tx...)
		size += n
	}
	if len(cur) > 0 {
		out = append(out, EncodeOps(cur))
	}
	return out
}

// setDurable records that ops up to pos (own: the highest local sequence
// number among them) are durable and runs the callbacks waiting for it.
func (r *Replica) setDurable(pos, own uint64) {
	if own > 0 {
		r.mu.Lock()
		r.ownDurable = max(r.ownDurable, own)
		r.mu.Unlock()
	}
	r.dmu.Lock()
	if pos > r.durable {
		r.durable = pos
	}
	var run []func()
	keep := r.waits[:0]
	for _, w := range r.waits {
		if w.pos <= r.durable {
			run = append(run, w.fn)
		} else {
			keep = append(keep, w)
		}
	}
	clear(r.waits[len(keep):])
	r.waits = keep
	r.dmu.Unlock()
	for _, fn := range run {
		fn()
	}
	if own > 0 && r.onDurable != nil {
		r.onDurable()
	}
}

// syncRound makes every op journaled so far durable. Called with syncMu.
func (r *Replica) syncRound() error {
	r.appendMu.Lock()
	r.dmu.Lock()
	pos, own, done := r.journaled, r.journaledOwn, r.durable
	r.dmu.Unlock()
	recno := r.journal.Recno()
	r.appendMu.Unlock()
	if pos <= done && !r.unsynced {
		return nil
	}
	if r.beforeDurable != nil {
		if err := r.beforeDurable(); err != nil {
			return fmt.Errorf("crdt: make durable what the ops rely on: %w", err)
		}
	}
	if err := r.journal.Mark(recno); err != nil {
		return err
	}
	r.unsynced = true // the mark itself, until synced
	if err := r.journal.Sync(); err != nil {
		return err
	}
	r.unsynced = false
	r.setDurable(pos, own)
	return nil
}

// flush makes every op enqueued up to target durable (group commit), and
// writes the snapshot a caller asked for (snapDue).
func (r *Replica) flush(target uint64) error {
	if r.store == nil {
		return nil
	}
	if err := r.brokenErr(); err != nil {
		return err
	}
	if err := r.appendPending(); err != nil {
		return err
	}
	if r.journal == nil {
		return r.snapshotIfDue()
	}
	r.syncMu.Lock()
	defer r.syncMu.Unlock()
	r.mu.RLock()
	due := r.snapDue
	r.mu.RUnlock()
	if r.Durable() >= target && !due {
		return nil
	}
	if err := r.syncRound(); err != nil {
		return err
	}
	if due {
		return r.checkpoint()
	}
	return nil
}

// snapshotIfDue writes a snapshot to a Store without journal when one is
// due: the interval grows with the history (half the ops seen so far), so
// snapshot copies cost O(1) per op amortized while start-up replays at
// most about a third of the history.
func (r *Replica) snapshotIfDue() error {
	r.syncMu.Lock()
	defer r.syncMu.Unlock()
	snap := r.takeSnapshotIfDue(0)
	if snap == nil {
		return nil
	}
	if err := r.store.SaveSnapshot(snap); err != nil {
		// The ops are durable in the log; the snapshot is only an
		// optimisation of start-up. Retry at the next flush.
		r.mu.Lock()
		r.snapDue = true
		r.mu.Unlock()
	}
	return nil
}

// takeSnapshotIfDue counts added more ops towards the next snapshot and
// returns the state's snapshot when one is due (nil otherwise). Called
// with syncMu held.
func (r *Replica) takeSnapshotIfDue(added int) *Snapshot {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.sinceSnap += added
	var seen uint64
	for _, n := range r.st.vv {
		seen += n
	}
	if !r.snapDue && r.sinceSnap < max(r.snapEvery, int(seen/2)) {
		return nil
	}
	r.snapDue = false
	r.sinceSnap = 0
	return r.st.snapshot()
}

// checkpoint moves the journaled ops into the Store and drops the journal
// segments that held them. Called with syncMu held.
func (r *Replica) checkpoint() error {
	r.appendMu.Lock()
	ended, err := r.journal.Rotate()
	if err != nil {
		r.appendMu.Unlock()
		return err
	}
	ops, recs := r.ckpt, r.ckptRecs
	r.ckpt, r.ckptRecs = nil, nil
	r.appendMu.Unlock()
	restore := func() {
		r.appendMu.Lock()
		r.ckpt = append(ops, r.ckpt...)
		r.ckptRecs = append(recs, r.ckptRecs...)
		r.appendMu.Unlock()
	}
	// Everything in the ended segments must be durable (and so must the
	// chunks it names) before the Store holds it.
	if err := r.syncRound(); err != nil {
		restore()
		return err
	}
	snap := r.takeSnapshotIfDue(len(ops))
	undo := func() {
		restore()
		r.mu.Lock()
		r.sinceSnap = max(r.sinceSnap-len(ops), 0)
		r.snapDue = r.snapDue || snap != nil
		r.mu.Unlock()
	}
	if snap != nil && r.beforeDurable != nil {
		// The snapshot may hold ops journaled after the round.
		if err := r.beforeDurable(); err != nil {
			undo()
			return fmt.Errorf("crdt: make durable what the snapshot relies on: %w", err)
		}
	}
	if len(ops) > 0 {
		var err error
		if ra, ok := r.store.(recordAppender); ok {
			err = ra.appendRecords(recs) // as journaled: no second encoding
		} else {
			err = r.store.Append(ops)
		}
		if err != nil {
			undo()
			return fmt.Errorf("crdt: checkpoint ops: %w", err)
		}
	}
	if snap != nil {
		if err := r.store.SaveSnapshot(snap); err != nil {
			r.mu.Lock()
			r.snapDue = true
			r.mu.Unlock()
		}
	}
	r.lastCkpt = time.Now()
	return r.journal.Remove(ended)
}

// checkpointDue says whether the committer should checkpoint now.
func (r *Replica) checkpointDue() bool {
	r.mu.RLock()
	due := r.snapDue
	r.mu.RUnlock()
	r.appendMu.Lock()
	n := len(r.ckpt)
	r.appendMu.Unlock()
	return due || n >= checkpointOps || r.journal.Size() >= checkpointBytes ||
		(n > 0 && time.Since(r.lastCkpt) >= checkpointEvery)
}

// commitLoop is the background committer: it makes journaled ops durable
// soon after they are written and checkpoints the journal.
func (r *Replica) commitLoop() {
	defer close(r.loopDone)
	tick := time.NewTicker(checkpointEvery / 2)
	defer tick.Stop()
	var backoff time.Duration
	for {
		select {
		case <-r.stop:
			return
		case <-r.kick:
			select { // let more ops arrive first
			case <-r.stop:
				return
			case <-time.After(commitDelay):
			}
		case <-tick.C:
		}
		r.syncMu.Lock()
		err := r.syncRound()
		if err == nil && r.checkpointDue() {
			err = r.checkpoint()
		}
		r.syncMu.Unlock()
		if err == nil {
			backoff = 0
			continue
		}
		backoff = min(max(2*backoff, 10*time.Millisecond), time.Second)
		r.guard.log.Warn("metadata commit failed; retrying", "err", err, "retry_in", backoff)
		select {
		case <-r.stop:
			return
		case <-time.After(backoff):
			r.kickCommitter()
		}
	}
}

func (r *Replica) kickCommitter() {
	select {
	case r.kick <- struct{}{}:
	default:
	}
}

// UpdateAsync is Update without waiting for durability: it returns once
// the ops are journaled, so they survive a crash of the process (not yet
// a power loss), with pos, the position to pass to WaitDurable or
// AfterDurable; the background committer makes them durable within
// milliseconds. Without a journal it is Update.
func (r *Replica) UpdateAsync(fn func(tx *Tx) error) (ops []Op, pos uint64, err error) {
	if r.journal == nil {
		ops, err := r.Update(fn)
		return ops, 0, err
	}
	ops, pos, ferr, err := r.applyTx(fn)
	if err != nil {
		return nil, 0, err
	}
	if err := r.appendPending(); err != nil {
		return ops, pos, err
	}
	r.kickCommitter()
	return ops, pos, ferr
}

// Durable returns the position up to which ops are durable.
func (r *Replica) Durable() uint64 {
	r.dmu.Lock()
	defer r.dmu.Unlock()
	return r.durable
}

// Pos returns the position of the last op applied so far (for
// WaitDurable).
func (r *Replica) Pos() uint64 {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return r.enqueued
}

// WaitDurable returns once every op up to pos is durable (running a sync
// round itself if none is under way: group commit with the committer and
// every other waiter).
func (r *Replica) WaitDurable(ctx context.Context, pos uint64) error {
	if r.store == nil || r.Durable() >= pos {
		return nil
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	return r.flush(pos)
}

// Sync makes every op applied so far durable.
func (r *Replica) Sync(ctx context.Context) error { return r.WaitDurable(ctx, r.Pos()) }

// AfterDurable runs fn once every op up to pos is durable: at once (in
// the caller) if they are, else from the goroutine that makes them
// durable (fn must not block). After Close it runs at once.
func (r *Replica) AfterDurable(pos uint64, fn func()) {
	r.dmu.Lock()
	if r.store == nil || pos <= r.durable || r.dclosed {
		r.dmu.Unlock()
		fn()
		return
	}
	r.waits = append(r.waits, durableWait{pos: pos, fn: fn})
	r.dmu.Unlock()
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

// closeCommit stops the committer and makes everything durable and
// checkpointed (the journal is then empty).
func (r *Replica) closeCommit() error {
	if r.journal == nil {
		r.mu.RLock()
		target := r.enqueued
		r.mu.RUnlock()
		return r.flush(target)
	}
	close(r.stop)
	<-r.loopDone
	err := r.appendPending()
	if err == nil {
		r.syncMu.Lock()
		err = r.checkpoint()
		r.syncMu.Unlock()
	}
	r.dmu.Lock()
	r.dclosed = true
	waits := r.waits
	r.waits = nil
	r.dmu.Unlock()
	for _, w := range waits {
		w.fn()
	}
	return errors.Join(err, r.journal.Close())
}
