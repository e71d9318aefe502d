package extent

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"

	"golang.org/x/sys/unix"

	"github.com/clusterf/clusterf/chunk"
	"github.com/clusterf/clusterf/dirsync"
)

// ErrNoRoom means a compaction did not start: the file system has less
// free space than one segment, which the copy may need before the old
// segment can go.
var ErrNoRoom = errors.New("extent: not enough free space to compact (needs room for one segment)")

// autoCompact compacts after deletes until ctx ends (owned by the Store).
func (s *Store) autoCompact(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-s.kick:
		}
		if err := s.Compact(ctx); err != nil && ctx.Err() == nil {
			s.bgErr.Store(&err)
		}
	}
}

// LastCompactError returns the error of the last automatic compaction
// that failed (nil if none did).
func (s *Store) LastCompactError() error {
	if p := s.bgErr.Load(); p != nil {
		return *p
	}
	return nil
}

// Compact rewrites every sealed segment whose dead share reached the
// garbage ratio, oldest first: its live records are copied to a new
// segment that takes its place in the replay order, then it is removed.
// Each step is crash-safe: until the old segment is gone, both replay to
// the same index. It refuses (ErrNoRoom) when the file system has less
// free space than one segment.
func (s *Store) Compact(ctx context.Context) error {
	s.cmu.Lock()
	defer s.cmu.Unlock()
	for {
		if err := s.check(ctx); err != nil {
			return fmt.Errorf("extent: compact: %w", err)
		}
		seg, oldest := s.candidate()
		if seg == nil {
			return nil
		}
		if err := s.roomForSegment(); err != nil {
			return err
		}
		if err := s.compactSegment(seg, oldest); err != nil {
			return fmt.Errorf("extent: compact %s: %w", seg.id.name(), err)
		}
	}
}

// freeSpace is statfs, replaceable by tests.
var freeSpace = func(dir string) (int64, error) {
	var st unix.Statfs_t
	if err := unix.Statfs(dir, &st); err != nil {
		return 0, err
	}
	return int64(st.Bavail) * st.Bsize, nil
}

func (s *Store) roomForSegment() error {
	free, err := freeSpace(s.dir)
	if err != nil {
		return fmt.Errorf("extent: compact: statfs: %w", err)
	}
	if free < s.opt.SegmentSize {
		return fmt.Errorf("%w: %d bytes free, segments are %d", ErrNoRoom, free, s.opt.SegmentSize)
	}
	return nil
}

// candidate returns the oldest sealed segment worth compacting.
func (s *Store) candidate() (*segment, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	for i, seg := range s.segs[:len(s.segs)-1] {
		if float64(seg.size-seg.live) >= s.opt.GarbageRatio*float64(seg.size) {
			return seg, i == 0
		}
	}
	return nil, false
}

// entries returns a sealed segment's records (from its hint, else a scan).
func (s *Store) entries(seg *segment) ([]entry, error) {
	if b, err := os.ReadFile(seg.path + hintExt); err == nil {
		if es, ok := decodeHint(b, seg.size); ok {
			return es, nil
		}
	}
	es, _, err := scan(seg.f)
	return es, err
}

type move struct {
	id       chunk.ID
	from, to int64
	n        uint32
}

// compactSegment copies seg's live records (and the tombstones still
// needed: those of ids not stored, unless seg is the oldest segment, so no
// older put can come back) to its successor.
func (s *Store) compactSegment(seg *segment, oldest bool) error {
	es, err := s.entries(seg)
	if err != nil {
		return err
	}
	outID := segID{major: seg.id.major, minor: seg.id.minor + 1}
	outPath := filepath.Join(s.dir, outID.name())
	f, err := os.OpenFile(outPath+tmpExt, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	out := &segment{id: outID, f: f, path: outPath}
	moves, kept, err := s.copyLive(seg, out, es, oldest)
	if err == nil && out.size == 0 {
		// Nothing survives: the segment just goes.
		f.Close()
		os.Remove(outPath + tmpExt)
		s.mu.Lock()
		s.segs = slices.DeleteFunc(s.segs, func(x *segment) bool { return x == seg })
		s.mu.Unlock()
		return s.remove(seg)
	}
	if err == nil {
		err = f.Sync()
	}
	if err == nil {
		err = os.Rename(outPath+tmpExt, outPath)
	}
	if err != nil {
		f.Close()
		os.Remove(outPath + tmpExt)
		return err
	}
	// From here both segments replay to the same index.
	if err := writeFileSync(outPath+hintExt, encodeHint(out.size, out.entries)); err != nil {
		return s.abandon(out, err)
	}
	out.entries = nil
	if err := dirsync.Dir(s.dir); err != nil {
		return s.abandon(out, err)
	}
	s.mu.Lock()
	for _, m := range moves {
		if l, ok := s.index[m.id]; ok && l.seg == seg && l.off == m.from {
			s.index[m.id] = loc{seg: out, off: m.to, n: m.n}
			seg.live -= recLen(m.n)
			out.live += recLen(m.n)
		}
	}
	out.live += kept // tombstones still needed count as live, so out is not picked again
	for i := range s.segs {
		if s.segs[i] == seg {
			s.segs[i] = out
		}
	}
	s.mu.Unlock()
	return s.remove(seg)
}

// remove deletes a segment no longer in the replay order.
func (s *Store) remove(seg *segment) error {
	seg.f.Close()
	os.Remove(seg.path)
	os.Remove(seg.path + hintExt)
	return dirsync.Dir(s.dir)
}

// abandon removes a compaction output that is in place but not yet used
// (the old segment still holds everything).
func (s *Store) abandon(out *segment, err error) error {
	out.f.Close()
	os.Remove(out.path + hintExt)
	os.Remove(out.path)
	return err
}

// copyLive writes the records of seg that must survive to out.
func (s *Store) copyLive(seg, out *segment, es []entry, oldest bool) (moves []move, kept int64, err error) {
	w := bufio.NewWriterSize(out.f, 1<<20)
	var rec []byte
	for _, e := range es {
		s.mu.RLock()
		l, ok := s.index[e.id]
		s.mu.RUnlock()
		switch {
		case e.kind == kindPut && ok && l.seg == seg && l.off == e.off:
			rec = append(rec[:0], make([]byte, recLen(e.n))...)
			if _, err := seg.f.ReadAt(rec, e.off); err != nil {
				return nil, 0, err
			}
			moves = append(moves, move{id: e.id, from: e.off, to: out.size, n: e.n})
		case e.kind == kindDel && !ok && !oldest:
			rec = header(kindDel, e.id, nil)
			kept += hdrSize
		default:
			continue
		}
		if _, err := w.Write(rec); err != nil {
			return nil, 0, err
		}
		out.entries = append(out.entries, entry{kind: e.kind, id: e.id, off: out.size, n: e.n})
		out.size += int64(len(rec))
	}
	return moves, kept, w.Flush()
}
