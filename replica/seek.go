package replica

import (
	"fmt"
	"syscall"

	"github.com/clusterf/clusterf/crdt"
)

// SEEK_DATA and SEEK_HOLE (lseek(2)) at chunk granularity: a chunk is data
// when it is staged or the base stores it (within what the base still
// shows), a hole otherwise; an all-zero chunk is stored as a hole, so it
// reads back as one. The end of the file is a hole. Offsets at or past the
// end, or negative, are ENXIO (as tmpfs and ext4).

// SeekData returns the first offset >= off that is data.
func (h *Handle) SeekData(off int64) (int64, error) {
	return h.seek(off, true)
}

// SeekHole returns the first offset >= off in a hole (the size if none).
func (h *Handle) SeekHole(off int64) (int64, error) {
	return h.seek(off, false)
}

func (h *Handle) seek(off int64, data bool) (int64, error) {
	of := h.of
	of.mu.Lock()
	defer of.mu.Unlock()
	of.refresh()
	if off < 0 || off >= of.size { // negative too, as tmpfs and ext4
		return 0, fmt.Errorf("seek to %d past the end (%d): %w", off, of.size, syscall.ENXIO)
	}
	cs := of.cs()
	idx := of.nextChunk(off/cs, data)
	if idx < 0 {
		if data {
			return 0, fmt.Errorf("no data after %d: %w", off, syscall.ENXIO)
		}
		return of.size, nil
	}
	pos := max(off, idx*cs)
	if pos >= of.size {
		if data {
			return 0, fmt.Errorf("no data after %d: %w", off, syscall.ENXIO)
		}
		return of.size, nil
	}
	return pos, nil
}

// nextChunk returns the first chunk index >= from that is data (data) or
// a hole (!data) within the size, or -1. It costs O(staged chunks + the
// run of data chunks it crosses), never O(size).
func (of *openFile) nextChunk(from int64, data bool) int64 {
	cs := of.cs()
	last := (of.size - 1) / cs
	if !data {
		for idx := from; idx <= last; idx++ {
			if !of.isData(idx) {
				return idx
			}
		}
		return -1
	}
	first := int64(-1)
	for idx := range of.dirty {
		if idx >= from && (first < 0 || idx < first) {
			first = idx
		}
	}
	if b := of.firstBaseData(from); b >= 0 && (first < 0 || b < first) {
		first = b
	}
	if first > last {
		return -1
	}
	return first
}

// isData reports whether chunk idx is staged or holds base bytes.
func (of *openFile) isData(idx int64) bool {
	if _, ok := of.dirty[idx]; ok {
		return true
	}
	cs := of.cs()
	start := idx * cs
	return of.baseHas(start, chunkEnd(start, cs, of.size))
}

// firstBaseData is the first chunk index >= from holding base bytes, or -1.
func (of *openFile) firstBaseData(from int64) int64 {
	b := &of.base
	cs := of.cs()
	limit := min(of.baseValid, of.size)
	if !b.Chunked() {
		if from == 0 && len(b.Inline) > 0 && limit > 0 {
			return 0
		}
		return -1
	}
	bcs := int64(b.ChunkSize)
	found := int64(-1)
	b.EachChunk(from*cs/bcs, func(j int64, _ crdt.ChunkID) bool {
		start := j * bcs
		if start >= limit {
			return false
		}
		end := chunkEnd(start, bcs, limit)
		if idx := max(start/cs, from); idx*cs < end {
			found = idx
			return false
		}
		return true
	})
	return found
}
