package extent

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/clusterf/clusterf/chunk"
	"github.com/clusterf/clusterf/dirsync"
)

var _ chunk.Store = (*Store)(nil)

// Options tune a Store; the zero value gives the defaults.
type Options struct {
	// SegmentSize: the active segment is sealed and a new one started
	// once a record would take it past this (default 256 MiB).
	SegmentSize int64
	// GarbageRatio: a sealed segment is compacted once this share of its
	// bytes is dead (default 0.5).
	GarbageRatio float64
	// NoAutoCompact leaves compaction to explicit Compact calls.
	NoAutoCompact bool
}

const lockName = "LOCK"

type segment struct {
	id   segID
	f    *os.File
	path string
	size int64 // end of the last valid record
	live int64 // bytes of records the index points at
	// entries lists the records of the active segment (for its hint); nil
	// once sealed.
	entries []entry
}

type loc struct {
	seg  *segment
	off  int64 // record start
	n    uint32
	gend int64 // the write position its durability waits for (0: durable)
}

// Store is a chunk.Store of append-only segment files (see the package
// doc).
type Store struct {
	dir  string
	opt  Options
	lock *os.File

	mu     sync.RWMutex // index, segs, usage; held (read) across a Get's read
	index  map[chunk.ID]loc
	segs   []*segment // replay order; the last is the active one
	chunks int64
	bytes  int64

	wmu    sync.Mutex // appends and rolls
	active *segment   // the segment appends go to (also last in segs)
	wpos   int64      // bytes appended since Open (all segments)
	failed error      // a write or sync error: the store takes no more writes

	smu     sync.Mutex // group commit
	scond   *sync.Cond
	syncing bool
	spos    atomic.Int64 // wpos known durable

	scans int // segments read whole at Open (no usable hint; tests)

	cmu    sync.Mutex // one compaction at a time
	kick   chan struct{}
	closed atomic.Bool
	stop   context.CancelFunc
	bg     sync.WaitGroup
	bgErr  atomic.Pointer[error] // last automatic compaction error
}

// Open opens (creating if needed) the store in dir with default options.
func Open(dir string) (*Store, error) { return OpenOptions(dir, Options{}) }

// OpenOptions opens (creating if needed) the store in dir: it locks dir,
// loads every sealed segment from its hint file (scanning segments whose
// hint is missing or stale), scans the active segment, truncates a torn
// tail and fsyncs what it kept, so everything it indexes is durable.
func OpenOptions(dir string, opt Options) (*Store, error) {
	if opt.SegmentSize <= 0 {
		opt.SegmentSize = 256 << 20
	}
	if opt.GarbageRatio <= 0 || opt.GarbageRatio > 1 {
		opt.GarbageRatio = 0.5
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("extent: open %s: %w", dir, err)
	}
	lf, err := os.OpenFile(filepath.Join(dir, lockName), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("extent: open %s: %w", dir, err)
	}
	if err := syscall.Flock(int(lf.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		lf.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, fmt.Errorf("extent: open %s: %w", dir, chunk.ErrLocked)
		}
		return nil, fmt.Errorf("extent: lock %s: %w", dir, err)
	}
	s := &Store{dir: dir, opt: opt, lock: lf, index: map[chunk.ID]loc{}, kick: make(chan struct{}, 1)}
	s.scond = sync.NewCond(&s.smu)
	if err := s.load(); err != nil {
		s.closeFiles()
		return nil, fmt.Errorf("extent: open %s: %w", dir, err)
	}
	// A root on purpose: the store's group-commit goroutine lives until
	// Close, which cancels it and waits.
	ctx, cancel := context.WithCancel(context.Background())
	s.stop = cancel
	if !opt.NoAutoCompact {
		s.bg.Go(func() { s.autoCompact(ctx) })
	}
	return s, nil
}

// load builds the index from the segments on disk.
func (s *Store) load() error {
	ids, err := listSegments(s.dir)
	if err != nil {
		return err
	}
	for i, id := range ids {
		last := i == len(ids)-1
		seg, es, scanned, err := s.openSegment(id, last)
		if err != nil {
			return err
		}
		s.segs = append(s.segs, seg)
		for _, e := range es {
			s.apply(seg, e, 0)
		}
		if last {
			seg.entries = es
		} else if scanned {
			seg.entries = es
			if err := s.writeHint(seg); err != nil { // next start reads it
				return err
			}
		}
	}
	if n := len(s.segs); n == 0 || s.segs[n-1].size >= s.opt.SegmentSize {
		var next segID
		if n > 0 {
			next.major = s.segs[n-1].id.major + 1
		}
		if n > 0 {
			if err := s.writeHint(s.segs[n-1]); err != nil {
				return err
			}
		}
		seg, err := s.createSegment(next)
		if err != nil {
			return err
		}
		s.segs = append(s.segs, seg)
	}
	s.active = s.segs[len(s.segs)-1]
	return nil
}

// openSegment opens a segment and returns its records: from its hint, or
// by a scan (the active segment always; its torn tail is cut and the rest
// fsynced).
func (s *Store) openSegment(id segID, active bool) (_ *segment, _ []entry, scanned bool, err error) {
	path := filepath.Join(s.dir, id.name())
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return nil, nil, false, err
	}
	defer func() {
		if err != nil {
			f.Close()
		}
	}()
	seg := &segment{id: id, f: f, path: path}
	fi, err := f.Stat()
	if err != nil {
		return nil, nil, false, err
	}
	if !active {
		if b, err := os.ReadFile(path + hintExt); err == nil {
			if es, ok := decodeHint(b, fi.Size()); ok {
				seg.size = fi.Size()
				return seg, es, false, nil
			}
		}
	}
	s.scans++
	es, end, err := scan(f)
	if err != nil {
		return nil, nil, false, fmt.Errorf("scan %s: %w", path, err)
	}
	seg.size = end
	if end < fi.Size() {
		// A torn tail (records after the last fsync that did not make
		// it), or damage in a sealed segment: what follows cannot be
		// found any more; its chunks are repaired from other holders.
		if err := f.Truncate(end); err != nil {
			return nil, nil, false, err
		}
	}
	if err := f.Sync(); err != nil {
		return nil, nil, false, err
	}
	return seg, es, true, nil
}

// apply replays record e of seg into the index (mu held or not yet shared).
func (s *Store) apply(seg *segment, e entry, gend int64) {
	if old, ok := s.index[e.id]; ok {
		old.seg.live -= recLen(old.n)
		s.chunks--
		s.bytes -= int64(old.n)
		delete(s.index, e.id)
	}
	if e.kind == kindPut {
		s.index[e.id] = loc{seg: seg, off: e.off, n: e.n, gend: gend}
		seg.live += recLen(e.n)
		s.chunks++
		s.bytes += int64(e.n)
	}
}

func (s *Store) createSegment(id segID) (*segment, error) {
	path := filepath.Join(s.dir, id.name())
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return nil, err
	}
	if err := dirsync.Dir(s.dir); err != nil {
		f.Close()
		os.Remove(path)
		return nil, err
	}
	return &segment{id: id, f: f, path: path, entries: []entry{}}, nil
}

// writeHint records a sealed segment's entries next to it.
func (s *Store) writeHint(seg *segment) error {
	if err := writeFileSync(seg.path+hintExt, encodeHint(seg.size, seg.entries)); err != nil {
		return err
	}
	seg.entries = nil
	return dirsync.Dir(s.dir)
}

func (s *Store) check(ctx context.Context) error {
	if s.closed.Load() {
		return chunk.ErrClosed
	}
	return ctx.Err()
}

func (s *Store) lookup(id chunk.ID) (loc, bool) {
	s.mu.RLock()
	l, ok := s.index[id]
	s.mu.RUnlock()
	return l, ok
}

// Put implements chunk.Store: one append, then a group-committed fsync.
func (s *Store) Put(ctx context.Context, id chunk.ID, blob []byte) error {
	if err := s.check(ctx); err != nil {
		return fmt.Errorf("extent: put %s: %w", id, err)
	}
	if len(blob) == 0 || len(blob) > maxPayload {
		return fmt.Errorf("extent: put %s: blob of %d bytes", id, len(blob))
	}
	if l, ok := s.lookup(id); ok {
		return s.waitDurable(l.gend)
	}
	gend, err := s.append(kindPut, id, blob)
	if err != nil {
		return fmt.Errorf("extent: put %s: %w", id, err)
	}
	if err := s.waitDurable(gend); err != nil {
		return fmt.Errorf("extent: put %s: %w", id, err)
	}
	return nil
}

// append writes one record to the active segment and applies it to the
// index; it returns the write position a sync must reach.
func (s *Store) append(kind byte, id chunk.ID, payload []byte) (int64, error) {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	if s.failed != nil {
		return 0, s.failed
	}
	l, present := s.lookup(id)
	if kind == kindPut && present {
		return l.gend, nil // a concurrent Put won
	}
	if kind == kindDel && !present {
		return 0, nil
	}
	act := s.active
	n := recLen(uint32(len(payload)))
	if act.size > 0 && act.size+n > s.opt.SegmentSize {
		var err error
		if act, err = s.roll(act); err != nil {
			return 0, err
		}
	}
	off := act.size
	if err := pwrite(act.f, header(kind, id, payload), payload, off); err != nil {
		// Leave nothing partial: cut what may have been written.
		if terr := act.f.Truncate(off); terr != nil {
			s.failed = fmt.Errorf("%w (and truncating after it: %v)", err, terr)
		}
		return 0, err
	}
	act.size += n
	s.wpos += n
	e := entry{kind: kind, id: id, off: off, n: uint32(len(payload))}
	act.entries = append(act.entries, e)
	s.mu.Lock()
	s.apply(act, e, s.wpos)
	s.mu.Unlock()
	return s.wpos, nil
}

// pwrite writes hdr and payload at off with one system call when it can.
func pwrite(f *os.File, hdr, payload []byte, off int64) error {
	n, err := unix.Pwritev(int(f.Fd()), [][]byte{hdr, payload}, off)
	if err != nil {
		return err
	}
	if n < len(hdr) {
		if _, err := f.WriteAt(hdr[n:], off+int64(n)); err != nil {
			return err
		}
		n = len(hdr)
	}
	if rest := payload[n-len(hdr):]; len(rest) > 0 {
		_, err = f.WriteAt(rest, off+int64(n))
	}
	return err
}

// roll seals the active segment (fsync, hint) and starts the next one
// (wmu held).
func (s *Store) roll(act *segment) (*segment, error) {
	if err := act.f.Sync(); err != nil {
		s.failed = err
		return nil, err
	}
	s.markDurable(s.wpos)
	if err := s.writeHint(act); err != nil {
		return nil, err
	}
	seg, err := s.createSegment(segID{major: act.id.major + 1})
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	s.segs = append(s.segs, seg)
	s.mu.Unlock()
	s.active = seg
	return seg, nil
}

func (s *Store) markDurable(pos int64) {
	s.smu.Lock()
	if pos > s.spos.Load() {
		s.spos.Store(pos)
	}
	s.scond.Broadcast()
	s.smu.Unlock()
}

// waitDurable returns once every append up to pos is fsynced. The first
// waiter syncs for everyone whose appends it covers (group commit).
func (s *Store) waitDurable(pos int64) error {
	if pos <= s.spos.Load() {
		return nil
	}
	s.smu.Lock()
	defer s.smu.Unlock()
	for s.spos.Load() < pos {
		if s.syncing {
			s.scond.Wait()
			continue
		}
		s.syncing = true
		s.smu.Unlock()
		s.wmu.Lock()
		target, f, failed := s.wpos, s.active.f, s.failed
		s.wmu.Unlock()
		err := failed
		if err == nil {
			err = f.Sync()
		}
		if err != nil && failed == nil {
			s.wmu.Lock()
			if s.failed == nil {
				s.failed = fmt.Errorf("fsync: %w", err)
			}
			s.wmu.Unlock()
		}
		s.smu.Lock()
		s.syncing = false
		s.scond.Broadcast()
		if err != nil {
			return err
		}
		if target > s.spos.Load() {
			s.spos.Store(target)
		}
	}
	return nil
}

// Get implements chunk.Store: one read.
func (s *Store) Get(ctx context.Context, id chunk.ID) ([]byte, error) {
	if err := s.check(ctx); err != nil {
		return nil, fmt.Errorf("extent: get %s: %w", id, err)
	}
	s.mu.RLock()
	l, ok := s.index[id]
	if !ok {
		s.mu.RUnlock()
		return nil, fmt.Errorf("extent: get %s: %w", id, chunk.ErrNotFound)
	}
	buf := make([]byte, l.n)
	_, err := l.seg.f.ReadAt(buf, l.off+hdrSize)
	s.mu.RUnlock()
	if err != nil {
		return nil, fmt.Errorf("extent: get %s: %w", id, err)
	}
	if err := s.waitDurable(l.gend); err != nil { // never hand out what a crash may take back
		return nil, fmt.Errorf("extent: get %s: %w", id, err)
	}
	return buf, nil
}

// Has implements chunk.Store.
func (s *Store) Has(ctx context.Context, id chunk.ID) (bool, error) {
	if err := s.check(ctx); err != nil {
		return false, fmt.Errorf("extent: has %s: %w", id, err)
	}
	l, ok := s.lookup(id)
	if ok {
		if err := s.waitDurable(l.gend); err != nil {
			return false, fmt.Errorf("extent: has %s: %w", id, err)
		}
	}
	return ok, nil
}

// Delete implements chunk.Store: a tombstone record, not fsynced (a crash
// may bring the chunk back).
func (s *Store) Delete(ctx context.Context, id chunk.ID) error {
	if err := s.check(ctx); err != nil {
		return fmt.Errorf("extent: delete %s: %w", id, err)
	}
	if _, ok := s.lookup(id); !ok {
		return nil
	}
	if _, err := s.append(kindDel, id, nil); err != nil {
		return fmt.Errorf("extent: delete %s: %w", id, err)
	}
	select {
	case s.kick <- struct{}{}:
	default:
	}
	return nil
}

// List implements chunk.Store over a copy of the index's ids.
func (s *Store) List(ctx context.Context, fn func(chunk.ID) error) error {
	if err := s.check(ctx); err != nil {
		return fmt.Errorf("extent: list: %w", err)
	}
	s.mu.RLock()
	ids := make([]chunk.ID, 0, len(s.index))
	for id := range s.index {
		ids = append(ids, id)
	}
	s.mu.RUnlock()
	for i, id := range ids {
		if i%1024 == 0 {
			if err := s.check(ctx); err != nil {
				return fmt.Errorf("extent: list: %w", err)
			}
		}
		if err := fn(id); err != nil {
			return err
		}
	}
	return nil
}

// Usage implements chunk.Store: exact, kept with the index.
func (s *Store) Usage(ctx context.Context) (chunk.Usage, error) {
	if err := s.check(ctx); err != nil {
		return chunk.Usage{}, fmt.Errorf("extent: usage: %w", err)
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	return chunk.Usage{Chunks: s.chunks, Bytes: s.bytes}, nil
}

// Close implements chunk.Store: it stops compaction, syncs the active
// segment and releases the directory.
func (s *Store) Close() error {
	if s.closed.Swap(true) {
		return nil
	}
	s.stop()
	s.bg.Wait()
	s.cmu.Lock() // an explicit Compact still running
	defer s.cmu.Unlock()
	s.wmu.Lock()
	defer s.wmu.Unlock()
	var err error
	if s.failed == nil {
		err = s.active.f.Sync()
	}
	if cerr := s.closeFiles(); err == nil {
		err = cerr
	}
	return err
}

func (s *Store) closeFiles() error {
	var errs []error
	for _, seg := range s.segs {
		errs = append(errs, seg.f.Close())
	}
	errs = append(errs, s.lock.Close())
	return errors.Join(errs...)
}
