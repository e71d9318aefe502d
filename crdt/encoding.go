package crdt

import (
	"errors"
	"fmt"
	"sort"

	"github.com/fxamacker/cbor/v2"
)

// formatVersion prefixes every encoding (ops, snapshots, state, values).
const formatVersion byte = 1

// Decoder limits.
const (
	MaxOpsBytes      = 64 << 20
	MaxSnapshotBytes = 4 << 30
	MaxValueBytes    = 1 << 20
)

var (
	encMode = mustEnc(cbor.CoreDetEncOptions())
	decOps  = mustDec(cbor.DecOptions{
		DupMapKey:         cbor.DupMapKeyEnforcedAPF,
		MaxNestedLevels:   16,
		MaxArrayElements:  1 << 20,
		MaxMapPairs:       1 << 16,
		IndefLength:       cbor.IndefLengthForbidden,
		TagsMd:            cbor.TagsForbidden,
		ExtraReturnErrors: cbor.ExtraDecErrorUnknownField,
		UTF8:              cbor.UTF8DecodeInvalid, // file names are bytes
	})
	decSnap = mustDec(cbor.DecOptions{
		DupMapKey:         cbor.DupMapKeyEnforcedAPF,
		MaxNestedLevels:   16,
		MaxArrayElements:  1 << 28,
		MaxMapPairs:       1 << 20,
		IndefLength:       cbor.IndefLengthForbidden,
		TagsMd:            cbor.TagsForbidden,
		ExtraReturnErrors: cbor.ExtraDecErrorUnknownField,
		UTF8:              cbor.UTF8DecodeInvalid,
	})
	decValue = mustDec(cbor.DecOptions{
		DupMapKey:        cbor.DupMapKeyEnforcedAPF,
		MaxNestedLevels:  16,
		MaxArrayElements: 1 << 16,
		MaxMapPairs:      1 << 16,
		IndefLength:      cbor.IndefLengthForbidden,
	})
)

func mustEnc(o cbor.EncOptions) cbor.EncMode {
	m, err := o.EncMode()
	if err != nil {
		panic(err)
	}
	return m
}

func mustDec(o cbor.DecOptions) cbor.DecMode {
	m, err := o.DecMode()
	if err != nil {
		panic(err)
	}
	return m
}

func encode(v any) []byte {
	b, err := encMode.Marshal(v)
	if err != nil {
		panic(fmt.Sprintf("crdt: encode %T: %v", v, err)) // only plain data types are encoded
	}
	return append([]byte{formatVersion}, b...)
}

func decode(dm cbor.DecMode, b []byte, max int, v any) error {
	if len(b) == 0 || len(b) > max {
		return fmt.Errorf("%d bytes: %w", len(b), ErrMalformed)
	}
	if b[0] != formatVersion {
		return fmt.Errorf("format version %d: %w", b[0], ErrMalformed)
	}
	if err := dm.Unmarshal(b[1:], v); err != nil {
		return fmt.Errorf("%v: %w", err, ErrMalformed)
	}
	return nil
}

// EncodeOps encodes ops for the wire and the store.
func EncodeOps(ops []Op) []byte {
	if ops == nil {
		ops = []Op{}
	}
	return encode(ops)
}

// DecodeOps decodes and validates ops (ErrMalformed).
func DecodeOps(b []byte) ([]Op, error) {
	var ops []Op
	if err := decode(decOps, b, MaxOpsBytes, &ops); err != nil {
		return nil, fmt.Errorf("decode ops: %w", err)
	}
	for i := range ops {
		if err := validateOp(&ops[i]); err != nil {
			return nil, fmt.Errorf("decode ops: %w", err)
		}
	}
	return ops, nil
}

// EncodeSnapshot encodes a snapshot.
func EncodeSnapshot(s *Snapshot) []byte { return encode(s) }

// DecodeSnapshot decodes and validates a snapshot (ErrMalformed).
func DecodeSnapshot(b []byte) (*Snapshot, error) {
	s := new(Snapshot)
	if err := decode(decSnap, b, MaxSnapshotBytes, s); err != nil {
		return nil, fmt.Errorf("decode snapshot: %w", err)
	}
	if _, err := restore(s); err != nil {
		return nil, err
	}
	return s, nil
}

// EncodeValue encodes a setting value.
func EncodeValue(v any) []byte { return encode(v) }

// DecodeValue decodes a setting value (ErrMalformed).
func DecodeValue(b []byte, v any) error {
	if err := decode(decValue, b, MaxValueBytes, v); err != nil {
		return fmt.Errorf("decode value: %w", err)
	}
	return nil
}

// ---- records ----

// Snapshot is the encodable full state of a replica: the materialized state,
// the move log (with undo data) and the retained per-origin op logs.
type Snapshot struct {
	State   StateRecord   `cbor:"1,keyasint"`
	MaxTS   Timestamp     `cbor:"2,keyasint"`
	LogBase VersionVector `cbor:"3,keyasint,omitempty"` // per origin: ops up to here were compacted
	Logs    []Op          `cbor:"4,keyasint,omitempty"` // by (origin, seq)
	MoveLog []MoveRecord  `cbor:"5,keyasint,omitempty"` // by (TS, ID)
}

// StateRecord is the canonical materialized state (what EncodeState encodes).
type StateRecord struct {
	VV       VersionVector   `cbor:"1,keyasint"`
	Tree     []NodeRecord    `cbor:"2,keyasint"`
	Attrs    []AttrRecord    `cbor:"3,keyasint"`
	Content  []ContentRecord `cbor:"4,keyasint"`
	Xattrs   []XattrRecord   `cbor:"5,keyasint"`
	Settings []SettingRecord `cbor:"6,keyasint"`
}

// NodeRecord is one tree node.
type NodeRecord struct {
	ID         InodeID   `cbor:"1,keyasint"`
	Parent     InodeID   `cbor:"2,keyasint"`
	Meta       MoveOp    `cbor:"3,keyasint"` // Parent field unused
	TS         Timestamp `cbor:"4,keyasint"`
	Op         OpID      `cbor:"5,keyasint"`
	HasPrev    bool      `cbor:"6,keyasint,omitempty"`
	PrevParent InodeID   `cbor:"7,keyasint,omitempty"`
	PrevName   string    `cbor:"8,keyasint,omitempty"`
}

// AttrRecord is one inode's attribute registers.
type AttrRecord struct {
	ID      InodeID          `cbor:"1,keyasint"`
	Kind    Kind             `cbor:"2,keyasint,omitempty"`
	Mode    uint32           `cbor:"3,keyasint,omitempty"`
	UID     uint32           `cbor:"4,keyasint,omitempty"`
	GID     uint32           `cbor:"5,keyasint,omitempty"`
	Atime   int64            `cbor:"6,keyasint,omitempty"`
	Mtime   int64            `cbor:"7,keyasint,omitempty"`
	Ctime   int64            `cbor:"8,keyasint,omitempty"`
	Symlink string           `cbor:"9,keyasint,omitempty"`
	Rdev    uint32           `cbor:"10,keyasint,omitempty"`
	TS      [nAttr]Timestamp `cbor:"11,keyasint"`
	Created Timestamp        `cbor:"12,keyasint"`
}

// ContentRecord is one file's content register.
type ContentRecord struct {
	ID       InodeID         `cbor:"1,keyasint"`
	Ctx      VersionVector   `cbor:"2,keyasint,omitempty"`
	Versions []VersionRecord `cbor:"3,keyasint,omitempty"`
}

// VersionRecord is one live content version.
type VersionRecord struct {
	ID      OpID      `cbor:"1,keyasint"`
	TS      Timestamp `cbor:"2,keyasint"`
	Content Content   `cbor:"3,keyasint"`
}

// XattrRecord is one extended attribute register (Removed: a tombstone).
type XattrRecord struct {
	ID      InodeID   `cbor:"1,keyasint"`
	Name    string    `cbor:"2,keyasint"`
	Value   []byte    `cbor:"3,keyasint,omitempty"`
	TS      Timestamp `cbor:"4,keyasint"`
	Removed bool      `cbor:"5,keyasint,omitempty"`
}

// SettingRecord is one setting register.
type SettingRecord struct {
	Key   string    `cbor:"1,keyasint"`
	Value []byte    `cbor:"2,keyasint,omitempty"`
	TS    Timestamp `cbor:"3,keyasint"`
}

// MoveRecord is one move-log entry with its undo data.
type MoveRecord struct {
	TS      Timestamp   `cbor:"1,keyasint"`
	ID      OpID        `cbor:"2,keyasint"`
	Move    MoveOp      `cbor:"3,keyasint"`
	Applied bool        `cbor:"4,keyasint,omitempty"`
	Old     *NodeRecord `cbor:"5,keyasint,omitempty"`
}

func idLess(a, b InodeID) bool { return string(a[:]) < string(b[:]) }

func nodeRecord(id InodeID, t *tnode) NodeRecord {
	return NodeRecord{ID: id, Parent: t.Parent, Meta: *t.M, TS: t.TS, Op: t.Op,
		HasPrev: t.HasPrev, PrevParent: t.PrevParent, PrevName: t.PrevName}
}

// stateRec builds the canonical state record (sorted; shares immutable data).
func (s *state) stateRec() StateRecord {
	rec := StateRecord{VV: s.vv.Clone()}
	rec.Tree = make([]NodeRecord, 0, len(s.tree))
	for id, t := range s.tree {
		rec.Tree = append(rec.Tree, nodeRecord(id, t))
	}
	sort.Slice(rec.Tree, func(i, j int) bool { return idLess(rec.Tree[i].ID, rec.Tree[j].ID) })
	rec.Attrs = make([]AttrRecord, 0, len(s.attrs))
	for id, a := range s.attrs {
		rec.Attrs = append(rec.Attrs, AttrRecord{ID: id, Kind: a.Kind, Mode: a.Mode, UID: a.UID, GID: a.GID,
			Atime: a.Atime, Mtime: a.Mtime, Ctime: a.Ctime, Symlink: a.Symlink, Rdev: a.Rdev, TS: a.TS, Created: a.Created})
	}
	sort.Slice(rec.Attrs, func(i, j int) bool { return idLess(rec.Attrs[i].ID, rec.Attrs[j].ID) })
	rec.Content = make([]ContentRecord, 0, len(s.content))
	for id, c := range s.content {
		cr := ContentRecord{ID: id, Ctx: c.Ctx.Clone()}
		for _, v := range c.Versions {
			cr.Versions = append(cr.Versions, VersionRecord(v))
		}
		rec.Content = append(rec.Content, cr)
	}
	sort.Slice(rec.Content, func(i, j int) bool { return idLess(rec.Content[i].ID, rec.Content[j].ID) })
	rec.Xattrs = []XattrRecord{}
	for id, m := range s.xattrs {
		for n, x := range m {
			rec.Xattrs = append(rec.Xattrs, XattrRecord{ID: id, Name: n, Value: x.Value, TS: x.TS, Removed: x.Removed})
		}
	}
	sort.Slice(rec.Xattrs, func(i, j int) bool {
		a, b := rec.Xattrs[i], rec.Xattrs[j]
		if a.ID != b.ID {
			return idLess(a.ID, b.ID)
		}
		return a.Name < b.Name
	})
	rec.Settings = make([]SettingRecord, 0, len(s.settings))
	for k, x := range s.settings {
		rec.Settings = append(rec.Settings, SettingRecord{Key: k, Value: x.Value, TS: x.TS})
	}
	sort.Slice(rec.Settings, func(i, j int) bool { return rec.Settings[i].Key < rec.Settings[j].Key })
	return rec
}

func encodeState(rec StateRecord) []byte { return encode(rec) }

// snapshot captures everything needed to continue from this state.
func (s *state) snapshot() *Snapshot {
	snap := &Snapshot{State: s.stateRec(), MaxTS: s.maxTS, LogBase: s.logBase.Clone()}
	for _, o := range s.vv.Nodes() {
		snap.Logs = append(snap.Logs, s.logs[o]...)
	}
	snap.MoveLog = make([]MoveRecord, len(s.mlog))
	for i, e := range s.mlog {
		mr := MoveRecord{TS: e.TS, ID: e.ID, Move: *e.M, Applied: e.Applied}
		if e.Old != nil {
			nr := nodeRecord(e.M.Dentry, e.Old)
			mr.Old = &nr
		}
		snap.MoveLog[i] = mr
	}
	return snap
}

// restore rebuilds a state from a snapshot, validating it (ErrMalformed).
func restore(snap *Snapshot) (*state, error) {
	s, err := restoreState(snap)
	if err != nil {
		return nil, fmt.Errorf("snapshot: %v: %w", err, ErrMalformed)
	}
	return s, nil
}

func validNodeRecord(n *NodeRecord) error {
	m := n.Meta
	m.Parent = n.Parent
	op := Op{ID: n.Op, TS: n.TS, Move: &m}
	if m.Dentry != n.ID {
		return errors.New("node id mismatch")
	}
	if err := checkOp(&op); err != nil {
		return err
	}
	if n.HasPrev && (n.PrevParent.IsZero() || !validName(n.PrevName)) {
		return errors.New("bad prev place")
	}
	return nil
}

func restoreState(snap *Snapshot) (*state, error) {
	if snap == nil {
		return nil, errors.New("nil snapshot")
	}
	s := newState()
	rec := &snap.State
	if err := validVV(rec.VV); err != nil {
		return nil, err
	}
	if err := validVV(snap.LogBase); err != nil {
		return nil, err
	}
	s.vv = rec.VV.Clone()
	if s.vv == nil {
		s.vv = VersionVector{}
	}
	s.maxTS = snap.MaxTS
	mk := func(n *NodeRecord) *tnode {
		m := n.Meta
		m.Parent = n.Parent
		return &tnode{Parent: n.Parent, M: &m, TS: n.TS, Op: n.Op, HasPrev: n.HasPrev, PrevParent: n.PrevParent, PrevName: n.PrevName}
	}
	for i := range rec.Tree {
		n := &rec.Tree[i]
		if err := validNodeRecord(n); err != nil {
			return nil, err
		}
		if _, dup := s.tree[n.ID]; dup {
			return nil, errors.New("duplicate tree node")
		}
		s.setNode(n.ID, mk(n))
	}
	// The tree must be acyclic.
	done := map[InodeID]bool{}
	for id := range s.tree {
		path := map[InodeID]bool{}
		for x := id; !done[x]; {
			t, ok := s.tree[x]
			if !ok {
				break
			}
			if path[x] {
				return nil, errors.New("cycle in tree")
			}
			path[x] = true
			x = t.Parent
		}
		for x := range path {
			done[x] = true
		}
	}
	for _, a := range rec.Attrs {
		if a.ID.IsZero() || a.ID == TrashID || (a.Kind != 0 && !validKind(a.Kind)) || (a.ID == RootID && a.Kind != KindDir) {
			return nil, errors.New("bad attr record")
		}
		if _, dup := s.attrs[a.ID]; dup && a.ID != RootID {
			return nil, errors.New("duplicate attr record")
		}
		s.attrs[a.ID] = &attrs{Kind: a.Kind, Mode: a.Mode, UID: a.UID, GID: a.GID, Atime: a.Atime, Mtime: a.Mtime,
			Ctime: a.Ctime, Symlink: a.Symlink, Rdev: a.Rdev, TS: a.TS, Created: a.Created}
	}
	for _, c := range rec.Content {
		if !userInode(c.ID) || validVV(c.Ctx) != nil || s.content[c.ID] != nil {
			return nil, errors.New("bad content record")
		}
		cr := &creg{Ctx: c.Ctx.Clone()}
		if cr.Ctx == nil {
			cr.Ctx = VersionVector{}
		}
		for i, v := range c.Versions {
			if !ValidNodeID(v.ID.Node) || v.ID.Seq == 0 || validContent(&v.Content) != nil ||
				(i > 0 && c.Versions[i-1].ID.Compare(v.ID) >= 0) {
				return nil, errors.New("bad content version")
			}
			cr.Versions = append(cr.Versions, version(v))
		}
		s.content[c.ID] = cr
	}
	for _, x := range rec.Xattrs {
		if x.ID.IsZero() || validXattr(x.Name, x.Value) != nil {
			return nil, errors.New("bad xattr record")
		}
		m := s.xattrs[x.ID]
		if m == nil {
			m = map[string]xval{}
			s.xattrs[x.ID] = m
		}
		m[x.Name] = xval{Value: x.Value, TS: x.TS, Removed: x.Removed}
	}
	for _, x := range rec.Settings {
		if validSetting(x.Key, x.Value) != nil {
			return nil, errors.New("bad setting record")
		}
		s.settings[x.Key] = sval{Value: x.Value, TS: x.TS}
	}
	s.rebuildCands()
	s.logBase = snap.LogBase.Clone()
	if s.logBase == nil {
		s.logBase = VersionVector{}
	}
	for i := range snap.Logs {
		op := snap.Logs[i]
		if err := checkOp(&op); err != nil {
			return nil, err
		}
		o := op.ID.Node
		if op.ID.Seq != s.logBase[o]+uint64(len(s.logs[o]))+1 || op.ID.Seq > s.vv[o] {
			return nil, errors.New("log out of sequence")
		}
		s.logs[o] = append(s.logs[o], op)
	}
	for o, seq := range s.vv {
		if s.logBase[o]+uint64(len(s.logs[o])) != seq {
			return nil, errors.New("log does not reach version vector")
		}
	}
	for o := range s.logBase {
		if _, ok := s.vv[o]; !ok {
			return nil, errors.New("log base without version")
		}
	}
	s.mlog = make([]*moveEntry, 0, len(snap.MoveLog))
	for i := range snap.MoveLog {
		mr := &snap.MoveLog[i]
		m := mr.Move
		if err := checkOp(&Op{ID: mr.ID, TS: mr.TS, Move: &m}); err != nil {
			return nil, err
		}
		if i > 0 && !lessTSID(snap.MoveLog[i-1].TS, snap.MoveLog[i-1].ID, mr.TS, mr.ID) {
			return nil, errors.New("move log out of order")
		}
		e := &moveEntry{TS: mr.TS, ID: mr.ID, M: &m, Applied: mr.Applied}
		if mr.Old != nil {
			if mr.Old.ID != m.Dentry {
				return nil, errors.New("move log undo mismatch")
			}
			if err := validNodeRecord(mr.Old); err != nil {
				return nil, err
			}
			e.Old = mk(mr.Old)
		}
		s.mlog = append(s.mlog, e)
	}
	s.dirty = true
	s.refresh()
	return s, nil
}
