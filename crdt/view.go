package crdt

import (
	"fmt"
	"sort"
	"strings"
)

// View reads the materialized namespace. All names it returns are display
// names: dentries that share a name in one directory are shown as the winner
// (latest move timestamp) under the name and the others under ConflictName;
// a file with several live content versions shows the winner (latest
// timestamp) under its name and every other version as an extra entry named
// with ConflictName, whose Ref.Version is set.
type View struct {
	s *state
}

// Ref names what a directory entry shows: an inode, or (Version non-zero) one
// specific content version of a file, a read-only conflict sibling.
type Ref struct {
	Inode   InodeID
	Version OpID
}

// Entry is one directory entry as shown to users.
type Entry struct {
	Name   string
	Dentry InodeID // the tree node; for a content conflict sibling, the file's dentry
	Ref    Ref
	Kind   Kind
}

// Inode is the materialized view of one inode.
type Inode struct {
	ID      InodeID
	Kind    Kind
	Mode    uint32 // permission bits, no type bits
	UID     uint32
	GID     uint32
	Atime   int64 // unix ns
	Mtime   int64
	Ctime   int64
	Symlink string
	Rdev    uint32
	Nlink   uint32    // live dentries; directories: 2 + live subdirectories
	Content Content   // the winning version (zero if none)
	Version OpID      // id of the winning version (zero if none)
	Created Timestamp // timestamp of the first op that created it
}

// Stats summarizes a namespace.
type Stats struct {
	Files, Dirs, Symlinks int
	Bytes                 int64
	Conflicts             int
}

// displayParent and displayName of a live dentry.
func (s *state) displayParent(id InodeID) InodeID {
	if s.der.res[id] {
		return s.der.shownParent[id]
	}
	return s.tree[id].Parent
}

// checkDir returns nil if id is a live directory.
func (s *state) checkDir(id InodeID) error {
	if id == RootID {
		return nil
	}
	t, ok := s.tree[id]
	if !ok || !s.live(id) {
		return fmt.Errorf("directory %s: %w", id, ErrNotFound)
	}
	if t.M.Kind != KindDir {
		return fmt.Errorf("%s: %w", id, ErrNotDir)
	}
	return nil
}

// isEmptyDir reports whether live directory dir shows no entries.
func (s *state) isEmptyDir(dir InodeID) bool {
	return len(s.children[dir]) == 0 && len(s.der.shownIn[dir]) == 0
}

func (s *state) entry(id InodeID, name string) Entry {
	t := s.tree[id]
	return Entry{Name: name, Dentry: id, Ref: Ref{Inode: t.M.Inode}, Kind: t.M.Kind}
}

// rawWinner returns the live dentry shown under its own name in dir.
func (s *state) rawWinner(dir InodeID, name string) (InodeID, bool) {
	var best InodeID
	var bt *tnode
	consider := func(ids []InodeID) {
		for _, id := range ids {
			t := s.tree[id]
			if bt == nil || lessTSID(bt.TS, bt.Op, t.TS, t.Op) {
				best, bt = id, t
			}
		}
	}
	k := dkey{dir, name}
	consider(s.names[k])
	consider(s.der.shownNames[k])
	return best, bt != nil
}

// listDir computes the display listing of a live directory, sorted by name.
func (s *state) listDir(dir InodeID) []Entry {
	type item struct {
		id   InodeID
		t    *tnode
		name string
	}
	groups := map[string][]item{}
	add := func(id InodeID, name string) {
		groups[name] = append(groups[name], item{id, s.tree[id], name})
	}
	for id := range s.children[dir] {
		add(id, s.tree[id].M.Name)
	}
	for _, id := range s.der.shownIn[dir] {
		add(id, s.der.shownName[id])
	}
	type gen struct {
		base string
		ts   Timestamp
		op   OpID
		e    Entry
	}
	var out []Entry
	taken := map[string]bool{}
	var losers []gen
	var shown []Entry // dentries with their final names (for content siblings)
	for name, g := range groups {
		sort.Slice(g, func(i, j int) bool { return lessTSID(g[j].t.TS, g[j].t.Op, g[i].t.TS, g[i].t.Op) })
		e := s.entry(g[0].id, name)
		out = append(out, e)
		shown = append(shown, e)
		taken[name] = true
		for _, it := range g[1:] {
			losers = append(losers, gen{name, it.t.TS, it.t.Op, s.entry(it.id, "")})
		}
	}
	assign := func(gs []gen) []Entry {
		sort.Slice(gs, func(i, j int) bool {
			if c := gs[i].ts.Compare(gs[j].ts); c != 0 {
				return c < 0
			}
			if c := gs[i].op.Compare(gs[j].op); c != 0 {
				return c < 0
			}
			return string(gs[i].e.Dentry[:]) < string(gs[j].e.Dentry[:])
		})
		var res []Entry
		for _, g := range gs {
			name := conflictName(g.base, g.ts, 1)
			for n := 2; taken[name]; n++ {
				name = conflictName(g.base, g.ts, n)
			}
			taken[name] = true
			g.e.Name = name
			res = append(res, g.e)
		}
		return res
	}
	ls := assign(losers)
	out = append(out, ls...)
	shown = append(shown, ls...)
	var sibs []gen
	for _, e := range shown {
		if e.Kind != KindFile {
			continue
		}
		c := s.content[e.Ref.Inode]
		if c == nil || len(c.Versions) < 2 {
			continue
		}
		w := c.winner()
		for i, v := range c.Versions {
			if i == w {
				continue
			}
			se := e
			se.Ref.Version = v.ID
			sibs = append(sibs, gen{e.Name, v.TS, v.ID, se})
		}
	}
	out = append(out, assign(sibs)...)
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// ---- View methods ----

// Lookup finds a display name in a directory (ErrNotFound, ErrNotDir).
func (v *View) Lookup(parent InodeID, name string) (Entry, error) {
	s := v.s
	if err := s.checkDir(parent); err != nil {
		return Entry{}, err
	}
	if id, ok := s.rawWinner(parent, name); ok {
		return s.entry(id, name), nil
	}
	if strings.Contains(name, conflictTag) {
		list := s.listDir(parent)
		i := sort.Search(len(list), func(i int) bool { return list[i].Name >= name })
		if i < len(list) && list[i].Name == name {
			return list[i], nil
		}
	}
	return Entry{}, fmt.Errorf("lookup %q: %w", name, ErrNotFound)
}

// ReadDir lists a directory sorted by name (ErrNotFound, ErrNotDir).
func (v *View) ReadDir(dir InodeID) ([]Entry, error) {
	if err := v.s.checkDir(dir); err != nil {
		return nil, err
	}
	return v.s.listDir(dir), nil
}

// Inode returns an inode's attributes and winning content, also for inodes
// with no live dentry (Nlink 0) that still have state (open-but-unlinked).
// ErrNotFound if the inode has no state at all.
func (v *View) Inode(id InodeID) (Inode, error) {
	s := v.s
	a := s.attrs[id]
	c := s.content[id]
	ds := s.inodeDentries[id]
	if a == nil && c == nil && len(ds) == 0 {
		return Inode{}, fmt.Errorf("inode %s: %w", id, ErrNotFound)
	}
	in := Inode{ID: id}
	if a != nil {
		in.Mode, in.UID, in.GID = a.Mode, a.UID, a.GID
		in.Atime, in.Mtime, in.Ctime = a.Atime, a.Mtime, a.Ctime
		in.Symlink, in.Rdev, in.Created = a.Symlink, a.Rdev, a.Created
	}
	in.Kind, _ = s.inodeKind(id)
	if in.Kind == KindDir {
		if id == RootID || (len(ds) > 0 && s.live(id)) {
			in.Nlink = uint32(2 + s.subdirs[id] + s.der.shownDirs[id])
		}
	} else {
		for _, d := range ds {
			if s.live(d) {
				in.Nlink++
			}
		}
	}
	if w := c.winner(); w >= 0 {
		in.Content = c.Versions[w].Content
		in.Version = c.Versions[w].ID
	}
	return in, nil
}

// inodeKind returns an inode's kind: its kind register, else the kind its
// dentries name, else a file if it only has content; false without state.
func (s *state) inodeKind(id InodeID) (Kind, bool) {
	a, c, ds := s.attrs[id], s.content[id], s.inodeDentries[id]
	switch {
	case a != nil && a.Kind != 0:
		return a.Kind, true
	case len(ds) > 0:
		return s.tree[ds[0]].M.Kind, true
	case c != nil:
		return KindFile, true
	}
	return 0, a != nil
}

// Version returns one content version of a file (Ref.Version zero: the
// winner). ErrNotFound if it is not live.
func (v *View) Version(ref Ref) (Content, error) {
	c := v.s.content[ref.Inode]
	if ref.Version.IsZero() {
		if w := c.winner(); w >= 0 {
			return c.Versions[w].Content, nil
		}
	} else if c != nil {
		for _, x := range c.Versions {
			if x.ID == ref.Version {
				return x.Content, nil
			}
		}
	}
	return Content{}, fmt.Errorf("version %s/%v: %w", ref.Inode, ref.Version, ErrNotFound)
}

// Versions returns the live content versions of a file (winner first, then
// by timestamp) with their timestamps.
func (v *View) Versions(inode InodeID) []VersionInfo {
	c := v.s.content[inode]
	if c == nil {
		return nil
	}
	out := make([]VersionInfo, 0, len(c.Versions))
	for _, x := range c.Versions {
		out = append(out, VersionInfo(x))
	}
	sort.Slice(out, func(i, j int) bool { return out[i].TS.Compare(out[j].TS) > 0 })
	return out
}

// VersionInfo is one live content version.
type VersionInfo struct {
	ID      OpID
	TS      Timestamp
	Content Content
}

// Parent returns the parent directory of a live directory (root: root).
func (v *View) Parent(dir InodeID) (InodeID, error) {
	if dir == RootID {
		return RootID, nil
	}
	if err := v.s.checkDir(dir); err != nil {
		return InodeID{}, err
	}
	return v.s.displayParent(dir), nil
}

// Live reports whether a dentry is visible in the namespace.
func (v *View) Live(dentry InodeID) bool { return v.s.live(dentry) }

// Xattr reads an extended attribute (ErrNoAttr).
func (v *View) Xattr(id InodeID, name string) ([]byte, error) {
	x, ok := v.s.xattrs[id][name]
	if !ok || x.Removed {
		return nil, fmt.Errorf("xattr %q: %w", name, ErrNoAttr)
	}
	return append([]byte{}, x.Value...), nil
}

// ListXattr lists extended attribute names, sorted.
func (v *View) ListXattr(id InodeID) ([]string, error) {
	var names []string
	for n, x := range v.s.xattrs[id] {
		if !x.Removed {
			names = append(names, n)
		}
	}
	sort.Strings(names)
	return names, nil
}

// Setting reads a cluster setting.
func (v *View) Setting(key string) ([]byte, bool) {
	x, ok := v.s.settings[key]
	if !ok {
		return nil, false
	}
	return append([]byte{}, x.Value...), true
}

// Settings lists every setting with the given key prefix.
func (v *View) Settings(prefix string) map[string][]byte {
	m := map[string][]byte{}
	for k, x := range v.s.settings {
		if strings.HasPrefix(k, prefix) {
			m[k] = append([]byte{}, x.Value...)
		}
	}
	return m
}

// Stats counts live inodes by kind and the total size of winning contents.
// Conflicts counts content conflict siblings and name-clash losers.
func (v *View) Stats() Stats {
	s := v.s
	st := Stats{Dirs: 1}
	for ino, ds := range s.inodeDentries {
		live := false
		var kind Kind
		for _, d := range ds {
			if s.live(d) {
				live, kind = true, s.tree[d].M.Kind
				break
			}
		}
		if !live {
			continue
		}
		switch kind {
		case KindDir:
			st.Dirs++
		case KindSymlink:
			st.Symlinks++
		default:
			st.Files++
			c := s.content[ino]
			if w := c.winner(); w >= 0 {
				st.Bytes += c.Versions[w].Content.Size
				st.Conflicts += len(c.Versions) - 1
			}
		}
	}
	for k, ids := range s.names {
		if len(ids) > 1 && k.dir != TrashID && s.live(k.dir) {
			st.Conflicts += len(ids) - 1
		}
	}
	return st
}

// ChunkRefs calls fn for every chunk id referenced by a live content
// version (winner or conflict sibling) of an inode that has a live dentry.
// Content of deleted inodes is not referenced: what an open handle of an
// unlinked file still reads is pinned by the handle, not by metadata
// (chunk/lifecycle), and a write racing with the delete resurrects the file
// and so references its content again.
func (v *View) ChunkRefs(fn func(ChunkID)) {
	s := v.s
	for ino, c := range s.content {
		if !s.liveInode(ino) {
			continue
		}
		for _, x := range c.Versions {
			x.Content.EachChunk(0, func(_ int64, ch ChunkID) bool {
				fn(ch)
				return true
			})
		}
	}
}

// liveInode reports whether some dentry of ino is visible.
func (s *state) liveInode(ino InodeID) bool {
	for _, d := range s.inodeDentries[ino] {
		if s.live(d) {
			return true
		}
	}
	return false
}

// ---- conflict names ----

const conflictTag = ".conflict-"

// ConflictName returns the display name of a conflict loser:
// "<base>.conflict-<node>-<YYYYMMDD-HHMMSS><ext>", extension kept last
// ("report.txt" -> "report.conflict-n2-20261125-163000.txt"; ".bashrc" ->
// ".bashrc.conflict-n2-20261125-163000"). ts is the loser's timestamp. The
// result is at most MaxNameLen bytes (the base is truncated).
func ConflictName(name string, ts Timestamp) string { return conflictName(name, ts, 1) }

// conflictName with n > 1 appends "-n" after the time (before the extension)
// to make a generated name unique.
func conflictName(name string, ts Timestamp, n int) string {
	base, ext := name, ""
	if i := strings.LastIndexByte(name, '.'); i > 0 {
		base, ext = name[:i], name[i:]
	}
	tag := conflictTag + string(ts.Node) + "-" + ts.Time().Format("20060102-150405")
	if n > 1 {
		tag += fmt.Sprintf("-%d", n)
	}
	if len(tag)+len(ext) > MaxNameLen-1 {
		base, ext = name, ""
	}
	if over := len(base) + len(tag) + len(ext) - MaxNameLen; over > 0 {
		base = truncateUTF8(base, len(base)-over)
	}
	return base + tag + ext
}

func truncateUTF8(s string, n int) string {
	if n <= 0 {
		return ""
	}
	if n >= len(s) {
		return s
	}
	for n > 0 && n < len(s) && s[n]&0xC0 == 0x80 {
		n--
	}
	return s[:n]
}

func sortIDs(ids []InodeID) {
	sort.Slice(ids, func(i, j int) bool { return string(ids[i][:]) < string(ids[j][:]) })
}
