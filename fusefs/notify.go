package fusefs

import (
	"context"
	"sync"
	"time"

	"github.com/hanwen/go-fuse/v2/fs"

	"github.com/clusterf/clusterf/crdt"
	"github.com/clusterf/clusterf/replica"
)

// inodeTable maps inode numbers to the kernel-known nodes, so remote
// changes can invalidate exactly the cache entries they affect.
type inodeTable struct {
	mu    sync.Mutex
	nodes map[uint64]*node
}

func (t *inodeTable) add(ino uint64, n *node) {
	t.mu.Lock()
	if t.nodes == nil {
		t.nodes = make(map[uint64]*node)
	}
	t.nodes[ino] = n
	t.mu.Unlock()
}

func (t *inodeTable) remove(ino uint64, n *node) {
	t.mu.Lock()
	if t.nodes[ino] == n {
		delete(t.nodes, ino)
	}
	t.mu.Unlock()
}

func (t *inodeTable) get(ino uint64) *node {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.nodes[ino]
}

// OnForget drops the node from the table when the kernel forgets it.
func (n *node) OnForget() { n.m.inodes.remove(inoOf(n.ref), n) }

var _ = (fs.NodeOnForgetter)((*node)(nil))

// followChanges invalidates kernel caches for the changes of the core's
// feed that did not come through this mount (remote ops), so that `ls` and
// `cat` here see them at once instead of after the cache timeouts. It runs
// until ctx ends (the mount goes away).
//
// A lookup or READDIRPLUS answered just before a change and delivered to
// the kernel just after its notification would put the old entry back in
// the kernel's cache until its timeout; so every entry notification is
// sent again renotifyAfter later.
func (s *Server) followChanges(ctx context.Context, feed *replica.Feed) {
	after := feed.Last()
	var again []entryNote
	for {
		wctx, cancel := ctx, context.CancelFunc(func() {})
		if len(again) > 0 {
			wctx, cancel = context.WithDeadline(ctx, again[0].due)
		}
		err := feed.Wait(wctx, after)
		cancel()
		if ctx.Err() != nil {
			return
		}
		now := time.Now()
		for len(again) > 0 && !again[0].due.After(now) {
			again[0].parent.NotifyEntry(again[0].name)
			again = again[1:]
		}
		if err != nil {
			continue // only a re-notification was due
		}
		cs, missed := feed.Since(after, 4096)
		if len(cs) > 0 {
			after = cs[len(cs)-1].Seq
		}
		if missed {
			s.invalidateAll()
		}
		for _, c := range cs {
			if c.Remote {
				for _, e := range s.invalidate(c) {
					again = append(again, entryNote{e.parent, e.name, now.Add(renotifyAfter)})
				}
			} else if c.Kind == replica.ChangeWritten {
				s.localWrite(c) // REST, WebDAV: the page cache may be stale (cache.go)
			}
		}
	}
}

// renotifyAfter is when an entry notification is sent again.
const renotifyAfter = 300 * time.Millisecond

// entryNote is a directory entry whose kernel cache was invalidated.
type entryNote struct {
	parent *fs.Inode
	name   string
	due    time.Time
}

// invalidate tells the kernel about one change and returns the entries it
// invalidated. It never blocks on the kernel for long and must not run in
// a FUSE request handler of this mount.
func (s *Server) invalidate(c replica.Change) []entryNote {
	m := s.m
	var notes []entryNote
	entry := func(parent *fs.Inode, name string) {
		parent.NotifyEntry(name)
		notes = append(notes, entryNote{parent: parent, name: name})
	}
	switch c.Kind {
	case replica.ChangeCreated, replica.ChangeMoved, replica.ChangeRemoved:
		// The old place, as the kernel knows it and as the feed says.
		if n := m.inodes.get(inoOf(crdt.Ref{Inode: c.Inode})); n != nil {
			if name, parent := n.Parent(); parent != nil {
				entry(parent, name)
			}
		}
		if p := m.inodes.get(inoOf(crdt.Ref{Inode: c.OldParent})); p != nil && c.OldName != "" {
			entry(p.EmbeddedInode(), c.OldName)
		}
		// The new place (trash is never shown).
		if c.Kind != replica.ChangeRemoved {
			if p := m.inodes.get(inoOf(crdt.Ref{Inode: c.Parent})); p != nil {
				entry(p.EmbeddedInode(), c.Name)
				p.NotifyContent(0, 0)
			}
		}
	case replica.ChangeWritten:
		if n := m.inodes.get(inoOf(crdt.Ref{Inode: c.Inode})); n != nil {
			n.cache.forget()
			n.NotifyContent(0, 0)
		}
	case replica.ChangeAttr, replica.ChangeXattr:
		if n := m.inodes.get(inoOf(crdt.Ref{Inode: c.Inode})); n != nil {
			n.NotifyContent(-1, 0) // attributes only
		}
	case replica.ChangeReset:
		s.invalidateAll()
	}
	return notes
}

// invalidateAll drops every cached attribute and directory listing the
// kernel has of this mount (after a snapshot replaced the state).
func (s *Server) invalidateAll() {
	s.m.inodes.mu.Lock()
	nodes := make([]*node, 0, len(s.m.inodes.nodes))
	for _, n := range s.m.inodes.nodes {
		nodes = append(nodes, n)
	}
	s.m.inodes.mu.Unlock()
	for _, n := range nodes {
		n.cache.forget()
		n.NotifyContent(0, 0)
	}
}
