package replica

import "github.com/clusterf/clusterf/crdt"

// Version returns the content version the handle shows: the committed
// version its unflushed writes (if any) derive from. After Flush it is
// the version that holds every write made through the handle. The mount
// keeps the kernel's page cache of a file across opens only while this
// stays the same (fusefs/cache.go).
func (h *Handle) Version() crdt.OpID {
	if h.of.fixed {
		return h.ref.Version
	}
	h.of.mu.Lock()
	defer h.of.mu.Unlock()
	return h.of.baseVer
}

// Version returns the committed content version of a file.
func (f *FS) Version(id crdt.InodeID) (crdt.OpID, error) {
	var v crdt.OpID
	err := f.meta.View(func(view *crdt.View) error {
		ino, err := view.Inode(id)
		v = ino.Version
		return err
	})
	return v, err
}
