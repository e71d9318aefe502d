package crdt

import (
	"bytes"
	"errors"
	"fmt"
	"testing"
	"time"

	"pgregory.net/rapid"
)

// sim is a cluster of replicas driven by rapid.
type sim struct {
	rs     []*Replica
	stores []Store
	ids    []func() InodeID
	walls  []*FakeWall
	group  []int // partition group per replica
	all    map[OpID]Op
}

func newSim(t *rapid.T, n int) *sim {
	s := &sim{all: map[OpID]Op{}}
	for i := 0; i < n; i++ {
		node := NodeID(fmt.Sprintf("n%d", i+1))
		skew := time.Duration(rapid.IntRange(-600, 600).Draw(t, "skew")) * time.Second
		w := NewFakeWall(t0.Add(skew))
		st := NewMemStore()
		r, err := Open(Options{Node: node, Clock: NewClock(node, w.Now), Store: st, SnapshotEvery: 7})
		if err != nil {
			t.Fatal(err)
		}
		var ctr uint64
		idx := byte(i + 1)
		r.newID = func() InodeID {
			ctr++
			var id InodeID
			id[0] = 0x80 | idx
			for k := 0; k < 8; k++ {
				id[8+k] = byte(ctr >> (8 * (7 - k)))
			}
			return id
		}
		s.rs = append(s.rs, r)
		s.stores = append(s.stores, st)
		s.ids = append(s.ids, r.newID)
		s.walls = append(s.walls, w)
		s.group = append(s.group, 0)
	}
	return s
}

type placed struct {
	parent InodeID
	e      Entry
}

// entries lists every live display entry of r (deterministic order).
func entries(v *View) []placed {
	var out []placed
	queue := []InodeID{RootID}
	for len(queue) > 0 {
		d := queue[0]
		queue = queue[1:]
		es, _ := v.ReadDir(d)
		for _, e := range es {
			out = append(out, placed{d, e})
			if e.Kind == KindDir && e.Ref.Version.IsZero() {
				queue = append(queue, e.Ref.Inode)
			}
		}
	}
	return out
}

var simNames = []string{"a", "b", "c", "d.txt"}

// localOp issues one random Tx operation on replica i.
func (s *sim) localOp(t *rapid.T, i int) {
	r := s.rs[i]
	s.walls[i].Advance(time.Duration(rapid.IntRange(0, 2000).Draw(t, "ms")) * time.Millisecond)
	kind := rapid.IntRange(0, 11).Draw(t, "op")
	ops, _ := r.Update(func(tx *Tx) error {
		es := entries(tx.View)
		dirs := []InodeID{RootID}
		for _, p := range es {
			if p.e.Kind == KindDir {
				dirs = append(dirs, p.e.Ref.Inode)
			}
		}
		pickE := func() (placed, bool) {
			if len(es) == 0 {
				return placed{}, false
			}
			return es[rapid.IntRange(0, len(es)-1).Draw(t, "entry")], true
		}
		dir := dirs[rapid.IntRange(0, len(dirs)-1).Draw(t, "dir")]
		name := rapid.SampledFrom(simNames).Draw(t, "name")
		switch kind {
		case 0, 1:
			k := KindFile
			if kind == 1 { // special files follow the rules of files
				k = rapid.SampledFrom([]Kind{KindFile, KindFIFO, KindSocket, KindCharDev, KindBlockDev}).Draw(t, "kind")
			}
			_, err := tx.Create(dir, name, k, NewAttrs{Mode: 0o644, Rdev: uint32(i)})
			return err
		case 2:
			_, err := tx.Create(dir, name, KindDir, NewAttrs{Mode: 0o755})
			return err
		case 3, 4:
			p, ok := pickE()
			if !ok {
				return nil
			}
			flags := RenameFlags(rapid.IntRange(0, 2).Draw(t, "flags"))
			return tx.Rename(p.parent, p.e.Name, dir, name, flags)
		case 5:
			p, ok := pickE()
			if !ok {
				return nil
			}
			return tx.Remove(p.parent, p.e.Name, p.e.Kind == KindDir)
		case 6:
			p, ok := pickE()
			if !ok || p.e.Kind == KindDir {
				return nil
			}
			return tx.Link(p.e.Ref.Inode, dir, name)
		case 7, 8:
			p, ok := pickE()
			if !ok || p.e.Kind != KindFile {
				return nil
			}
			in, err := tx.Inode(p.e.Ref.Inode)
			if err != nil {
				return err
			}
			base := in.Version
			if !p.e.Ref.Version.IsZero() {
				base = p.e.Ref.Version
			}
			n := rapid.IntRange(0, 8).Draw(t, "size")
			_, err = tx.WriteContent(p.e.Ref.Inode, base, Content{Size: int64(n), Inline: bytes.Repeat([]byte{byte(i)}, n)})
			return err
		case 9:
			p, ok := pickE()
			if !ok {
				return nil
			}
			return tx.SetAttr(AttrOp{Inode: p.e.Ref.Inode, Set: AttrMode | AttrMtime, Mode: uint32(rapid.IntRange(0, 0o777).Draw(t, "mode")), Mtime: 5})
		case 10:
			p, ok := pickE()
			if !ok {
				return nil
			}
			if rapid.Bool().Draw(t, "rmx") {
				return tx.RemoveXattr(p.e.Ref.Inode, "user."+name)
			}
			return tx.SetXattr(p.e.Ref.Inode, "user."+name, []byte{byte(i)})
		default:
			return tx.SetSetting(name, []byte{byte(i)})
		}
	})
	for _, op := range ops {
		s.all[op.ID] = op
	}
}

// deliver sends what j misses from i, maybe dropping, reordering and
// duplicating ops.
func (s *sim) deliver(t *rapid.T, i, j int) {
	if s.group[i] != s.group[j] {
		return
	}
	ops, err := s.rs[i].Missing(s.rs[j].VersionVector(), rapid.IntRange(0, 20).Draw(t, "limit"), 0)
	if err != nil {
		t.Fatal(err)
	}
	var batch []Op
	for _, op := range ops {
		if rapid.IntRange(0, 9).Draw(t, "drop") == 0 {
			continue
		}
		batch = append(batch, op)
		if rapid.IntRange(0, 9).Draw(t, "dup") == 0 {
			batch = append(batch, op)
		}
	}
	if len(batch) > 1 && rapid.Bool().Draw(t, "reverse") {
		for a, b := 0, len(batch)-1; a < b; a, b = a+1, b-1 {
			batch[a], batch[b] = batch[b], batch[a]
		}
	}
	if _, err := s.rs[j].Apply(batch); err != nil {
		t.Fatal(err)
	}
}

func (s *sim) healAndSync(t *rapid.T) {
	for k := range s.group {
		s.group[k] = 0
	}
	// Clocks catch up too: ops more than MaxClockSkew ahead of a replica's
	// wall clock were deferred there and are accepted now.
	var latest time.Time
	for _, w := range s.walls {
		if w.Now().After(latest) {
			latest = w.Now()
		}
	}
	for _, w := range s.walls {
		w.Advance(latest.Sub(w.Now()))
	}
	for round := 0; round < 2; round++ {
		for i := range s.rs {
			for j := range s.rs {
				if i == j {
					continue
				}
				ops, err := s.rs[i].Missing(s.rs[j].VersionVector(), 0, 0)
				if err != nil {
					t.Fatal(err)
				}
				if _, err := s.rs[j].Apply(ops); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
}

func (s *sim) run(t *rapid.T) {
	steps := rapid.IntRange(60, 300).Draw(t, "steps")
	n := len(s.rs)
	for k := 0; k < steps; k++ {
		switch rapid.IntRange(0, 11).Draw(t, "action") {
		case 0:
			for r := range s.group {
				s.group[r] = rapid.IntRange(0, 1).Draw(t, "group")
			}
		case 10:
			// crash-free restart: reopen from the store
			i := rapid.IntRange(0, n-1).Draw(t, "restart")
			want := s.rs[i].EncodeState()
			if err := s.rs[i].Close(); err != nil {
				t.Fatal(err)
			}
			st := reopenMem(s.stores[i])
			node := s.rs[i].Node()
			r, err := Open(Options{Node: node, Clock: NewClock(node, s.walls[i].Now), Store: st, SnapshotEvery: 7})
			if err != nil {
				t.Fatal(err)
			}
			r.newID = s.ids[i]
			if !bytes.Equal(r.EncodeState(), want) {
				t.Fatalf("%s: state changed across restart", node)
			}
			s.rs[i], s.stores[i] = r, st
		case 11:
			i, j := rapid.IntRange(0, n-1).Draw(t, "snapfrom"), rapid.IntRange(0, n-1).Draw(t, "snapto")
			if i != j && s.group[i] == s.group[j] {
				snap, err := DecodeSnapshot(EncodeSnapshot(mustSnapshot(t, s.rs[i])))
				if err != nil {
					t.Fatal(err)
				}
				// A snapshot from a clock more than MaxClockSkew ahead
				// is refused until the clocks catch up (healAndSync).
				if err := s.rs[j].InstallSnapshot(snap); err != nil && !errors.Is(err, ErrFuture) {
					t.Fatal(err)
				}
			}
		case 1, 2, 3:
			i, j := rapid.IntRange(0, n-1).Draw(t, "from"), rapid.IntRange(0, n-1).Draw(t, "to")
			if i != j {
				s.deliver(t, i, j)
			}
		default:
			s.localOp(t, rapid.IntRange(0, n-1).Draw(t, "replica"))
		}
	}
}

func TestPropertyConvergence(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		s := newSim(t, rapid.IntRange(3, 7).Draw(t, "replicas"))
		s.run(t)
		s.healAndSync(t)
		want := s.rs[0].EncodeState()
		for _, r := range s.rs {
			if got := r.EncodeState(); !bytes.Equal(got, want) {
				t.Fatalf("%s diverged from %s", r.Node(), s.rs[0].Node())
			}
			if len(s.all) > 0 && uint64(len(s.all)) != vvTotal(r.VersionVector()) {
				t.Fatalf("%s has %d ops, want %d", r.Node(), vvTotal(r.VersionVector()), len(s.all))
			}
			r.View(func(v *View) error {
				if e := treeErr(v.s); e != "" {
					t.Fatal(e)
				}
				if e := resErr(v.s); e != "" {
					t.Fatal(e)
				}
				checkNoLostWrites(t, v, s.all)
				return nil
			})
		}
	})
}

func vvTotal(v VersionVector) uint64 {
	var n uint64
	for _, s := range v {
		n += s
	}
	return n
}

// checkNoLostWrites: a content version that no op superseded or deleted
// (no content or delete context covers it) is live and its inode has a live
// dentry, so it is shown as the winner or a sibling.
func checkNoLostWrites(t *rapid.T, v *View, all map[OpID]Op) {
	covered := map[InodeID]VersionVector{}
	cover := func(ino InodeID, ctx VersionVector) {
		if covered[ino] == nil {
			covered[ino] = VersionVector{}
		}
		covered[ino].Merge(ctx)
	}
	for _, op := range all {
		if op.Content != nil {
			cover(op.Content.Inode, op.Content.Context)
		}
		if op.Move != nil && op.Move.Parent == TrashID {
			cover(op.Move.Inode, op.Move.Context)
		}
	}
	for id, op := range all {
		if op.Content == nil || op.Content.Content == nil || covered[op.Content.Inode].Covers(id) {
			continue
		}
		if _, err := v.Version(Ref{Inode: op.Content.Inode, Version: id}); err != nil {
			t.Fatalf("write %v lost from the register", id)
		}
		shown := false
		for _, p := range entries(v) {
			if p.e.Ref.Inode == op.Content.Inode {
				shown = true
				break
			}
		}
		if !shown {
			t.Fatalf("write %v to %s not reachable", id, op.Content.Inode)
		}
	}
}

// TestPropertyMergeOrder applies one op set in different orders and
// groupings, with duplicates, and through a snapshot: same state.
func TestPropertyMergeOrder(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		s := newSim(t, rapid.IntRange(3, 5).Draw(t, "replicas"))
		s.run(t)
		var ops []Op
		for _, op := range s.all {
			ops = append(ops, op)
		}
		if len(ops) == 0 {
			return
		}
		var want []byte
		for k := 0; k < 3; k++ {
			r := freshReplica("fresh")
			perm := rapid.Permutation(ops).Draw(t, "perm")
			pending := perm
			// Apply in random groups, with duplicates, until nothing is left.
			for len(pending) > 0 {
				var left []Op
				for len(pending) > 0 {
					g := rapid.IntRange(1, len(pending)).Draw(t, "group")
					batch := append(append([]Op(nil), pending[:g]...), pending[:g/2]...)
					pending = pending[g:]
					applied, err := r.Apply(batch)
					if err != nil {
						t.Fatal(err)
					}
					got := map[OpID]bool{}
					for _, a := range applied {
						got[a.ID] = true
					}
					for _, op := range batch[:g] {
						if !got[op.ID] && !r.VersionVector().Covers(op.ID) {
							left = append(left, op)
						}
					}
				}
				pending = left
			}
			if k == 2 {
				// Through a snapshot of a partial replica plus the rest.
				half := freshReplica("half")
				half.Apply(perm[:len(perm)/2])
				r2 := freshReplica("fresh")
				if err := r2.InstallSnapshot(mustSnapshot(t, half)); err != nil {
					t.Fatal(err)
				}
				for len(ops) > 0 {
					a, _ := r2.Apply(perm)
					if len(a) == 0 {
						break
					}
				}
				if !bytes.Equal(r2.EncodeState(), r.EncodeState()) {
					t.Fatal("snapshot path differs")
				}
			}
			got := r.EncodeState()
			if want == nil {
				want = got
			} else if !bytes.Equal(got, want) {
				t.Fatalf("order %d gives a different state", k)
			}
		}
	})
}

func freshReplica(node NodeID) *Replica {
	r, err := Open(Options{Node: node})
	if err != nil {
		panic(err)
	}
	return r
}
