package webdav

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/clusterf/clusterf/crdt"
	"github.com/clusterf/clusterf/replica"
)

// file is an open file or directory. Like an *os.File it is used by one
// goroutine at a time (the request's).
type file struct {
	s    *FileSystem
	ctx  context.Context
	name string // as the handler named it, for errors
	path string // cluster path
	base string // what Stat shows as the name
	attr replica.Attr
	flag int

	h      *replica.Handle // opened on first use; at open for uploads
	off    int64
	failed error // first read or write error: an upload with one is discarded
	up     *upload

	ents   []os.FileInfo // directory snapshot, read on the first Readdir
	listed bool
	pos    int

	closed bool
}

// upload is the state of a file written to a temporary name and renamed
// over the target at Close.
type upload struct {
	dir  crdt.InodeID
	name string // target name in dir
	tmp  string // temporary name in dir
	excl bool   // O_EXCL: the target must still not exist at Close
}

func (s *FileSystem) newFile(ctx context.Context, name, p string, a replica.Attr, flag int) *file {
	return &file{s: s, ctx: ctx, name: name, path: p, base: baseName(name), attr: a, flag: flag}
}

func (f *file) isDir() bool { return f.attr.Kind == crdt.KindDir }

func (f *file) fail(op string, err error) error {
	if f.failed == nil {
		f.failed = err
	}
	if st := stateOf(f.ctx); st != nil && st.ioErr == nil {
		st.ioErr = err
	}
	return f.s.toOSError(f.ctx, op, f.name, err)
}

// handle opens the file's core handle on first use.
func (f *file) handle() (*replica.Handle, error) {
	if f.closed {
		return nil, os.ErrClosed
	}
	if f.h != nil {
		return f.h, nil
	}
	if f.isDir() {
		return nil, f.s.toOSError(f.ctx, "open", f.name, crdt.ErrIsDir)
	}
	h, err := f.s.fs.Open(f.ctx, f.attr.Ref, f.flag&(os.O_WRONLY|os.O_RDWR|os.O_APPEND))
	if err != nil {
		return nil, f.s.toOSError(f.ctx, "open", f.name, err)
	}
	f.h = h
	return h, nil
}

// Read reads from the current offset.
func (f *file) Read(p []byte) (int, error) {
	h, err := f.handle()
	if err != nil {
		return 0, err
	}
	n, err := h.ReadAt(f.ctx, p, f.off)
	f.off += int64(n)
	if errors.Is(err, io.EOF) {
		if n > 0 {
			return n, nil
		}
		return 0, io.EOF
	}
	if err != nil {
		return n, f.fail("read", err)
	}
	return n, nil
}

// Write writes at the current offset (the end for O_APPEND).
func (f *file) Write(p []byte) (int, error) {
	if f.flag&(os.O_WRONLY|os.O_RDWR) == 0 {
		return 0, f.s.toOSError(f.ctx, "write", f.name, os.ErrPermission)
	}
	h, err := f.handle()
	if err != nil {
		return 0, err
	}
	if f.flag&os.O_APPEND != 0 {
		f.off = h.Size()
	}
	n, err := h.WriteAt(f.ctx, p, f.off)
	f.off += int64(n)
	if err != nil {
		return n, f.fail("write", err)
	}
	return n, nil
}

// Seek sets the offset of the next Read or Write.
func (f *file) Seek(offset int64, whence int) (int64, error) {
	if f.isDir() {
		if offset == 0 && whence == io.SeekStart {
			f.pos = 0
			return 0, nil
		}
		return 0, f.s.toOSError(f.ctx, "seek", f.name, crdt.ErrIsDir)
	}
	switch whence {
	case io.SeekStart:
	case io.SeekCurrent:
		offset += f.off
	case io.SeekEnd:
		h, err := f.handle()
		if err != nil {
			return 0, err
		}
		offset += h.Size()
	default:
		return 0, f.s.toOSError(f.ctx, "seek", f.name, crdt.ErrInvalid)
	}
	if offset < 0 {
		return 0, f.s.toOSError(f.ctx, "seek", f.name, crdt.ErrInvalid)
	}
	f.off = offset
	return offset, nil
}

// Readdir lists a directory like (*os.File).Readdir, from a snapshot taken
// at the first call. Symlinks and unfinished uploads are left out.
func (f *file) Readdir(count int) ([]os.FileInfo, error) {
	if !f.isDir() {
		return nil, f.s.toOSError(f.ctx, "readdir", f.name, crdt.ErrNotDir)
	}
	if !f.listed {
		ents, err := f.s.fs.ReadDir(f.ctx, f.attr.Ref.Inode)
		if err != nil {
			return nil, f.s.toOSError(f.ctx, "readdir", f.name, err)
		}
		f.ents = make([]os.FileInfo, 0, len(ents))
		for _, e := range ents {
			if e.Attr.Kind == crdt.KindSymlink || strings.HasPrefix(e.Name, uploadPrefix) {
				continue
			}
			f.ents = append(f.ents, &fileInfo{name: e.Name, attr: e.Attr})
		}
		f.listed = true
	}
	rest := f.ents[f.pos:]
	if count <= 0 {
		f.pos = len(f.ents)
		return rest, nil
	}
	if len(rest) == 0 {
		return nil, io.EOF
	}
	rest = rest[:min(count, len(rest))]
	f.pos += len(rest)
	return rest, nil
}

// Stat returns the current attributes, including unflushed writes.
func (f *file) Stat() (os.FileInfo, error) {
	a, err := f.s.fs.GetAttr(f.ctx, f.attr.Ref)
	if err != nil {
		return nil, f.s.toOSError(f.ctx, "stat", f.name, err)
	}
	return &fileInfo{name: f.base, attr: a}, nil
}

// Close commits what was written; its error is the commit's, so a write
// that is not durable fails the request. An upload is renamed over its
// target only when every read and write of the request succeeded and the
// commit did; otherwise the temporary file is removed and the target is
// left as it was.
func (f *file) Close() error {
	if f.closed {
		return os.ErrClosed
	}
	f.closed = true
	if f.up != nil {
		return f.finishUpload()
	}
	if f.h == nil {
		return nil
	}
	err := f.h.Flush(f.ctx)
	if rerr := f.h.Release(); err == nil {
		err = rerr
	}
	if err != nil {
		return f.s.toOSError(f.ctx, "close", f.name, err)
	}
	return nil
}

func (f *file) finishUpload() error {
	ctx, up := f.ctx, f.up
	err := f.failed
	if st := stateOf(ctx); err == nil && st != nil {
		err = st.ioErr
	}
	if err == nil {
		err = ctx.Err()
	}
	if err == nil {
		err = f.h.Fsync(ctx) // an upload is acknowledged durable and replicated
	}
	if rerr := f.h.Release(); err == nil {
		err = rerr
	}
	if err == nil {
		err = f.keepProps()
	}
	if err == nil {
		if !up.excl {
			err = f.s.fs.Rename(ctx, up.dir, up.tmp, up.dir, up.name, 0)
		} else {
			err = f.s.fs.Rename(ctx, up.dir, up.tmp, up.dir, up.name, crdt.RenameNoReplace)
		}
	}
	if err != nil {
		if rerr := f.s.fs.Unlink(context.WithoutCancel(ctx), up.dir, up.tmp); rerr != nil {
			f.s.log.Warn("webdav: remove failed upload", "path", f.path, "tmp", up.tmp, "err", rerr)
		}
		return f.s.toOSError(ctx, "close", f.name, fmt.Errorf("upload %s: %w", f.path, err))
	}
	return nil
}

// keepProps copies the dead properties of the file an upload replaces
// (those the upload did not set itself), so a PUT changes the content of a
// resource but not its properties.
func (f *file) keepProps() error {
	old, err := f.s.fs.Lookup(f.ctx, f.up.dir, f.up.name)
	if errors.Is(err, crdt.ErrNotFound) || err == nil && old.Kind != crdt.KindFile {
		return nil
	}
	if err != nil {
		return err
	}
	return copyDeadProps(f.ctx, f.s.fs, old.Ref.Inode, f.attr.Ref.Inode)
}
