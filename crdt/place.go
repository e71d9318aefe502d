package crdt

// Place is where a dentry is in the tree and where it was before its
// latest move (for change feeds: a move's old place).
type Place struct {
	Parent  InodeID // TrashID for a deleted dentry
	Name    string
	Inode   InodeID
	Kind    Kind
	HasPrev bool // false: the dentry's first placement (a create)
	// PrevParent and PrevName: the place before the latest move.
	PrevParent InodeID
	PrevName   string
	Live       bool // visible in the namespace (also when resurrected)
}

// Place returns the place of a dentry (false if it is not in the tree).
func (v *View) Place(dentry InodeID) (Place, bool) {
	t, ok := v.s.tree[dentry]
	if !ok {
		return Place{}, false
	}
	return Place{
		Parent: t.Parent, Name: t.M.Name, Inode: t.M.Inode, Kind: t.M.Kind,
		HasPrev: t.HasPrev, PrevParent: t.PrevParent, PrevName: t.PrevName,
		Live: v.s.live(dentry),
	}, true
}

// Path returns the display path of a live dentry ("/a/b"; "/" for the
// root), false if it is not live. Resurrected dentries have the path where
// they are shown.
func (v *View) Path(dentry InodeID) (string, bool) {
	s := v.s
	if dentry == RootID {
		return "/", true
	}
	if !s.live(dentry) {
		return "", false
	}
	var names []string
	for x, steps := dentry, 0; x != RootID; steps++ {
		if steps > len(s.tree)+1 {
			return "", false
		}
		parent := s.displayParent(x)
		names = append(names, s.displayName(parent, x))
		x = parent
	}
	n := 0
	for _, nm := range names {
		n += len(nm) + 1
	}
	b := make([]byte, 0, n)
	for i := len(names) - 1; i >= 0; i-- {
		b = append(b, '/')
		b = append(b, names[i]...)
	}
	return string(b), true
}

// displayName is the name live dentry x shows in dir: its own, or the
// conflict name it got when another dentry won the name.
func (s *state) displayName(dir, x InodeID) string {
	name := s.tree[x].M.Name
	if s.der.res[x] {
		name = s.der.shownName[x]
	}
	if w, ok := s.rawWinner(dir, name); ok && w == x {
		return name
	}
	for _, e := range s.listDir(dir) {
		if e.Dentry == x && e.Ref.Version.IsZero() {
			return e.Name
		}
	}
	return name
}
