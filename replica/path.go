package replica

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/clusterf/clusterf/crdt"
)

// Path-based operations for frontends that name files by path (REST,
// WebDAV, import/export). Paths are slash-separated, relative to the root
// ("" or "/" is the root), already cleaned by the frontend: "." and ".."
// components and empty names are refused with crdt.ErrInvalid. Symlinks
// are never followed: every component but the last must be a directory.

// SplitPath splits a cleaned path into its names.
func SplitPath(p string) ([]string, error) {
	p = strings.Trim(p, "/")
	if p == "" {
		return nil, nil
	}
	names := strings.Split(p, "/")
	for _, n := range names {
		if n == "" || n == "." || n == ".." || strings.IndexByte(n, 0) >= 0 {
			return nil, fmt.Errorf("path %q: %w", p, crdt.ErrInvalid)
		}
		if len(n) > crdt.MaxNameLen {
			return nil, fmt.Errorf("path %q: %w", p, crdt.ErrNameTooLong)
		}
	}
	return names, nil
}

// Walk resolves a path to its attributes.
func (f *FS) Walk(ctx context.Context, p string) (Attr, error) {
	names, err := SplitPath(p)
	if err != nil {
		return Attr{}, err
	}
	a, err := f.GetAttr(ctx, crdt.Ref{Inode: crdt.RootID})
	if err != nil {
		return Attr{}, err
	}
	for _, n := range names {
		if a.Kind != crdt.KindDir {
			return Attr{}, fmt.Errorf("walk %q: %w", p, crdt.ErrNotDir)
		}
		if a, err = f.Lookup(ctx, a.Ref.Inode, n); err != nil {
			return Attr{}, fmt.Errorf("walk %q: %w", p, err)
		}
	}
	return a, nil
}

// WalkParent resolves the directory holding p and returns it with p's last
// name. The root has no parent (crdt.ErrInvalid).
func (f *FS) WalkParent(ctx context.Context, p string) (crdt.InodeID, string, error) {
	names, err := SplitPath(p)
	if err != nil {
		return crdt.InodeID{}, "", err
	}
	if len(names) == 0 {
		return crdt.InodeID{}, "", fmt.Errorf("path %q is the root: %w", p, crdt.ErrInvalid)
	}
	dir, err := f.Walk(ctx, strings.Join(names[:len(names)-1], "/"))
	if err != nil {
		return crdt.InodeID{}, "", err
	}
	if dir.Kind != crdt.KindDir {
		return crdt.InodeID{}, "", fmt.Errorf("parent of %q: %w", p, crdt.ErrNotDir)
	}
	return dir.Ref.Inode, names[len(names)-1], nil
}

// MkdirAll creates a directory and its missing parents (like mkdir -p) and
// returns the attributes of the last one.
func (f *FS) MkdirAll(ctx context.Context, p string, mode uint32, owner Owner) (Attr, error) {
	names, err := SplitPath(p)
	if err != nil {
		return Attr{}, err
	}
	a, err := f.GetAttr(ctx, crdt.Ref{Inode: crdt.RootID})
	if err != nil {
		return Attr{}, err
	}
	for _, n := range names {
		next, err := f.Lookup(ctx, a.Ref.Inode, n)
		if errors.Is(err, crdt.ErrNotFound) {
			next, err = f.Mkdir(ctx, a.Ref.Inode, n, mode, owner)
			if errors.Is(err, crdt.ErrExist) { // created concurrently
				next, err = f.Lookup(ctx, a.Ref.Inode, n)
			}
		}
		if err != nil {
			return Attr{}, fmt.Errorf("mkdir -p %q: %w", p, err)
		}
		if next.Kind != crdt.KindDir {
			return Attr{}, fmt.Errorf("mkdir -p %q: %q: %w", p, n, crdt.ErrNotDir)
		}
		a = next
	}
	return a, nil
}

// PutOptions tune PutFile.
type PutOptions struct {
	Mode  uint32     // 0: 0644
	Owner Owner      // owner of new files and parent directories
	Mtime *time.Time // nil: now
}

// PutFile atomically creates or replaces the file at p with the bytes of r,
// creating missing parent directories. The content is streamed into a hidden
// temporary file next to the target, committed, then renamed over the
// target: readers see the old or the new file, never a partial one. On error
// nothing at p changes and the temporary file is removed.
func (f *FS) PutFile(ctx context.Context, p string, r io.Reader, o PutOptions) (Attr, error) {
	if o.Mode == 0 {
		o.Mode = 0o644
	}
	names, err := SplitPath(p)
	if err != nil {
		return Attr{}, err
	}
	if len(names) == 0 {
		return Attr{}, fmt.Errorf("put %q: %w", p, crdt.ErrIsDir)
	}
	dir, err := f.MkdirAll(ctx, strings.Join(names[:len(names)-1], "/"), 0o755, o.Owner)
	if err != nil {
		return Attr{}, err
	}
	name := names[len(names)-1]
	if cur, err := f.Lookup(ctx, dir.Ref.Inode, name); err == nil && cur.Kind == crdt.KindDir {
		return Attr{}, fmt.Errorf("put %q: %w", p, crdt.ErrIsDir)
	}
	var rnd [6]byte
	rand.Read(rnd[:])
	tmp := UploadPrefix + hex.EncodeToString(rnd[:])
	a, h, err := f.Create(ctx, dir.Ref.Inode, tmp, o.Mode, o.Owner, os.O_WRONLY)
	if err != nil {
		return Attr{}, fmt.Errorf("put %q: %w", p, err)
	}
	fail := func(err error) (Attr, error) {
		h.Release()
		if rerr := f.Unlink(context.WithoutCancel(ctx), dir.Ref.Inode, tmp); rerr != nil {
			f.log.Warn("remove failed upload", "path", p, "err", rerr)
		}
		return Attr{}, fmt.Errorf("put %q: %w", p, err)
	}
	buf := make([]byte, 1<<20)
	var off int64
	for {
		if err := ctx.Err(); err != nil {
			return fail(err)
		}
		n, rerr := io.ReadFull(r, buf)
		if n > 0 {
			if _, err := h.WriteAt(ctx, buf[:n], off); err != nil {
				return fail(err)
			}
			off += int64(n)
		}
		if rerr == io.EOF || rerr == io.ErrUnexpectedEOF {
			break
		}
		if rerr != nil {
			return fail(fmt.Errorf("read upload: %w", rerr))
		}
	}
	if err := h.Fsync(ctx); err != nil { // an upload is acknowledged durable and replicated
		return fail(err)
	}
	if err := h.Release(); err != nil {
		return fail(err)
	}
	if o.Mtime != nil {
		if _, err := f.SetAttr(ctx, a.Ref, SetAttrIn{Mtime: o.Mtime}); err != nil {
			return fail(err)
		}
	}
	if err := f.Rename(ctx, dir.Ref.Inode, tmp, dir.Ref.Inode, name, 0); err != nil {
		return fail(err)
	}
	if err := f.Sync(ctx); err != nil { // the rename too
		return Attr{}, fmt.Errorf("put %q: %w", p, err)
	}
	return f.GetAttr(ctx, a.Ref)
}

// ReaderAt adapts a Handle to io.ReaderAt/io.ReadSeeker for frontends
// (http.ServeContent, WebDAV). It reads with ctx.
type ReaderAt struct {
	ctx context.Context
	h   *Handle
	off int64
}

// NewReader returns a ReadSeeker over h.
func NewReader(ctx context.Context, h *Handle) *ReaderAt { return &ReaderAt{ctx: ctx, h: h} }

func (r *ReaderAt) ReadAt(p []byte, off int64) (int, error) { return r.h.ReadAt(r.ctx, p, off) }

func (r *ReaderAt) Read(p []byte) (int, error) {
	n, err := r.h.ReadAt(r.ctx, p, r.off)
	r.off += int64(n)
	if n > 0 && errors.Is(err, io.EOF) {
		err = nil
	}
	return n, err
}

func (r *ReaderAt) Seek(offset int64, whence int) (int64, error) {
	switch whence {
	case io.SeekStart:
	case io.SeekCurrent:
		offset += r.off
	case io.SeekEnd:
		offset += r.h.Size()
	default:
		return 0, fmt.Errorf("seek: %w", crdt.ErrInvalid)
	}
	if offset < 0 {
		return 0, fmt.Errorf("seek: %w", crdt.ErrInvalid)
	}
	r.off = offset
	return offset, nil
}

// UploadPrefix starts the names of the hidden temporary files that atomic
// uploads (PutFile, WebDAV PUT) write before renaming them into place.
const UploadPrefix = ".clusterf-upload-"

// RemoveStaleUploads unlinks the upload temporaries this node created and
// never renamed (the node was killed mid-upload). Call it at start-up,
// before any upload can run: temporaries of other nodes are left to them.
func (f *FS) RemoveStaleUploads(ctx context.Context) (int, error) {
	type stale struct {
		dir  crdt.InodeID
		name string
	}
	var found []stale
	self := f.meta.Node()
	err := f.meta.View(func(v *crdt.View) error {
		var walk func(dir crdt.InodeID)
		walk = func(dir crdt.InodeID) {
			ents, err := v.ReadDir(dir)
			if err != nil {
				return
			}
			for _, e := range ents {
				switch {
				case e.Kind == crdt.KindDir:
					walk(e.Ref.Inode)
				case strings.HasPrefix(e.Name, UploadPrefix) && e.Ref.Version.IsZero():
					if ino, err := v.Inode(e.Ref.Inode); err == nil && ino.Created.Node == self {
						found = append(found, stale{dir, e.Name})
					}
				}
			}
		}
		walk(crdt.RootID)
		return nil
	})
	if err != nil {
		return 0, err
	}
	n := 0
	for _, s := range found {
		if err := f.Unlink(ctx, s.dir, s.name); err == nil {
			n++
		}
	}
	return n, nil
}

// RemoveAll removes the file, symlink or directory tree at p (like rm -r;
// a missing p is not an error, like os.RemoveAll). The root cannot be
// removed (crdt.ErrInvalid).
func (f *FS) RemoveAll(ctx context.Context, p string) error {
	a, err := f.Walk(ctx, p)
	if errors.Is(err, crdt.ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	dir, name, err := f.WalkParent(ctx, p)
	if err != nil {
		return err
	}
	return f.RemoveTree(ctx, dir, name, a)
}

// RemoveTree removes name (with attributes a) from dir, depth first: the
// one recursive delete of every frontend. Entries that vanish meanwhile
// (another frontend or node removed them) are not errors.
func (f *FS) RemoveTree(ctx context.Context, dir crdt.InodeID, name string, a Attr) error {
	var err error
	if a.Kind == crdt.KindDir {
		ents, rerr := f.ReadDir(ctx, a.Ref.Inode)
		if rerr != nil {
			return rerr
		}
		for _, e := range ents {
			if err := ctx.Err(); err != nil {
				return err
			}
			if err := f.RemoveTree(ctx, a.Ref.Inode, e.Name, e.Attr); err != nil {
				return err
			}
		}
		err = f.Rmdir(ctx, dir, name)
	} else {
		err = f.Unlink(ctx, dir, name)
	}
	if errors.Is(err, crdt.ErrNotFound) {
		return nil
	}
	return err
}
