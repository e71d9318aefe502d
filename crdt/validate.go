package crdt

import (
	"errors"
	"fmt"
)

// Limits on op fields (an op that exceeds them is malformed).
const (
	MaxXattrValue   = 64 << 10
	MaxSettingKey   = 1024
	MaxSettingValue = 64 << 10
	MaxInline       = 64 << 10
	// MaxChunks bounds a content version's chunk list, dense or sparse,
	// so that one op (about 35 bytes a dense chunk, 47 a sparse one) stays
	// well under the transport's 64 MiB frame: a file stores at most 1 Mi
	// chunks (4 TiB of data with the default 4 MiB chunks); its size, with
	// the holes, may be anything up to MaxInt64 (docs/posix.md).
	MaxChunks     = 1 << 20
	MaxSymlinkLen = 4096
)

// ValidNodeID reports whether id matches [A-Za-z0-9._-]{1,64}.
func ValidNodeID(id NodeID) bool {
	if len(id) == 0 || len(id) > 64 {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

func validKind(k Kind) bool { return k >= KindFile && k <= KindBlockDev }

func validVV(v VersionVector) error {
	for n, s := range v {
		if !ValidNodeID(n) || s == 0 {
			return fmt.Errorf("version vector entry %q:%d", n, s)
		}
	}
	return nil
}

// userInode: a non-zero inode id other than the fixed roots.
func userInode(id InodeID) bool { return !id.IsZero() && id != RootID && id != TrashID }

func validContent(c *Content) error {
	switch {
	case c.Size < 0:
		return errors.New("negative size")
	case len(c.Inline) > 0 && (int64(len(c.Inline)) != c.Size || len(c.Chunks) > 0):
		return errors.New("inline content length mismatch")
	case len(c.Inline) > MaxInline:
		return errors.New("inline content too large")
	case len(c.Chunks) > MaxChunks:
		return errors.New("too many chunks")
	case len(c.Chunks) > 0 && c.ChunkSize == 0:
		return errors.New("chunks without chunk size")
	case len(c.Chunks) > 0 && uint64(len(c.Chunks)-1)*uint64(c.ChunkSize) >= uint64(c.Size):
		return errors.New("more chunks than size needs")
	case len(c.Sparse) > 0:
		return validSparse(c)
	}
	return nil
}

func validSparse(c *Content) error {
	switch {
	case len(c.Inline) > 0 || len(c.Chunks) > 0:
		return errors.New("sparse chunks with inline content or a dense list")
	case len(c.Sparse) > MaxChunks:
		return errors.New("too many chunks")
	case c.ChunkSize == 0:
		return errors.New("chunks without chunk size")
	}
	slots := uint64(c.NumChunks())
	for i, sc := range c.Sparse {
		switch {
		case sc.ID.IsZero():
			return errors.New("sparse hole")
		case sc.Index >= slots:
			return errors.New("sparse chunk beyond the size")
		case i > 0 && sc.Index <= c.Sparse[i-1].Index:
			return errors.New("sparse chunks out of order")
		}
	}
	return nil
}

func validXattr(name string, value []byte) error {
	if name == "" || len(name) > MaxNameLen {
		return errors.New("bad xattr name")
	}
	if len(value) > MaxXattrValue {
		return errors.New("xattr value too large")
	}
	return nil
}

func validSetting(key string, value []byte) error {
	if key == "" || len(key) > MaxSettingKey {
		return errors.New("bad setting key")
	}
	if len(value) > MaxSettingValue {
		return errors.New("setting value too large")
	}
	return nil
}

// validateOp checks an op's shape (not its relation to the state). Errors
// wrap ErrMalformed.
func validateOp(op *Op) error {
	if err := checkOp(op); err != nil {
		return fmt.Errorf("op %s:%d: %v: %w", op.ID.Node, op.ID.Seq, err, ErrMalformed)
	}
	return nil
}

func checkOp(op *Op) error {
	if !ValidNodeID(op.ID.Node) || op.ID.Seq == 0 {
		return errors.New("bad op id")
	}
	// A negative wall is accepted: it orders before every real time and
	// clocks before the saturation fix wrote them when they overflowed.
	if op.TS.Node != op.ID.Node {
		return errors.New("bad timestamp")
	}
	n := 0
	for _, set := range []bool{op.Move != nil, op.Attr != nil, op.Xattr != nil, op.Content != nil, op.Setting != nil} {
		if set {
			n++
		}
	}
	if n != 1 {
		return fmt.Errorf("%d payloads", n)
	}
	switch {
	case op.Move != nil:
		m := op.Move
		switch {
		case !userInode(m.Dentry) || !userInode(m.Inode) || m.Parent.IsZero():
			return errors.New("move: bad ids")
		case !validName(m.Name):
			return errors.New("move: bad name")
		case !validKind(m.Kind):
			return errors.New("move: bad kind")
		case m.Kind == KindDir && m.Dentry != m.Inode:
			return errors.New("move: directory dentry != inode")
		}
		return validVV(m.Context)
	case op.Attr != nil:
		a := op.Attr
		switch {
		case a.Inode.IsZero() || a.Inode == TrashID:
			return errors.New("attr: bad inode")
		case a.Set == 0 || a.Set&^AttrAll != 0:
			return errors.New("attr: bad mask")
		case a.Set&AttrKind != 0 && !validKind(a.Kind):
			return errors.New("attr: bad kind")
		case a.Set&AttrKind == 0 && a.Kind != 0:
			return errors.New("attr: kind without mask")
		case a.Set&AttrKind != 0 && a.Inode == RootID:
			return errors.New("attr: the root is always a directory")
		case len(a.Symlink) > MaxSymlinkLen:
			return errors.New("attr: symlink too long")
		}
	case op.Xattr != nil:
		x := op.Xattr
		if x.Inode.IsZero() || x.Inode == TrashID {
			return errors.New("xattr: bad inode")
		}
		if x.Remove && len(x.Value) > 0 {
			return errors.New("xattr: remove with value")
		}
		return validXattr(x.Name, x.Value)
	case op.Content != nil:
		c := op.Content
		if !userInode(c.Inode) {
			return errors.New("content: bad inode")
		}
		if err := validVV(c.Context); err != nil {
			return err
		}
		if c.Content == nil {
			if len(c.Context) == 0 {
				return errors.New("content: empty op")
			}
			return nil
		}
		return validContent(c.Content)
	case op.Setting != nil:
		return validSetting(op.Setting.Key, op.Setting.Value)
	}
	return nil
}
