package replica

// Hard links, unlink, rmdir and rename: the operations that add, move
// or remove names of existing inodes.

import (
	"context"
	"fmt"
	"time"

	"github.com/clusterf/clusterf/crdt"
)

// Link adds a hard link to inode in dir.
func (f *FS) Link(ctx context.Context, inode crdt.InodeID, dir crdt.InodeID, name string) (Attr, error) {
	now := f.now().UnixNano()
	_, err := f.update(func(tx *crdt.Tx) error {
		if err := tx.Link(inode, dir, name); err != nil {
			return err
		}
		if err := tx.SetAttr(crdt.AttrOp{Inode: inode, Set: crdt.AttrCtime, Ctime: now}); err != nil {
			return err
		}
		return touchDir(tx, dir, now)
	})
	if err != nil {
		return Attr{}, fmt.Errorf("link %q: %w", name, err)
	}
	return f.GetAttr(ctx, crdt.Ref{Inode: inode})
}

// Unlink removes a non-directory name. Open handles keep reading the inode.
func (f *FS) Unlink(ctx context.Context, dir crdt.InodeID, name string) error {
	return f.remove(dir, name, false)
}

// Rmdir removes an empty directory.
func (f *FS) Rmdir(ctx context.Context, dir crdt.InodeID, name string) error {
	return f.remove(dir, name, true)
}

func (f *FS) remove(dir crdt.InodeID, name string, isDir bool) error {
	now := f.now().UnixNano()
	_, err := f.update(func(tx *crdt.Tx) error {
		e, err := tx.Lookup(dir, name)
		if err != nil {
			return err
		}
		if err := tx.Remove(dir, name, isDir); err != nil {
			return err
		}
		if e.Ref.Version.IsZero() && !isDir {
			if ino, err := tx.Inode(e.Ref.Inode); err == nil && ino.Nlink > 0 {
				if err := tx.SetAttr(crdt.AttrOp{Inode: e.Ref.Inode, Set: crdt.AttrCtime, Ctime: now}); err != nil {
					return err
				}
			}
		}
		return touchDir(tx, dir, now)
	})
	if err != nil {
		return fmt.Errorf("remove %q: %w", name, err)
	}
	return nil
}

// RenameWhiteout is renameat2's RENAME_WHITEOUT: the old name becomes a
// whiteout, a character device 0:0 with mode 0 (overlayfs uses them).
const RenameWhiteout crdt.RenameFlags = 4

// Rename moves oldName in oldDir to newName in newDir (renameat2 flags).
func (f *FS) Rename(ctx context.Context, oldDir crdt.InodeID, oldName string, newDir crdt.InodeID, newName string, flags crdt.RenameFlags) error {
	return f.RenameAs(ctx, oldDir, oldName, newDir, newName, flags, Owner{})
}

// RenameAs is Rename by owner, who owns the whiteout of RenameWhiteout.
func (f *FS) RenameAs(ctx context.Context, oldDir crdt.InodeID, oldName string, newDir crdt.InodeID, newName string, flags crdt.RenameFlags, owner Owner) error {
	now := f.now().UnixNano()
	whiteout := flags&RenameWhiteout != 0
	flags &^= RenameWhiteout
	if whiteout && flags&crdt.RenameExchange != 0 {
		return fmt.Errorf("rename %q: whiteout with exchange: %w", oldName, crdt.ErrInvalid)
	}
	_, err := f.update(func(tx *crdt.Tx) error {
		e, err := tx.Lookup(oldDir, oldName)
		if err != nil {
			return err
		}
		dst, derr := tx.Lookup(newDir, newName)
		if err := tx.Rename(oldDir, oldName, newDir, newName, flags); err != nil {
			return err
		}
		if whiteout {
			if _, err := tx.Create(oldDir, oldName, crdt.KindCharDev, crdt.NewAttrs{UID: owner.UID, GID: owner.GID, Time: now}); err != nil {
				return err
			}
		}
		if err := tx.SetAttr(crdt.AttrOp{Inode: e.Ref.Inode, Set: crdt.AttrCtime, Ctime: now}); err != nil {
			return err
		}
		// The replaced or exchanged inode changed too (its link count or
		// its place), as on ext4 and tmpfs.
		if derr == nil && dst.Ref.Inode != e.Ref.Inode {
			if ino, err := tx.Inode(dst.Ref.Inode); err == nil && (ino.Nlink > 0 || flags&crdt.RenameExchange != 0) {
				if err := tx.SetAttr(crdt.AttrOp{Inode: dst.Ref.Inode, Set: crdt.AttrCtime, Ctime: now}); err != nil {
					return err
				}
			}
		}
		if err := touchDir(tx, oldDir, now); err != nil {
			return err
		}
		if newDir != oldDir {
			return touchDir(tx, newDir, now)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("rename %q to %q: %w", oldName, newName, err)
	}
	return nil
}

// SetAttrIn selects attribute changes; nil fields stay as they are.
type SetAttrIn struct {
	Mode  *uint32
	UID   *uint32
	GID   *uint32
	Size  *int64
	Atime *time.Time
	Mtime *time.Time
	// AtimeNow and MtimeNow set the time to now (UTIME_NOW): the same now
	// as the ctime, as the kernel does for local filesystems.
	AtimeNow, MtimeNow bool
	// Touch changes only the ctime when nothing else is set (chown(f, -1,
	// -1) changes the ctime on ext4 and tmpfs).
	Touch bool
}
