package fusefs

import (
	"sync"

	"github.com/hanwen/go-fuse/v2/fuse"

	"github.com/clusterf/clusterf/crdt"
	"github.com/clusterf/clusterf/replica"
)

// pageCache remembers which committed content version of an inode the
// kernel's page cache was last opened at, so that an open of an unchanged
// file keeps it (FOPEN_KEEP_CACHE: a re-read is served by the kernel
// without asking the daemon, as fast as a local file). Any content change
// makes the version differ, so the next open drops the cache as before;
// besides, every content change, local (through this mount, REST, WebDAV)
// or remote, invalidates the cache at once and forgets the version
// (notify.go, localWrite).
//
// Deliberately conservative: a write through the mount does not claim
// that the page cache holds the version it committed (another frontend
// may have written through the same open file in the meantime), so the
// first re-read after a write goes to the daemon; later opens keep it.
type pageCache struct {
	mu  sync.Mutex
	ver crdt.OpID // zero: nothing known to be cached
}

// open returns the open flags for a handle showing version v.
func (c *pageCache) open(v crdt.OpID) uint32 {
	c.mu.Lock()
	defer c.mu.Unlock()
	keep := !v.IsZero() && v == c.ver
	c.ver = v
	if keep {
		return fuse.FOPEN_KEEP_CACHE
	}
	return 0
}

// forget says the kernel's cache may be stale (it is being invalidated).
func (c *pageCache) forget() {
	c.mu.Lock()
	c.ver = crdt.OpID{}
	c.mu.Unlock()
}

// localWrite handles a content change committed on this node (through
// this mount, REST or WebDAV): the kernel's cache of the file may be
// stale, so it is invalidated and not kept at the next open.
func (s *Server) localWrite(c replica.Change) {
	n := s.m.inodes.get(inoOf(crdt.Ref{Inode: c.Inode}))
	if n == nil {
		return
	}
	n.cache.forget()
	n.NotifyContent(0, 0)
}
