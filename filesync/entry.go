package filesync

import (
	"syscall"

	"github.com/clusterf/clusterf/crdt"
	"github.com/clusterf/clusterf/replica"
)

// entry is what one side shows at a path now (nil: nothing).
type entry struct {
	kind     kind
	size     int64
	mtime    int64 // unix ns
	mode     uint32
	uid, gid uint32
	target   string // symlinks
	// local side
	dev, ino uint64
	// cluster side
	ref   crdt.Ref
	ctime int64
}

// localEntry describes a local lstat result.
func localEntry(st *syscall.Stat_t, target string) *entry {
	e := &entry{size: st.Size, mtime: st.Mtim.Nano(), mode: st.Mode & 0o7777,
		uid: st.Uid, gid: st.Gid, dev: st.Dev, ino: st.Ino, target: target}
	switch st.Mode & syscall.S_IFMT {
	case syscall.S_IFREG:
		e.kind = kindFile
	case syscall.S_IFDIR:
		e.kind = kindDir
	case syscall.S_IFLNK:
		e.kind = kindSymlink
	default:
		e.kind = kindSpecial
	}
	return e
}

// clusterEntry describes a cluster entry (target: the symlink's).
func clusterEntry(a replica.Attr, target string) *entry {
	e := &entry{size: a.Size, mtime: a.Mtime.UnixNano(), mode: a.Mode & 0o7777,
		uid: a.UID, gid: a.GID, ref: a.Ref, ctime: a.Ctime.UnixNano(), target: target}
	switch {
	case a.Kind == crdt.KindDir:
		e.kind = kindDir
	case a.Kind == crdt.KindSymlink:
		e.kind = kindSymlink
	case a.Kind.Special():
		e.kind = kindSpecial
	default:
		e.kind = kindFile
	}
	if !a.Ref.Version.IsZero() { // a read-only conflict copy shows mode &^ 0222
		e.mode = a.Mode & 0o7777
	}
	return e
}

func (e *entry) lstamp() localStamp {
	s := localStamp{Mode: e.mode, Dev: e.dev, Ino: e.ino}
	if e.kind == kindFile {
		s.Size, s.Mtime = e.size, e.mtime
	}
	return s
}

func (e *entry) cstamp() clusterStamp {
	s := clusterStamp{Inode: e.ref.Inode, Version: e.ref.Version, Mode: e.mode}
	if e.kind == kindFile {
		s.Size, s.Mtime, s.Ctime = e.size, e.mtime, e.ctime
	}
	return s
}

// base returns the record of n, nil for none.
func base(n *bnode) *record {
	if n == nil {
		return nil
	}
	return &n.rec
}

// sameLocal reports whether the local entry is as recorded (both absent
// counts as same). Files compare size, mtime and mode (the quick check),
// symlinks their target, directories their mode.
func sameLocal(e *entry, r *record) bool {
	if e == nil || r == nil {
		return e == nil && r == nil
	}
	if e.kind != r.Kind {
		return false
	}
	switch e.kind {
	case kindFile:
		return e.size == r.L.Size && e.mtime == r.L.Mtime && e.mode == r.L.Mode
	case kindSymlink:
		return e.target == r.Target
	case kindDir:
		return e.mode == r.L.Mode
	}
	return true
}

// sameCluster is sameLocal for the cluster side; files also compare the
// inode and ctime (a PutFile makes a new inode; any write or chmod moves
// the ctime).
func sameCluster(e *entry, r *record) bool {
	if e == nil || r == nil {
		return e == nil && r == nil
	}
	if e.kind != r.Kind {
		return false
	}
	switch e.kind {
	case kindFile:
		c := e.cstamp()
		return c == r.C
	case kindSymlink:
		return e.target == r.Target
	case kindDir:
		return e.mode == r.C.Mode && e.ref.Inode == r.C.Inode
	}
	return true
}

// sameLocalContent reports whether a file's size and mtime are as
// recorded (only attributes, or nothing, changed).
func sameLocalContent(e *entry, r *record) bool {
	return r != nil && e.kind == kindFile && r.Kind == kindFile && e.size == r.L.Size && e.mtime == r.L.Mtime
}

// equalEntries reports whether the two sides hold the same thing by the
// quick check (used when there is no base, or both changed): same kind and,
// for files, same size and mtime; for symlinks the same target.
func equalEntries(l, c *entry) bool {
	if l.kind != c.kind {
		return false
	}
	switch l.kind {
	case kindFile:
		return l.size == c.size && l.mtime == c.mtime
	case kindSymlink:
		return l.target == c.target
	}
	return true
}
