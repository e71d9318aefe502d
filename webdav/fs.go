package webdav

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path"

	xwebdav "golang.org/x/net/webdav"

	"github.com/clusterf/clusterf/crdt"
	"github.com/clusterf/clusterf/replica"
)

// FileSystem adapts the filesystem core to x/net/webdav.FileSystem for the
// tree under one cluster path. It is safe for concurrent use; names are
// slash-separated paths relative to that tree, as the x/net/webdav handler
// passes them.
type FileSystem struct {
	fs    *replica.FS
	root  string // cleaned absolute cluster path
	owner replica.Owner
	log   *slog.Logger
}

// NewFileSystem serves the cluster path root ("/photos"; "/" for the whole
// cluster) of fsys, creating it when it is missing. New inodes belong to
// the uid and gid of the process, like files the node writes itself.
func NewFileSystem(ctx context.Context, fsys *replica.FS, root string, logger *slog.Logger) (*FileSystem, error) {
	r, err := cleanRoot(root)
	if err != nil {
		return nil, fmt.Errorf("webdav root %q: %w", root, err)
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	s := &FileSystem{
		fs:    fsys,
		root:  r,
		owner: replica.Owner{UID: uint32(os.Getuid()), GID: uint32(os.Getgid())},
		log:   logger,
	}
	if _, err := fsys.MkdirAll(ctx, r, 0o755, s.owner); err != nil {
		return nil, fmt.Errorf("webdav root %q: %w", r, err)
	}
	return s, nil
}

// Root returns the served cluster path.
func (s *FileSystem) Root() string { return s.root }

// resolve maps a handler name to its cluster path.
func (s *FileSystem) resolve(ctx context.Context, op, name string) (string, error) {
	p, err := mapPath(s.root, name)
	if err != nil {
		return "", s.toOSError(ctx, op, name, err)
	}
	return p, nil
}

// walk resolves p to its attributes. Symlinks (made through the FUSE
// mount) do not exist for WebDAV, which has no way to show them.
func (s *FileSystem) walk(ctx context.Context, p string) (replica.Attr, error) {
	a, err := s.fs.Walk(ctx, p)
	if err != nil {
		return replica.Attr{}, err
	}
	if a.Kind == crdt.KindSymlink {
		return replica.Attr{}, fmt.Errorf("walk %q: symlink: %w", p, crdt.ErrNotFound)
	}
	return a, nil
}

// perm turns the mode x/net/webdav asks for (0666, 0777, or the source's
// on COPY) into permission bits with the usual umask 022.
func perm(m os.FileMode, dflt uint32) uint32 {
	p := uint32(m.Perm()) &^ 0o022
	if p == 0 {
		return dflt
	}
	return p
}

// Mkdir creates a directory; its parent must exist.
func (s *FileSystem) Mkdir(ctx context.Context, name string, m os.FileMode) error {
	p, err := s.resolve(ctx, "mkdir", name)
	if err != nil {
		return err
	}
	if p == s.root {
		return s.toOSError(ctx, "mkdir", name, crdt.ErrExist)
	}
	dir, base, err := s.fs.WalkParent(ctx, p)
	if err == nil {
		_, err = s.fs.Mkdir(ctx, dir, base, perm(m, 0o755), s.owner)
	}
	return s.toOSError(ctx, "mkdir", name, err)
}

// OpenFile opens a file or directory. Opening a file for writing with
// O_TRUNC, or creating one, starts an upload: the bytes go to a hidden
// temporary file that Close commits and renames over name, so readers see
// the old or the new content, never a partial one, and a failed or aborted
// upload leaves name as it was. Other writable opens write in place; Close
// commits them. Directories open for reading (Readdir) and for dead
// properties.
func (s *FileSystem) OpenFile(ctx context.Context, name string, flag int, m os.FileMode) (xwebdav.File, error) {
	p, err := s.resolve(ctx, "open", name)
	if err != nil {
		return nil, err
	}
	write := flag&(os.O_WRONLY|os.O_RDWR) != 0
	cur, err := s.walk(ctx, p)
	exists := err == nil
	if err != nil && !(errors.Is(err, crdt.ErrNotFound) && flag&os.O_CREATE != 0) {
		return nil, s.toOSError(ctx, "open", name, err)
	}
	if exists && flag&(os.O_CREATE|os.O_EXCL) == os.O_CREATE|os.O_EXCL {
		return nil, s.toOSError(ctx, "open", name, crdt.ErrExist)
	}
	if exists && cur.Kind == crdt.KindDir {
		if flag&(os.O_TRUNC|os.O_APPEND) != 0 {
			return nil, s.toOSError(ctx, "open", name, crdt.ErrIsDir)
		}
		return s.newFile(ctx, name, p, cur, flag), nil
	}
	if exists && !(write && flag&os.O_TRUNC != 0) {
		if write && !cur.Ref.Version.IsZero() {
			return nil, s.toOSError(ctx, "open", name, replica.ErrReadOnly)
		}
		return s.newFile(ctx, name, p, cur, flag), nil
	}
	if !write {
		// O_CREATE without write access: create an empty file.
		flag |= os.O_RDWR
	}
	return s.startUpload(ctx, name, p, flag, m, cur, exists)
}

// startUpload creates the temporary file of an upload to p.
func (s *FileSystem) startUpload(ctx context.Context, name, p string, flag int, m os.FileMode, cur replica.Attr, exists bool) (xwebdav.File, error) {
	mode := perm(m, 0o644)
	if exists {
		if !cur.Ref.Version.IsZero() {
			return nil, s.toOSError(ctx, "open", name, replica.ErrReadOnly)
		}
		mode = cur.Mode & 0o7777 // a new version keeps the file's mode
	}
	dir, base, err := s.fs.WalkParent(ctx, p)
	if err != nil {
		return nil, s.toOSError(ctx, "open", name, err)
	}
	var rnd [8]byte
	rand.Read(rnd[:])
	tmp := uploadPrefix + hex.EncodeToString(rnd[:])
	a, h, err := s.fs.Create(ctx, dir, tmp, mode, s.owner, os.O_RDWR)
	if err != nil {
		return nil, s.toOSError(ctx, "open", name, err)
	}
	f := s.newFile(ctx, name, p, a, flag)
	f.h = h
	f.up = &upload{dir: dir, name: base, tmp: tmp, excl: flag&os.O_EXCL != 0}
	return f, nil
}

// RemoveAll removes name and everything below it. A missing name is not an
// error (as os.RemoveAll); the served root cannot be removed.
func (s *FileSystem) RemoveAll(ctx context.Context, name string) error {
	p, err := s.resolve(ctx, "remove", name)
	if err != nil {
		return err
	}
	if p == s.root {
		return s.toOSError(ctx, "remove", name, os.ErrPermission)
	}
	a, err := s.fs.Walk(ctx, p) // symlinks too: they are removed like files
	if errors.Is(err, crdt.ErrNotFound) {
		return nil
	}
	if err != nil {
		return s.toOSError(ctx, "remove", name, err)
	}
	dir, base, err := s.fs.WalkParent(ctx, p)
	if err != nil {
		return s.toOSError(ctx, "remove", name, err)
	}
	return s.toOSError(ctx, "remove", name, s.fs.RemoveTree(ctx, dir, base, a))
}

// Rename moves oldName to newName. The handler has already removed an
// existing target when the client asked to overwrite it; replacing an
// empty directory or a file of the same kind follows POSIX rename.
func (s *FileSystem) Rename(ctx context.Context, oldName, newName string) error {
	po, err := s.resolve(ctx, "rename", oldName)
	if err != nil {
		return err
	}
	pn, err := s.resolve(ctx, "rename", newName)
	if err != nil {
		return err
	}
	if po == pn {
		return nil
	}
	if po == s.root || pn == s.root {
		return s.toOSError(ctx, "rename", oldName, os.ErrPermission)
	}
	if _, err := s.walk(ctx, po); err != nil {
		return s.toOSError(ctx, "rename", oldName, err)
	}
	od, on, err := s.fs.WalkParent(ctx, po)
	if err != nil {
		return s.toOSError(ctx, "rename", oldName, err)
	}
	nd, nn, err := s.fs.WalkParent(ctx, pn)
	if err != nil {
		return s.toOSError(ctx, "rename", newName, err)
	}
	return s.toOSError(ctx, "rename", oldName, s.fs.Rename(ctx, od, on, nd, nn, 0))
}

// Stat returns the attributes of name.
func (s *FileSystem) Stat(ctx context.Context, name string) (os.FileInfo, error) {
	p, err := s.resolve(ctx, "stat", name)
	if err != nil {
		return nil, err
	}
	a, err := s.walk(ctx, p)
	if err != nil {
		return nil, s.toOSError(ctx, "stat", name, err)
	}
	return &fileInfo{name: baseName(name), attr: a}, nil
}

// baseName is the name Stat shows: the last component, "/" for the root.
func baseName(name string) string {
	return path.Base(path.Clean("/" + name))
}
