package crdt

import (
	"bytes"
	"errors"
	"math"
	"testing"
)

// forged returns an op of origin node with seq and a timestamp just after
// every timestamp r has seen (a crafted op that would win every LWW race).
func forged(r *Replica, node NodeID, seq uint64, op Op) Op {
	ts := r.Clock().Last()
	ts.Logical++
	ts.Node = node
	op.ID, op.TS = OpID{Node: node, Seq: seq}, ts
	return op
}

func kindOf(t *testing.T, r *Replica, id InodeID) Kind {
	t.Helper()
	var k Kind
	if err := r.View(func(v *View) error {
		in, err := v.Inode(id)
		k = in.Kind
		return err
	}); err != nil {
		t.Fatal(err)
	}
	return k
}

// A member's attribute op that turns the root into a file passed
// validation; now it is malformed and the root stays a directory. Ops that
// legitimately change the root (chmod, utimens, xattrs) still apply.
func TestRootCannotBecomeFile(t *testing.T) {
	r := newTestReplicas(t, 1)[0]
	mk(t, r, "d/", "d/f")
	bad := forged(r, "m", 1, Op{Attr: &AttrOp{Inode: RootID, Set: AttrKind, Kind: KindFile}})
	if _, err := r.Apply([]Op{bad}); !errors.Is(err, ErrMalformed) {
		t.Errorf("root-to-file op: %v, want ErrMalformed", err)
	}
	if k := kindOf(t, r, RootID); k != KindDir {
		t.Fatalf("root kind %d after the crafted op", k)
	}
	if got := names(t, r, "/d"); len(got) != 1 {
		t.Fatalf("namespace under the root: %v", got)
	}
	for _, op := range []Op{
		{Attr: &AttrOp{Inode: TrashID, Set: AttrMode, Mode: 0o777}},
		{Xattr: &XattrOp{Inode: TrashID, Name: "user.x", Value: []byte("v")}},
		{Content: &ContentOp{Inode: RootID, Content: &Content{Size: 1, Inline: []byte("x")}}},
		{Move: &MoveOp{Dentry: RootID, Parent: TrashID, Name: "root", Inode: RootID, Kind: KindDir}},
		{Move: &MoveOp{Dentry: TrashID, Parent: RootID, Name: "trash", Inode: TrashID, Kind: KindDir}},
		{Move: &MoveOp{Dentry: NewInodeID(), Parent: RootID, Name: "rootlink", Inode: RootID, Kind: KindFile}},
	} {
		if _, err := r.Apply([]Op{forged(r, "m", 1, op)}); !errors.Is(err, ErrMalformed) {
			t.Errorf("op on a fixed root %+v: %v, want ErrMalformed", op, err)
		}
	}
	ok := []Op{
		forged(r, "m", 1, Op{Attr: &AttrOp{Inode: RootID, Set: AttrMode | AttrUID | AttrMtime, Mode: 0o700, UID: 7, Mtime: 5}}),
		forged(r, "m", 2, Op{Xattr: &XattrOp{Inode: RootID, Name: "user.k", Value: []byte("v")}}),
	}
	if applied, err := r.Apply(ok); err != nil || len(applied) != 2 {
		t.Fatalf("legitimate root ops: %d applied, %v", len(applied), err)
	}
	r.View(func(v *View) error {
		in, _ := v.Inode(RootID)
		if in.Mode != 0o700 || in.UID != 7 || in.Kind != KindDir {
			t.Errorf("root after chmod/chown: %+v", in)
		}
		return nil
	})
}

// A snapshot cannot turn the root into a file either.
func TestSnapshotRootStaysDir(t *testing.T) {
	r := newTestReplicas(t, 1)[0]
	mk(t, r, "f")
	snap := mustSnapshot(t, r)
	for i := range snap.State.Attrs {
		if snap.State.Attrs[i].ID == RootID {
			snap.State.Attrs[i].Kind = KindFile
		}
	}
	if _, err := DecodeSnapshot(EncodeSnapshot(snap)); !errors.Is(err, ErrMalformed) {
		t.Fatalf("snapshot with a file root: %v, want ErrMalformed", err)
	}
}

// Once an inode has a kind, a crafted later op cannot change it: the kind
// is the first one by timestamp, and a move that would change a dentry's
// kind or inode is skipped. Replicas that get the ops in any order agree.
func TestKindImmutable(t *testing.T) {
	rs := newTestReplicas(t, 2)
	a, b := rs[0], rs[1]
	mk(t, a, "d/", "d/f")
	d := dirID(t, a, "/d")
	fe, _ := lookupPath(t, a, "/d/f")
	legit, err := a.Missing(nil, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	attack := []Op{
		forged(a, "m", 1, Op{Attr: &AttrOp{Inode: d, Set: AttrKind | AttrMode, Kind: KindFile, Mode: 0o600}}),
		forged(a, "m", 2, Op{Move: &MoveOp{Dentry: d, Parent: RootID, Name: "d", Inode: d, Kind: KindFile}}),
		forged(a, "m", 3, Op{Move: &MoveOp{Dentry: fe.Dentry, Parent: d, Name: "f", Inode: d, Kind: KindFile}}),
	}
	if _, err := a.Apply(attack); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Apply(attack); err != nil { // b sees the attack first
		t.Fatal(err)
	}
	if _, err := b.Apply(legit); err != nil {
		t.Fatal(err)
	}
	for _, r := range rs {
		if k := kindOf(t, r, d); k != KindDir {
			t.Errorf("%s: directory turned into kind %d", r.Node(), k)
		}
		if got := names(t, r, "/d"); len(got) != 1 || got[0] != "f" {
			t.Errorf("%s: /d lists %v", r.Node(), got)
		}
		e, err := lookupPath(t, r, "/d/f")
		if err != nil || e.Ref.Inode != fe.Ref.Inode || e.Kind != KindFile {
			t.Errorf("%s: /d/f = %+v, %v", r.Node(), e, err)
		}
	}
	assertSame(t, a, b)
}

// Defect "a member can forge": the same op id with other content is a
// forgery or corruption: ignored, counted and logged. Ops claiming our own
// origin beyond what we issued are refused.
func TestForgedDuplicateCounted(t *testing.T) {
	rs := newTestReplicas(t, 2)
	a, b := rs[0], rs[1]
	mk(t, a, "f")
	exchange(t, a, b)
	held, _ := a.Missing(nil, 0, 0)
	evil := held[1]
	evil.Move = &MoveOp{Dentry: evil.Move.Dentry, Parent: TrashID, Name: "f", Inode: evil.Move.Inode, Kind: KindFile}
	if _, err := b.Apply([]Op{evil}); err != nil {
		t.Fatal(err)
	}
	if got := b.Forgeries(); got != 1 {
		t.Errorf("Forgeries = %d after a same-id op with other content, want 1", got)
	}
	if _, err := b.Apply(held); err != nil || b.Forgeries() != 1 {
		t.Errorf("a true duplicate counted as a forgery: %d, %v", b.Forgeries(), err)
	}
	if got := names(t, b, "/"); len(got) != 1 {
		t.Errorf("the forgery changed the namespace: %v", got)
	}
}

func TestForgedOwnFutureOpRefused(t *testing.T) {
	r := newTestReplicas(t, 1)[0]
	mk(t, r, "f")
	own := r.VersionVector()[r.Node()]
	fake := forged(r, r.Node(), own+1, Op{Move: &MoveOp{Dentry: NewInodeID(), Parent: RootID, Name: "planted", Inode: NewInodeID(), Kind: KindFile}})
	if _, err := r.Apply([]Op{fake}); err != nil {
		t.Fatal(err)
	}
	if got := r.VersionVector()[r.Node()]; got != own {
		t.Fatalf("own seq %d after a forged op of ours, want %d", got, own)
	}
	if r.Forgeries() != 1 {
		t.Errorf("Forgeries = %d, want 1", r.Forgeries())
	}
	ops := mustUpdate(t, r, func(tx *Tx) error { _, err := tx.Create(RootID, "g", KindFile, NewAttrs{}); return err })
	if ops[0].ID.Seq != own+1 {
		t.Fatalf("next own op has seq %d, want %d", ops[0].ID.Seq, own+1)
	}
	if got := names(t, r, "/"); len(got) != 2 || got[0] != "f" || got[1] != "g" {
		t.Fatalf("namespace %v", got)
	}
}

// A forged snapshot whose version vector dominates must not replace the
// namespace: it may not claim ops of ours we never issued, and every op it
// retains that we hold must be the same op.
func TestForgedSnapshotRefused(t *testing.T) {
	rs := newTestReplicas(t, 3)
	a, b, m := rs[0], rs[1], rs[2]
	mk(t, a, "keep")
	mk(t, b, "b-file")
	exchange(t, a, b, m)
	before := a.EncodeState()

	// m claims a future op of a (a's own origin) that deletes everything.
	claim := mustSnapshot(t, m)
	claim.State.VV[a.Node()]++
	fake := forged(m, a.Node(), claim.State.VV[a.Node()], Op{Setting: &SettingOp{Key: "x", Value: []byte("y")}})
	claim.Logs = insertLog(claim.Logs, fake)
	if err := a.InstallSnapshot(mustDecode(t, claim)); !errors.Is(err, ErrForged) {
		t.Errorf("snapshot claiming our future ops: %v, want ErrForged", err)
	}

	// m rewrites b's history (an op a holds) and adds one op so it dominates.
	rewrite := mustSnapshot(t, m)
	for i := range rewrite.Logs {
		if op := &rewrite.Logs[i]; op.ID.Node == b.Node() && op.Move != nil {
			mv := *op.Move
			mv.Parent, mv.Name = TrashID, "gone"
			op.Move = &mv
		}
	}
	mk(t, m, "m-file")
	extra, _ := m.Missing(a.VersionVector(), 0, 0)
	rewrite.State.VV[m.Node()] = extra[len(extra)-1].ID.Seq
	rewrite.Logs = insertLog(rewrite.Logs, extra...)
	if err := a.InstallSnapshot(mustDecode(t, rewrite)); !errors.Is(err, ErrForged) {
		t.Errorf("snapshot rewriting held ops: %v, want ErrForged", err)
	}
	if a.Forgeries() != 2 {
		t.Errorf("Forgeries = %d, want 2", a.Forgeries())
	}
	if !bytes.Equal(a.EncodeState(), before) {
		t.Fatal("a forged snapshot changed the state")
	}
	// An honest snapshot that dominates is installed.
	if err := a.InstallSnapshot(mustDecode(t, mustSnapshot(t, m))); err != nil {
		t.Fatalf("honest snapshot: %v", err)
	}
	if got := names(t, a, "/"); len(got) != 3 {
		t.Fatalf("after the honest snapshot: %v", got)
	}
}

// insertLog adds ops to a snapshot's logs, kept sorted by (origin, seq).
func insertLog(logs []Op, ops ...Op) []Op {
	out := append(append([]Op(nil), logs...), ops...)
	for i := 1; i < len(out); i++ {
		for j := i; j > 0 && out[j].ID.Compare(out[j-1].ID) < 0; j-- {
			out[j], out[j-1] = out[j-1], out[j]
		}
	}
	return out
}

func mustDecode(t *testing.T, s *Snapshot) *Snapshot {
	t.Helper()
	d, err := DecodeSnapshot(EncodeSnapshot(s))
	if err != nil {
		t.Fatalf("crafted snapshot does not decode: %v", err)
	}
	return d
}

// A snapshot holding a timestamp from the far future is refused (it cannot
// be deferred in part) and does not drag the clock along (defect 7 through
// the snapshot path).
func TestSnapshotFromTheFutureRefused(t *testing.T) {
	rs := newTestReplicas(t, 2)
	a, m := rs[0], rs[1]
	mk(t, m, "f")
	snap := mustSnapshot(t, m)
	far := Timestamp{Wall: math.MaxInt64, Logical: math.MaxUint32, Node: "x"}
	op := Op{ID: OpID{Node: "x", Seq: 1}, TS: far, Setting: &SettingOp{Key: "k", Value: []byte("v")}}
	snap.Logs = insertLog(snap.Logs, op)
	snap.State.VV["x"] = 1
	snap.State.Settings = append(snap.State.Settings, SettingRecord{Key: "k", Value: []byte("v"), TS: far})
	if err := a.InstallSnapshot(mustDecode(t, snap)); !errors.Is(err, ErrFuture) {
		t.Fatalf("a snapshot from the far future: %v, want ErrFuture", err)
	}
	if a.FutureOps() != 1 {
		t.Errorf("FutureOps = %d, want 1", a.FutureOps())
	}
	if ts := a.Clock().Now(); ts.Wall > t0.Add(MaxClockSkew).UnixNano() {
		t.Fatalf("clock dragged to %+v", ts)
	}
	snap.MaxTS = far // and a forged maximum alone
	snap.Logs, snap.State.Settings = snap.Logs[:len(snap.Logs)-1], snap.State.Settings[:len(snap.State.Settings)-1]
	delete(snap.State.VV, "x")
	if err := a.InstallSnapshot(mustDecode(t, snap)); err == nil {
		t.Fatal("a snapshot with a far-future MaxTS was installed")
	}
	snap.MaxTS = Timestamp{}
	if err := a.InstallSnapshot(mustDecode(t, snap)); err != nil {
		t.Fatalf("the same snapshot without the future timestamp: %v", err)
	}
}
