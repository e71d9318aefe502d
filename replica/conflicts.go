package replica

import (
	"context"
	"fmt"

	"github.com/clusterf/clusterf/crdt"
)

// KeepConflict resolves a conflict by keeping the entry at path p and
// dropping the entries it conflicts with, in one metadata commit:
//
//   - a content conflict (p is a file with concurrent versions, or one of
//     its read-only conflict copies): the kept version becomes the file's
//     only version (no bytes are copied: the new version names the same
//     chunks) and the other versions are dropped;
//   - a name conflict (p is one of several files created under one name
//     concurrently, shown as the winner and conflict copies): the others
//     are removed and the kept one shows under the name. A directory among
//     the others must be empty (crdt.ErrNotEmpty): its files are not
//     deleted by a click.
//
// It returns the path the kept entry has afterwards. A path that is in no
// conflict is crdt.ErrInvalid.
func (f *FS) KeepConflict(ctx context.Context, p string) (string, error) {
	dir, name, err := f.WalkParent(ctx, p)
	if err != nil {
		return "", err
	}
	now := f.now().UnixNano()
	var kept string
	_, err = f.update(func(tx *crdt.Tx) error {
		e, err := tx.Lookup(dir, name)
		if err != nil {
			return err
		}
		if len(tx.Versions(e.Ref.Inode)) > 1 && e.Kind == crdt.KindFile {
			err = keepVersion(tx, dir, e)
		} else {
			err = keepName(tx, dir, e)
		}
		if err != nil {
			return err
		}
		if kept, _ = tx.Path(e.Dentry); kept == "" {
			kept = "/" + name
		}
		return touchDir(tx, dir, now)
	})
	if err != nil {
		return "", fmt.Errorf("keep %q: %w", p, err)
	}
	return kept, nil
}

// keepVersion makes the version e shows the file's only version.
func keepVersion(tx *crdt.Tx, dir crdt.InodeID, e crdt.Entry) error {
	ino := e.Ref.Inode
	vs := tx.Versions(ino) // winner first
	keep := e.Ref.Version
	if !keep.IsZero() && keep != vs[0].ID {
		var content crdt.Content
		for _, v := range vs {
			if v.ID == keep {
				content = v.Content
			}
		}
		// A new version with the kept content supersedes the winner.
		if _, err := tx.WriteContent(ino, vs[0].ID, content); err != nil {
			return err
		}
	}
	// Drop every other version, shown as conflict copies, one at a time
	// (their display names are recomputed after each drop).
	for range len(vs) {
		ents, err := tx.ReadDir(dir)
		if err != nil {
			return err
		}
		dropped := false
		for _, x := range ents {
			if x.Ref.Inode == ino && !x.Ref.Version.IsZero() {
				if err := tx.Remove(dir, x.Name, false); err != nil {
					return err
				}
				dropped = true
				break
			}
		}
		if !dropped {
			return nil
		}
	}
	return nil
}

// keepName removes the other dentries that share e's own name in dir.
func keepName(tx *crdt.Tx, dir crdt.InodeID, e crdt.Entry) error {
	pl, ok := tx.Place(e.Dentry)
	if !ok {
		return fmt.Errorf("%s: %w", e.Name, crdt.ErrNotFound)
	}
	others := tx.NameClash(dir, pl.Name)
	if len(others) < 2 {
		return fmt.Errorf("%s is not in conflict with another entry: %w", e.Name, crdt.ErrInvalid)
	}
	for range len(others) {
		ents, err := tx.ReadDir(dir)
		if err != nil {
			return err
		}
		dropped := false
		for _, x := range ents {
			if x.Dentry == e.Dentry || !x.Ref.Version.IsZero() || !containsID(others, x.Dentry) {
				continue
			}
			if err := tx.Remove(dir, x.Name, x.Kind == crdt.KindDir); err != nil {
				return err
			}
			dropped = true
			break
		}
		if !dropped {
			return nil
		}
	}
	return nil
}

func containsID(ids []crdt.InodeID, id crdt.InodeID) bool {
	for _, x := range ids {
		if x == id {
			return true
		}
	}
	return false
}
