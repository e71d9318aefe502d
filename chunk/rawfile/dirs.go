package rawfile

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"

	"github.com/clusterf/clusterf/dirsync"
)

// Fan-out directories. A store starts empty, so for its first tens of
// thousands of chunks nearly every put makes a new leaf directory (and
// often its parent). A Put fsyncs each parent that gained one before it
// returns. A PutLazy only notes the parent in newDirs, and the next Sync
// fsyncs them along with the chunks: a fresh node's small-file commits
// (cp -a of a source tree) paid one directory fsync, about 1 ms here,
// per chunk before.

// ensureDir creates the fan-out directories of leaf. durable: every
// directory on the way is on disk when it returns (those made by an
// earlier PutLazy included).
func (s *Store) ensureDir(leaf string, durable bool) error {
	if _, err := os.Stat(leaf); err != nil {
		for _, d := range []string{filepath.Dir(leaf), leaf} {
			err := os.Mkdir(d, 0o700)
			if errors.Is(err, fs.ErrExist) {
				continue
			}
			if err != nil {
				return err
			}
			s.noteNewDir(filepath.Dir(d))
		}
	}
	if durable {
		return s.syncPendingDirs(leaf)
	}
	return nil
}

// noteNewDir records that dir gained an entry that is not fsynced yet.
func (s *Store) noteNewDir(dir string) {
	s.umu.Lock()
	s.ugen++
	s.newDirs[dir] = s.ugen
	s.umu.Unlock()
}

// syncPendingDirs fsyncs the parents of leaf (its fan-out directory and
// the store's root) that gained a directory not fsynced yet.
func (s *Store) syncPendingDirs(leaf string) error {
	mid := filepath.Dir(leaf)
	s.umu.Lock()
	pending := map[string]uint64{}
	for _, d := range []string{mid, s.dir} {
		if g, ok := s.newDirs[d]; ok {
			pending[d] = g
		}
	}
	s.umu.Unlock()
	return s.syncNewDirs(pending)
}

// syncNewDirs fsyncs dirs (as taken from newDirs) and forgets those that
// gained nothing since.
func (s *Store) syncNewDirs(dirs map[string]uint64) error {
	for d := range dirs {
		if err := s.syncDir(d); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("sync directory %s: %w", d, err)
		}
	}
	s.umu.Lock()
	for d, g := range dirs {
		if s.newDirs[d] == g {
			delete(s.newDirs, d)
		}
	}
	s.umu.Unlock()
	return nil
}

// syncDir fsyncs a directory (counted: DirSyncs).
func (s *Store) syncDir(dir string) error {
	s.dirSyncs.Add(1)
	return dirsync.Dir(dir)
}

func syncFile(p string) error {
	f, err := os.Open(p)
	if err != nil {
		return err
	}
	err = unix.Fdatasync(int(f.Fd()))
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

func (s *Store) syncFileAndDir(p string) error {
	if err := syncFile(p); err != nil {
		return err
	}
	return s.syncDir(filepath.Dir(p))
}

// DirSyncs returns how many directory fsyncs the store has made.
func (s *Store) DirSyncs() int64 { return s.dirSyncs.Load() }

// UnsyncedDirs returns how many directories gained a fan-out directory in
// a PutLazy that no Sync (or Put through them) covered yet.
func (s *Store) UnsyncedDirs() int {
	s.umu.Lock()
	defer s.umu.Unlock()
	return len(s.newDirs)
}
