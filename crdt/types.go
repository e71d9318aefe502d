package crdt

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"time"
)

// NodeID names a cluster member. Valid ids match [A-Za-z0-9._-]{1,64}
// (see ValidNodeID); they appear in conflict names, so they are kept short and
// path-safe.
type NodeID string

// InodeID is the random 128-bit identity of an inode. Dentries (tree nodes) use
// the same type: a directory's dentry id equals its inode id (directories have
// exactly one dentry); a file's first dentry id equals its inode id and each
// extra hard link gets a fresh random dentry id.
type InodeID [16]byte

// Fixed tree roots.
var (
	// RootID is the root directory of the namespace.
	RootID = InodeID{15: 1}
	// TrashID is the parent of deleted dentries (tombstones).
	TrashID = InodeID{15: 2}
)

// NewInodeID returns a fresh random id (crypto/rand).
func NewInodeID() InodeID {
	var id InodeID
	if _, err := rand.Read(id[:]); err != nil {
		panic(fmt.Sprintf("crdt: crypto/rand failed: %v", err))
	}
	// Never collide with the reserved roots (first 15 bytes zero).
	id[0] |= 0x80
	return id
}

func (id InodeID) String() string { return hex.EncodeToString(id[:]) }

// IsZero reports whether id is the zero value (no inode).
func (id InodeID) IsZero() bool { return id == InodeID{} }

// ChunkID is the BLAKE3-256 hash identifying an immutable chunk of file content.
// The zero ChunkID in a chunk list marks a hole (a sparse, all-zero chunk).
type ChunkID [32]byte

func (id ChunkID) String() string { return hex.EncodeToString(id[:]) }

// IsZero reports whether id is the zero value (a hole).
func (id ChunkID) IsZero() bool { return id == ChunkID{} }

// Kind is the immutable type of an inode.
type Kind uint8

const (
	KindFile    Kind = 1
	KindDir     Kind = 2
	KindSymlink Kind = 3
	// Special files (docs/posix.md): a FIFO, a UNIX-domain socket, a
	// character or a block device. They have attributes (a device's number
	// in Rdev) and no content: the kernel opens them, never the filesystem.
	KindFIFO     Kind = 4
	KindSocket   Kind = 5
	KindCharDev  Kind = 6
	KindBlockDev Kind = 7
)

// Special reports whether k is a FIFO, socket or device.
func (k Kind) Special() bool { return k >= KindFIFO && k <= KindBlockDev }

func (k Kind) String() string {
	switch k {
	case KindFile:
		return "file"
	case KindDir:
		return "directory"
	case KindSymlink:
		return "symlink"
	case KindFIFO:
		return "fifo"
	case KindSocket:
		return "socket"
	case KindCharDev:
		return "char-device"
	case KindBlockDev:
		return "block-device"
	}
	return fmt.Sprintf("kind-%d", uint8(k))
}

// Timestamp is a hybrid logical clock reading. Timestamps are totally ordered
// by (Wall, Logical, Node).
type Timestamp struct {
	Wall    int64  `cbor:"1,keyasint"` // unix nanoseconds
	Logical uint32 `cbor:"2,keyasint"`
	Node    NodeID `cbor:"3,keyasint"`
}

// Time returns the wall-clock part of t.
func (t Timestamp) Time() time.Time { return time.Unix(0, t.Wall).UTC() }

// OpID identifies an op: the origin node and its per-origin sequence number
// (1, 2, 3, ... without gaps).
type OpID struct {
	Node NodeID `cbor:"1,keyasint"`
	Seq  uint64 `cbor:"2,keyasint"`
}

// IsZero reports whether id is the zero value.
func (id OpID) IsZero() bool { return id.Node == "" && id.Seq == 0 }

// Op is one replicated change. Exactly one of the payload pointers is set.
type Op struct {
	ID OpID      `cbor:"1,keyasint"`
	TS Timestamp `cbor:"2,keyasint"`

	Move    *MoveOp    `cbor:"3,keyasint,omitempty"`
	Attr    *AttrOp    `cbor:"4,keyasint,omitempty"`
	Xattr   *XattrOp   `cbor:"5,keyasint,omitempty"`
	Content *ContentOp `cbor:"6,keyasint,omitempty"`
	Setting *SettingOp `cbor:"7,keyasint,omitempty"`
}

// MoveOp is the Kleppmann et al. move: it places Dentry under Parent with Name,
// pointing at Inode. Creating a dentry, renaming it and deleting it (Parent ==
// TrashID) are all moves.
type MoveOp struct {
	Dentry InodeID `cbor:"1,keyasint"`
	Parent InodeID `cbor:"2,keyasint"`
	Name   string  `cbor:"3,keyasint"`
	Inode  InodeID `cbor:"4,keyasint"`
	Kind   Kind    `cbor:"5,keyasint"`
	// Context, on a delete, records the content versions the deleter had seen
	// (see ContentOp.Context). A deleted file whose inode still has a live
	// content version not covered by Context (a concurrent write) and no
	// other live dentry stays visible at its pre-delete place.
	Context VersionVector `cbor:"6,keyasint,omitempty"`
}

// AttrMask selects the attribute fields an AttrOp sets.
type AttrMask uint32

const (
	AttrKind AttrMask = 1 << iota
	AttrMode
	AttrUID
	AttrGID
	AttrAtime
	AttrMtime
	AttrCtime
	AttrSymlink
	AttrRdev

	AttrAll = AttrKind | AttrMode | AttrUID | AttrGID | AttrAtime | AttrMtime | AttrCtime | AttrSymlink | AttrRdev
)

// AttrOp sets the fields selected by Set; each field is a last-writer-wins
// register ordered by the op timestamp.
type AttrOp struct {
	Inode   InodeID  `cbor:"1,keyasint"`
	Set     AttrMask `cbor:"2,keyasint"`
	Kind    Kind     `cbor:"3,keyasint,omitempty"`
	Mode    uint32   `cbor:"4,keyasint,omitempty"` // permission bits incl. setuid/setgid/sticky, no type bits
	UID     uint32   `cbor:"5,keyasint,omitempty"`
	GID     uint32   `cbor:"6,keyasint,omitempty"`
	Atime   int64    `cbor:"7,keyasint,omitempty"` // unix ns
	Mtime   int64    `cbor:"8,keyasint,omitempty"`
	Ctime   int64    `cbor:"9,keyasint,omitempty"`
	Symlink string   `cbor:"10,keyasint,omitempty"`
	Rdev    uint32   `cbor:"11,keyasint,omitempty"`
}

// XattrOp sets or removes one extended attribute (LWW per name).
type XattrOp struct {
	Inode  InodeID `cbor:"1,keyasint"`
	Name   string  `cbor:"2,keyasint"`
	Value  []byte  `cbor:"3,keyasint,omitempty"`
	Remove bool    `cbor:"4,keyasint,omitempty"`
}

// ContentOp writes a new content version of a file (multi-value register) or,
// with Content == nil, only drops versions.
//
// Context says which existing versions the op supersedes: every live version v
// of the inode with v.ID.Seq <= Context[v.ID.Node]. A write replaces the version
// it was based on (Context = {base.Node: base.Seq}); versions written
// concurrently are not superseded and stay visible as conflict siblings.
type ContentOp struct {
	Inode   InodeID       `cbor:"1,keyasint"`
	Context VersionVector `cbor:"2,keyasint,omitempty"`
	Content *Content      `cbor:"3,keyasint,omitempty"`
}

// Content is one version of a file's bytes. Chunked content names its
// chunks in one of two forms (content.go): Chunks, one id per chunk of the
// size (zero id = hole), or Sparse, only the stored chunks by index (every
// other chunk is a hole), so that a huge sparse file costs what it stores.
type Content struct {
	Size      int64     `cbor:"1,keyasint"`
	ChunkSize uint32    `cbor:"2,keyasint,omitempty"` // bytes per chunk (fixed offsets)
	Inline    []byte    `cbor:"3,keyasint,omitempty"` // small files: the bytes themselves, len == Size
	Chunks    []ChunkID `cbor:"4,keyasint,omitempty"` // chunk i covers [i*ChunkSize, (i+1)*ChunkSize); zero id = hole
	// Sparse replaces Chunks (never both): the stored chunks, by strictly
	// ascending index, none a hole.
	Sparse []SparseChunk `cbor:"5,keyasint,omitempty"`
}

// SparseChunk is one stored chunk of a Sparse content version.
type SparseChunk struct {
	Index uint64  `cbor:"1,keyasint"`
	ID    ChunkID `cbor:"2,keyasint"`
}

// SettingOp sets a cluster-wide setting (LWW per key). Well-known keys are
// the Setting* constants.
type SettingOp struct {
	Key   string `cbor:"1,keyasint"`
	Value []byte `cbor:"2,keyasint,omitempty"`
}

// Well-known cluster setting keys. Values are CBOR-encoded (EncodeSettingValue).
const (
	SettingReplicationFactor     = "replication_factor"              // int
	SettingPartitionSyncInterval = "partition_sync_interval_seconds" // int
	SettingPartitions            = "partitions"                      // int, fixed at cluster creation
	SettingMemberPrefix          = "member/"                         // + NodeID: member record
)
