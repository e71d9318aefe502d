package crdt

import "sort"

// tnode is one tree node (a dentry) as placed by the latest move in
// timestamp order.
type tnode struct {
	Parent InodeID
	M      *MoveOp // meta: Name, Inode, Kind, Context (shared, immutable)
	TS     Timestamp
	Op     OpID
	// Prev is the place the dentry had just before its current move (for a
	// trash-to-trash move: the place before the first one).
	HasPrev    bool
	PrevParent InodeID
	PrevName   string
}

// moveEntry is one entry of the move log (sorted by (TS, ID)).
type moveEntry struct {
	TS      Timestamp
	ID      OpID
	M       *MoveOp
	Applied bool   // false: skipped (a cycle, or a change of the dentry's kind or inode)
	Old     *tnode // state of M.Dentry before the move; nil if it did not exist
}

type dkey struct {
	dir  InodeID
	name string
}

func lessTSID(ts Timestamp, id OpID, ts2 Timestamp, id2 OpID) bool {
	if c := ts.Compare(ts2); c != 0 {
		return c < 0
	}
	return id.Compare(id2) < 0
}

// applyMove applies a move op in timestamp order, undoing and redoing later
// moves if it arrives late (Kleppmann et al. 2021).
func (s *state) applyMove(ts Timestamp, id OpID, m *MoveOp) {
	e := &moveEntry{TS: ts, ID: id, M: m}
	n := len(s.mlog)
	if n == 0 || lessTSID(s.mlog[n-1].TS, s.mlog[n-1].ID, ts, id) {
		s.doMove(e)
		s.mlog = append(s.mlog, e)
		return
	}
	i := sort.Search(n, func(i int) bool { return lessTSID(ts, id, s.mlog[i].TS, s.mlog[i].ID) })
	for j := n - 1; j >= i; j-- {
		s.undoMove(s.mlog[j])
	}
	s.doMove(e)
	s.mlog = append(s.mlog, nil)
	copy(s.mlog[i+1:], s.mlog[i:])
	s.mlog[i] = e
	for j := i + 1; j < len(s.mlog); j++ {
		s.doMove(s.mlog[j])
	}
}

func (s *state) doMove(e *moveEntry) {
	m := e.M
	old, existed := s.tree[m.Dentry]
	e.Old, e.Applied = nil, false
	if existed {
		o := *old
		e.Old = &o
	}
	if m.Dentry == m.Parent || s.isAncestor(m.Dentry, m.Parent) {
		return
	}
	if existed && (old.M.Kind != m.Kind || old.M.Inode != m.Inode) {
		return // a dentry's kind and inode never change (only a crafted op tries)
	}
	nn := &tnode{Parent: m.Parent, M: m, TS: e.TS, Op: e.ID}
	if existed {
		if old.Parent == TrashID && m.Parent == TrashID {
			nn.HasPrev, nn.PrevParent, nn.PrevName = old.HasPrev, old.PrevParent, old.PrevName
		} else {
			nn.HasPrev, nn.PrevParent, nn.PrevName = true, old.Parent, old.M.Name
		}
	}
	s.setNode(m.Dentry, nn)
	e.Applied = true
}

func (s *state) undoMove(e *moveEntry) {
	if !e.Applied {
		return
	}
	if e.Old == nil {
		s.setNode(e.M.Dentry, nil)
	} else {
		o := *e.Old
		s.setNode(e.M.Dentry, &o)
	}
}

// isAncestor reports whether anc is n or an ancestor of n.
func (s *state) isAncestor(anc, n InodeID) bool {
	for steps := 0; steps <= len(s.tree)+1; steps++ {
		if n == anc {
			return true
		}
		t, ok := s.tree[n]
		if !ok {
			return false
		}
		n = t.Parent
	}
	return true // a cycle: cannot happen, but never loop forever
}

// setNode replaces (nil: removes) tree node id and maintains the indexes.
func (s *state) setNode(id InodeID, n *tnode) {
	old, had := s.tree[id]
	s.placeNode(id, n)
	s.recheckCand(id)
	if had {
		s.recheckCand(old.Parent)
	}
	if n != nil {
		s.recheckCand(n.Parent)
	}
	// Whether a deleted name of a file may come back depends on the deletes
	// of all its names (uncoveredVersion): recheck them when one enters or
	// leaves the trash.
	if t := eitherNode(old, n); t != nil && t.M.Kind != KindDir && (had && old.Parent == TrashID || n != nil && n.Parent == TrashID) {
		for _, d := range s.inodeDentries[t.M.Inode] {
			s.recheckCand(d)
		}
	}
}

// eitherNode is b, or a when b is nil.
func eitherNode(a, b *tnode) *tnode {
	if b != nil {
		return b
	}
	return a
}

func (s *state) placeNode(id InodeID, n *tnode) {
	if old, ok := s.tree[id]; ok {
		delete(s.children[old.Parent], id)
		if len(s.children[old.Parent]) == 0 {
			delete(s.children, old.Parent)
		}
		k := dkey{old.Parent, old.M.Name}
		s.names[k] = removeID(s.names[k], id)
		if len(s.names[k]) == 0 {
			delete(s.names, k)
		}
		s.inodeDentries[old.M.Inode] = removeID(s.inodeDentries[old.M.Inode], id)
		if len(s.inodeDentries[old.M.Inode]) == 0 {
			delete(s.inodeDentries, old.M.Inode)
		}
		if old.M.Kind == KindDir {
			s.subdirs[old.Parent]--
			if s.subdirs[old.Parent] == 0 {
				delete(s.subdirs, old.Parent)
			}
		}
		delete(s.tree, id)
	}
	s.dirty = true
	if n == nil {
		return
	}
	s.tree[id] = n
	c := s.children[n.Parent]
	if c == nil {
		c = map[InodeID]struct{}{}
		s.children[n.Parent] = c
	}
	c[id] = struct{}{}
	k := dkey{n.Parent, n.M.Name}
	s.names[k] = append(s.names[k], id)
	s.inodeDentries[n.M.Inode] = append(s.inodeDentries[n.M.Inode], id)
	if n.M.Kind == KindDir {
		s.subdirs[n.Parent]++
	}
}

func removeID(ids []InodeID, id InodeID) []InodeID {
	for i, x := range ids {
		if x == id {
			ids[i] = ids[len(ids)-1]
			return ids[:len(ids)-1]
		}
	}
	return ids
}
