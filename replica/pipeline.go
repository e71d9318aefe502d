package replica

import (
	"context"
	"fmt"
	"runtime"
	"sync"

	"github.com/clusterf/clusterf/chunk"
	"github.com/clusterf/clusterf/chunk/lifecycle"
	"github.com/clusterf/clusterf/crdt"
)

// Chunks are processed as they fill (issue 13). When a write reaches the
// end of a whole staged chunk, a worker hashes, compresses and stores it
// (pinned) while the writer goes on, drops its staging slot and starts
// pushing it to its holders; the chunk then stays dirty in the staging
// map, under a negative slot that names the stored chunk (early), so that
// reads, SEEK_DATA, st_blocks and the next commit see it as written.
// A commit takes early chunks as they are: a close re-reads only what
// the workers did not get to (the tail). A chunk written or truncated
// again after its job started is not installed (touch records the write
// generation of every staged chunk).

// pipeline runs the chunk workers of an FS.
type pipeline struct {
	mu     sync.Mutex
	closed bool
	jobs   chan pipeJob
	wg     sync.WaitGroup
	ctx    context.Context
	cancel context.CancelFunc
}

type pipeJob struct {
	of   *openFile
	idx  int64
	slot int64
	gen  uint64
}

// earlyState is an open file's part of it; guarded by of.mu.
type earlyState struct {
	ids     []crdt.ChunkID   // stored chunks, by -(slot+1)
	pins    []*lifecycle.Pin // their pins, held until a commit names them durably
	fresh   []uint64         // the keeper's epoch of the store when it made the copy (0: it was there)
	touch   map[int64]uint64 // staged chunk -> of.gen of its last change
	pending int              // jobs queued or running
	done    *sync.Cond       // signalled when pending drops
}

func (p *pipeline) start(f *FS) {
	n := max(1, runtime.GOMAXPROCS(0))
	p.jobs = make(chan pipeJob, 2*n)
	p.ctx, p.cancel = context.WithCancel(context.Background())
	for range n {
		p.wg.Add(1)
		go func() {
			defer p.wg.Done()
			for j := range p.jobs {
				f.storeEarly(p.ctx, j)
			}
		}()
	}
}

// close stops the workers: queued jobs are dropped (their chunks are
// stored at the next commit, if any), running ones finish.
func (p *pipeline) close() {
	p.mu.Lock()
	if p.closed || p.jobs == nil {
		p.mu.Unlock()
		return
	}
	p.closed = true
	p.cancel()
	close(p.jobs)
	p.mu.Unlock()
	p.wg.Wait()
}

// spawn runs fn in a goroutine the pipeline owns (its context ends at
// close, which waits for it); false once closed.
func (p *pipeline) spawn(fn func(ctx context.Context)) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed || p.jobs == nil {
		return false
	}
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		fn(p.ctx)
	}()
	return true
}

// submit queues a job without waiting; false if the queue is full.
func (p *pipeline) submit(j pipeJob) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed || p.jobs == nil {
		return false
	}
	select {
	case p.jobs <- j:
		return true
	default:
		return false
	}
}

// ---- openFile side; all called with of.mu held ----

func (of *openFile) touched(idx int64) {
	if of.early.touch == nil {
		of.early.touch = map[int64]uint64{}
	}
	of.early.touch[idx] = of.gen
}

// maxPendingPerFile bounds the chunks of one file queued or being stored:
// a writer faster than the workers waits (as the kernel throttles a
// writer with too many dirty pages), so a sequential writer holds a few
// chunks in memory, not the whole staging budget.
func maxPendingPerFile() int { return 2 * max(1, runtime.GOMAXPROCS(0)) }

// waitPending waits (releasing of.mu) until a job of the file ends.
func (of *openFile) waitPending() {
	if of.early.done == nil {
		of.early.done = sync.NewCond(&of.mu)
	}
	of.early.done.Wait()
}

// noteWrite records a write of [off, end) (after of.gen moved) and hands
// every whole chunk it completed to the workers, waiting (of.mu released)
// while the file has maxPendingPerFile chunks under way. A chunk the
// workers cannot take (their queue is full of other files' chunks) stays
// staged for the commit.
func (of *openFile) noteWrite(off, end int64) {
	cs := of.cs()
	first, last := off/cs, (end-1)/cs
	for idx := first; idx <= last; idx++ {
		of.touched(idx)
	}
	for idx := first; idx <= last; idx++ {
		for {
			slot, ok := of.dirty[idx]
			if whole := (idx + 1) * cs; end < whole || of.size < whole || !ok || slot < 0 || of.staging == nil {
				break // not whole (any more), or stored already
			}
			if of.early.pending >= maxPendingPerFile() {
				of.waitPending()
				continue // the file may have changed meanwhile
			}
			if of.fs.pipe.submit(pipeJob{of: of, idx: idx, slot: slot, gen: of.early.touch[idx]}) {
				of.early.pending++
				break
			}
			if of.early.pending == 0 {
				break
			}
			of.waitPending()
		}
	}
}

// waitEarly waits (releasing of.mu) until no job of the file is queued
// or running, so a commit takes what the workers stored.
func (of *openFile) waitEarly() {
	for of.early.pending > 0 {
		of.waitPending()
	}
}

// earlyID returns the stored chunk of a negative slot.
func (of *openFile) earlyID(slot int64) crdt.ChunkID { return of.early.ids[-slot-1] }

// readEarly fills p (within one chunk, from offset within) from the
// stored chunk of a negative slot.
func (of *openFile) readEarly(ctx context.Context, p []byte, slot, within int64, hint chunk.ReadHint) error {
	id := of.earlyID(slot)
	if id.IsZero() {
		clear(p)
		return nil
	}
	data, err := of.loadChunk(ctx, id, hint)
	if err != nil {
		return err
	}
	copyAt(p, data, within)
	return nil
}

// resetEarly forgets the early chunks (the staging file was emptied by a
// commit that named them); their pins go once that commit is durable.
func (of *openFile) resetEarly() {
	for _, p := range of.early.pins {
		of.fs.releaseWhenDurable(p)
	}
	of.early.ids, of.early.pins, of.early.fresh, of.early.touch = nil, nil, nil, nil
}

// abandonEarly forgets the early chunks of a file given up without a
// commit naming them (its last handle closed after a failed commit, or
// with nothing committed since): the copies their stores made are
// deleted at once when nothing else can rely on them
// (lifecycle.Keeper.DropFresh), so that a write that failed on a full
// disk gives its space back when the file is removed, not after the
// garbage collector's grace. Their pushes to holders finish first (a
// holder's copy is garbage there, collected as usual).
func (of *openFile) abandonEarly() {
	f, e := of.fs, of.early
	of.early.ids, of.early.pins, of.early.fresh, of.early.touch = nil, nil, nil, nil
	if len(e.ids) == 0 {
		return
	}
	j := &f.jobs
	j.mu.Lock()
	if j.ctx.Err() != nil {
		j.mu.Unlock()
		for _, p := range e.pins {
			f.releaseWhenDurable(p)
		}
		return
	}
	j.wg.Add(1)
	j.mu.Unlock()
	go func() {
		defer j.wg.Done()
		_ = f.waitReplicated(j.ctx, of.id) // failed pushes are repair's
		for i, p := range e.pins {
			dropped := false
			if e.fresh[i] != 0 && j.ctx.Err() == nil {
				var err error
				if dropped, err = f.chunks.DropFresh(j.ctx, chunk.ID(e.ids[i]), e.fresh[i]); err != nil {
					f.log.Warn("drop an abandoned chunk; garbage collection will", "chunk", e.ids[i], "err", err)
				}
			}
			if dropped {
				p.Release()
			} else {
				f.releaseWhenDurable(p) // a commit may name it
			}
		}
	}()
}

// earlyNamed records that a version naming the early chunks was applied:
// none of them is dropped as unused any more.
func (of *openFile) earlyNamed() { clear(of.early.fresh) }

// ---- the worker ----

// storeEarly stores the staged chunk of job j if it is still what the
// file has there, and makes it early.
func (f *FS) storeEarly(ctx context.Context, j pipeJob) {
	of := j.of
	defer func() {
		of.mu.Lock()
		of.early.pending--
		if of.early.done != nil {
			of.early.done.Broadcast()
		}
		of.mu.Unlock()
	}()
	if ctx.Err() != nil {
		return
	}
	cs := of.cs()
	of.mu.Lock()
	if !of.earlyValid(j) {
		of.mu.Unlock()
		return
	}
	// The chunk is read in place after a header byte and the store's room,
	// so an incompressible one is stored (and sealed) without another copy
	// (FS.storeChunkIn).
	bp := f.blobBufs.Get().(*[]byte)
	defer f.blobBufs.Put(bp)
	before, _ := f.chunks.Room()
	room := (*bp)[:before+1+int(cs)]
	n, err := of.staging.ReadAt(room[before+1:], j.slot*cs)
	of.mu.Unlock()
	if err != nil && n < int(cs) {
		return // the commit reads it again and reports the error
	}
	pin := f.chunks.Pin()
	id, fresh, err := f.storeChunkIn(ctx, room, before, pin)
	if err != nil {
		pin.Release()
		return
	}
	giveUp := func() {
		if _, err := f.chunks.DropFresh(ctx, chunk.ID(id), fresh); err != nil {
			f.log.Warn("drop an unused chunk; garbage collection will", "chunk", id, "err", err)
		}
		pin.Release()
	}
	of.mu.Lock()
	defer of.mu.Unlock()
	if !of.earlyValid(j) {
		giveUp() // written again meanwhile
		return
	}
	if err := of.zeroStaging(j.slot*cs, cs); err != nil {
		giveUp()
		return
	}
	of.freeSlots = append(of.freeSlots, j.slot)
	of.early.ids = append(of.early.ids, id)
	of.early.pins = append(of.early.pins, pin)
	of.early.fresh = append(of.early.fresh, fresh)
	of.dirty[j.idx] = -int64(len(of.early.ids))
	if !id.IsZero() {
		f.replicateLater(of.id, []chunk.ID{chunk.ID(id)})
	}
}

// earlyValid reports whether job j still matches the file: the chunk has
// the same slot and no write or truncate touched it since.
func (of *openFile) earlyValid(j pipeJob) bool {
	slot, ok := of.dirty[j.idx]
	return of.staging != nil && ok && slot == j.slot && of.early.touch[j.idx] == j.gen
}

// unstore turns the early chunk idx back into a staged one (a write or
// truncate changes it): its bytes go to a fresh slot.
func (of *openFile) unstore(ctx context.Context, idx, slot int64) error {
	cs := of.cs()
	start := idx * cs
	buf := make([]byte, chunkEnd(start, cs, of.size)-start)
	if err := of.readEarly(ctx, buf, slot, 0, chunk.ReadCached); err != nil {
		return err
	}
	ns := of.newSlot()
	if _, err := of.staging.WriteAt(buf, ns*cs); err != nil {
		if zerr := of.zeroStaging(ns*cs, cs); zerr == nil {
			of.freeSlots = append(of.freeSlots, ns)
		}
		return fmt.Errorf("write staging: %w", err)
	}
	of.dirty[idx] = ns
	return nil
}
