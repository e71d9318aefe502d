package fusefs

import (
	"context"
	"encoding/binary"
	"errors"
	"io"
	"syscall"
	"time"

	"github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"
	"github.com/zeebo/blake3"
	"golang.org/x/sys/unix"

	"github.com/clusterf/clusterf/crdt"
	"github.com/clusterf/clusterf/replica"
)

// node is one inode (or conflict sibling) of the mount.
type node struct {
	fs.Inode
	m     *mount
	ref   crdt.Ref
	cache pageCache // the version the kernel's page cache holds (cache.go)
}

// inoOf derives the stable inode number of ref (layout in doc.go).
func inoOf(ref crdt.Ref) uint64 {
	if ref.Inode == crdt.RootID {
		return 1
	}
	if ref.Version.IsZero() {
		return binary.BigEndian.Uint64(ref.Inode[:8])
	}
	h := blake3.New()
	h.Write(ref.Inode[:])
	h.Write([]byte(ref.Version.Node))
	var seq [8]byte
	binary.BigEndian.PutUint64(seq[:], ref.Version.Seq)
	h.Write(seq[:])
	ino := binary.BigEndian.Uint64(h.Sum(nil)[:8]) &^ (1 << 63)
	if ino < 2 {
		ino += 2
	}
	return ino
}

func typeBits(k crdt.Kind) uint32 {
	switch k {
	case crdt.KindDir:
		return syscall.S_IFDIR
	case crdt.KindSymlink:
		return syscall.S_IFLNK
	case crdt.KindFIFO:
		return syscall.S_IFIFO
	case crdt.KindSocket:
		return syscall.S_IFSOCK
	case crdt.KindCharDev:
		return syscall.S_IFCHR
	case crdt.KindBlockDev:
		return syscall.S_IFBLK
	default:
		return syscall.S_IFREG
	}
}

// kindOf is the kind a mknod mode asks for (type 0 is a regular file, as
// mknod(2) says); false for a type mknod cannot create.
func kindOf(mode uint32) (crdt.Kind, bool) {
	switch mode & syscall.S_IFMT {
	case 0, syscall.S_IFREG:
		return crdt.KindFile, true
	case syscall.S_IFIFO:
		return crdt.KindFIFO, true
	case syscall.S_IFSOCK:
		return crdt.KindSocket, true
	case syscall.S_IFCHR:
		return crdt.KindCharDev, true
	case syscall.S_IFBLK:
		return crdt.KindBlockDev, true
	}
	return 0, false
}

// fillAttr converts a core Attr to the kernel's.
func fillAttr(a replica.Attr, out *fuse.Attr) {
	out.Ino = inoOf(a.Ref)
	out.Mode = typeBits(a.Kind) | a.Mode
	out.Nlink = a.Nlink
	out.Size = uint64(a.Size)
	out.Blocks = uint64(a.Blocks)
	out.Blksize = blockSize
	out.Owner = fuse.Owner{Uid: a.UID, Gid: a.GID}
	out.Rdev = a.Rdev
	out.SetTimes(&a.Atime, &a.Mtime, &a.Ctime)
}

// blockSize is the st_blksize shown: the preferred I/O size (cp, dd use it).
const blockSize = 128 << 10

func (n *node) errno(op string, err error) syscall.Errno { return n.m.toErrno(op, err) }

// child returns the kernel inode for a looked-up or created entry.
func (n *node) child(ctx context.Context, a replica.Attr, out *fuse.EntryOut) *fs.Inode {
	fillAttr(a, &out.Attr)
	n.m.setTimeouts(out)
	// The node the kernel already knows for this inode number, if any:
	// go-fuse gives every NewInode a fresh node id and then keeps the node
	// registered first, so the table must hold that one, or notifications
	// (remote changes) would name a node id the kernel never saw (ENOENT).
	if known := n.m.inodes.get(out.Attr.Ino); known != nil && known.ref == a.Ref {
		return known.EmbeddedInode()
	}
	ch := &node{m: n.m, ref: a.Ref}
	in := n.NewInode(ctx, ch, fs.StableAttr{Mode: typeBits(a.Kind), Ino: out.Attr.Ino, Gen: 1})
	if got, ok := in.Operations().(*node); ok {
		n.m.inodes.add(out.Attr.Ino, got)
	}
	return in
}

func owner(ctx context.Context) replica.Owner {
	if c, ok := fuse.FromContext(ctx); ok {
		return replica.Owner{UID: c.Uid, GID: c.Gid}
	}
	return replica.Owner{}
}

func (n *node) Lookup(ctx context.Context, name string, out *fuse.EntryOut) (*fs.Inode, syscall.Errno) {
	defer n.m.observe("lookup", time.Now())
	a, err := n.m.fs.Lookup(ctx, n.ref.Inode, name)
	if err != nil {
		return nil, n.errno("lookup", err)
	}
	return n.child(ctx, a, out), 0
}

func (n *node) Getattr(ctx context.Context, fh fs.FileHandle, out *fuse.AttrOut) syscall.Errno {
	defer n.m.observe("getattr", time.Now())
	a, err := n.m.fs.GetAttr(ctx, n.ref)
	if err != nil {
		return n.errno("getattr", err)
	}
	fillAttr(a, &out.Attr)
	out.SetTimeout(n.m.opts.AttrTimeout)
	return 0
}

func (n *node) Setattr(ctx context.Context, fh fs.FileHandle, in *fuse.SetAttrIn, out *fuse.AttrOut) syscall.Errno {
	defer n.m.observe("setattr", time.Now())
	var sa replica.SetAttrIn
	if m, ok := in.GetMode(); ok {
		sa.Mode = &m
	}
	if u, ok := in.GetUID(); ok {
		sa.UID = &u
	}
	if g, ok := in.GetGID(); ok {
		sa.GID = &g
	}
	if s, ok := in.GetSize(); ok {
		size := int64(s)
		sa.Size = &size
	}
	// UTIME_NOW: the core's now, the same for atime, mtime and ctime.
	if in.Valid&fuse.FATTR_ATIME_NOW != 0 {
		sa.AtimeNow = true
	} else if t, ok := in.GetATime(); ok {
		sa.Atime = &t
	}
	if in.Valid&fuse.FATTR_MTIME_NOW != 0 {
		sa.MtimeNow = true
	} else if t, ok := in.GetMTime(); ok {
		sa.Mtime = &t
	}
	// A setattr that sets nothing is chown(f, -1, -1): only the ctime
	// changes (the kernel sends ATTR_CTIME as no field).
	sa.Touch = true
	// A truncate commits like a flush: once asked, it must not half happen
	// nor fail with EINTR, which no local filesystem answers (and Go
	// programs get preemption signals all the time, which interrupt the
	// request; found by TestPosixDiffRandom, seed 13).
	a, err := n.m.fs.SetAttr(context.WithoutCancel(ctx), n.ref, sa)
	if err != nil {
		return n.errno("setattr", err)
	}
	fillAttr(a, &out.Attr)
	out.SetTimeout(n.m.opts.AttrTimeout)
	return 0
}

func (n *node) Readdir(ctx context.Context) (fs.DirStream, syscall.Errno) {
	defer n.m.observe("readdir", time.Now())
	ents, err := n.m.fs.ReadDir(ctx, n.ref.Inode)
	if err != nil {
		return nil, n.errno("readdir", err)
	}
	list := make([]fuse.DirEntry, 0, len(ents))
	for _, e := range ents {
		list = append(list, fuse.DirEntry{Name: e.Name, Mode: typeBits(e.Attr.Kind), Ino: inoOf(e.Attr.Ref)})
	}
	return fs.NewListDirStream(list), 0
}

func (n *node) Mkdir(ctx context.Context, name string, mode uint32, out *fuse.EntryOut) (*fs.Inode, syscall.Errno) {
	defer n.m.observe("mkdir", time.Now())
	a, err := n.m.fs.Mkdir(ctx, n.ref.Inode, name, mode, owner(ctx))
	if err != nil {
		return nil, n.errno("mkdir", err)
	}
	return n.child(ctx, a, out), 0
}

// Mknod creates a FIFO, socket (bind(2) of a UNIX socket), device node or
// regular file. The kernel opens FIFOs and devices itself.
func (n *node) Mknod(ctx context.Context, name string, mode uint32, dev uint32, out *fuse.EntryOut) (*fs.Inode, syscall.Errno) {
	defer n.m.observe("mknod", time.Now())
	kind, ok := kindOf(mode)
	if !ok {
		return nil, syscall.EINVAL
	}
	var a replica.Attr
	var err error
	if kind == crdt.KindFile {
		var h *replica.Handle
		if a, h, err = n.m.fs.Create(ctx, n.ref.Inode, name, mode, owner(ctx), 0); err == nil {
			err = h.Release()
		}
	} else {
		a, err = n.m.fs.Mknod(ctx, n.ref.Inode, name, kind, mode, dev, owner(ctx))
	}
	if err != nil {
		return nil, n.errno("mknod", err)
	}
	return n.child(ctx, a, out), 0
}

func (n *node) Create(ctx context.Context, name string, flags uint32, mode uint32, out *fuse.EntryOut) (*fs.Inode, fs.FileHandle, uint32, syscall.Errno) {
	defer n.m.observe("create", time.Now())
	a, h, err := n.m.fs.Create(ctx, n.ref.Inode, name, mode, owner(ctx), int(flags))
	if err != nil {
		return nil, nil, 0, n.errno("create", err)
	}
	in := n.child(ctx, a, out)
	cn, _ := in.Operations().(*node)
	var keep uint32
	if cn != nil {
		keep = cn.cache.open(h.Version())
	}
	return in, newFile(h, n.m), keep, 0
}

func (n *node) Open(ctx context.Context, flags uint32) (fs.FileHandle, uint32, syscall.Errno) {
	defer n.m.observe("open", time.Now())
	h, err := n.m.fs.Open(ctx, n.ref, int(flags))
	if err != nil {
		return nil, 0, n.errno("open", err)
	}
	return newFile(h, n.m), n.cache.open(h.Version()), 0
}

func (n *node) Unlink(ctx context.Context, name string) syscall.Errno {
	defer n.m.observe("unlink", time.Now())
	return n.errno("unlink", n.m.fs.Unlink(ctx, n.ref.Inode, name))
}

func (n *node) Rmdir(ctx context.Context, name string) syscall.Errno {
	defer n.m.observe("rmdir", time.Now())
	return n.errno("rmdir", n.m.fs.Rmdir(ctx, n.ref.Inode, name))
}

func (n *node) Rename(ctx context.Context, name string, newParent fs.InodeEmbedder, newName string, flags uint32) syscall.Errno {
	defer n.m.observe("rename", time.Now())
	np, ok := newParent.(*node)
	if !ok {
		return syscall.EXDEV
	}
	const known = uint32(crdt.RenameNoReplace | crdt.RenameExchange | replica.RenameWhiteout)
	if flags&^known != 0 { // future flags
		return syscall.EINVAL
	}
	err := n.m.fs.RenameAs(ctx, n.ref.Inode, name, np.ref.Inode, newName, crdt.RenameFlags(flags), owner(ctx))
	return n.errno("rename", err)
}

func (n *node) Symlink(ctx context.Context, target, name string, out *fuse.EntryOut) (*fs.Inode, syscall.Errno) {
	defer n.m.observe("symlink", time.Now())
	a, err := n.m.fs.Symlink(ctx, n.ref.Inode, name, target, owner(ctx))
	if err != nil {
		return nil, n.errno("symlink", err)
	}
	return n.child(ctx, a, out), 0
}

func (n *node) Readlink(ctx context.Context) ([]byte, syscall.Errno) {
	defer n.m.observe("readlink", time.Now())
	t, err := n.m.fs.Readlink(ctx, n.ref.Inode)
	if err != nil {
		return nil, n.errno("readlink", err)
	}
	return []byte(t), 0
}

func (n *node) Link(ctx context.Context, target fs.InodeEmbedder, name string, out *fuse.EntryOut) (*fs.Inode, syscall.Errno) {
	defer n.m.observe("link", time.Now())
	t, ok := target.(*node)
	if !ok {
		return nil, syscall.EXDEV
	}
	if !t.ref.Version.IsZero() {
		return nil, syscall.EXDEV
	}
	a, err := n.m.fs.Link(ctx, t.ref.Inode, n.ref.Inode, name)
	if err != nil {
		return nil, n.errno("link", err)
	}
	return n.child(ctx, a, out), 0
}

func (n *node) Getxattr(ctx context.Context, attr string, dest []byte) (uint32, syscall.Errno) {
	defer n.m.observe("getxattr", time.Now())
	val, err := n.m.fs.GetXattr(ctx, n.ref.Inode, attr)
	if err != nil {
		return 0, n.errno("getxattr", err)
	}
	if len(dest) < len(val) {
		return uint32(len(val)), syscall.ERANGE
	}
	return uint32(copy(dest, val)), 0
}

func (n *node) Setxattr(ctx context.Context, attr string, data []byte, flags uint32) syscall.Errno {
	defer n.m.observe("setxattr", time.Now())
	if !n.ref.Version.IsZero() {
		return syscall.EACCES
	}
	return n.errno("setxattr", n.m.fs.SetXattr(ctx, n.ref.Inode, attr, data, int(flags)))
}

func (n *node) Listxattr(ctx context.Context, dest []byte) (uint32, syscall.Errno) {
	defer n.m.observe("listxattr", time.Now())
	names, err := n.m.fs.ListXattr(ctx, n.ref.Inode)
	if err != nil {
		return 0, n.errno("listxattr", err)
	}
	size := 0
	for _, nm := range names {
		size += len(nm) + 1
	}
	if len(dest) < size {
		return uint32(size), syscall.ERANGE
	}
	off := 0
	for _, nm := range names {
		off += copy(dest[off:], nm)
		dest[off] = 0
		off++
	}
	return uint32(size), 0
}

func (n *node) Removexattr(ctx context.Context, attr string) syscall.Errno {
	defer n.m.observe("removexattr", time.Now())
	if !n.ref.Version.IsZero() {
		return syscall.EACCES
	}
	return n.errno("removexattr", n.m.fs.RemoveXattr(ctx, n.ref.Inode, attr))
}

func (n *node) Statfs(ctx context.Context, out *fuse.StatfsOut) syscall.Errno {
	defer n.m.observe("statfs", time.Now())
	st, err := n.m.fs.Statfs(ctx)
	if err != nil {
		return n.errno("statfs", err)
	}
	out.Blocks, out.Bfree, out.Bavail = st.Blocks, st.Bfree, st.Bavail
	out.Files, out.Ffree = st.Files, st.Ffree
	out.Bsize, out.Frsize, out.NameLen = st.Bsize, st.Bsize, st.NameLen
	return 0
}

// file is an open file handle.
type file struct {
	h *replica.Handle
	m *mount
}

// newFile is the FUSE handle of h. The kernel's page cache of the mount
// keeps what it reads, so h reads chunks past the chunk store's own
// cache (replica.Handle.ReadsCachedAbove).
func newFile(h *replica.Handle, m *mount) *file {
	h.ReadsCachedAbove()
	return &file{h: h, m: m}
}

func (f *file) Read(ctx context.Context, dest []byte, off int64) (fuse.ReadResult, syscall.Errno) {
	defer f.m.observe("read", time.Now())
	n, err := f.h.ReadAt(ctx, dest, off)
	if err != nil && n == 0 && !isEOF(err) {
		return nil, f.m.toErrno("read", err)
	}
	if f.m.opts.Metrics != nil {
		f.m.opts.Metrics.read.Add(float64(n))
	}
	return fuse.ReadResultData(dest[:n]), 0
}

func (f *file) Write(ctx context.Context, data []byte, off int64) (uint32, syscall.Errno) {
	defer f.m.observe("write", time.Now())
	n, err := f.h.WriteAt(ctx, data, off)
	if err != nil {
		return 0, f.m.toErrno("write", err)
	}
	if f.m.opts.Metrics != nil {
		f.m.opts.Metrics.written.Add(float64(n))
	}
	return uint32(n), 0
}

func (f *file) Flush(ctx context.Context) syscall.Errno {
	defer f.m.observe("flush", time.Now())
	// The write was acknowledged to the application once close returns 0:
	// commit even if the kernel gave up waiting.
	return f.m.toErrno("flush", f.h.Flush(context.WithoutCancel(ctx)))
}

func (f *file) Fsync(ctx context.Context, flags uint32) syscall.Errno {
	defer f.m.observe("fsync", time.Now())
	return f.m.toErrno("fsync", f.h.Fsync(context.WithoutCancel(ctx)))
}

func (f *file) Release(ctx context.Context) syscall.Errno {
	defer f.m.observe("release", time.Now())
	return f.m.toErrno("release", f.h.Release())
}

func (f *file) Allocate(ctx context.Context, off, size uint64, mode uint32) syscall.Errno {
	defer f.m.observe("allocate", time.Now())
	const keepSize = 0x01 // FALLOC_FL_KEEP_SIZE
	if mode&^keepSize != 0 {
		return syscall.EOPNOTSUPP
	}
	end := int64(off + size)
	if mode&keepSize != 0 || end <= f.h.Size() {
		return 0 // clusterf does not preallocate: space is taken on write
	}
	return f.m.toErrno("fallocate", f.h.Truncate(end))
}

// Lseek answers SEEK_DATA and SEEK_HOLE (the kernel does the others).
func (f *file) Lseek(ctx context.Context, off uint64, whence uint32) (uint64, syscall.Errno) {
	defer f.m.observe("lseek", time.Now())
	var pos int64
	var err error
	switch whence {
	case unix.SEEK_DATA:
		pos, err = f.h.SeekData(int64(off))
	case unix.SEEK_HOLE:
		pos, err = f.h.SeekHole(int64(off))
	default:
		return 0, syscall.EINVAL
	}
	if err != nil {
		return 0, f.m.toErrno("lseek", err)
	}
	return uint64(pos), 0
}

func isEOF(err error) bool { return errors.Is(err, io.EOF) }

// Fsync on a node without a file handle (a directory): every change
// committed so far becomes durable (a create, rename or delete returns once
// journaled; fsync of its directory is the durability point, as on ext4).
func (n *node) Fsync(ctx context.Context, f fs.FileHandle, flags uint32) syscall.Errno {
	defer n.m.observe("fsync", time.Now())
	if fh, ok := f.(*file); ok {
		return fh.Fsync(ctx, flags)
	}
	return n.errno("fsync", n.m.fs.Sync(context.WithoutCancel(ctx)))
}
