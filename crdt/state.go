package crdt

import "sort"

// state is the materialized replica: tree, registers, logs and indexes.
// It is not safe for concurrent use; Replica guards it.
type state struct {
	vv    VersionVector
	maxTS Timestamp

	// per-origin logs: logs[o][i].ID.Seq == logBase[o]+1+i
	logs    map[NodeID][]Op
	logBase VersionVector

	tree map[InodeID]*tnode
	mlog []*moveEntry

	attrs    map[InodeID]*attrs
	content  map[InodeID]*creg
	xattrs   map[InodeID]map[string]xval
	settings map[string]sval

	// indexes over tree
	children      map[InodeID]map[InodeID]struct{}
	names         map[dkey][]InodeID
	inodeDentries map[InodeID][]InodeID
	subdirs       map[InodeID]int

	dirty bool
	der   derived
	// cands are the trash children that may be resurrected (view.go): a
	// directory with children, a file with a content version its delete
	// did not cover. Kept up to date by setNode and applyContent, so that
	// refresh costs O(candidates), not O(tombstones).
	cands map[InodeID]struct{}
}

// attrs holds one LWW register per attribute field.
type attrs struct {
	Kind    Kind
	Mode    uint32
	UID     uint32
	GID     uint32
	Atime   int64
	Mtime   int64
	Ctime   int64
	Symlink string
	Rdev    uint32
	TS      [nAttr]Timestamp
	Created Timestamp
}

const nAttr = 9

// creg is a file's content multi-value register with its causal context.
type creg struct {
	Ctx      VersionVector
	Versions []version // sorted by ID
}

type version struct {
	ID      OpID
	TS      Timestamp
	Content Content
}

type xval struct {
	Value   []byte
	TS      Timestamp
	Removed bool
}

type sval struct {
	Value []byte
	TS    Timestamp
}

func newState() *state {
	s := &state{
		vv:            VersionVector{},
		logs:          map[NodeID][]Op{},
		logBase:       VersionVector{},
		tree:          map[InodeID]*tnode{},
		attrs:         map[InodeID]*attrs{},
		content:       map[InodeID]*creg{},
		xattrs:        map[InodeID]map[string]xval{},
		settings:      map[string]sval{},
		children:      map[InodeID]map[InodeID]struct{}{},
		names:         map[dkey][]InodeID{},
		inodeDentries: map[InodeID][]InodeID{},
		subdirs:       map[InodeID]int{},
		cands:         map[InodeID]struct{}{},
	}
	s.attrs[RootID] = &attrs{Kind: KindDir, Mode: 0o755}
	return s
}

// applyRemote applies op if it directly follows the origin's log. It reports
// whether op was applied (false: duplicate or gap).
func (s *state) applyRemote(op *Op) bool {
	if op.ID.Seq != s.vv[op.ID.Node]+1 {
		return false
	}
	s.applyOp(op)
	return true
}

// applyOp applies a validated op that directly follows its origin's log.
func (s *state) applyOp(op *Op) {
	s.vv[op.ID.Node] = op.ID.Seq
	s.logs[op.ID.Node] = append(s.logs[op.ID.Node], *op)
	if op.TS.Compare(s.maxTS) > 0 {
		s.maxTS = op.TS
	}
	switch {
	case op.Move != nil:
		s.applyMove(op.TS, op.ID, op.Move)
	case op.Attr != nil:
		s.applyAttr(op.TS, op.Attr)
	case op.Xattr != nil:
		s.applyXattr(op.TS, op.Xattr)
	case op.Content != nil:
		s.applyContent(op.ID, op.TS, op.Content)
	case op.Setting != nil:
		if cur, ok := s.settings[op.Setting.Key]; !ok || op.TS.Compare(cur.TS) > 0 {
			s.settings[op.Setting.Key] = sval{Value: op.Setting.Value, TS: op.TS}
		}
	}
}

func (s *state) applyAttr(ts Timestamp, op *AttrOp) {
	a := s.attrs[op.Inode]
	if a == nil {
		a = &attrs{}
		s.attrs[op.Inode] = a
	}
	if op.Set&AttrKind != 0 && (a.Created.IsZero() || ts.Compare(a.Created) < 0) {
		a.Created = ts
	}
	for i := 0; i < nAttr; i++ {
		win := ts.Compare(a.TS[i]) > 0 // last writer wins
		if AttrMask(1<<i) == AttrKind {
			// The kind never changes: the first writer by timestamp wins,
			// so a crafted later op cannot turn a directory into a file.
			win = a.TS[i].IsZero() || ts.Compare(a.TS[i]) < 0
		}
		if op.Set&(1<<i) == 0 || !win {
			continue
		}
		a.TS[i] = ts
		switch AttrMask(1 << i) {
		case AttrKind:
			a.Kind = op.Kind
		case AttrMode:
			a.Mode = op.Mode
		case AttrUID:
			a.UID = op.UID
		case AttrGID:
			a.GID = op.GID
		case AttrAtime:
			a.Atime = op.Atime
		case AttrMtime:
			a.Mtime = op.Mtime
		case AttrCtime:
			a.Ctime = op.Ctime
		case AttrSymlink:
			a.Symlink = op.Symlink
		case AttrRdev:
			a.Rdev = op.Rdev
		}
	}
}

func (s *state) applyXattr(ts Timestamp, op *XattrOp) {
	m := s.xattrs[op.Inode]
	if m == nil {
		m = map[string]xval{}
		s.xattrs[op.Inode] = m
	}
	if cur, ok := m[op.Name]; ok && ts.Compare(cur.TS) <= 0 {
		return
	}
	m[op.Name] = xval{Value: op.Value, TS: ts, Removed: op.Remove}
}

// applyContent: drop the versions op.Context covers, join the context, add
// op's version unless the context already covers it.
func (s *state) applyContent(id OpID, ts Timestamp, op *ContentOp) {
	c := s.content[op.Inode]
	if c == nil {
		c = &creg{Ctx: VersionVector{}}
		s.content[op.Inode] = c
	}
	if len(op.Context) > 0 {
		kept := c.Versions[:0]
		for _, v := range c.Versions {
			if !op.Context.Covers(v.ID) {
				kept = append(kept, v)
			}
		}
		for i := len(kept); i < len(c.Versions); i++ {
			c.Versions[i] = version{}
		}
		c.Versions = kept
		c.Ctx.Merge(op.Context)
	}
	if op.Content != nil && !c.Ctx.Covers(id) {
		i := sort.Search(len(c.Versions), func(i int) bool { return c.Versions[i].ID.Compare(id) >= 0 })
		c.Versions = append(c.Versions, version{})
		copy(c.Versions[i+1:], c.Versions[i:])
		c.Versions[i] = version{ID: id, TS: ts, Content: *op.Content}
	}
	for _, d := range s.inodeDentries[op.Inode] {
		s.recheckCand(d)
	}
	s.dirty = true
}

// winner returns the index of the latest version, or -1.
func (c *creg) winner() int {
	if c == nil {
		return -1
	}
	w := -1
	for i, v := range c.Versions {
		if w < 0 || v.TS.Compare(c.Versions[w].TS) > 0 {
			w = i
		}
	}
	return w
}
