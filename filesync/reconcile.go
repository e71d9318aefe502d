package filesync

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/clusterf/clusterf/crdt"
)

// Reconciling one path: compare the local entry l and the cluster entry c
// with the base, decide, act (or plan a transfer or a delete for the end
// of the round). Runs in the engine goroutine only.

// round collects what a round does after its walk.
type round struct {
	transfers []transfer
	deletes   []deletion
	again     map[string]bool // reconcile these once more (conflicts, moves)
}

type transfer struct {
	rel  string
	push bool   // local -> cluster
	src  *entry // at plan time
	dst  *entry // at plan time (nil: nothing)
}

type deletion struct {
	rel       string
	onCluster bool // the local side deleted it: delete in the cluster
	n         *bnode
}

// syncDir reconciles the children of directory rel; deep also descends
// into directories that did not change.
func (e *engine) syncDir(ctx context.Context, rel string, deep bool) {
	if ctx.Err() != nil {
		return
	}
	e.watchDir(rel)
	ls, err := e.loc.list(rel)
	if err != nil {
		e.fail(rel, err)
		return
	}
	cs, err := e.cl.list(ctx, rel)
	if err != nil && !notFound(err) {
		e.fail(rel, err)
		return
	}
	names := map[string]bool{}
	var temps []string
	for n := range ls {
		if strings.HasPrefix(n, tmpPrefix) {
			temps = append(temps, n)
		}
		names[n] = true
	}
	for n := range cs {
		names[n] = true
	}
	if bn := e.st.get(rel); bn != nil {
		for n := range bn.kids {
			names[n] = true
		}
	}
	if len(temps) > 0 { // left by a crash: transfers run after the walk, never during it
		e.loc.removeTemps(rel, temps)
	}
	sorted := make([]string, 0, len(names))
	for n := range names {
		sorted = append(sorted, n)
	}
	sort.Strings(sorted)
	for _, name := range sorted {
		child := joinRel(rel, name)
		l, c := ls[name], cs[name]
		dir := l != nil && l.kind == kindDir || c != nil && c.kind == kindDir
		if e.ex.excluded(child, dir) || e.waiting(child) {
			continue
		}
		e.reconcile(ctx, child, l, c, deep)
	}
}

// waiting reports whether rel failed and waits for its retry (other
// events do not make it fail again meanwhile).
func (e *engine) waiting(rel string) bool {
	at, ok := e.retries[rel]
	return ok && at.After(time.Now())
}

// syncPath reconciles one path named by an event.
func (e *engine) syncPath(ctx context.Context, rel string, deep bool) {
	if rel == "" {
		e.syncDir(ctx, "", deep)
		return
	}
	if e.ex.excludedPath(dirOf(rel), true) || internal(rel) || e.waiting(rel) {
		return
	}
	l, err := e.loc.stat(rel)
	if err != nil {
		e.fail(rel, err)
		return
	}
	c, err := e.cl.stat(ctx, rel)
	if err != nil {
		e.fail(rel, err)
		return
	}
	dir := l != nil && l.kind == kindDir || c != nil && c.kind == kindDir
	if e.ex.excluded(rel, dir) {
		return
	}
	e.reconcile(ctx, rel, l, c, deep)
}

// reconcile decides what to do with rel.
func (e *engine) reconcile(ctx context.Context, rel string, l, c *entry, deep bool) {
	if l != nil && l.kind == kindSpecial || c != nil && c.kind == kindSpecial {
		e.stat.add(func(s *Status) { s.Skipped++ })
		return
	}
	n := e.st.get(rel)
	b := base(n)
	lch, cch := !sameLocal(l, b), !sameCluster(c, b)
	mode := e.cfg.Mode
	switch {
	case !lch && !cch:
		if deep && l != nil && l.kind == kindDir {
			e.syncDir(ctx, rel, true)
		}
	case lch && !cch && mode.push():
		e.propagate(ctx, rel, l, c, n, true, deep)
	case cch && !lch && mode.pull():
		e.propagate(ctx, rel, c, l, n, false, deep)
	case lch && cch:
		e.both(ctx, rel, l, c, n, deep)
	default: // a change on the side this pair does not read from: leave it
		if deep && l != nil && l.kind == kindDir && c != nil && c.kind == kindDir {
			e.syncDir(ctx, rel, true)
		}
	}
}

// propagate applies a change of the source side (src; push: local) to
// the other side, whose entry dst is as recorded.
func (e *engine) propagate(ctx context.Context, rel string, src, dst *entry, n *bnode, push, deep bool) {
	if src == nil {
		if n != nil {
			e.round.deletes = append(e.round.deletes, deletion{rel: rel, onCluster: push, n: n})
		}
		return
	}
	if n == nil && e.tryMove(ctx, rel, src, push) {
		return
	}
	if dst != nil && dst.kind == kindDir && src.kind != kindDir {
		// A directory became a file or symlink: remove the tree first.
		e.round.deletes = append(e.round.deletes, deletion{rel: rel, onCluster: push, n: n})
		e.round.again[rel] = true
		return
	}
	switch src.kind {
	case kindDir:
		e.propagateDir(ctx, rel, src, dst, n, push, deep)
	case kindSymlink:
		e.copySymlink(ctx, rel, src, dst, push)
	case kindFile:
		if n != nil && dst != nil && e.attrOnly(ctx, rel, src, dst, n, push) {
			return
		}
		e.plan(rel, src, dst, push)
	}
}

func (e *engine) plan(rel string, src, dst *entry, push bool) {
	e.round.transfers = append(e.round.transfers, transfer{rel: rel, push: push, src: src, dst: dst})
	e.stat.add(func(s *Status) { s.FilesPending++; s.BytesPending += src.size })
}

// propagateDir creates (or re-modes) the directory on the other side and
// descends into it when it is new there or deep is set.
func (e *engine) propagateDir(ctx context.Context, rel string, src, dst *entry, n *bnode, push, deep bool) {
	if dst != nil && dst.kind != kindDir { // a file became a directory
		var err error
		if push {
			err = e.cl.remove(ctx, rel, func(cur *entry) bool { return sameCluster(cur, base(n)) })
		} else {
			err = e.loc.remove(rel, func(cur *entry) bool { return sameLocal(cur, base(n)) })
		}
		if err != nil {
			e.fail(rel, err)
			return
		}
		dst = nil
	}
	var made *entry
	var err error
	if push {
		made, err = e.cl.mkdir(ctx, rel, src)
	} else {
		made, err = e.loc.mkdir(rel, src)
	}
	if err != nil {
		e.fail(rel, err)
		return
	}
	e.recordPair(rel, src, made, push, record{Kind: kindDir})
	e.ok(rel)
	if dst == nil || n == nil || deep {
		e.syncDir(ctx, rel, deep)
	}
}

// recordPair records rel with the source and destination entries.
func (e *engine) recordPair(rel string, src, dst *entry, push bool, r record) {
	if push {
		r.L, r.C = src.lstamp(), dst.cstamp()
	} else {
		r.L, r.C = dst.lstamp(), src.cstamp()
	}
	e.st.set(rel, r)
}

func (e *engine) copySymlink(ctx context.Context, rel string, src, dst *entry, push bool) {
	var made *entry
	var err error
	if push {
		made, err = e.cl.symlink(ctx, rel, src.target, src)
	} else {
		made, err = e.loc.symlink(rel, src.target, src, func(cur *entry) bool { return sameLocalEntry(cur, dst) })
	}
	if err != nil {
		e.fail(rel, err)
		return
	}
	e.recordPair(rel, src, made, push, record{Kind: kindSymlink, Target: src.target})
	e.ok(rel)
	e.stat.add(func(s *Status) { s.FilesDone++ })
}

// attrOnly handles a file whose content did not change (mode, mtime or
// ctime did): it sets the attributes on the other side and returns true;
// false means the content must be copied.
func (e *engine) attrOnly(ctx context.Context, rel string, src, dst *entry, n *bnode, push bool) bool {
	r := n.rec
	if r.Kind != kindFile || dst.kind != kindFile {
		return false
	}
	var same bool
	if push {
		same = sameLocalContent(src, &r)
		if !same && src.size == r.L.Size && r.Hash != ([32]byte{}) {
			h, err := e.hashLocal(rel)
			same = err == nil && h == r.Hash
		}
	} else {
		same = src.size == r.C.Size && src.mtime == r.C.Mtime && src.ref.Inode == r.C.Inode && src.mode != r.C.Mode
		if !same && src.size == r.C.Size && r.Hash != ([32]byte{}) {
			h, err := e.hashCluster(ctx, rel)
			same = err == nil && h == r.Hash
		}
	}
	if !same {
		return false
	}
	var made *entry
	var err error
	if push {
		made, err = e.cl.setAttr(ctx, rel, src)
	} else {
		made, err = e.loc.setAttr(rel, src)
	}
	if err != nil {
		e.fail(rel, err)
		return true
	}
	e.recordPair(rel, src, made, push, record{Kind: kindFile, Hash: r.Hash})
	e.ok(rel)
	return true
}

// both handles a path changed on both sides since the base.
func (e *engine) both(ctx context.Context, rel string, l, c *entry, n *bnode, deep bool) {
	mode := e.cfg.Mode
	switch {
	case l == nil && c == nil:
		e.st.remove(n)
	case l == nil: // deleted here, changed there: the change wins
		if n != nil {
			e.st.remove(n)
		}
		if mode.pull() {
			e.propagate(ctx, rel, c, nil, nil, false, deep)
		}
	case c == nil:
		if n != nil {
			e.st.remove(n)
		}
		if mode.push() {
			e.propagate(ctx, rel, l, nil, nil, true, deep)
		}
	case l.kind == kindDir && c.kind == kindDir:
		e.st.set(rel, record{Kind: kindDir, L: l.lstamp(), C: c.cstamp()})
		e.syncDir(ctx, rel, deep)
	case equalEntries(l, c):
		r := record{Kind: l.kind, Target: l.target, L: l.lstamp(), C: c.cstamp()}
		if n != nil && n.rec.Kind == kindFile && sameLocalContent(l, &n.rec) {
			r.Hash = n.rec.Hash
		}
		e.st.set(rel, r)
		e.ok(rel)
	default:
		if same, h, err := e.sameContent(ctx, rel, l, c); err != nil {
			e.fail(rel, err) // never a conflict copy made because a read failed
		} else if same {
			e.settleSame(ctx, rel, l, c, h)
		} else {
			e.conflict(ctx, rel, l, c, n)
		}
	}
}

// sameContent reports whether two files of the same size hold the same
// bytes (hashing both): the quick check failed only on the mtime (a tree
// copied to both sides without its times, a filesystem with coarser
// timestamps, or a copy whose base a kill -9 kept from being written).
func (e *engine) sameContent(ctx context.Context, rel string, l, c *entry) (bool, [32]byte, error) {
	if l.kind != kindFile || c.kind != kindFile || l.size != c.size {
		return false, [32]byte{}, nil
	}
	lh, err := e.hashLocal(rel)
	if err != nil {
		return false, lh, err
	}
	ch, err := e.hashCluster(ctx, rel)
	if err != nil {
		return false, lh, fmt.Errorf("cluster %s: %w", e.cl.full(rel), err)
	}
	return lh == ch, lh, nil
}

// settleSame records a file both sides hold with equal content: the side
// that would win a conflict (the source of a one-way pair, the newer
// mtime both ways) gives the other its mode and mtime; nothing is copied.
func (e *engine) settleSame(ctx context.Context, rel string, l, c *entry, h [32]byte) {
	push := e.cfg.Mode == Import || e.cfg.Mode == Both && l.mtime > c.mtime
	src, dst := c, l
	if push {
		src, dst = l, c
	}
	made := dst
	// A read-only conflict version in the cluster is recorded as it is.
	if c.ref.Version.IsZero() && (dst.mode != src.mode || dst.mtime != src.mtime) {
		var err error
		if push {
			made, err = e.cl.setAttr(ctx, rel, src)
		} else {
			made, err = e.loc.setAttr(rel, src)
		}
		if err != nil {
			e.fail(rel, err)
			return
		}
	}
	e.recordPair(rel, src, made, push, record{Kind: kindFile, Hash: h})
	e.ok(rel)
}

// conflict keeps both versions: the loser moves aside under the cluster's
// conflict name on its own side (and travels to the other side in a
// bidirectional pair); the winner takes the name on both sides.
func (e *engine) conflict(ctx context.Context, rel string, l, c *entry, n *bnode) {
	localWins := e.cfg.Mode == Import || e.cfg.Mode == Both && l.mtime > c.mtime
	dir, name := splitRel(rel)
	var aside string
	var err error
	if localWins {
		ts := e.cl.versionTS(c.ref)
		if ts.Node == "" {
			ts = crdt.Timestamp{Wall: c.mtime, Node: e.self}
		}
		aside = joinRel(dir, crdt.ConflictName(name, ts))
		err = e.cl.rename(ctx, rel, aside)
	} else {
		aside = joinRel(dir, crdt.ConflictName(name, crdt.Timestamp{Wall: l.mtime, Node: e.self}))
		err = e.loc.rename(rel, aside)
	}
	if err != nil {
		e.fail(rel, err)
		return
	}
	if n != nil {
		e.st.remove(n)
	}
	e.log.Info("sync conflict: both sides changed; kept both", "pair", e.id, "path", rel, "loser", aside)
	e.stat.add(func(s *Status) { s.Conflicts++ })
	e.round.again[rel] = true
	e.round.again[aside] = true
}

// tryMove recognises a rename on the source side: an entry new at rel
// whose inode (local dev+ino, or cluster inode) the base knows at another
// path that the source no longer has. The other side is renamed instead
// of copied. It returns false when this is no move.
func (e *engine) tryMove(ctx context.Context, rel string, src *entry, push bool) bool {
	var old *bnode
	if push && src.ino != 0 {
		old = e.st.byIno[devIno{src.dev, src.ino}]
	} else if !push && src.ref.Version.IsZero() {
		old = e.st.byInode[src.ref.Inode]
	}
	if old == nil || old == e.st.root || old.rec.Kind != src.kind {
		return false
	}
	oldRel := old.rel()
	if oldRel == rel || strings.HasPrefix(rel, oldRel+"/") || e.ex.excludedPath(oldRel, src.kind == kindDir) {
		return false
	}
	if src.kind == kindFile {
		st := old.rec.C
		if push {
			st = clusterStamp{Size: old.rec.L.Size, Mtime: old.rec.L.Mtime}
		}
		if src.size != st.Size || src.mtime != st.Mtime {
			return false
		}
	}
	if !e.movedAway(ctx, oldRel, src, push) {
		return false
	}
	if err := e.moveOther(ctx, oldRel, rel, old, push); err != nil {
		if !errors.Is(err, errNoMove) {
			e.fail(rel, err)
			return true
		}
		return false
	}
	e.st.move(old, rel)
	r := old.rec
	if push {
		if d, err := e.cl.stat(ctx, rel); err == nil && d != nil {
			r.C = d.cstamp()
		}
	} else if d, err := e.loc.stat(rel); err == nil && d != nil {
		r.L = d.lstamp()
	}
	e.st.set(rel, r)
	e.log.Debug("sync rename", "pair", e.id, "from", oldRel, "to", rel)
	e.stat.add(func(s *Status) { s.Renamed++ })
	e.round.again[rel] = true
	if src.kind == kindDir {
		e.syncDir(ctx, rel, true)
	}
	return true
}

// errNoMove: the other side does not allow a rename (copy instead).
var errNoMove = errors.New("no move")

// movedAway reports whether the source side no longer has src's inode at oldRel.
func (e *engine) movedAway(ctx context.Context, oldRel string, src *entry, push bool) bool {
	if push {
		cur, err := e.loc.stat(oldRel)
		return err == nil && (cur == nil || cur.ino != src.ino || cur.dev != src.dev)
	}
	cur, err := e.cl.stat(ctx, oldRel)
	return err == nil && (cur == nil || cur.ref.Inode != src.ref.Inode)
}

// moveOther renames oldRel to rel on the destination side if it is there
// as recorded and rel is free there.
func (e *engine) moveOther(ctx context.Context, oldRel, rel string, old *bnode, push bool) error {
	if push {
		d, err := e.cl.stat(ctx, oldRel)
		t, err2 := e.cl.stat(ctx, rel)
		if err != nil || err2 != nil || !sameCluster(d, &old.rec) || t != nil {
			return errNoMove
		}
		return e.cl.rename(ctx, oldRel, rel)
	}
	d, err := e.loc.stat(oldRel)
	t, err2 := e.loc.stat(rel)
	if err != nil || err2 != nil || !sameLocal(d, &old.rec) || t != nil {
		return errNoMove
	}
	return e.loc.rename(oldRel, rel)
}

// sameLocalEntry reports whether a local entry is still what was seen
// (nil both, or same kind, size, mtime, mode, inode, target).
func sameLocalEntry(cur, seen *entry) bool {
	if cur == nil || seen == nil {
		return cur == nil && seen == nil
	}
	return cur.kind == seen.kind && cur.size == seen.size && cur.mtime == seen.mtime &&
		cur.mode == seen.mode && cur.ino == seen.ino && cur.target == seen.target
}

// sameClusterEntry is sameLocalEntry for the cluster side.
func sameClusterEntry(cur, seen *entry) bool {
	if cur == nil || seen == nil {
		return cur == nil && seen == nil
	}
	return cur.kind == seen.kind && cur.cstamp() == seen.cstamp() && cur.target == seen.target
}
