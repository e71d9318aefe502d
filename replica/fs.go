package replica

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"syscall"
	"time"

	"github.com/clusterf/clusterf/chunk"
	"github.com/clusterf/clusterf/chunk/lifecycle"
	"github.com/clusterf/clusterf/crdt"
)

// Defaults for Config.
const (
	DefaultChunkSize = 4 << 20
	DefaultInlineMax = 4 << 10
	DefaultReserve   = 16 << 20
)

// Errors of the core (besides the crdt and chunk sentinels it passes on).
var (
	// ErrReadOnly is returned for writes to a conflict sibling, which shows
	// one concurrent version of a file and cannot be changed (copy it).
	ErrReadOnly = errors.New("read-only conflict copy")
	// ErrNotSymlink is returned by Readlink on anything but a symlink.
	ErrNotSymlink = errors.New("not a symlink")
	// ErrClosed is returned after Close.
	ErrClosed = errors.New("filesystem closed")
	// ErrSpecial is returned for content operations (open, read, write,
	// truncate) on a FIFO, socket or device: the kernel opens those, and
	// REST and WebDAV cannot read them.
	ErrSpecial = errors.New("special file (FIFO, socket or device) has no content")
)

// Config builds an FS.
type Config struct {
	Meta *crdt.Replica
	// Chunks is the node's chunk keeper: every chunk store, pin and delete
	// goes through it (chunk/lifecycle).
	Chunks     *lifecycle.Keeper
	StagingDir string // write-back staging files; emptied at New
	// OpenStaging creates an open file's staging file in StagingDir (nil:
	// an unlinked temporary file; atrest.NewStagingFile encrypts it).
	OpenStaging func(dir, pattern string) (StagingFile, error)
	// StagingMemory is the memory staged chunks of all open files may use
	// before they go to staging files (memstaging.go; 0:
	// DefaultStagingMemory; < 0: none, every staged chunk on disk).
	StagingMemory int64
	// StatfsDir is the directory whose filesystem Statfs reports (the data dir).
	StatfsDir string
	// Fetcher gets chunks this node does not store from other members
	// (nil: single node). Fetched chunks are verified and kept locally.
	Fetcher ChunkFetcher
	// Replicator makes newly written chunks durable on other members before
	// the write is acknowledged (nil: single node, the local copy is all).
	Replicator Replicator
	// OnCommit is called after every local metadata commit (the cluster
	// layer pushes the new ops to peers). It must not block.
	OnCommit  func()
	ChunkSize int // 0: DefaultChunkSize
	// ReserveBytes of free disk are kept for metadata: file writes fail
	// with ENOSPC before the disk is that full, so deletes and renames still
	// commit on a "full" disk (0: DefaultReserve; < 0: none).
	ReserveBytes int64
	InlineMax    int // 0: DefaultInlineMax; < 0: never inline
	Logger       *slog.Logger
	Now          func() time.Time
}

// ChunkFetcher fetches a chunk's encoded blob from other members; the
// cluster layer implements it. The returned blob is verified again here.
type ChunkFetcher interface {
	FetchChunk(ctx context.Context, id chunk.ID) ([]byte, error)
}

// Replicator copies chunks to their holders; Replicate returns when the
// write may be acknowledged (the cluster layer implements it).
type Replicator interface {
	Replicate(ctx context.Context, ids []chunk.ID) error
}

// chunkUser is implemented by fetchers that track chunk use (a client
// node's read cache).
type chunkUser interface{ ChunkUsed(id chunk.ID) }

// FS is the filesystem core. See the package doc.
type FS struct {
	meta      *crdt.Replica
	chunks    *lifecycle.Keeper
	fetcher   ChunkFetcher
	repl      Replicator
	onCommit  func()
	staging   string
	openStage func(dir, pattern string) (StagingFile, error)
	stageMem  memBudget // memory of staged chunks (memstaging.go)
	slotBufs  sync.Pool // *[]byte of chunkSize: whole staged slots (memstaging.go)
	blobBufs  sync.Pool // *[]byte of the keeper's Room around 1+chunkSize: chunks being stored (pipeline.go)
	statfsDir string
	chunkSize int
	inlineMax int
	reserve   int64
	log       *slog.Logger
	now       func() time.Time

	feed *Feed // the change feed (feed.go)

	mu     sync.Mutex
	open   map[crdt.InodeID]*openFile
	closed bool

	jobs replJobs // background replication of committed chunks (durable.go)
	pipe pipeline // chunks stored as they fill (pipeline.go)
}

// New returns an FS over cfg. The staging directory is created and emptied:
// staged data of a previous run was never acknowledged.
func New(cfg Config) (*FS, error) {
	if cfg.Meta == nil || cfg.Chunks == nil || cfg.StagingDir == "" {
		return nil, errors.New("replica: Config needs Meta, Chunks and StagingDir")
	}
	f := &FS{
		meta:      cfg.Meta,
		chunks:    cfg.Chunks,
		fetcher:   cfg.Fetcher,
		repl:      cfg.Replicator,
		onCommit:  cfg.OnCommit,
		staging:   cfg.StagingDir,
		openStage: cfg.OpenStaging,
		stageMem:  memBudget{limit: cfg.StagingMemory},
		statfsDir: cfg.StatfsDir,
		chunkSize: cfg.ChunkSize,
		inlineMax: cfg.InlineMax,
		reserve:   cfg.ReserveBytes,
		log:       cfg.Logger,
		now:       cfg.Now,
		open:      make(map[crdt.InodeID]*openFile),
		feed:      newFeed(),
	}
	if f.openStage == nil {
		f.openStage = openPlainStaging
	}
	if f.stageMem.limit == 0 {
		f.stageMem.limit = DefaultStagingMemory
	}
	f.slotBufs.New = func() any { b := make([]byte, f.chunkSize); return &b }
	f.blobBufs.New = func() any {
		before, after := f.chunks.Room()
		b := make([]byte, before+1+f.chunkSize+after)
		return &b
	}
	if f.chunkSize <= 0 {
		f.chunkSize = DefaultChunkSize
	}
	if f.chunkSize > chunk.MaxChunkSize {
		return nil, fmt.Errorf("replica: chunk size %d above maximum %d", f.chunkSize, chunk.MaxChunkSize)
	}
	if f.reserve == 0 {
		f.reserve = DefaultReserve
	}
	if f.inlineMax == 0 {
		f.inlineMax = DefaultInlineMax
	}
	if f.inlineMax > f.chunkSize {
		f.inlineMax = f.chunkSize
	}
	if f.log == nil {
		f.log = slog.New(slog.DiscardHandler)
	}
	if f.now == nil {
		f.now = time.Now
	}
	if f.statfsDir == "" {
		f.statfsDir = f.staging
	}
	if err := os.RemoveAll(f.staging); err != nil {
		return nil, fmt.Errorf("replica: clear staging dir: %w", err)
	}
	if err := os.MkdirAll(f.staging, 0o700); err != nil {
		return nil, fmt.Errorf("replica: create staging dir: %w", err)
	}
	f.jobs.init()
	f.pipe.start(f)
	return f, nil
}

// update commits one local metadata transaction and announces it.
func (f *FS) update(fn func(tx *crdt.Tx) error) ([]crdt.Op, error) {
	ops, _, err := f.meta.UpdateAsync(fn) // durable soon: durable.go
	if len(ops) > 0 {
		f.publishOps(ops, false)
		if f.onCommit != nil {
			f.onCommit()
		}
	}
	return ops, err
}

// Meta returns the metadata replica (for the cluster layer and inspectors).
func (f *FS) Meta() *crdt.Replica { return f.meta }

// Chunks returns the chunk keeper.
func (f *FS) Chunks() *lifecycle.Keeper { return f.chunks }

// ChunkSize returns the chunk size used for new content.
func (f *FS) ChunkSize() int { return f.chunkSize }

// Close commits nothing (open handles must be flushed by their owners) and
// refuses further opens.
func (f *FS) Close() error {
	f.pipe.close()
	f.jobs.close()
	f.mu.Lock()
	defer f.mu.Unlock()
	f.closed = true
	for _, of := range f.open {
		of.discardStaging()
	}
	f.open = map[crdt.InodeID]*openFile{}
	return nil
}

// Attr is what stat shows for an entry.
type Attr struct {
	Ref   crdt.Ref
	Kind  crdt.Kind
	Mode  uint32 // permission bits
	Nlink uint32
	UID   uint32
	GID   uint32
	Rdev  uint32
	Size  int64
	Atime time.Time
	Mtime time.Time
	Ctime time.Time
	// Blocks counts 512-byte blocks in use (holes excluded).
	Blocks int64
}

// Entry is a directory entry with its attributes.
type Entry struct {
	Name string
	Attr Attr
}

func nsTime(ns int64) time.Time { return time.Unix(0, ns) }

// attrOf builds the Attr of ref from the replica view. Call with the view
// held; callers overlay unflushed state with overlayOpen after releasing it
// (an open file's mutex is taken before the replica's lock, never after).
func (f *FS) attrOf(v *crdt.View, ref crdt.Ref) (Attr, error) {
	ino, err := v.Inode(ref.Inode)
	if err != nil {
		return Attr{}, err
	}
	a := Attr{
		Ref:   ref,
		Kind:  ino.Kind,
		Mode:  ino.Mode,
		Nlink: ino.Nlink,
		UID:   ino.UID,
		GID:   ino.GID,
		Rdev:  ino.Rdev,
		Atime: nsTime(ino.Atime),
		Mtime: nsTime(ino.Mtime),
		Ctime: nsTime(ino.Ctime),
	}
	content := ino.Content
	if !ref.Version.IsZero() {
		content, err = v.Version(ref)
		if err != nil {
			return Attr{}, err
		}
		a.Mode &^= 0o222
		a.Nlink = 1
	}
	switch {
	case ino.Kind == crdt.KindSymlink:
		a.Size = int64(len(ino.Symlink))
	case ino.Kind == crdt.KindDir:
		a.Size = 4096
		a.Blocks = 8
	case ino.Kind.Special(): // no content: size 0, no blocks
	default:
		a.Size = content.Size
		a.Blocks = blocksOf(content)
	}
	return a, nil
}

func blocksOf(c crdt.Content) int64 { return (storedBytes(c) + 511) / 512 }

// storedBytes counts the bytes of c that are not holes.
func storedBytes(c crdt.Content) int64 {
	if len(c.Inline) > 0 {
		return int64(len(c.Inline))
	}
	var n int64
	cs := int64(c.ChunkSize)
	c.EachChunk(0, func(i int64, _ crdt.ChunkID) bool {
		n += chunkEnd(i*cs, cs, c.Size) - i*cs
		return true
	})
	return n
}

// GetAttr returns the attributes of ref.
func (f *FS) GetAttr(ctx context.Context, ref crdt.Ref) (Attr, error) {
	var a Attr
	err := f.meta.View(func(v *crdt.View) error {
		var err error
		a, err = f.attrOf(v, ref)
		return err
	})
	if err != nil {
		return Attr{}, err
	}
	f.overlayOpen(&a)
	return a, nil
}

// Lookup resolves name in dir. A name longer than crdt.MaxNameLen is
// ErrNameTooLong (as ext4), not ErrNotFound.
func (f *FS) Lookup(ctx context.Context, dir crdt.InodeID, name string) (Attr, error) {
	if len(name) > crdt.MaxNameLen {
		return Attr{}, fmt.Errorf("lookup of a %d-byte name: %w", len(name), crdt.ErrNameTooLong)
	}
	var a Attr
	err := f.meta.View(func(v *crdt.View) error {
		e, err := v.Lookup(dir, name)
		if err != nil {
			return err
		}
		a, err = f.attrOf(v, e.Ref)
		return err
	})
	if err != nil {
		return Attr{}, fmt.Errorf("lookup %q: %w", name, err)
	}
	f.overlayOpen(&a)
	return a, nil
}

// ReadDir lists dir with attributes, sorted by name.
func (f *FS) ReadDir(ctx context.Context, dir crdt.InodeID) ([]Entry, error) {
	var out []Entry
	err := f.meta.View(func(v *crdt.View) error {
		ents, err := v.ReadDir(dir)
		if err != nil {
			return err
		}
		out = make([]Entry, 0, len(ents))
		for _, e := range ents {
			a, err := f.attrOf(v, e.Ref)
			if err != nil {
				continue // inode record not here yet (replicating)
			}
			out = append(out, Entry{Name: e.Name, Attr: a})
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("readdir: %w", err)
	}
	for i := range out {
		f.overlayOpen(&out[i].Attr)
	}
	return out, nil
}

// Owner is the identity a new inode gets.
type Owner struct{ UID, GID uint32 }

// touchDir sets a directory's mtime and ctime in tx (POSIX: entries changed).
func touchDir(tx *crdt.Tx, dir crdt.InodeID, now int64) error {
	return tx.SetAttr(crdt.AttrOp{Inode: dir, Set: crdt.AttrMtime | crdt.AttrCtime, Mtime: now, Ctime: now})
}

// create makes an inode of kind and returns its attributes. Like ext4
// (inode_init_owner), a new inode in a set-group-ID directory gets the
// directory's group, and a new directory there inherits the bit; the
// kernel has applied the umask and stripped a set-group-ID bit the caller
// may not set.
func (f *FS) create(ctx context.Context, dir crdt.InodeID, name string, kind crdt.Kind, mode uint32, owner Owner, symlink string, rdev uint32) (Attr, error) {
	now := f.now().UnixNano()
	var id crdt.InodeID
	_, err := f.update(func(tx *crdt.Tx) error {
		na := crdt.NewAttrs{Mode: mode & 0o7777, UID: owner.UID, GID: owner.GID, Symlink: symlink, Rdev: rdev, Time: now}
		if d, err := tx.Inode(dir); err == nil && d.Mode&syscall.S_ISGID != 0 {
			na.GID = d.GID
			if kind == crdt.KindDir {
				na.Mode |= syscall.S_ISGID
			}
		}
		var err error
		if id, err = tx.Create(dir, name, kind, na); err != nil {
			return err
		}
		return touchDir(tx, dir, now)
	})
	if err != nil {
		return Attr{}, fmt.Errorf("create %q: %w", name, err)
	}
	return f.GetAttr(ctx, crdt.Ref{Inode: id})
}

// Mkdir creates a directory.
func (f *FS) Mkdir(ctx context.Context, dir crdt.InodeID, name string, mode uint32, owner Owner) (Attr, error) {
	return f.create(ctx, dir, name, crdt.KindDir, mode, owner, "", 0)
}

// Mknod creates a FIFO, socket or device node (rdev: the device number,
// as the kernel encodes it).
func (f *FS) Mknod(ctx context.Context, dir crdt.InodeID, name string, kind crdt.Kind, mode, rdev uint32, owner Owner) (Attr, error) {
	if !kind.Special() {
		return Attr{}, fmt.Errorf("mknod %q of kind %v: %w", name, kind, crdt.ErrInvalid)
	}
	if kind != crdt.KindCharDev && kind != crdt.KindBlockDev {
		rdev = 0
	}
	return f.create(ctx, dir, name, kind, mode, owner, "", rdev)
}

// Symlink creates a symbolic link to target.
func (f *FS) Symlink(ctx context.Context, dir crdt.InodeID, name, target string, owner Owner) (Attr, error) {
	if target == "" || len(target) > 4095 {
		return Attr{}, fmt.Errorf("symlink %q: %w", name, crdt.ErrInvalid)
	}
	return f.create(ctx, dir, name, crdt.KindSymlink, 0o777, owner, target, 0)
}

// Create creates an empty regular file and opens it.
func (f *FS) Create(ctx context.Context, dir crdt.InodeID, name string, mode uint32, owner Owner, flags int) (Attr, *Handle, error) {
	a, err := f.create(ctx, dir, name, crdt.KindFile, mode, owner, "", 0)
	if err != nil {
		return Attr{}, nil, err
	}
	h, err := f.Open(ctx, a.Ref, flags&^os.O_TRUNC)
	if err != nil {
		return Attr{}, nil, err
	}
	return a, h, nil
}

// Readlink returns a symlink's target.
func (f *FS) Readlink(ctx context.Context, id crdt.InodeID) (string, error) {
	var target string
	err := f.meta.View(func(v *crdt.View) error {
		ino, err := v.Inode(id)
		if err != nil {
			return err
		}
		if ino.Kind != crdt.KindSymlink {
			return ErrNotSymlink
		}
		target = ino.Symlink
		return nil
	})
	if err != nil {
		return "", fmt.Errorf("readlink: %w", err)
	}
	return target, nil
}

// SetAttr changes attributes of a file, directory or symlink. A size change
// truncates or extends the file (through its open-file entry, so open
// handles see it at once) and is committed before SetAttr returns.
func (f *FS) SetAttr(ctx context.Context, ref crdt.Ref, in SetAttrIn) (Attr, error) {
	if !ref.Version.IsZero() {
		return Attr{}, fmt.Errorf("setattr: %w", ErrReadOnly)
	}
	now := f.now()
	if in.Size != nil {
		if err := f.truncate(ctx, ref.Inode, *in.Size, now.UnixNano()); err != nil {
			return Attr{}, err
		}
		// truncate(2) sets mtime and ctime, also to the same size (as
		// ext4; tmpfs too unless the file is empty), at the same now as
		// the other changes of the call (a mode cleared by the kernel).
		if in.Mtime == nil {
			in.MtimeNow = true
		}
	}
	op := crdt.AttrOp{Inode: ref.Inode}
	if in.Mode != nil {
		op.Set |= crdt.AttrMode
		op.Mode = *in.Mode & 0o7777
	}
	if in.UID != nil {
		op.Set |= crdt.AttrUID
		op.UID = *in.UID
	}
	if in.GID != nil {
		op.Set |= crdt.AttrGID
		op.GID = *in.GID
	}
	if in.AtimeNow {
		in.Atime = &now
	}
	if in.MtimeNow {
		in.Mtime = &now
	}
	if in.Atime != nil {
		op.Set |= crdt.AttrAtime
		op.Atime = in.Atime.UnixNano()
	}
	if in.Mtime != nil {
		op.Set |= crdt.AttrMtime
		op.Mtime = in.Mtime.UnixNano()
	}
	if op.Set != 0 || in.Touch {
		op.Set |= crdt.AttrCtime
		op.Ctime = now.UnixNano()
		if _, err := f.update(func(tx *crdt.Tx) error { return tx.SetAttr(op) }); err != nil {
			return Attr{}, fmt.Errorf("setattr: %w", err)
		}
		if in.Mtime != nil {
			f.forgetPendingMtime(ref.Inode)
		}
	}
	return f.GetAttr(ctx, ref)
}
