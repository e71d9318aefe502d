package crdt

import "sort"

// derived is computed from the state by refresh: the resurrected tombstones
// and where they are shown.
type derived struct {
	res         map[InodeID]bool    // resurrected trash children
	shownParent map[InodeID]InodeID // resurrected -> display parent
	shownName   map[InodeID]string
	shownIn     map[InodeID][]InodeID // display parent -> resurrected shown there
	shownNames  map[dkey][]InodeID
	shownDirs   map[InodeID]int // display parent -> resurrected dirs shown there
}

// refresh recomputes the derived liveness data if the state changed. Only
// resurrection candidates are examined (s.cands, plus trash directories
// that become the previous place of a resurrected node), in id order, pass
// after pass until nothing changes: the same decisions, in the same order,
// as examining every trash child, since a non-candidate never qualifies.
func (s *state) refresh() {
	if !s.dirty {
		return
	}
	s.dirty = false
	s.der = derived{}
	if len(s.cands) == 0 {
		return
	}
	kids := make([]InodeID, 0, len(s.cands))
	for k := range s.cands {
		kids = append(kids, k)
	}
	sortIDs(kids)
	listed := make(map[InodeID]bool, len(kids))
	for _, k := range kids {
		listed[k] = true
	}
	d := &s.der
	d.res = map[InodeID]bool{}
	prevKids := map[InodeID]int{}
	for changed := true; changed; {
		changed = false
		for i := 0; i < len(kids); i++ {
			k := kids[i]
			if d.res[k] || !s.qualifies(k, prevKids) {
				continue
			}
			d.res[k] = true
			changed = true
			t := s.tree[k]
			if !t.HasPrev {
				continue
			}
			prevKids[t.PrevParent]++
			if p, ok := s.tree[t.PrevParent]; ok && p.Parent == TrashID && !listed[t.PrevParent] {
				// A trash directory that may now qualify: examine it in id
				// order (this pass if it sorts after k, the next otherwise).
				listed[t.PrevParent] = true
				j := sort.Search(len(kids), func(j int) bool { return idLess(t.PrevParent, kids[j]) })
				kids = append(kids, InodeID{})
				copy(kids[j+1:], kids[j:])
				kids[j] = t.PrevParent
				if j <= i {
					i++
				}
			}
		}
	}
	kids = kids[:0]
	for k := range d.res {
		kids = append(kids, k)
	}
	sortIDs(kids)
	if len(d.res) == 0 {
		d.res = nil
		return
	}
	d.shownParent = map[InodeID]InodeID{}
	d.shownName = map[InodeID]string{}
	d.shownIn = map[InodeID][]InodeID{}
	d.shownNames = map[dkey][]InodeID{}
	d.shownDirs = map[InodeID]int{}
	mark := map[InodeID]int{} // 1 resolving, 2 placed
	var resolve func(k InodeID)
	var rooted func(p InodeID) bool
	resolve = func(k InodeID) {
		mark[k] = 1
		t := s.tree[k]
		parent, name := RootID, t.M.Name
		if t.HasPrev {
			name = t.PrevName
			if t.PrevParent != TrashID && rooted(t.PrevParent) {
				parent = t.PrevParent
			}
		}
		mark[k] = 2
		d.shownParent[k] = parent
		d.shownName[k] = name
		d.shownIn[parent] = append(d.shownIn[parent], k)
		d.shownNames[dkey{parent, name}] = append(d.shownNames[dkey{parent, name}], k)
		if t.M.Kind == KindDir {
			d.shownDirs[parent]++
		}
	}
	// rooted reports whether directory p is shown under RootID, placing
	// resurrected ancestors first; a cycle through a node being placed fails.
	rooted = func(p InodeID) bool {
		if p != RootID {
			if t, ok := s.tree[p]; !ok || t.M.Kind != KindDir {
				return false
			}
		}
		for x, steps := p, 0; steps <= len(s.tree)+1; steps++ {
			if x == RootID {
				return true
			}
			if d.res[x] {
				switch mark[x] {
				case 1:
					return false
				case 0:
					resolve(x)
				}
				return true
			}
			t, ok := s.tree[x]
			if !ok || t.Parent == TrashID {
				return false
			}
			x = t.Parent
		}
		return false
	}
	for _, k := range kids {
		if d.res[k] && mark[k] == 0 {
			resolve(k)
		}
	}
}

// recheckCand updates whether dentry k is a resurrection candidate.
func (s *state) recheckCand(k InodeID) {
	t, ok := s.tree[k]
	if ok && t.Parent == TrashID && s.candidate(k, t) {
		s.cands[k] = struct{}{}
	} else {
		delete(s.cands, k)
	}
}

// rebuildCands recomputes every candidate (after a restore).
func (s *state) rebuildCands() {
	s.cands = map[InodeID]struct{}{}
	for k := range s.children[TrashID] {
		s.recheckCand(k)
	}
}

// candidate: trash child k may be resurrected (a directory with children,
// a file with a content version no delete of its names covered).
func (s *state) candidate(k InodeID, t *tnode) bool {
	if t.M.Kind == KindDir {
		return len(s.children[k]) > 0
	}
	return s.uncoveredVersion(t.M.Inode)
}

// uncoveredVersion reports whether file ino has a live content version
// that no delete of any of its names had seen: a write concurrent with the
// deletes. One name's delete is not enough to bring the file back: after
// link(a, b), unlink(a), a write through b and unlink(b), the write is
// covered by b's delete and a stays deleted (found by TestPosixDiffRandom).
func (s *state) uncoveredVersion(ino InodeID) bool {
	c := s.content[ino]
	if c == nil || len(c.Versions) == 0 {
		return false
	}
	seen := VersionVector{}
	for _, d := range s.inodeDentries[ino] {
		if t := s.tree[d]; t.Parent == TrashID {
			seen.Merge(t.M.Context)
		}
	}
	for _, v := range c.Versions {
		if !seen.Covers(v.ID) {
			return true
		}
	}
	return false
}

// qualifies reports whether trash child k is resurrected given the current
// resurrected set.
func (s *state) qualifies(k InodeID, prevKids map[InodeID]int) bool {
	t := s.tree[k]
	if t.M.Kind == KindDir {
		return len(s.children[k]) > 0 || prevKids[k] > 0
	}
	if !s.uncoveredVersion(t.M.Inode) {
		return false
	}
	for _, e := range s.inodeDentries[t.M.Inode] {
		if e != k && s.live(e) {
			return false
		}
	}
	return true
}

// live reports whether dentry (or RootID) is visible.
func (s *state) live(id InodeID) bool {
	for steps := 0; steps <= len(s.tree)+1; steps++ {
		if id == RootID || s.der.res[id] {
			return true
		}
		t, ok := s.tree[id]
		if !ok || t.Parent == TrashID {
			return false
		}
		id = t.Parent
	}
	return false
}
