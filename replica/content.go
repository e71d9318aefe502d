package replica

import (
	"context"
	"fmt"
	"io"
	"os"
	"sync"

	"github.com/clusterf/clusterf/chunk"
	"github.com/clusterf/clusterf/chunk/lifecycle"
	"github.com/clusterf/clusterf/crdt"
)

// openFile is the shared, refcounted state of one open inode: the committed
// version it derives from and the write-back staging file. Its mutex
// serializes every content operation on the inode; commits are serialized
// by commitMu, taken before mu, and release mu while chunks travel to
// other holders (commit.go).
type openFile struct {
	fs   *FS
	id   crdt.InodeID
	refs int // guarded by fs.mu

	commitMu sync.Mutex
	mu       sync.Mutex
	// pin keeps the chunks of base on this node's pin list (and so, through
	// the cluster layer, out of every member's garbage collection) while
	// the file is open: a later commit reuses its unchanged chunks, and an
	// unlinked open file still reads them.
	pin     *lifecycle.Pin
	base    crdt.Content // committed content the staging derives from
	baseVer crdt.OpID
	// baseValid bounds what of base still shows: after a truncate below it,
	// base bytes past the new size must read as zeros even when the file
	// grows again.
	baseValid int64
	fixed     bool // a conflict sibling: base never changes, never written

	staging   StagingFile
	dirty     map[int64]int64 // chunk index -> its slot in staging (staging.go)
	freeSlots []int64         // zeroed slots to reuse
	nslots    int64           // slots handed out so far
	size      int64
	changed   bool  // differs from base: commit needed
	mtime     int64 // pending mtime (unix ns) to commit; 0: none
	// gen counts writes and truncates; truncSince is the lowest size a
	// truncate set since the running commit took its snapshot (commit.go).
	gen        uint64
	truncSince int64

	// baseBytes caches storedBytes(base) for blocks, for version blocksVer.
	baseBytes int64
	blocksVer crdt.OpID
	blocksSet bool

	cacheID   crdt.ChunkID // one decoded chunk, for sequential reads
	cacheData []byte
	cacheBuf  *chunkBuf // cacheData's pooled buffer, if any (chunkbufs.go)
	aheads    []*ahead  // the next chunks, being loaded ahead (readahead.go)
	lastRead  int64     // the base chunk read last (readahead.go)

	early earlyState // chunks stored as they filled (pipeline.go)
}

// Handle is one open file description.
type Handle struct {
	fs     *FS
	of     *openFile
	ref    crdt.Ref
	append bool
	// cachedAbove: the reader keeps what it reads (the FUSE mount's
	// kernel page cache), so chunks are read past the store's cache
	// (ReadsCachedAbove).
	cachedAbove bool
	mu          sync.Mutex
	closed      bool
}

// Open opens a file (flags as open(2): O_TRUNC truncates, O_APPEND appends).
// A conflict sibling opens read-only.
func (f *FS) Open(ctx context.Context, ref crdt.Ref, flags int) (*Handle, error) {
	writable := flags&(os.O_WRONLY|os.O_RDWR) != 0 || flags&os.O_TRUNC != 0
	if !ref.Version.IsZero() {
		if writable {
			return nil, fmt.Errorf("open: %w", ErrReadOnly)
		}
		var c crdt.Content
		err := f.meta.View(func(v *crdt.View) error {
			var err error
			c, err = v.Version(ref)
			return err
		})
		if err != nil {
			return nil, fmt.Errorf("open conflict copy: %w", err)
		}
		of := &openFile{fs: f, id: ref.Inode, base: c, baseVer: ref.Version, size: c.Size, baseValid: c.Size, fixed: true}
		of.pin = f.chunks.Pin(chunkIDs(c)...)
		return &Handle{fs: f, of: of, ref: ref}, nil
	}
	of, err := f.acquire(ref.Inode)
	if err != nil {
		return nil, err
	}
	h := &Handle{fs: f, of: of, ref: ref, append: flags&os.O_APPEND != 0}
	if flags&os.O_TRUNC != 0 {
		of.mu.Lock()
		err := of.truncate(0)
		of.mu.Unlock()
		if err != nil {
			f.releaseOpen(of)
			return nil, err
		}
	}
	return h, nil
}

// acquire returns the open-file entry of a regular file, creating it.
func (f *FS) acquire(id crdt.InodeID) (*openFile, error) {
	var ino crdt.Inode
	err := f.meta.View(func(v *crdt.View) error {
		var err error
		ino, err = v.Inode(id)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("open: %w", err)
	}
	switch {
	case ino.Kind == crdt.KindDir:
		return nil, fmt.Errorf("open: %w", crdt.ErrIsDir)
	case ino.Kind == crdt.KindSymlink:
		return nil, fmt.Errorf("open: %w", crdt.ErrInvalid)
	case ino.Kind.Special():
		return nil, fmt.Errorf("open a %v: %w", ino.Kind, ErrSpecial)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		return nil, ErrClosed
	}
	of := f.open[id]
	if of == nil {
		of = &openFile{fs: f, id: id, base: ino.Content, baseVer: ino.Version, size: ino.Content.Size, baseValid: ino.Content.Size}
		of.pin = f.chunks.Pin(chunkIDs(ino.Content)...)
		f.open[id] = of
	}
	of.refs++
	return of, nil
}

// releaseOpen drops a reference; the last one commits what is left and
// removes the staging file.
func (f *FS) releaseOpen(of *openFile) error {
	f.mu.Lock()
	of.refs--
	last := of.refs == 0
	if last && f.open[of.id] == of {
		delete(f.open, of.id)
	}
	f.mu.Unlock()
	if !last {
		return nil
	}
	err := of.flush(context.Background(), false)
	of.mu.Lock()
	of.discardStaging()
	of.mu.Unlock()
	return err
}

// overlayOpen shows unflushed size and mtime of an open file in a. Never
// call it with the replica's lock held.
func (f *FS) overlayOpen(a *Attr) {
	if a.Kind != crdt.KindFile || !a.Ref.Version.IsZero() {
		return
	}
	f.mu.Lock()
	of := f.open[a.Ref.Inode]
	f.mu.Unlock()
	if of == nil {
		return
	}
	of.mu.Lock()
	defer of.mu.Unlock()
	if !of.changed {
		return
	}
	a.Size = of.size
	a.Blocks = of.blocks()
	if of.mtime != 0 {
		a.Mtime = nsTime(of.mtime)
		if a.Mtime.After(a.Ctime) {
			a.Ctime = a.Mtime
		}
	}
}

// blocks estimates st_blocks while writes are staged: the base's stored
// bytes plus the staged chunks the base does not have, at most the size
// (exact again once committed). Called with of.mu held.
func (of *openFile) blocks() int64 {
	if of.blocksVer != of.baseVer || !of.blocksSet {
		of.baseBytes, of.blocksVer, of.blocksSet = storedBytes(of.base), of.baseVer, true
	}
	n, cs := of.baseBytes, of.cs()
	for idx := range of.dirty {
		if start := idx * cs; start < of.size && of.base.ChunkAt(idx).IsZero() {
			n += chunkEnd(start, cs, of.size) - start
		}
	}
	return (min(n, of.size) + 511) / 512
}

func (f *FS) forgetPendingMtime(id crdt.InodeID) {
	f.mu.Lock()
	of := f.open[id]
	f.mu.Unlock()
	if of != nil {
		of.mu.Lock()
		of.mtime = 0
		of.mu.Unlock()
	}
}

// truncate changes the size of a file, open or not, and commits with
// mtime now (unix ns).
func (f *FS) truncate(ctx context.Context, id crdt.InodeID, size, now int64) error {
	if size < 0 {
		return fmt.Errorf("truncate: %w", crdt.ErrInvalid)
	}
	of, err := f.acquire(id)
	if err != nil {
		return fmt.Errorf("truncate: %w", err)
	}
	of.mu.Lock()
	err = of.truncate(size)
	if err == nil && of.mtime != 0 {
		of.mtime = now
	}
	of.mu.Unlock()
	if err == nil {
		err = of.flush(ctx, false)
	}
	if rerr := f.releaseOpen(of); err == nil {
		err = rerr
	}
	return err
}

// Size returns the current size of the open file, including unflushed writes.
func (h *Handle) Size() int64 {
	h.of.mu.Lock()
	defer h.of.mu.Unlock()
	h.of.refresh()
	return h.of.size
}

// Ref returns what the handle has open.
func (h *Handle) Ref() crdt.Ref { return h.ref }

// ReadAt reads like io.ReaderAt: n < len(p) only with an error (io.EOF at
// the end of the file).
func (h *Handle) ReadAt(ctx context.Context, p []byte, off int64) (int, error) {
	if off < 0 {
		return 0, fmt.Errorf("read: %w", crdt.ErrInvalid)
	}
	of := h.of
	of.mu.Lock()
	defer of.mu.Unlock()
	of.refresh()
	if off >= of.size {
		return 0, io.EOF
	}
	n := len(p)
	if rest := of.size - off; int64(n) > rest {
		n = int(rest)
	}
	hint := chunk.ReadCached
	if h.cachedAbove {
		hint = chunk.ReadUncached
	}
	if err := of.read(ctx, p[:n], off, hint); err != nil {
		return 0, err
	}
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

// ReadsCachedAbove says that what this handle reads is cached by its
// caller (fusefs: the kernel's page cache of the mount), so its reads
// need not leave a second, encoded copy in the operating system's cache
// of the chunk store (chunk.ReadUncached). Call it before the first read.
func (h *Handle) ReadsCachedAbove() { h.cachedAbove = true }

// WriteAt writes p at off (at the end of the file for O_APPEND handles).
func (h *Handle) WriteAt(ctx context.Context, p []byte, off int64) (int, error) {
	if h.of.fixed {
		return 0, fmt.Errorf("write: %w", ErrReadOnly)
	}
	if off < 0 {
		return 0, fmt.Errorf("write: %w", crdt.ErrInvalid)
	}
	of := h.of
	of.mu.Lock()
	defer of.mu.Unlock()
	of.refresh()
	if h.append {
		off = of.size
	}
	if err := of.write(p, off); err != nil {
		return 0, err
	}
	return len(p), nil
}

// Truncate sets the size of the open file (committed on Flush).
func (h *Handle) Truncate(size int64) error {
	if h.of.fixed {
		return fmt.Errorf("truncate: %w", ErrReadOnly)
	}
	if size < 0 {
		return fmt.Errorf("truncate: %w", crdt.ErrInvalid)
	}
	h.of.mu.Lock()
	defer h.of.mu.Unlock()
	h.of.refresh()
	return h.of.truncate(size)
}

// Flush commits unflushed writes on this node (close): when it returns nil
// they survive kill -9 and become durable and replicated in the
// background within moments (durable.go).
func (h *Handle) Flush(ctx context.Context) error {
	if h.of.fixed {
		return nil
	}
	return h.of.flush(ctx, false)
}

// Fsync commits like Flush and returns once everything committed so far
// is durable here and the file's chunks are on min(RF, 2) holders.
func (h *Handle) Fsync(ctx context.Context) error {
	if h.of.fixed {
		return nil
	}
	return h.of.flush(ctx, true)
}

// Release closes the handle; the last handle of an inode commits what is
// left and frees the staging file.
func (h *Handle) Release() error {
	h.mu.Lock()
	if h.closed {
		h.mu.Unlock()
		return nil
	}
	h.closed = true
	h.mu.Unlock()
	if h.of.fixed {
		h.of.pin.Release()
		return nil
	}
	return h.fs.releaseOpen(h.of)
}

// ---- openFile internals; all called with of.mu held (staging.go) ----

// refresh follows the committed version while nothing is staged, so a
// handle sees writes made through other frontends or nodes.
func (of *openFile) refresh() {
	if of.changed || of.fixed {
		return
	}
	_ = of.fs.meta.View(func(v *crdt.View) error {
		if ino, err := v.Inode(of.id); err == nil && ino.Version != of.baseVer {
			of.base, of.baseVer, of.size, of.baseValid = ino.Content, ino.Version, ino.Content.Size, ino.Content.Size
			of.pin.Replace(chunkIDs(ino.Content)...)
		}
		return nil
	})
}
