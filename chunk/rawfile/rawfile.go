package rawfile

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/clusterf/clusterf/chunk"
)

var _ chunk.Store = (*Store)(nil)

const (
	tmpPrefix = ".tmp-"
	lockName  = "LOCK"
	stripes   = 256
)

// Store is a chunk.Store keeping one file per chunk under a directory.
type Store struct {
	dir  string
	lock *os.File // flocked LOCK file; nil once closed

	// locks serialise Put and Delete of the same id (striped by id[0]), so
	// the usage counters stay exact and a Put never returns nil before a
	// concurrent Put of the same id made the file durable.
	locks [stripes]sync.Mutex

	closed atomic.Bool
	chunks atomic.Int64
	bytes  atomic.Int64

	noDirect     atomic.Bool  // the file system refused O_DIRECT (direct.go)
	directWrites atomic.Int64 // blobs written with O_DIRECT
	directReads  atomic.Int64 // blobs read with O_DIRECT
	dirSyncs     atomic.Int64 // directory fsyncs (dirs.go)

	// unsynced holds the chunks PutLazy stored since the last Sync: in
	// place under their final names, not yet fsynced (nor their
	// directories).
	umu      sync.Mutex
	unsynced map[chunk.ID]uint64 // -> generation of its PutLazy
	ugen     uint64
	// newDirs holds the directories that gained a fan-out directory in
	// a PutLazy and were not fsynced since (dirs.go), by generation.
	newDirs map[string]uint64
	syncMu  sync.Mutex // one Sync at a time
}

// Open opens (creating if needed) the store in dir, removes temp files left
// by a crash and counts what the store holds. It fails with an error wrapping
// chunk.ErrLocked if another Store has dir open.
func Open(dir string) (*Store, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("rawfile: open %s: %w", dir, err)
	}
	lf, err := os.OpenFile(filepath.Join(dir, lockName), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("rawfile: open %s: %w", dir, err)
	}
	if err := syscall.Flock(int(lf.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		lf.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, fmt.Errorf("rawfile: open %s: %w", dir, chunk.ErrLocked)
		}
		return nil, fmt.Errorf("rawfile: lock %s: %w", dir, err)
	}
	s := &Store{dir: dir, lock: lf, unsynced: map[chunk.ID]uint64{}, newDirs: map[string]uint64{}}
	if err := s.scan(); err != nil {
		lf.Close()
		return nil, fmt.Errorf("rawfile: open %s: %w", dir, err)
	}
	if err := s.syncIfUnclean(); err != nil {
		lf.Close()
		return nil, fmt.Errorf("rawfile: open %s: %w", dir, err)
	}
	return s, nil
}

// The LOCK file says "clean" after a Close that synced everything and
// "open" while a Store is open.
const (
	lockClean = "clean\n"
	lockOpen  = "open\n"
)

// syncIfUnclean makes durable what a previous process that was killed
// left: chunks PutLazy stored that only the page cache holds (one
// syncfs of the file system, not one fsync per file). Then LOCK says
// "open" until Close.
func (s *Store) syncIfUnclean() error {
	b := make([]byte, 16)
	n, _ := s.lock.ReadAt(b, 0)
	if string(b[:n]) != lockClean && s.chunks.Load() > 0 {
		if err := unix.Syncfs(int(s.lock.Fd())); err != nil {
			return fmt.Errorf("syncfs: %w", err)
		}
	}
	return s.writeLock(lockOpen)
}

func (s *Store) writeLock(state string) error {
	if err := s.lock.Truncate(0); err != nil {
		return err
	}
	if _, err := s.lock.WriteAt([]byte(state), 0); err != nil {
		return err
	}
	if state == lockClean {
		return s.lock.Sync()
	}
	return nil
}

// scan removes temp files and counts chunks.
func (s *Store) scan() error {
	// A root on purpose: Open (chunk.Store's API) takes no context.
	return s.walk(context.Background(), func(dir, name string, info fs.FileInfo) error {
		if strings.HasPrefix(name, tmpPrefix) {
			if err := os.Remove(filepath.Join(dir, name)); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return err
			}
			return nil
		}
		if _, err := chunk.ParseID(name); err != nil {
			return nil // not ours; leave it alone
		}
		s.chunks.Add(1)
		s.bytes.Add(info.Size())
		return nil
	}, true)
}

// walk calls fn for every regular file in a leaf (fan-out) directory. It
// reads one directory at a time so that fn may modify the store. stat asks
// for file info (otherwise info is nil).
func (s *Store) walk(ctx context.Context, fn func(dir, name string, info fs.FileInfo) error, stat bool) error {
	top, err := readDirNames(s.dir)
	if err != nil {
		return err
	}
	for _, a := range top {
		if !isFanout(a) {
			continue
		}
		mid, err := readDirNames(filepath.Join(s.dir, a))
		if err != nil {
			return err
		}
		for _, b := range mid {
			if !isFanout(b) {
				continue
			}
			if err := ctx.Err(); err != nil {
				return err
			}
			leaf := filepath.Join(s.dir, a, b)
			ents, err := os.ReadDir(leaf)
			if err != nil {
				if errors.Is(err, fs.ErrNotExist) {
					continue
				}
				return err
			}
			for _, e := range ents {
				if !e.Type().IsRegular() {
					continue
				}
				var info fs.FileInfo
				if stat {
					info, err = e.Info()
					if errors.Is(err, fs.ErrNotExist) {
						continue
					}
					if err != nil {
						return err
					}
				}
				if err := fn(leaf, e.Name(), info); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

func readDirNames(dir string) ([]string, error) {
	ents, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	names := make([]string, 0, len(ents))
	for _, e := range ents {
		if e.IsDir() {
			names = append(names, e.Name())
		}
	}
	return names, nil
}

func isFanout(name string) bool {
	if len(name) != 2 {
		return false
	}
	for _, c := range []byte(name) {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}

// Path returns the file that holds id. Tests use it to corrupt chunks.
func (s *Store) Path(id chunk.ID) string {
	h := id.String()
	return filepath.Join(s.dir, h[0:2], h[2:4], h)
}

func (s *Store) check(ctx context.Context) error {
	if s.closed.Load() {
		return chunk.ErrClosed
	}
	return ctx.Err()
}

// Put implements chunk.Store.
func (s *Store) Put(ctx context.Context, id chunk.ID, blob []byte) error {
	if err := s.check(ctx); err != nil {
		return fmt.Errorf("rawfile: put %s: %w", id, err)
	}
	if len(blob) == 0 {
		return fmt.Errorf("rawfile: put %s: empty blob", id)
	}
	mu := &s.locks[id[0]]
	mu.Lock()
	defer mu.Unlock()

	final := s.Path(id)
	if _, err := os.Lstat(final); err == nil {
		// Present; durable unless a PutLazy put it and no Sync ran since.
		if s.isUnsynced(id) {
			if err := s.syncFileAndDir(final); err != nil {
				return fmt.Errorf("rawfile: put %s: %w", id, err)
			}
			if err := s.syncPendingDirs(filepath.Dir(final)); err != nil {
				return fmt.Errorf("rawfile: put %s: %w", id, err)
			}
			s.doneSyncing(id)
		}
		return nil
	} else if !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("rawfile: put %s: %w", id, err)
	}
	if err := s.write(id, final, blob, true); err != nil {
		return fmt.Errorf("rawfile: put %s: %w", id, err)
	}
	s.chunks.Add(1)
	s.bytes.Add(int64(len(blob)))
	return nil
}

// write stores blob at final via a temp file, synced (and the directory
// after the rename) when durable; on error nothing is left behind.
func (s *Store) write(id chunk.ID, final string, blob []byte, durable bool) (err error) {
	dir := filepath.Dir(final)
	if err := s.ensureDir(dir, durable); err != nil {
		return err
	}
	f, err := os.CreateTemp(dir, tmpPrefix+id.String()+"-")
	if err != nil {
		return err
	}
	tmp := f.Name()
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(tmp)
		}
	}()
	if err := s.writeBlob(f, blob); err != nil {
		return err
	}
	if durable {
		if err := f.Sync(); err != nil {
			return err
		}
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp, final); err != nil {
		return err
	}
	if !durable {
		return nil
	}
	if err := s.syncDir(dir); err != nil {
		// The chunk is in place but maybe not durable; take it back so
		// that a failed Put leaves nothing.
		os.Remove(final)
		return err
	}
	return nil
}

// Get implements chunk.Store.
func (s *Store) Get(ctx context.Context, id chunk.ID) ([]byte, error) {
	return s.GetBuffer(ctx, id, chunk.ReadCached, chunk.NewBuffer)
}

var _ chunk.BufferStore = (*Store)(nil)

// GetBuffer implements chunk.BufferStore.
func (s *Store) GetBuffer(ctx context.Context, id chunk.ID, hint chunk.ReadHint, alloc func(n int) []byte) ([]byte, error) {
	if err := s.check(ctx); err != nil {
		return nil, fmt.Errorf("rawfile: get %s: %w", id, err)
	}
	b, err := s.readFileInto(s.Path(id), hint, alloc)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("rawfile: get %s: %w", id, chunk.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("rawfile: get %s: %w", id, err)
	}
	return b, nil
}

// maxBlob bounds the blob a chunk file may hold: a chunk of
// chunk.MaxChunkSize with room for any framing. A larger file is not a
// chunk this store wrote.
const maxBlob = chunk.MaxChunkSize + 4096

// readFileInto reads the whole file at path into alloc(size)[:size]. A
// chunk file never changes once in place, so a file larger than any
// chunk, or one whose size changes while it is read, is corrupt
// (chunk.ErrCorrupt: the reader fetches a good copy elsewhere).
func (s *Store) readFileInto(path string, hint chunk.ReadHint, alloc func(n int) []byte) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	size := fi.Size()
	if size > maxBlob {
		return nil, fmt.Errorf("%s: %w: %d bytes, more than any chunk", path, chunk.ErrCorrupt, size)
	}
	b := alloc(int(size))[:size]
	if hint == chunk.ReadUncached {
		if ok, err := s.readDirect(f, b); ok || err != nil {
			if err != nil {
				return nil, fmt.Errorf("%s: %w", path, err)
			}
			return b, nil
		}
	}
	if _, err := io.ReadFull(f, b); err != nil {
		return nil, fmt.Errorf("%s: %w: shorter than when opened: %v", path, chunk.ErrCorrupt, err)
	}
	var probe [1]byte
	if n, _ := f.Read(probe[:]); n != 0 {
		return nil, fmt.Errorf("%s: %w: grew while read", path, chunk.ErrCorrupt)
	}
	return b, nil
}

// Has implements chunk.Store.
func (s *Store) Has(ctx context.Context, id chunk.ID) (bool, error) {
	if err := s.check(ctx); err != nil {
		return false, fmt.Errorf("rawfile: has %s: %w", id, err)
	}
	_, err := os.Lstat(s.Path(id))
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("rawfile: has %s: %w", id, err)
	}
	return true, nil
}

// Delete implements chunk.Store.
func (s *Store) Delete(ctx context.Context, id chunk.ID) error {
	if err := s.check(ctx); err != nil {
		return fmt.Errorf("rawfile: delete %s: %w", id, err)
	}
	mu := &s.locks[id[0]]
	mu.Lock()
	defer mu.Unlock()
	p := s.Path(id)
	info, err := os.Lstat(p)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("rawfile: delete %s: %w", id, err)
	}
	if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("rawfile: delete %s: %w", id, err)
	}
	s.doneSyncing(id)
	s.chunks.Add(-1)
	s.bytes.Add(-info.Size())
	return nil
}

// List implements chunk.Store.
func (s *Store) List(ctx context.Context, fn func(chunk.ID) error) error {
	if err := s.check(ctx); err != nil {
		return fmt.Errorf("rawfile: list: %w", err)
	}
	var fnErr error
	err := s.walk(ctx, func(_, name string, _ fs.FileInfo) error {
		id, err := chunk.ParseID(name)
		if err != nil {
			return nil // temp file or stranger
		}
		if err := fn(id); err != nil {
			fnErr = err
			return err
		}
		return nil
	}, false)
	if fnErr != nil {
		return fnErr
	}
	if err != nil {
		return fmt.Errorf("rawfile: list: %w", err)
	}
	return nil
}

// Usage implements chunk.Store.
func (s *Store) Usage(ctx context.Context) (chunk.Usage, error) {
	if err := s.check(ctx); err != nil {
		return chunk.Usage{}, fmt.Errorf("rawfile: usage: %w", err)
	}
	return chunk.Usage{Chunks: s.chunks.Load(), Bytes: s.bytes.Load()}, nil
}

// Close implements chunk.Store. It makes every lazily stored chunk
// durable and releases the directory lock.
func (s *Store) Close() error {
	if s.closed.Load() {
		return nil
	}
	err := s.Sync(context.Background()) // a root: Close must sync, whatever the caller's state
	if s.closed.Swap(true) {
		return nil
	}
	if err == nil {
		err = s.writeLock(lockClean)
	}
	return errors.Join(err, s.lock.Close()) // closing the fd drops the flock
}

// PutLazy is Put without the fsyncs: once it returns the chunk is in
// place under its final name, so it survives a crash of the process, and
// the next Sync makes it durable (it survives a power loss). A crash
// before that Sync may leave nothing or a truncated file, which Get
// returns and chunk.Decode refuses (and Open leaves no temp file).
func (s *Store) PutLazy(ctx context.Context, id chunk.ID, blob []byte) error {
	if err := s.check(ctx); err != nil {
		return fmt.Errorf("rawfile: put %s: %w", id, err)
	}
	if len(blob) == 0 {
		return fmt.Errorf("rawfile: put %s: empty blob", id)
	}
	mu := &s.locks[id[0]]
	mu.Lock()
	defer mu.Unlock()
	final := s.Path(id)
	if _, err := os.Lstat(final); err == nil {
		return nil
	} else if !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("rawfile: put %s: %w", id, err)
	}
	if err := s.write(id, final, blob, false); err != nil {
		return fmt.Errorf("rawfile: put %s: %w", id, err)
	}
	s.umu.Lock()
	s.ugen++
	s.unsynced[id] = s.ugen
	s.umu.Unlock()
	s.chunks.Add(1)
	s.bytes.Add(int64(len(blob)))
	return nil
}

// Sync makes every chunk PutLazy stored before it durable: each file is
// fdatasynced, then each directory that gained one is fsynced once.
func (s *Store) Sync(ctx context.Context) error {
	if err := s.check(ctx); err != nil {
		return fmt.Errorf("rawfile: sync: %w", err)
	}
	s.syncMu.Lock()
	defer s.syncMu.Unlock()
	s.umu.Lock()
	ids := make([]chunk.ID, 0, len(s.unsynced))
	gens := make([]uint64, 0, len(s.unsynced))
	for id, g := range s.unsynced {
		ids, gens = append(ids, id), append(gens, g)
	}
	newDirs := maps.Clone(s.newDirs)
	s.umu.Unlock()
	dirs := map[string]bool{}
	for _, id := range ids {
		p := s.Path(id)
		if err := syncFile(p); errors.Is(err, fs.ErrNotExist) {
			continue // deleted since
		} else if err != nil {
			return fmt.Errorf("rawfile: sync %s: %w", id, err)
		}
		dirs[filepath.Dir(p)] = true
	}
	for d := range dirs {
		if err := s.syncDir(d); err != nil {
			return fmt.Errorf("rawfile: sync %s: %w", d, err)
		}
	}
	if err := s.syncNewDirs(newDirs); err != nil {
		return fmt.Errorf("rawfile: sync: %w", err)
	}
	s.umu.Lock()
	for i, id := range ids {
		if s.unsynced[id] == gens[i] { // not deleted and put again since
			delete(s.unsynced, id)
		}
	}
	s.umu.Unlock()
	return nil
}

// Unsynced returns how many chunks PutLazy stored that no Sync covered yet.
func (s *Store) Unsynced() int {
	s.umu.Lock()
	defer s.umu.Unlock()
	return len(s.unsynced)
}

func (s *Store) isUnsynced(id chunk.ID) bool {
	s.umu.Lock()
	defer s.umu.Unlock()
	_, ok := s.unsynced[id]
	return ok
}

func (s *Store) doneSyncing(id chunk.ID) {
	s.umu.Lock()
	delete(s.unsynced, id)
	s.umu.Unlock()
}
