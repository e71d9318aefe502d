package rawfile

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"

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
	s := &Store{dir: dir, lock: lf}
	if err := s.scan(); err != nil {
		lf.Close()
		return nil, fmt.Errorf("rawfile: open %s: %w", dir, err)
	}
	return s, nil
}

// scan removes temp files and counts chunks.
func (s *Store) scan() error {
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
		return nil
	} else if !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("rawfile: put %s: %w", id, err)
	}
	if err := s.write(id, final, blob); err != nil {
		return fmt.Errorf("rawfile: put %s: %w", id, err)
	}
	s.chunks.Add(1)
	s.bytes.Add(int64(len(blob)))
	return nil
}

// write stores blob at final via a synced temp file; on error nothing is
// left behind.
func (s *Store) write(id chunk.ID, final string, blob []byte) (err error) {
	dir := filepath.Dir(final)
	if err := s.ensureDir(dir); err != nil {
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
	if _, err := f.Write(blob); err != nil {
		return err
	}
	if err := f.Sync(); err != nil {
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp, final); err != nil {
		return err
	}
	if err := syncDir(dir); err != nil {
		// The chunk is in place but maybe not durable; take it back so
		// that a failed Put leaves nothing.
		os.Remove(final)
		return err
	}
	return nil
}

// ensureDir creates the fan-out directories of leaf, fsyncing each parent
// whose entries changed so that a new directory survives a crash.
func (s *Store) ensureDir(leaf string) error {
	if _, err := os.Stat(leaf); err == nil {
		return nil
	}
	mid := filepath.Dir(leaf)
	for _, d := range []string{mid, leaf} {
		err := os.Mkdir(d, 0o700)
		if errors.Is(err, fs.ErrExist) {
			continue
		}
		if err != nil {
			return err
		}
		if err := syncDir(filepath.Dir(d)); err != nil {
			return err
		}
	}
	return nil
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}

// Get implements chunk.Store.
func (s *Store) Get(ctx context.Context, id chunk.ID) ([]byte, error) {
	if err := s.check(ctx); err != nil {
		return nil, fmt.Errorf("rawfile: get %s: %w", id, err)
	}
	b, err := os.ReadFile(s.Path(id))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("rawfile: get %s: %w", id, chunk.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("rawfile: get %s: %w", id, err)
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

// Close implements chunk.Store. It releases the directory lock.
func (s *Store) Close() error {
	if s.closed.Swap(true) {
		return nil
	}
	return s.lock.Close() // closing the fd drops the flock
}
