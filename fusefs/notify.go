package fusefs

import (
	"sync"

	"github.com/hanwen/go-fuse/v2/fs"

	"github.com/clusterf/clusterf/crdt"
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

// Invalidate tells the kernel about remote changes so that `ls` and `cat`
// on this mount see them at once instead of after the cache timeouts. It
// never blocks on the kernel for long and may be called from any goroutine
// except a FUSE request handler of this mount.
func (s *Server) Invalidate(ops []crdt.Op) {
	m := s.m
	for _, op := range ops {
		switch {
		case op.Move != nil:
			// The old place, as the kernel knows it.
			if n := m.inodes.get(inoOf(crdt.Ref{Inode: op.Move.Inode})); n != nil {
				if name, parent := n.Parent(); parent != nil {
					parent.NotifyEntry(name)
				}
			}
			// The new place (trash is never shown).
			if op.Move.Parent != crdt.TrashID {
				if p := m.inodes.get(inoOf(crdt.Ref{Inode: op.Move.Parent})); p != nil {
					p.NotifyEntry(op.Move.Name)
					p.NotifyContent(0, 0)
				}
			}
		case op.Content != nil:
			if n := m.inodes.get(inoOf(crdt.Ref{Inode: op.Content.Inode})); n != nil {
				n.NotifyContent(0, 0)
			}
		case op.Attr != nil:
			if n := m.inodes.get(inoOf(crdt.Ref{Inode: op.Attr.Inode})); n != nil {
				n.NotifyContent(-1, 0) // attributes only
			}
		}
	}
}
