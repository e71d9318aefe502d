package replica

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"sync"
	"sync/atomic"
	"time"
)

// Staged chunks live in memory while a budget shared by the whole FS
// allows (issue 13): a sequential writer fills one chunk, the pipeline
// stores it and frees its slot, so its bytes reach the disk once, in the
// chunk store, instead of going through a staging file on the way. A slot
// that does not fit the budget (many large files written at once, random
// writes all over a big file) goes to the staging file, which is created
// on the first such slot only; a small file never creates one.
//
// Nothing here weakens a guarantee: staged bytes were never durable (the
// staging directory is emptied at start); what is acknowledged durable is
// what a commit stored as chunks and named in a metadata op.

// DefaultStagingMemory is the memory staged chunks may use, per FS.
const DefaultStagingMemory = 64 << 20

// memBudget is the memory that staged chunks of every open file share.
type memBudget struct {
	limit int64
	used  atomic.Int64
}

func (b *memBudget) take(n int64) bool {
	if b == nil || b.limit <= 0 {
		return false
	}
	if b.used.Add(n) > b.limit {
		b.used.Add(-n)
		return false
	}
	return true
}

func (b *memBudget) give(n int64) {
	if b != nil && n != 0 {
		b.used.Add(-n)
	}
}

// memStaging is a StagingFile whose slots (chunk-sized, at multiples of
// cs) are kept in memory, each as a buffer that grows with its highest
// written byte (bytes past it read as zeros); slots that did not fit the
// budget live in a backing StagingFile opened on first need. Like every
// StagingFile it is used under its open file's lock only.
type memStaging struct {
	cs     int64
	budget *memBudget
	pool   *sync.Pool                  // of *[]byte, len cs: whole-slot buffers
	open   func() (StagingFile, error) // the backing file, on first need
	file   StagingFile
	mem    map[int64][]byte // slot -> its bytes (len: up to the last written)
	onFile map[int64]bool   // slots whose bytes are in the file
}

func newMemStaging(cs int64, budget *memBudget, pool *sync.Pool, open func() (StagingFile, error)) *memStaging {
	return &memStaging{cs: cs, budget: budget, pool: pool, open: open, mem: map[int64][]byte{}, onFile: map[int64]bool{}}
}

// smallSlot is the largest buffer a slot grows by doubling (at most half
// a chunk); past it a slot takes a whole chunk's buffer from the pool, so
// a sequential writer's slots are never copied as they grow.
const smallSlot = 64 << 10

// pieces calls fn for each part of [off, off+n) within one slot.
func (m *memStaging) pieces(off, n int64, fn func(slot, within, n, done int64) error) error {
	for done := int64(0); done < n; {
		o := off + done
		slot, within := o/m.cs, o%m.cs
		k := min(n-done, m.cs-within)
		if err := fn(slot, within, k, done); err != nil {
			return err
		}
		done += k
	}
	return nil
}

func (m *memStaging) ReadAt(p []byte, off int64) (int, error) {
	err := m.pieces(off, int64(len(p)), func(slot, within, n, done int64) error {
		part := p[done : done+n]
		if buf, ok := m.mem[slot]; ok {
			copyAt(part, buf, within)
			return nil
		}
		if !m.onFile[slot] {
			clear(part)
			return nil
		}
		got, err := m.file.ReadAt(part, slot*m.cs+within)
		if got < len(part) {
			if err != nil && !errors.Is(err, io.EOF) {
				return err
			}
			clear(part[got:])
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	return len(p), nil
}

func (m *memStaging) WriteAt(p []byte, off int64) (int, error) {
	err := m.pieces(off, int64(len(p)), func(slot, within, n, done int64) error {
		part := p[done : done+n]
		if !m.onFile[slot] {
			if buf, ok := m.grow(slot, within, within+n); ok {
				copy(buf[within:], part)
				return nil
			}
			if err := m.spill(slot); err != nil {
				return err
			}
		}
		_, err := m.file.WriteAt(part, slot*m.cs+within)
		return err
	})
	if err != nil {
		return 0, err
	}
	return len(p), nil
}

// grow returns slot's buffer with at least end bytes, of which those
// between its old end and from read as zeros (the caller writes [from,
// end)), taking what it needs from the budget; false when the budget does
// not have it.
func (m *memStaging) grow(slot, from, end int64) ([]byte, bool) {
	buf := m.mem[slot]
	if int64(len(buf)) >= end {
		return buf, true
	}
	old := int64(len(buf))
	if int64(cap(buf)) < end {
		var nb []byte
		if size := max(end, 2*int64(cap(buf))); size <= min(smallSlot, m.cs/2) {
			if !m.budget.take(size - int64(cap(buf))) {
				return nil, false
			}
			nb = make([]byte, 0, size)
		} else {
			if !m.budget.take(m.cs - int64(cap(buf))) {
				return nil, false
			}
			nb = (*m.pool.Get().(*[]byte))[:0:m.cs]
		}
		m.mem[slot] = append(nb, buf...)
		buf = m.mem[slot]
	}
	buf = buf[:end]
	clear(buf[old:max(old, from)])
	m.mem[slot] = buf
	return buf, true
}

// spill moves slot to the backing file (opened now if need be).
func (m *memStaging) spill(slot int64) error {
	if m.file == nil {
		f, err := m.open()
		if err != nil {
			return err
		}
		m.file = f
	}
	if buf, ok := m.mem[slot]; ok {
		if _, err := m.file.WriteAt(buf, slot*m.cs); err != nil {
			return err
		}
		m.free(slot)
	}
	m.onFile[slot] = true
	return nil
}

func (m *memStaging) free(slot int64) {
	buf := m.mem[slot]
	m.budget.give(int64(cap(buf)))
	delete(m.mem, slot)
	if int64(cap(buf)) == m.cs {
		buf = buf[:m.cs]
		m.pool.Put(&buf)
	}
}

// Zero makes [off, off+n) read as zeros; a slot zeroed whole gives its
// memory back (or its file blocks: the backing file punches a hole).
func (m *memStaging) Zero(off, n int64) error {
	return m.pieces(off, n, func(slot, within, k, _ int64) error {
		if buf, ok := m.mem[slot]; ok {
			switch end := within + k; {
			case within == 0 && end >= int64(len(buf)):
				m.free(slot)
			case end >= int64(len(buf)):
				m.mem[slot] = buf[:min(within, int64(len(buf)))]
			default:
				clear(buf[within:end])
			}
			return nil
		}
		if !m.onFile[slot] {
			return nil
		}
		if within == 0 && k == m.cs {
			delete(m.onFile, slot)
		}
		return m.file.Zero(slot*m.cs+within, k)
	})
}

func (m *memStaging) Truncate(size int64) error {
	for slot, buf := range m.mem {
		if start := slot * m.cs; start >= size {
			m.free(slot)
		} else if end := start + int64(len(buf)); end > size {
			m.mem[slot] = buf[:size-start]
		}
	}
	for slot := range m.onFile {
		if slot*m.cs >= size {
			delete(m.onFile, slot)
		}
	}
	if m.file == nil {
		return nil
	}
	return m.file.Truncate(size)
}

// Stat describes what the staging costs the data dir: the backing file
// (an empty one when no slot went there).
func (m *memStaging) Stat() (fs.FileInfo, error) {
	if m.file == nil {
		return emptyStagingInfo{}, nil
	}
	return m.file.Stat()
}

func (m *memStaging) Close() error {
	for slot := range m.mem {
		m.free(slot)
	}
	if m.file == nil {
		return nil
	}
	if err := m.file.Close(); err != nil {
		return fmt.Errorf("close staging file: %w", err)
	}
	return nil
}

// memBytes is the memory the staged slots hold (for tests and stats).
func (m *memStaging) memBytes() (n int64) {
	for _, buf := range m.mem {
		n += int64(cap(buf))
	}
	return n
}

type emptyStagingInfo struct{}

func (emptyStagingInfo) Name() string       { return "staging (in memory)" }
func (emptyStagingInfo) Size() int64        { return 0 }
func (emptyStagingInfo) Mode() fs.FileMode  { return 0o600 }
func (emptyStagingInfo) ModTime() time.Time { return time.Time{} }
func (emptyStagingInfo) IsDir() bool        { return false }
func (emptyStagingInfo) Sys() any           { return nil }
