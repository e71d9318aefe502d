package replica

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"syscall"

	"github.com/clusterf/clusterf/crdt"
)

// Extended attributes, and capacity: Statfs and the space kept for
// metadata (checkSpace).

// GetXattr reads an extended attribute.
func (f *FS) GetXattr(ctx context.Context, id crdt.InodeID, name string) ([]byte, error) {
	if err := checkXattrName(name); err != nil {
		return nil, fmt.Errorf("getxattr: %w", err)
	}
	var val []byte
	err := f.meta.View(func(v *crdt.View) error {
		var err error
		val, err = v.Xattr(id, name)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("getxattr %q: %w", name, err)
	}
	return val, nil
}

// ListXattr lists extended attribute names.
func (f *FS) ListXattr(ctx context.Context, id crdt.InodeID) ([]string, error) {
	var names []string
	err := f.meta.View(func(v *crdt.View) error {
		var err error
		names, err = v.ListXattr(id)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("listxattr: %w", err)
	}
	return names, nil
}

// XattrFlags mirror setxattr(2).
const (
	XattrCreate  = 1 // fail with ErrExist if it exists
	XattrReplace = 2 // fail with ErrNoAttr if it does not exist
)

// MaxXattrSize bounds one extended attribute value (as Linux XATTR_SIZE_MAX).
const MaxXattrSize = 64 << 10

// xattrNamespaces are the namespaces Linux knows and clusterf stores; a
// name in none of them is EOPNOTSUPP, a namespace alone EINVAL (as tmpfs
// and ext4).
var xattrNamespaces = []string{"user.", "trusted.", "security."}

// checkXattrName validates an attribute name: ERANGE beyond 255 bytes
// (the kernel's XATTR_NAME_MAX), a known namespace, a non-empty name in it.
// system.* (POSIX ACLs) is EOPNOTSUPP: stored as plain bytes an ACL would
// change nothing, yet tools that set one (cp -a, rsync -A) would take it
// as done and skip the chmod (found by TestCopyRoundTrips: cp -a left
// every file at its temporary mode 0600).
func checkXattrName(name string) error {
	if len(name) > 255 {
		return fmt.Errorf("xattr name of %d bytes: %w", len(name), syscall.ERANGE)
	}
	if strings.HasPrefix(name, "system.") {
		return fmt.Errorf("xattr %q: ACLs are not supported: %w", name, syscall.EOPNOTSUPP)
	}
	for _, ns := range xattrNamespaces {
		if strings.HasPrefix(name, ns) {
			if len(name) == len(ns) {
				return fmt.Errorf("xattr name %q: %w", name, crdt.ErrInvalid)
			}
			return nil
		}
	}
	return fmt.Errorf("xattr name %q has no namespace: %w", name, syscall.EOPNOTSUPP)
}

// SetXattr sets an extended attribute.
func (f *FS) SetXattr(ctx context.Context, id crdt.InodeID, name string, value []byte, flags int) error {
	if err := checkXattrName(name); err != nil {
		return fmt.Errorf("setxattr: %w", err)
	}
	if len(value) > MaxXattrSize {
		return fmt.Errorf("setxattr %q: %w", name, syscall.E2BIG)
	}
	_, err := f.update(func(tx *crdt.Tx) error {
		_, err := tx.Xattr(id, name)
		exists := err == nil
		if err != nil && !errors.Is(err, crdt.ErrNoAttr) {
			return err
		}
		if flags&XattrCreate != 0 && exists {
			return crdt.ErrExist
		}
		if flags&XattrReplace != 0 && !exists {
			return crdt.ErrNoAttr
		}
		if err := tx.SetXattr(id, name, value); err != nil {
			return err
		}
		return tx.SetAttr(crdt.AttrOp{Inode: id, Set: crdt.AttrCtime, Ctime: f.now().UnixNano()})
	})
	if err != nil {
		return fmt.Errorf("setxattr %q: %w", name, err)
	}
	return nil
}

// RemoveXattr removes an extended attribute.
func (f *FS) RemoveXattr(ctx context.Context, id crdt.InodeID, name string) error {
	if err := checkXattrName(name); err != nil {
		return fmt.Errorf("removexattr: %w", err)
	}
	_, err := f.update(func(tx *crdt.Tx) error {
		if err := tx.RemoveXattr(id, name); err != nil {
			return err
		}
		return tx.SetAttr(crdt.AttrOp{Inode: id, Set: crdt.AttrCtime, Ctime: f.now().UnixNano()})
	})
	if err != nil {
		return fmt.Errorf("removexattr %q: %w", name, err)
	}
	return nil
}

// checkSpace fails with ENOSPC when writing n more bytes would eat into
// the space reserved for metadata.
func (f *FS) checkSpace(n int64) error {
	if f.reserve < 0 {
		return nil
	}
	var st syscall.Statfs_t
	if err := syscall.Statfs(f.statfsDir, &st); err != nil {
		return nil // cannot tell: let the write itself fail if it must
	}
	// Chunks staged in memory reach the disk at the next store or commit:
	// they count as written already, as they did in staging files.
	pending := f.stageMem.used.Load()
	if free := int64(st.Bavail) * st.Bsize; free-pending-n < f.reserve {
		return fmt.Errorf("%d bytes free, %d staged in memory, %d kept for metadata: %w", free, pending, f.reserve, syscall.ENOSPC)
	}
	return nil
}

// Statfs describes capacity.
type Statfs struct {
	Blocks, Bfree, Bavail uint64 // in units of Bsize
	Files, Ffree          uint64
	Bsize                 uint32
	NameLen               uint32
}

// Statfs reports the capacity of the local data disk and the namespace size.
func (f *FS) Statfs(ctx context.Context) (Statfs, error) {
	var st syscall.Statfs_t
	if err := syscall.Statfs(f.statfsDir, &st); err != nil {
		return Statfs{}, fmt.Errorf("statfs %s: %w", f.statfsDir, err)
	}
	var stats crdt.Stats
	_ = f.meta.View(func(v *crdt.View) error { stats = v.Stats(); return nil })
	files := uint64(stats.Files + stats.Dirs + stats.Symlinks)
	return Statfs{
		Blocks:  st.Blocks,
		Bfree:   st.Bfree,
		Bavail:  st.Bavail,
		Bsize:   uint32(st.Bsize),
		Files:   files + st.Ffree,
		Ffree:   st.Ffree,
		NameLen: crdt.MaxNameLen,
	}, nil
}
