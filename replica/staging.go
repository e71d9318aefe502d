package replica

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"syscall"

	"github.com/clusterf/clusterf/chunk"
	"github.com/clusterf/clusterf/crdt"
)

// The staging file of an open file holds every chunk a write or truncate
// touched, whole, in a slot of its own: chunk idx lives at
// of.dirty[idx]*cs in the staging file, not at its offset in the file, so
// a write at 1 PiB costs one slot (the data dir's filesystem never sees
// the offset) and the staging file grows with the chunks written only.
// Slots freed by a truncate are reused; a slot is all zeros when it is
// handed out (new slots lie past the staging file's end, freed ones are
// punched or zeroed), so a chunk the base does not have needs no copy.

// MaxFileSize is the largest file size: the kernel's own limit for FUSE
// (MAX_LFS_FILESIZE) and tmpfs's. What a file stores is bounded by
// crdt.MaxChunks chunks instead (errStoredChunks).
const MaxFileSize = math.MaxInt64

// ---- all called with of.mu held ----

func (of *openFile) cs() int64 { return int64(of.fs.chunkSize) }

// chunkEnd is the end of chunk idx (start s) in a file of size, without
// overflowing near MaxFileSize.
func chunkEnd(s, cs, size int64) int64 {
	if size-s > cs {
		return s + cs
	}
	return size
}

// read fills p from offset off; the caller clipped p to the file size.
// hint says whether the reader caches what it reads (chunk.ReadHint).
func (of *openFile) read(ctx context.Context, p []byte, off int64, hint chunk.ReadHint) error {
	cs := of.cs()
	for len(p) > 0 {
		idx := off / cs
		within := off % cs
		n := int64(len(p))
		if rest := cs - within; n > rest {
			n = rest
		}
		part := p[:n]
		if slot, ok := of.dirty[idx]; ok && slot < 0 { // stored already (pipeline.go)
			if err := of.readEarly(ctx, part, slot, within, hint); err != nil {
				return err
			}
		} else if ok {
			m, err := of.staging.ReadAt(part, slot*cs+within)
			if err != nil && !errors.Is(err, io.EOF) {
				return fmt.Errorf("read staging: %w", err)
			}
			clear(part[m:]) // beyond the staging file's end: zeros
		} else if err := of.readBase(ctx, part, off, hint); err != nil {
			return err
		}
		p = p[n:]
		off += n
	}
	return nil
}

// readBase fills p (within one chunk of the current chunk size) from the
// committed base content; bytes the base does not have read as zeros.
func (of *openFile) readBase(ctx context.Context, p []byte, off int64, hint chunk.ReadHint) error {
	if rest := of.baseValid - off; int64(len(p)) > rest {
		keep := max(rest, 0)
		clear(p[keep:])
		p = p[:keep]
	}
	b := &of.base
	if !b.Chunked() {
		copyAt(p, b.Inline, off)
		return nil
	}
	bcs := int64(b.ChunkSize)
	for len(p) > 0 {
		idx := off / bcs
		within := off % bcs
		n := int64(len(p))
		if rest := bcs - within; n > rest {
			n = rest
		}
		part := p[:n]
		if id := b.ChunkAt(idx); id.IsZero() {
			clear(part)
		} else {
			data, err := of.loadChunk(ctx, id, hint)
			if err != nil {
				return err
			}
			if idx == 0 || idx == of.lastRead+1 { // sequential: load the next ones ahead
				of.readAhead(idx, hint)
			}
			of.lastRead = idx
			copyAt(part, data, within)
		}
		p = p[n:]
		off += n
	}
	return nil
}

// baseHas reports whether the base holds bytes in [start, end) that are
// still valid (else the range reads as zeros).
func (of *openFile) baseHas(start, end int64) bool {
	end = min(end, of.baseValid)
	if start >= end {
		return false
	}
	b := &of.base
	if !b.Chunked() {
		return start < int64(len(b.Inline))
	}
	bcs := int64(b.ChunkSize)
	found := false
	b.EachChunk(start/bcs, func(idx int64, _ crdt.ChunkID) bool {
		found = idx*bcs < end
		return false
	})
	return found
}

// copyAt copies src[off:] into p, zero-filling what src does not cover.
func copyAt(p, src []byte, off int64) {
	n := 0
	if off < int64(len(src)) {
		n = copy(p, src[off:])
	}
	clear(p[n:])
}

// loadChunk reads and verifies one chunk (cached for sequential reads).
func (of *openFile) loadChunk(ctx context.Context, id crdt.ChunkID, hint chunk.ReadHint) ([]byte, error) {
	if of.cacheData != nil && of.cacheID == id {
		return of.cacheData, nil
	}
	data, buf, ok := of.takeAhead(ctx, id)
	if !ok {
		var err error
		if data, buf, err = of.fs.loadChunk(ctx, id, of.id, hint); err != nil {
			return nil, err
		}
	}
	of.setCache(id, data, buf)
	return data, nil
}

// setCache makes data (aliasing buf, if not nil) the cached chunk id and
// gives the previous one's buffer back: every use of cached bytes copies
// them out with of.mu held, as this does.
func (of *openFile) setCache(id crdt.ChunkID, data []byte, buf *chunkBuf) {
	of.cacheBuf.release()
	of.cacheID, of.cacheData, of.cacheBuf = id, data, buf
}

// ensureStaging creates the staging file on first write.
func (of *openFile) ensureStaging() error {
	if of.staging != nil {
		return nil
	}
	f := of.fs
	of.staging = newMemStaging(of.cs(), &f.stageMem, &f.slotBufs, func() (StagingFile, error) {
		fh, err := f.openStage(f.staging, of.id.String()+"-*")
		if err != nil {
			return nil, fmt.Errorf("create staging file: %w", err)
		}
		return fh, nil
	})
	of.resetSlots()
	return nil
}

// resetSlots forgets every staged chunk (the staging file was emptied).
func (of *openFile) resetSlots() {
	of.dirty = make(map[int64]int64)
	of.freeSlots, of.nslots = nil, 0
	of.resetEarly()
}

// newSlot hands out an all-zero slot.
func (of *openFile) newSlot() int64 {
	if n := len(of.freeSlots); n > 0 {
		s := of.freeSlots[n-1]
		of.freeSlots = of.freeSlots[:n-1]
		return s
	}
	of.nslots++
	return of.nslots - 1
}

// zeroStaging makes [off, off+n) of the staging file read as zeros.
func (of *openFile) zeroStaging(off, n int64) error {
	if n <= 0 {
		return nil
	}
	if err := of.staging.Zero(off, n); err != nil {
		return fmt.Errorf("zero staging: %w", err)
	}
	return nil
}

// dropSlot un-stages chunk idx and frees its slot, zeroed.
func (of *openFile) dropSlot(idx int64) error {
	slot := of.dirty[idx]
	delete(of.dirty, idx)
	if slot < 0 { // stored already: no slot to free
		return nil
	}
	if err := of.zeroStaging(slot*of.cs(), of.cs()); err != nil {
		return err
	}
	of.freeSlots = append(of.freeSlots, slot)
	return nil
}

// materialize gives chunk idx a slot holding the base's bytes of it, so
// the staging file holds the whole chunk.
func (of *openFile) materialize(ctx context.Context, idx int64) error {
	if slot, ok := of.dirty[idx]; ok && slot < 0 {
		return of.unstore(ctx, idx, slot)
	} else if ok {
		return nil
	}
	if err := of.checkStoredLimit(idx); err != nil {
		return err
	}
	cs := of.cs()
	slot := of.newSlot()
	start := idx * cs
	if end := chunkEnd(start, cs, of.size); end > start && of.baseHas(start, end) {
		buf := make([]byte, end-start)
		err := of.readBase(ctx, buf, start, chunk.ReadCached)
		if err == nil {
			if _, err = of.staging.WriteAt(buf, slot*cs); err != nil {
				err = fmt.Errorf("write staging: %w", err)
			}
		}
		if err != nil {
			if zerr := of.zeroStaging(slot*cs, cs); zerr == nil { // else the slot is lost
				of.freeSlots = append(of.freeSlots, slot)
			}
			return err
		}
	}
	of.dirty[idx] = slot
	return nil
}

// checkStoredLimit fails with EFBIG when staging chunk idx would give the
// file more than crdt.MaxChunks stored chunks (one op must fit a frame).
// Exact counting happens only close to the limit.
func (of *openFile) checkStoredLimit(idx int64) error {
	if len(of.dirty)+of.base.StoredChunks() < crdt.MaxChunks {
		return nil
	}
	n := len(of.dirty)
	bcs := int64(max(of.base.ChunkSize, 1))
	of.base.EachChunk(0, func(i int64, _ crdt.ChunkID) bool {
		if i*bcs >= min(of.baseValid, of.size) {
			return false
		}
		if _, ok := of.dirty[i]; !ok {
			n++
		}
		return true
	})
	if n < crdt.MaxChunks {
		return nil
	}
	return fmt.Errorf("chunk %d: a file stores at most %d chunks (%d bytes of data): %w",
		idx, crdt.MaxChunks, int64(crdt.MaxChunks)*of.cs(), syscall.EFBIG)
}

func (of *openFile) write(p []byte, off int64) error {
	if len(p) == 0 {
		return nil
	}
	end := off + int64(len(p))
	if end < off || end > MaxFileSize {
		return fmt.Errorf("write at %d: files are limited to %d bytes: %w", off, int64(MaxFileSize), syscall.EFBIG)
	}
	if err := of.fs.checkSpace(int64(len(p))); err != nil {
		return fmt.Errorf("write: %w", err)
	}
	if err := of.ensureStaging(); err != nil {
		return err
	}
	cs := of.cs()
	for idx := off / cs; idx <= (end-1)/cs; idx++ {
		if err := of.materialize(context.Background(), idx); err != nil {
			return err
		}
	}
	for o, q := off, p; len(q) > 0; {
		within := o % cs
		n := min(int64(len(q)), cs-within)
		if _, err := of.staging.WriteAt(q[:n], of.dirty[o/cs]*cs+within); err != nil {
			return fmt.Errorf("write staging: %w", err)
		}
		o, q = o+n, q[n:]
	}
	of.size = max(of.size, end)
	of.changed = true
	of.gen++
	of.mtime = of.fs.now().UnixNano()
	of.noteWrite(off, end)
	return nil
}

func (of *openFile) truncate(size int64) error {
	if size == of.size {
		return nil
	}
	if size > MaxFileSize || size < 0 {
		return fmt.Errorf("truncate to %d: files are limited to %d bytes: %w", size, int64(MaxFileSize), syscall.EFBIG)
	}
	if err := of.ensureStaging(); err != nil {
		return err
	}
	cs := of.cs()
	if size < of.size {
		if within := size % cs; within != 0 {
			if err := of.materialize(context.Background(), size/cs); err != nil {
				return err
			}
			// Bytes past the new end read as zeros if the file grows again.
			if err := of.zeroStaging(of.dirty[size/cs]*cs+within, cs-within); err != nil {
				return err
			}
			of.gen++
			of.touched(size / cs) // a chunk job under way must not install
		}
		of.baseValid = min(of.baseValid, size)
		of.truncSince = min(of.truncSince, size)
		keep := size / cs // chunks still (partly) inside the file
		if size%cs != 0 {
			keep++
		}
		for idx := range of.dirty {
			if idx >= keep {
				if err := of.dropSlot(idx); err != nil {
					return err
				}
			}
		}
	}
	of.size = size
	of.changed = true
	of.gen++
	of.mtime = of.fs.now().UnixNano()
	return nil
}

func (of *openFile) discardStaging() {
	if of.staging != nil {
		of.staging.Close()
		of.staging = nil
	}
	of.dirty = nil
	// Early chunks left were named by no commit, or by one that pinned
	// them since their store (DropFresh keeps those).
	of.abandonEarly()
	of.setCache(crdt.ChunkID{}, nil, nil)
	of.aheads = nil                  // a load ahead ends by itself
	of.fs.releaseWhenDurable(of.pin) // the last commit may not be durable yet
}

// chunkIDs lists the stored chunks of c (holes skipped).
func chunkIDs(c crdt.Content) []chunk.ID {
	ids := make([]chunk.ID, 0, c.StoredChunks())
	c.EachChunk(0, func(_ int64, id crdt.ChunkID) bool {
		ids = append(ids, chunk.ID(id))
		return true
	})
	return ids
}
