package crdt

import (
	"fmt"
	"sort"
	"strings"
	"time"
)

// Read-only accessors for inspection (the dashboard's CRDT inspector,
// conflict notices): the op log per origin, one inode's registers, the
// tombstones and the setting registers. They describe ops and registers in
// words and plain values; nothing outside this package decodes ops.

// LogRange is what the op log holds of one origin: ops Base+1..Last (the
// ones up to Base were compacted into the snapshot).
type LogRange struct {
	Base uint64 `json:"base"`
	Last uint64 `json:"last"`
}

// LogRanges returns the op log's range per origin.
func (v *View) LogRanges() map[NodeID]LogRange {
	out := map[NodeID]LogRange{}
	for o, base := range v.s.logBase {
		out[o] = LogRange{Base: base, Last: base}
	}
	for o, ops := range v.s.logs {
		base := v.s.logBase[o]
		out[o] = LogRange{Base: base, Last: base + uint64(len(ops))}
	}
	for o, seq := range v.s.vv {
		if r, ok := out[o]; !ok || r.Last < seq {
			out[o] = LogRange{Base: max(r.Base, seq), Last: seq}
		}
	}
	return out
}

// OpInfo describes one op of the log.
type OpInfo struct {
	ID      string    `json:"id"` // "node:seq"
	Seq     uint64    `json:"seq"`
	Time    time.Time `json:"time"`
	Kind    string    `json:"kind"` // move (creates too), delete, attr, xattr, content, drop-versions, setting
	Inode   string    `json:"inode,omitempty"`
	Summary string    `json:"summary"`
}

// LogPage returns up to limit ops of origin with a sequence number after
// after, in order (compacted ops are gone: the page starts after Base).
func (v *View) LogPage(origin NodeID, after uint64, limit int) []OpInfo {
	ops := v.s.logs[origin]
	base := v.s.logBase[origin]
	start := 0
	if after > base {
		start = int(min(after-base, uint64(len(ops))))
	}
	end := min(len(ops), start+max(limit, 0))
	out := make([]OpInfo, 0, end-start)
	for i := start; i < end; i++ {
		out = append(out, DescribeOp(&ops[i]))
	}
	return out
}

// DescribeOp describes an op in words.
func DescribeOp(op *Op) OpInfo {
	in := OpInfo{ID: fmt.Sprintf("%s:%d", op.ID.Node, op.ID.Seq), Seq: op.ID.Seq, Time: op.TS.Time().UTC()}
	switch {
	case op.Move != nil:
		m := op.Move
		in.Kind, in.Inode = "move", m.Inode.String()
		switch m.Parent {
		case TrashID:
			in.Kind = "delete"
			in.Summary = fmt.Sprintf("dentry %s (%q) to the trash", short(m.Dentry), m.Name)
		default:
			in.Summary = fmt.Sprintf("dentry %s: %s %q in %s", short(m.Dentry), m.Kind, m.Name, short(m.Parent))
		}
	case op.Attr != nil:
		a := op.Attr
		in.Kind, in.Inode = "attr", a.Inode.String()
		in.Summary = "set " + attrNames(a.Set)
	case op.Xattr != nil:
		x := op.Xattr
		in.Kind, in.Inode = "xattr", x.Inode.String()
		in.Summary = fmt.Sprintf("set %q (%d bytes)", x.Name, len(x.Value))
		if x.Remove {
			in.Summary = fmt.Sprintf("remove %q", x.Name)
		}
	case op.Content != nil:
		c := op.Content
		in.Kind, in.Inode = "content", c.Inode.String()
		if c.Content == nil {
			in.Kind, in.Summary = "drop-versions", "drop versions covered by "+vvString(c.Context)
		} else {
			in.Summary = fmt.Sprintf("%d bytes in %d chunks, supersedes %s", c.Content.Size, c.Content.StoredChunks(), vvString(c.Context))
		}
	case op.Setting != nil:
		in.Kind, in.Summary = "setting", fmt.Sprintf("%s (%d bytes)", op.Setting.Key, len(op.Setting.Value))
	}
	return in
}

func short(id InodeID) string {
	switch id {
	case RootID:
		return "root"
	case TrashID:
		return "trash"
	}
	return id.String()
}

var attrFieldNames = []struct {
	m    AttrMask
	name string
}{{AttrKind, "kind"}, {AttrMode, "mode"}, {AttrUID, "uid"}, {AttrGID, "gid"}, {AttrAtime, "atime"},
	{AttrMtime, "mtime"}, {AttrCtime, "ctime"}, {AttrSymlink, "symlink"}, {AttrRdev, "rdev"}}

func attrNames(m AttrMask) string {
	var names []string
	for _, f := range attrFieldNames {
		if m&f.m != 0 {
			names = append(names, f.name)
		}
	}
	return strings.Join(names, ", ")
}

// RegisterInfo is one last-writer-wins register: its value in words and
// the timestamp that won.
type RegisterInfo struct {
	Field string    `json:"field"`
	Value string    `json:"value"`
	Time  time.Time `json:"time"`
	Node  NodeID    `json:"node"` // the writer whose value won
}

// VersionDesc is one live content version of a file.
type VersionDesc struct {
	ID     string    `json:"id"`
	Time   time.Time `json:"time"`
	Size   int64     `json:"size"`
	Chunks int       `json:"chunks"`
	Inline bool      `json:"inline"`
	Winner bool      `json:"winner"`
}

// DentryDesc is one name (tree node) of an inode.
type DentryDesc struct {
	Dentry string    `json:"dentry"`
	Parent string    `json:"parent"`
	Name   string    `json:"name"`
	Live   bool      `json:"live"`
	Time   time.Time `json:"time"` // of the move that placed it
	Op     string    `json:"op"`
}

// InodeRegisters is everything the replica keeps about one inode.
type InodeRegisters struct {
	Inode      string         `json:"inode"`
	Kind       string         `json:"kind"`
	Created    time.Time      `json:"created"` // zero for the root
	Attrs      []RegisterInfo `json:"attrs"`
	Versions   []VersionDesc  `json:"versions"`
	ContentCtx string         `json:"content_context"` // versions seen (superseded up to)
	Xattrs     []RegisterInfo `json:"xattrs"`
	Dentries   []DentryDesc   `json:"dentries"`
}

// Registers returns the registers of inode (ErrNotFound if unknown).
func (v *View) Registers(inode InodeID) (InodeRegisters, error) {
	s := v.s
	a := s.attrs[inode]
	if a == nil && inode != RootID {
		return InodeRegisters{}, fmt.Errorf("inode %s: %w", inode, ErrNotFound)
	}
	r := InodeRegisters{Inode: inode.String(), Attrs: []RegisterInfo{}, Versions: []VersionDesc{}, Xattrs: []RegisterInfo{}, Dentries: []DentryDesc{}}
	if a != nil {
		r.Kind = a.Kind.String()
		if !a.Created.IsZero() {
			r.Created = a.Created.Time().UTC()
		}
		vals := []string{a.Kind.String(), fmt.Sprintf("%04o", a.Mode), fmt.Sprint(a.UID), fmt.Sprint(a.GID),
			nsString(a.Atime), nsString(a.Mtime), nsString(a.Ctime), a.Symlink, fmt.Sprint(a.Rdev)}
		for i, f := range attrFieldNames {
			if i < nAttr && !a.TS[i].IsZero() {
				r.Attrs = append(r.Attrs, RegisterInfo{Field: f.name, Value: vals[i], Time: a.TS[i].Time().UTC(), Node: a.TS[i].Node})
			}
		}
	}
	if c := s.content[inode]; c != nil {
		w := c.winner()
		for i, x := range c.Versions {
			r.Versions = append(r.Versions, VersionDesc{ID: fmt.Sprintf("%s:%d", x.ID.Node, x.ID.Seq), Time: x.TS.Time().UTC(),
				Size: x.Content.Size, Chunks: x.Content.StoredChunks(), Inline: len(x.Content.Inline) > 0, Winner: i == w})
		}
		sort.Slice(r.Versions, func(i, j int) bool { return r.Versions[i].Winner && !r.Versions[j].Winner })
		r.ContentCtx = vvString(c.Ctx)
	}
	for name, x := range s.xattrs[inode] {
		val := fmt.Sprintf("%d bytes", len(x.Value))
		if x.Removed {
			val = "removed"
		}
		r.Xattrs = append(r.Xattrs, RegisterInfo{Field: name, Value: val, Time: x.TS.Time().UTC(), Node: x.TS.Node})
	}
	sort.Slice(r.Xattrs, func(i, j int) bool { return r.Xattrs[i].Field < r.Xattrs[j].Field })
	for _, d := range s.inodeDentries[inode] {
		t := s.tree[d]
		if t == nil {
			continue
		}
		r.Dentries = append(r.Dentries, DentryDesc{Dentry: d.String(), Parent: short(t.Parent), Name: t.M.Name, Live: s.live(d),
			Time: t.TS.Time().UTC(), Op: fmt.Sprintf("%s:%d", t.Op.Node, t.Op.Seq)})
	}
	return r, nil
}

func nsString(ns int64) string {
	if ns == 0 {
		return "0"
	}
	return time.Unix(0, ns).UTC().Format(time.RFC3339Nano)
}

// Tombstone is a deleted dentry the replica still remembers (until
// compaction drops it).
type Tombstone struct {
	Dentry    string    `json:"dentry"`
	Inode     string    `json:"inode"`
	Name      string    `json:"name"`
	Kind      string    `json:"kind"`
	WasIn     string    `json:"was_in"` // the directory it was deleted from
	DeletedAt time.Time `json:"deleted_at"`
	By        NodeID    `json:"by"`
}

// Tombstones returns the number of deleted dentries kept and up to limit
// of them, newest first.
func (v *View) Tombstones(limit int) (int, []Tombstone) {
	var all []*tnode
	ids := map[*tnode]InodeID{}
	for id, t := range v.s.tree {
		if t.Parent == TrashID {
			all = append(all, t)
			ids[t] = id
		}
	}
	sort.Slice(all, func(i, j int) bool { return all[i].TS.Compare(all[j].TS) > 0 })
	out := make([]Tombstone, 0, min(limit, len(all)))
	for _, t := range all[:min(max(limit, 0), len(all))] {
		out = append(out, Tombstone{Dentry: ids[t].String(), Inode: t.M.Inode.String(), Name: t.PrevName, Kind: t.M.Kind.String(),
			WasIn: short(t.PrevParent), DeletedAt: t.TS.Time().UTC(), By: t.Op.Node})
	}
	return len(all), out
}

// SettingRegisters returns every cluster setting register with its value
// (as stored, CBOR) and the timestamp that won, sorted by key.
func (v *View) SettingRegisters() []SettingRegister {
	out := make([]SettingRegister, 0, len(v.s.settings))
	for k, x := range v.s.settings {
		out = append(out, SettingRegister{Key: k, Value: x.Value, Time: x.TS.Time().UTC(), Node: x.TS.Node})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Key < out[j].Key })
	return out
}

// SettingRegister is one cluster setting.
type SettingRegister struct {
	Key   string
	Value []byte
	Time  time.Time
	Node  NodeID
}

// NameClash returns the live dentries of dir whose own name is name
// (more than one: a name conflict, shown as one winner and conflict
// copies).
func (v *View) NameClash(dir InodeID, name string) []InodeID {
	var out []InodeID
	for _, id := range v.s.names[dkey{dir, name}] {
		if v.s.live(id) {
			out = append(out, id)
		}
	}
	return out
}

// vvString is a version vector in words: "n1:4 n2:7" (sorted), "{}" if empty.
func vvString(vv VersionVector) string {
	if len(vv) == 0 {
		return "{}"
	}
	parts := make([]string, 0, len(vv))
	for n, seq := range vv {
		parts = append(parts, fmt.Sprintf("%s:%d", n, seq))
	}
	sort.Strings(parts)
	return strings.Join(parts, " ")
}

// LiveDentries returns the live dentries (names) of inode.
func (v *View) LiveDentries(inode InodeID) []InodeID {
	var out []InodeID
	for _, d := range v.s.inodeDentries[inode] {
		if v.s.live(d) {
			out = append(out, d)
		}
	}
	return out
}
