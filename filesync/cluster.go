package filesync

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"strings"
	"time"

	"github.com/clusterf/clusterf/crdt"
	"github.com/clusterf/clusterf/replica"
)

// clusterSide is the cluster folder of a pair, through the core's path
// operations.
type clusterSide struct {
	fs   *replica.FS
	root string // "/photos"
}

func (c *clusterSide) full(rel string) string { return path.Join(c.root, rel) }

// notFound reports whether err means "no such entry" (also: a parent is
// not a directory).
func notFound(err error) bool {
	return errors.Is(err, crdt.ErrNotFound) || errors.Is(err, crdt.ErrNotDir)
}

// stat describes rel (nil, nil: nothing there).
func (c *clusterSide) stat(ctx context.Context, rel string) (*entry, error) {
	a, err := c.fs.Walk(ctx, c.full(rel))
	if notFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("cluster %s: %w", c.full(rel), err)
	}
	return c.entryOf(ctx, a)
}

func (c *clusterSide) entryOf(ctx context.Context, a replica.Attr) (*entry, error) {
	var target string
	if a.Kind == crdt.KindSymlink {
		t, err := c.fs.Readlink(ctx, a.Ref.Inode)
		if err != nil {
			return nil, err
		}
		target = t
	}
	return clusterEntry(a, target), nil
}

// list describes the entries of directory rel, without upload temporaries.
func (c *clusterSide) list(ctx context.Context, rel string) (map[string]*entry, error) {
	a, err := c.fs.Walk(ctx, c.full(rel))
	if err != nil {
		return nil, fmt.Errorf("cluster %s: %w", c.full(rel), err)
	}
	ents, err := c.fs.ReadDir(ctx, a.Ref.Inode)
	if err != nil {
		return nil, fmt.Errorf("cluster %s: %w", c.full(rel), err)
	}
	out := make(map[string]*entry, len(ents))
	for _, e := range ents {
		if strings.HasPrefix(e.Name, replica.UploadPrefix) {
			continue
		}
		ce, err := c.entryOf(ctx, e.Attr)
		if err != nil {
			continue // removed meanwhile
		}
		out[e.Name] = ce
	}
	return out, nil
}

func ownerOf(e *entry) replica.Owner { return replica.Owner{UID: e.uid, GID: e.gid} }

// put uploads r as rel atomically with the entry's mode, owner and mtime:
// PutFile's protocol (a hidden upload temporary next to the target,
// committed, renamed over it; a crash leaves a temporary the node removes
// at its next start), but without its two waits for durability per file:
// the engine makes every change durable with one FS.Sync before it
// records the base (flush), as a FUSE close() does not wait either.
func (c *clusterSide) put(ctx context.Context, rel string, r io.Reader, want *entry) (*entry, error) {
	dir, name := splitRel(rel)
	d, err := c.fs.MkdirAll(ctx, c.full(dir), 0o755, ownerOf(want))
	if err != nil {
		return nil, err
	}
	if cur, err := c.fs.Lookup(ctx, d.Ref.Inode, name); err == nil && cur.Kind == crdt.KindDir {
		return nil, fmt.Errorf("cluster %s: %w", c.full(rel), crdt.ErrIsDir)
	}
	tmp := replica.UploadPrefix + tmpName()[len(tmpPrefix):]
	a, h, err := c.fs.Create(ctx, d.Ref.Inode, tmp, want.mode, ownerOf(want), os.O_WRONLY)
	if err != nil {
		return nil, err
	}
	fail := func(err error) (*entry, error) {
		h.Release()
		c.fs.Unlink(context.WithoutCancel(ctx), d.Ref.Inode, tmp)
		return nil, err
	}
	buf := make([]byte, 1<<20)
	var off int64
	for {
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
			return fail(rerr)
		}
	}
	if err := h.Flush(ctx); err != nil {
		return fail(err)
	}
	if err := h.Release(); err != nil {
		return fail(err)
	}
	mt, m := time.Unix(0, want.mtime), want.mode
	if _, err := c.fs.SetAttr(ctx, a.Ref, replica.SetAttrIn{Mtime: &mt, Mode: &m}); err != nil {
		return fail(err)
	}
	if err := c.fs.Rename(ctx, d.Ref.Inode, tmp, d.Ref.Inode, name, 0); err != nil {
		return fail(err)
	}
	a, err = c.fs.GetAttr(ctx, a.Ref)
	if err != nil {
		return nil, err
	}
	return c.entryOf(ctx, a)
}

// symlink makes rel a symlink to target (replacing a file or symlink).
func (c *clusterSide) symlink(ctx context.Context, rel, target string, want *entry) (*entry, error) {
	dir, name := splitRel(rel)
	d, err := c.fs.MkdirAll(ctx, c.full(dir), 0o755, ownerOf(want))
	if err != nil {
		return nil, err
	}
	tmp := replica.UploadPrefix + tmpName()[len(tmpPrefix):]
	if _, err := c.fs.Symlink(ctx, d.Ref.Inode, tmp, target, ownerOf(want)); err != nil {
		return nil, err
	}
	if err := c.fs.Rename(ctx, d.Ref.Inode, tmp, d.Ref.Inode, name, 0); err != nil {
		c.fs.Unlink(context.WithoutCancel(ctx), d.Ref.Inode, tmp)
		return nil, err
	}
	return c.stat(ctx, rel)
}

// mkdir creates directory rel (parents too); an existing one gets the mode.
func (c *clusterSide) mkdir(ctx context.Context, rel string, want *entry) (*entry, error) {
	a, err := c.fs.MkdirAll(ctx, c.full(rel), want.mode, ownerOf(want))
	if err != nil {
		return nil, err
	}
	if a.Mode&0o7777 != want.mode {
		m := want.mode
		if a, err = c.fs.SetAttr(ctx, a.Ref, replica.SetAttrIn{Mode: &m}); err != nil {
			return nil, err
		}
	}
	return c.entryOf(ctx, a)
}

// setAttr sets the mode (and a file's mtime) of rel.
func (c *clusterSide) setAttr(ctx context.Context, rel string, want *entry) (*entry, error) {
	a, err := c.fs.Walk(ctx, c.full(rel))
	if err != nil {
		return nil, err
	}
	in := replica.SetAttrIn{}
	m := want.mode
	in.Mode = &m
	if want.kind == kindFile {
		mt := time.Unix(0, want.mtime)
		in.Mtime = &mt
	}
	if a, err = c.fs.SetAttr(ctx, a.Ref, in); err != nil {
		return nil, err
	}
	return c.entryOf(ctx, a)
}

// rename moves old to new (never over an existing entry).
func (c *clusterSide) rename(ctx context.Context, old, new string) error {
	od, on, err := c.fs.WalkParent(ctx, c.full(old))
	if err != nil {
		return err
	}
	ndir, _ := splitRel(new)
	if _, err := c.fs.MkdirAll(ctx, c.full(ndir), 0o755, replica.Owner{}); err != nil {
		return err
	}
	nd, nn, err := c.fs.WalkParent(ctx, c.full(new))
	if err != nil {
		return err
	}
	return c.fs.Rename(ctx, od, on, nd, nn, crdt.RenameNoReplace)
}

// remove deletes file, symlink or empty directory rel if ok accepts what
// is there.
func (c *clusterSide) remove(ctx context.Context, rel string, ok replaceCheck) error {
	cur, err := c.stat(ctx, rel)
	if err != nil || cur == nil {
		return err
	}
	if ok != nil && !ok(cur) {
		return fmt.Errorf("cluster %s: %w", c.full(rel), errChanged)
	}
	d, name, err := c.fs.WalkParent(ctx, c.full(rel))
	if err != nil {
		return err
	}
	if cur.kind == kindDir {
		err = c.fs.Rmdir(ctx, d, name)
	} else {
		err = c.fs.Unlink(ctx, d, name)
	}
	if notFound(err) {
		return nil
	}
	return err
}

// open opens file rel for reading.
func (c *clusterSide) open(ctx context.Context, rel string) (*replica.Handle, error) {
	a, err := c.fs.Walk(ctx, c.full(rel))
	if err != nil {
		return nil, err
	}
	return c.fs.Open(ctx, a.Ref, os.O_RDONLY)
}

// versionTS is the timestamp of the content version an entry shows, for
// conflict names (the zero value if unknown).
func (c *clusterSide) versionTS(ref crdt.Ref) crdt.Timestamp {
	var ts crdt.Timestamp
	_ = c.fs.Meta().View(func(v *crdt.View) error {
		vs := v.Versions(ref.Inode)
		for _, x := range vs {
			if ref.Version.IsZero() || x.ID == ref.Version {
				ts = x.TS
				break
			}
		}
		return nil
	})
	return ts
}

// paths returns the current paths of dentries relative to the pair's root
// (those outside it are left out).
func (c *clusterSide) paths(ids []crdt.InodeID) []string {
	var out []string
	_ = c.fs.Meta().View(func(v *crdt.View) error {
		for _, id := range ids {
			if p, ok := v.Path(id); ok {
				if rel, ok := c.relOf(p); ok {
					out = append(out, rel)
				}
			}
		}
		return nil
	})
	return out
}

// relOf maps a cluster path to the pair's relative path.
func (c *clusterSide) relOf(p string) (string, bool) {
	if c.root == "/" {
		return strings.TrimPrefix(p, "/"), true
	}
	if p == c.root {
		return "", true
	}
	if rest, ok := strings.CutPrefix(p, c.root+"/"); ok {
		return rest, true
	}
	return "", false
}

type relResult struct {
	rel string
	ok  bool
}

// pathsAligned is paths with one result per id (ok false: not live, or
// outside the pair).
func (c *clusterSide) pathsAligned(ids []crdt.InodeID) []relResult {
	out := make([]relResult, len(ids))
	_ = c.fs.Meta().View(func(v *crdt.View) error {
		for i, id := range ids {
			if p, ok := v.Path(id); ok {
				out[i].rel, out[i].ok = c.relOf(p)
			}
		}
		return nil
	})
	return out
}
