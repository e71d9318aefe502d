package crdt

import (
	"fmt"
	"strings"
)

// Tx is a View plus the local operations. Every operation validates first and
// returns a sentinel error (wrapped with context) without issuing ops.
type Tx struct {
	*View
	r   *Replica
	ops []Op
}

// NewAttrs are the attributes of a new inode.
type NewAttrs struct {
	Mode     uint32
	UID, GID uint32
	Symlink  string
	Rdev     uint32
	Time     int64 // atime = mtime = ctime, unix ns
}

// RenameFlags mirror renameat2.
type RenameFlags uint32

const (
	RenameNoReplace RenameFlags = 1 // RENAME_NOREPLACE
	RenameExchange  RenameFlags = 2 // RENAME_EXCHANGE
)

// emit stamps op with the next local id and timestamp and applies it.
func (tx *Tx) emit(op Op) Op {
	s := tx.s
	node := tx.r.node
	op.ID = OpID{Node: node, Seq: s.vv[node] + 1}
	op.TS = tx.r.clock.Now()
	s.applyOp(&op)
	s.refresh()
	tx.ops = append(tx.ops, op)
	return op
}

// checkName validates a new dentry name.
func checkName(name string) error {
	if len(name) > MaxNameLen {
		return fmt.Errorf("name %.32q...: %w", name, ErrNameTooLong)
	}
	if !validName(name) {
		return fmt.Errorf("name %q: %w", name, ErrInvalid)
	}
	return nil
}

func validName(name string) bool {
	return name != "" && name != "." && name != ".." && len(name) <= MaxNameLen &&
		!strings.ContainsAny(name, "/\x00")
}

// Create makes a new inode of kind (any Kind, special files too) under
// parent: ErrExist if name is taken, ErrNotFound / ErrNotDir for a bad parent, ErrNameTooLong, ErrInvalid for
// "", ".", ".." or names with '/' or NUL. Directories' mtime/ctime are not
// touched by the crdt; callers set them with SetAttr.
func (tx *Tx) Create(parent InodeID, name string, kind Kind, a NewAttrs) (InodeID, error) {
	if err := checkName(name); err != nil {
		return InodeID{}, err
	}
	if !validKind(kind) {
		return InodeID{}, fmt.Errorf("create kind %d: %w", kind, ErrInvalid)
	}
	if err := tx.s.checkDir(parent); err != nil {
		return InodeID{}, err
	}
	if _, err := tx.Lookup(parent, name); err == nil {
		return InodeID{}, fmt.Errorf("create %q: %w", name, ErrExist)
	}
	id := tx.r.newID()
	tx.emit(Op{Attr: &AttrOp{Inode: id, Set: AttrAll, Kind: kind, Mode: a.Mode, UID: a.UID, GID: a.GID,
		Atime: a.Time, Mtime: a.Time, Ctime: a.Time, Symlink: a.Symlink, Rdev: a.Rdev}})
	tx.emit(Op{Move: &MoveOp{Dentry: id, Parent: parent, Name: name, Inode: id, Kind: kind}})
	return id, nil
}

// Link adds a dentry for an existing non-directory inode (ErrIsDir
// otherwise; ErrTooManyLinks beyond MaxLinks).
func (tx *Tx) Link(inode, parent InodeID, name string) error {
	if err := checkName(name); err != nil {
		return err
	}
	kind, ok := tx.s.inodeKind(inode)
	if !ok {
		return fmt.Errorf("link: inode %s: %w", inode, ErrNotFound)
	}
	if kind == KindDir {
		return fmt.Errorf("link %s: %w", inode, ErrIsDir)
	}
	if ds := tx.s.inodeDentries[inode]; len(ds) >= MaxLinks {
		// Only then count the live names (deleted dentries stay listed).
		if in, err := tx.Inode(inode); err == nil && in.Nlink >= MaxLinks {
			return fmt.Errorf("link %s: %d links: %w", inode, in.Nlink, ErrTooManyLinks)
		}
	}
	if err := tx.s.checkDir(parent); err != nil {
		return err
	}
	if _, err := tx.Lookup(parent, name); err == nil {
		return fmt.Errorf("link %q: %w", name, ErrExist)
	}
	tx.emit(Op{Move: &MoveOp{Dentry: tx.r.newID(), Parent: parent, Name: name, Inode: inode, Kind: kind}})
	return nil
}

// liveContext is the per-node max seq of an inode's live versions.
func (tx *Tx) liveContext(inode InodeID) VersionVector {
	c := tx.s.content[inode]
	if c == nil || len(c.Versions) == 0 {
		return nil
	}
	vv := VersionVector{}
	for _, v := range c.Versions {
		if v.ID.Seq > vv[v.ID.Node] {
			vv[v.ID.Node] = v.ID.Seq
		}
	}
	return vv
}

// trashOp deletes dentry e (a move to TrashID keeping its name).
func (tx *Tx) trashOp(e Entry) Op {
	t := tx.s.tree[e.Dentry]
	m := &MoveOp{Dentry: e.Dentry, Parent: TrashID, Name: t.M.Name, Inode: t.M.Inode, Kind: t.M.Kind}
	if t.M.Kind != KindDir {
		m.Context = tx.liveContext(t.M.Inode)
	}
	return Op{Move: m}
}

// inSubtree reports whether live dentry x is dir or below it (display tree).
func (tx *Tx) inSubtree(x, dir InodeID) bool {
	s := tx.s
	for steps := 0; steps <= len(s.tree)+1; steps++ {
		if x == dir {
			return true
		}
		if x == RootID {
			return false
		}
		x = s.displayParent(x)
	}
	return true
}

// Rename moves a display name. Replacing an existing target follows POSIX:
// a directory only over an empty directory (ErrNotEmpty), a directory never
// over a non-directory (ErrNotDir) nor a non-directory over a directory
// (ErrIsDir); RenameNoReplace: ErrExist if the target exists; RenameExchange
// swaps both (ErrNotFound if either is missing). Moving a directory into its
// own subtree: ErrInvalid. A conflict sibling (Ref.Version set) as source or
// target: ErrCrossDevice, so `mv` falls back to copy + unlink.
func (tx *Tx) Rename(oldParent InodeID, oldName string, newParent InodeID, newName string, flags RenameFlags) error {
	if flags&^(RenameNoReplace|RenameExchange) != 0 || flags == RenameNoReplace|RenameExchange {
		return fmt.Errorf("rename flags %#x: %w", flags, ErrInvalid)
	}
	if err := checkName(newName); err != nil {
		return err
	}
	src, err := tx.Lookup(oldParent, oldName)
	if err != nil {
		return err
	}
	if !src.Ref.Version.IsZero() {
		return fmt.Errorf("rename conflict sibling %q: %w", oldName, ErrCrossDevice)
	}
	if err := tx.s.checkDir(newParent); err != nil {
		return err
	}
	if src.Kind == KindDir && tx.inSubtree(newParent, src.Dentry) {
		return fmt.Errorf("rename %q into itself: %w", oldName, ErrInvalid)
	}
	dst, derr := tx.Lookup(newParent, newName)
	exists := derr == nil
	if exists && !dst.Ref.Version.IsZero() {
		return fmt.Errorf("rename over conflict sibling %q: %w", newName, ErrCrossDevice)
	}
	srcT := tx.s.tree[src.Dentry]
	move := func(e Entry, parent InodeID, name string) {
		t := tx.s.tree[e.Dentry]
		tx.emit(Op{Move: &MoveOp{Dentry: e.Dentry, Parent: parent, Name: name, Inode: t.M.Inode, Kind: t.M.Kind}})
	}
	if flags&RenameExchange != 0 {
		if !exists {
			return fmt.Errorf("exchange %q: %w", newName, ErrNotFound)
		}
		if dst.Dentry == src.Dentry {
			return nil
		}
		if dst.Kind == KindDir && tx.inSubtree(oldParent, dst.Dentry) {
			return fmt.Errorf("exchange %q into itself: %w", newName, ErrInvalid)
		}
		move(src, newParent, newName)
		move(dst, oldParent, oldName)
		return nil
	}
	if exists {
		if dst.Dentry == src.Dentry || dst.Ref.Inode == srcT.M.Inode {
			return nil // same file: POSIX says do nothing
		}
		if flags&RenameNoReplace != 0 {
			return fmt.Errorf("rename %q: %w", newName, ErrExist)
		}
		switch {
		case src.Kind == KindDir && dst.Kind != KindDir:
			return fmt.Errorf("rename dir over %q: %w", newName, ErrNotDir)
		case src.Kind != KindDir && dst.Kind == KindDir:
			return fmt.Errorf("rename over dir %q: %w", newName, ErrIsDir)
		case dst.Kind == KindDir && !tx.s.isEmptyDir(dst.Dentry):
			return fmt.Errorf("rename over %q: %w", newName, ErrNotEmpty)
		}
		tx.emit(tx.trashOp(dst))
	}
	move(src, newParent, newName)
	return nil
}

// Remove deletes a display name: dir=true is rmdir (ErrNotDir, ErrNotEmpty),
// dir=false is unlink (ErrIsDir). Unlinking a conflict sibling drops that
// content version.
func (tx *Tx) Remove(parent InodeID, name string, dir bool) error {
	e, err := tx.Lookup(parent, name)
	if err != nil {
		return err
	}
	if !e.Ref.Version.IsZero() {
		if dir {
			return fmt.Errorf("rmdir %q: %w", name, ErrNotDir)
		}
		v := e.Ref.Version
		tx.emit(Op{Content: &ContentOp{Inode: e.Ref.Inode, Context: VersionVector{v.Node: v.Seq}}})
		return nil
	}
	switch {
	case dir && e.Kind != KindDir:
		return fmt.Errorf("rmdir %q: %w", name, ErrNotDir)
	case !dir && e.Kind == KindDir:
		return fmt.Errorf("unlink %q: %w", name, ErrIsDir)
	case dir && !tx.s.isEmptyDir(e.Dentry):
		return fmt.Errorf("rmdir %q: %w", name, ErrNotEmpty)
	}
	tx.emit(tx.trashOp(e))
	return nil
}

// SetAttr sets attribute fields (op.Inode must exist: ErrNotFound). The kind
// cannot change (ErrInvalid).
func (tx *Tx) SetAttr(op AttrOp) error {
	if op.Set&AttrKind != 0 || op.Set&^AttrAll != 0 {
		return fmt.Errorf("setattr mask %#x: %w", op.Set, ErrInvalid)
	}
	if _, err := tx.Inode(op.Inode); err != nil {
		return err
	}
	if op.Set == 0 {
		return nil
	}
	op.Kind = 0
	tx.emit(Op{Attr: &op})
	return nil
}

// WriteContent records a new content version of a file, superseding base
// (the version it was derived from; zero OpID for none) and nothing else.
// Returns the new version's id.
func (tx *Tx) WriteContent(inode InodeID, base OpID, c Content) (OpID, error) {
	in, err := tx.Inode(inode)
	if err != nil {
		return OpID{}, err
	}
	if in.Kind != KindFile {
		return OpID{}, fmt.Errorf("write %s: %w", inode, ErrIsDir)
	}
	if err := validContent(&c); err != nil {
		return OpID{}, fmt.Errorf("write %s: %v: %w", inode, err, ErrInvalid)
	}
	op := &ContentOp{Inode: inode, Content: &c}
	if !base.IsZero() {
		op.Context = VersionVector{base.Node: base.Seq}
	}
	return tx.emit(Op{Content: op}).ID, nil
}

// SetXattr changes an extended attribute.
func (tx *Tx) SetXattr(inode InodeID, name string, value []byte) error {
	if err := validXattr(name, value); err != nil {
		return fmt.Errorf("setxattr %q: %v: %w", name, err, ErrInvalid)
	}
	if _, err := tx.Inode(inode); err != nil {
		return err
	}
	tx.emit(Op{Xattr: &XattrOp{Inode: inode, Name: name, Value: append([]byte(nil), value...)}})
	return nil
}

// RemoveXattr removes an extended attribute (ErrNoAttr).
func (tx *Tx) RemoveXattr(inode InodeID, name string) error {
	if _, err := tx.Xattr(inode, name); err != nil {
		return err
	}
	tx.emit(Op{Xattr: &XattrOp{Inode: inode, Name: name, Remove: true}})
	return nil
}

// SetSetting sets a cluster setting.
func (tx *Tx) SetSetting(key string, value []byte) error {
	if err := validSetting(key, value); err != nil {
		return fmt.Errorf("setting %q: %v: %w", key, err, ErrInvalid)
	}
	tx.emit(Op{Setting: &SettingOp{Key: key, Value: append([]byte(nil), value...)}})
	return nil
}
