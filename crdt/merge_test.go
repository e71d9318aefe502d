package crdt

import (
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestConcurrentDeleteVsWrite(t *testing.T) {
	rs := newTestReplicas(t, 2)
	a, b := rs[0], rs[1]
	mk(t, a, "d/", "d/f")
	f := dirID(t, a, "d/f")
	var v1 OpID
	mustUpdate(t, a, func(tx *Tx) (err error) {
		v1, err = tx.WriteContent(f, OpID{}, Content{Size: 1, Inline: []byte("1")})
		return
	})
	exchange(t, a, b)
	// a deletes the file and its directory; b concurrently writes it.
	d := dirID(t, a, "d")
	mustUpdate(t, a, func(tx *Tx) error {
		if err := tx.Remove(d, "f", false); err != nil {
			return err
		}
		return tx.Remove(RootID, "d", true)
	})
	mustUpdate(t, b, func(tx *Tx) error {
		_, err := tx.WriteContent(f, v1, Content{Size: 2, Inline: []byte("22")})
		return err
	})
	exchange(t, a, b)
	assertSame(t, a, b)
	for _, r := range rs {
		e, err := lookupPath(t, r, "d/f")
		if err != nil {
			t.Fatalf("%s: d/f lost: %v", r.Node(), err)
		}
		var c Content
		r.View(func(v *View) (err error) { c, err = v.Version(e.Ref); return })
		if string(c.Inline) != "22" {
			t.Fatalf("%s: content %q", r.Node(), c.Inline)
		}
	}
	// A delete that saw the write wins.
	mustUpdate(t, b, func(tx *Tx) error { return tx.Remove(d, "f", false) })
	exchange(t, a, b)
	assertSame(t, a, b)
	if _, err := lookupPath(t, a, "d/f"); !isErr(err, ErrNotFound) {
		t.Fatalf("d/f after seen delete: %v", err)
	}
	if got := names(t, a, "/"); len(got) != 0 {
		t.Fatalf("root = %v", got)
	}
}

func TestConcurrentCreateSameName(t *testing.T) {
	rs := newTestReplicas(t, 3)
	for _, r := range rs {
		mk(t, r, "report.txt")
	}
	exchange(t, rs...)
	assertSame(t, rs...)
	got := names(t, rs[0], "/")
	if len(got) != 3 || got[2] != "report.txt" {
		t.Fatalf("names = %v", got)
	}
	for _, n := range got[:2] {
		if !strings.HasPrefix(n, "report.conflict-n") || !strings.HasSuffix(n, ".txt") {
			t.Fatalf("conflict name %q", n)
		}
	}
	// Same second, so the generated names differ in node only; all unique.
	for _, r := range rs[1:] {
		if g := names(t, r, "/"); !reflect.DeepEqual(g, got) {
			t.Fatalf("%s: %v vs %v", r.Node(), g, got)
		}
	}
	// Every display name resolves.
	for _, n := range got {
		if _, err := lookupPath(t, rs[1], n); err != nil {
			t.Fatalf("lookup %q: %v", n, err)
		}
	}
}

func TestConcurrentWritesSiblings(t *testing.T) {
	rs := newTestReplicas(t, 2)
	mk(t, rs[0], "f.txt")
	exchange(t, rs...)
	f := dirID(t, rs[0], "f.txt")
	for i, r := range rs {
		mustUpdate(t, r, func(tx *Tx) error {
			_, err := tx.WriteContent(f, OpID{}, Content{Size: 1, Inline: []byte{byte('a' + i)}})
			return err
		})
	}
	exchange(t, rs...)
	assertSame(t, rs...)
	got := names(t, rs[0], "/")
	if len(got) != 2 || got[1] != "f.txt" || !strings.HasPrefix(got[0], "f.conflict-n1-") {
		t.Fatalf("names = %v", got)
	}
	// Unlinking the sibling drops that version on both.
	mustUpdate(t, rs[1], func(tx *Tx) error { return tx.Remove(RootID, got[0], false) })
	exchange(t, rs...)
	assertSame(t, rs...)
	if g := names(t, rs[0], "/"); !reflect.DeepEqual(g, []string{"f.txt"}) {
		t.Fatalf("names = %v", g)
	}
}

func TestConcurrentMoveCycle(t *testing.T) {
	rs := newTestReplicas(t, 2)
	mk(t, rs[0], "a/", "b/")
	exchange(t, rs...)
	a, b := dirID(t, rs[0], "a"), dirID(t, rs[0], "b")
	mustUpdate(t, rs[0], func(tx *Tx) error { return tx.Rename(RootID, "a", b, "a", 0) })
	mustUpdate(t, rs[1], func(tx *Tx) error { return tx.Rename(RootID, "b", a, "b", 0) })
	exchange(t, rs...)
	assertSame(t, rs...)
	checkTree(t, rs[0])
	// The later move (n2: b into a) is skipped; a is in b.
	if _, err := lookupPath(t, rs[1], "b/a"); err != nil {
		t.Fatalf("b/a: %v (root %v)", err, names(t, rs[1], "/"))
	}
}

func TestRenameOverDirConcurrentCreate(t *testing.T) {
	rs := newTestReplicas(t, 2)
	mk(t, rs[0], "d/", "e/")
	exchange(t, rs...)
	mustUpdate(t, rs[0], func(tx *Tx) error { return tx.Rename(RootID, "d", RootID, "e", 0) })
	mk(t, rs[1], "e/new")
	exchange(t, rs...)
	assertSame(t, rs...)
	checkTree(t, rs[0])
	// The replaced directory comes back (under a conflict name) with the file.
	got := names(t, rs[0], "/")
	if len(got) != 2 {
		t.Fatalf("root = %v", got)
	}
	found := false
	for _, n := range got {
		if ns := names(t, rs[0], n); reflect.DeepEqual(ns, []string{"new"}) {
			found = true
		}
	}
	if !found {
		t.Fatalf("new file lost: %v", got)
	}
}

func TestConflictName(t *testing.T) {
	ts := Timestamp{Wall: t0.UnixNano(), Node: "n2"}
	for _, tc := range []struct{ in, want string }{
		{"report.txt", "report.conflict-n2-20261125-163000.txt"},
		{".bashrc", ".bashrc.conflict-n2-20261125-163000"},
		{"noext", "noext.conflict-n2-20261125-163000"},
		{"a.tar.gz", "a.tar.conflict-n2-20261125-163000.gz"},
	} {
		if got := ConflictName(tc.in, ts); got != tc.want {
			t.Errorf("ConflictName(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
	long := strings.Repeat("x", 250) + ".txt"
	if got := ConflictName(long, ts); len(got) > MaxNameLen || !strings.HasSuffix(got, ".txt") {
		t.Errorf("long: %d %q", len(got), got)
	}
	longExt := "a." + strings.Repeat("é", 120)
	if got := conflictName(longExt, ts, 3); len(got) > MaxNameLen || !validName(got) {
		t.Errorf("long ext: %d %q", len(got), got)
	}
}

func TestClockMonotonicAcrossBoltReopen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "meta.db")
	w := NewFakeWall(t0)
	open := func() *Replica {
		st, err := OpenBoltStore(path)
		if err != nil {
			t.Fatal(err)
		}
		r, err := Open(Options{Node: "n1", Clock: NewClock("n1", w.Now), Store: st, SnapshotEvery: 3})
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	r := open()
	var last Timestamp
	for i := 0; i < 5; i++ {
		ops := mustUpdate(t, r, func(tx *Tx) error {
			_, err := tx.Create(RootID, string(rune('a'+i)), KindFile, NewAttrs{})
			return err
		})
		last = ops[len(ops)-1].TS
	}
	state := r.EncodeState()
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	w.Advance(-time.Hour) // the wall clock jumps back
	r = open()
	defer r.Close()
	if got := r.EncodeState(); string(got) != string(state) {
		t.Fatal("state changed across reopen")
	}
	ops := mustUpdate(t, r, func(tx *Tx) error { _, err := tx.Create(RootID, "z", KindFile, NewAttrs{}); return err })
	if ops[0].TS.Compare(last) <= 0 {
		t.Fatalf("clock went backwards: %v after %v", ops[0].TS, last)
	}
	if ops[0].ID.Seq != 11 {
		t.Fatalf("seq = %d", ops[0].ID.Seq)
	}
}

func TestPeerTenMinutesAhead(t *testing.T) {
	wa, wb := NewFakeWall(t0), NewFakeWall(t0.Add(10*time.Minute))
	a, _ := Open(Options{Node: "a", Clock: NewClock("a", wa.Now)})
	b, _ := Open(Options{Node: "b", Clock: NewClock("b", wb.Now)})
	mk(t, b, "f")
	exchange(t, a, b)
	mustUpdate(t, a, func(tx *Tx) error { return tx.Rename(RootID, "f", RootID, "g", 0) })
	exchange(t, a, b)
	assertSame(t, a, b)
	if got := names(t, b, "/"); !reflect.DeepEqual(got, []string{"g"}) {
		t.Fatalf("a's later rename lost to a clock ahead: %v", got)
	}
	wa.Advance(time.Second)
	ts := a.Clock().Now()
	if ts.Wall < t0.Add(10*time.Minute).UnixNano() {
		t.Fatalf("clock did not absorb the peer: %v", ts)
	}
}

func TestClockNow(t *testing.T) {
	w := NewFakeWall(t0)
	c := NewClock("x", w.Now)
	a := c.Now()
	b := c.Now()
	if b.Compare(a) <= 0 {
		t.Fatal("not increasing")
	}
	c.Observe(Timestamp{Wall: a.Wall + 5, Logical: 7, Node: "y"})
	d := c.Now()
	if d.Wall != a.Wall+5 || d.Logical != 8 {
		t.Fatalf("after observe: %+v", d)
	}
}

func TestVersionVectorCompare(t *testing.T) {
	for _, tc := range []struct {
		a, b VersionVector
		want Ordering
	}{
		{nil, nil, Equal},
		{VersionVector{"a": 1}, nil, Greater},
		{nil, VersionVector{"a": 1}, Lesser},
		{VersionVector{"a": 1}, VersionVector{"b": 1}, Concurrent},
		{VersionVector{"a": 2, "b": 1}, VersionVector{"a": 1, "b": 1}, Greater},
	} {
		if got := tc.a.Compare(tc.b); got != tc.want {
			t.Errorf("%v vs %v = %v, want %v", tc.a, tc.b, got, tc.want)
		}
	}
}

func TestSnapshotInstallBothWays(t *testing.T) {
	rs := newTestReplicas(t, 2)
	a, b := rs[0], rs[1]
	mk(t, a, "x/", "x/1")
	mk(t, b, "y/", "y/2")
	mustUpdate(t, a, func(tx *Tx) error { return tx.Rename(RootID, "x", RootID, "z", 0) })
	snap, err := DecodeSnapshot(EncodeSnapshot(mustSnapshot(t, a)))
	if err != nil {
		t.Fatal(err)
	}
	if err := b.InstallSnapshot(snap); err != nil {
		t.Fatal(err)
	}
	exchange(t, a, b)
	assertSame(t, a, b)
	if got := names(t, b, "/"); !reflect.DeepEqual(got, []string{"y", "z"}) {
		t.Fatalf("root = %v", got)
	}
}

func TestCompactAndNeedSnapshot(t *testing.T) {
	rs := newTestReplicas(t, 3)
	a, b, c := rs[0], rs[1], rs[2]
	mk(t, a, "f", "g")
	mustUpdate(t, a, func(tx *Tx) error { return tx.Remove(RootID, "f", false) })
	exchange(t, a, b)
	stable := Min(a.VersionVector(), b.VersionVector())
	if cs := a.Compact(stable); cs.Tombstones != 1 || cs.Ops == 0 {
		t.Fatalf("compact: %+v", cs)
	}
	if _, err := a.Missing(c.VersionVector(), 0, 0); !isErr(err, ErrNeedSnapshot) {
		t.Fatalf("missing after compact: %v", err)
	}
	if err := c.InstallSnapshot(mustSnapshot(t, a)); err != nil {
		t.Fatal(err)
	}
	if got := names(t, c, "/"); !reflect.DeepEqual(got, []string{"g"}) {
		t.Fatalf("c root = %v", got)
	}
	mk(t, c, "h")
	exchange(t, a, c)
	assertSame(t, a, c)
}

func TestGroupCommitConcurrent(t *testing.T) {
	st := NewMemStore()
	r, err := Open(Options{Node: "n1", Store: st, SnapshotEvery: 50})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error)
	for g := 0; g < 8; g++ {
		go func(g int) {
			var err error
			for i := 0; i < 20 && err == nil; i++ {
				_, err = r.Update(func(tx *Tx) error {
					_, err := tx.Create(RootID, string(rune('A'+g))+string(rune('a'+i)), KindFile, NewAttrs{})
					return err
				})
				r.View(func(v *View) error { _, err := v.ReadDir(RootID); return err })
			}
			done <- err
		}(g)
	}
	for g := 0; g < 8; g++ {
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
	want := r.EncodeState()
	r.Close()
	r2, err := Open(Options{Node: "n1", Store: reopenMem(st)})
	if err != nil {
		t.Fatal(err)
	}
	if string(r2.EncodeState()) != string(want) {
		t.Fatal("reopened state differs")
	}
}

func reopenMem(s Store) Store {
	m := s.(*memStore)
	m.mu.Lock()
	defer m.mu.Unlock()
	return &memStore{snap: m.snap, ops: m.ops}
}

// TestLargestOpFitsAFrame (defect 6): a content op with the most chunks a
// version may have encodes well under the transport's 64 MiB frame, and
// OpSize bounds its encoding.
func TestLargestOpFitsAFrame(t *testing.T) {
	c := Content{Size: int64(MaxChunks) * (4 << 20), ChunkSize: 4 << 20, Chunks: make([]ChunkID, MaxChunks)}
	for i := range c.Chunks {
		c.Chunks[i][0], c.Chunks[i][1], c.Chunks[i][31] = byte(i), byte(i>>8), 0xff
	}
	op := Op{ID: OpID{Node: "n1", Seq: 1}, TS: Timestamp{Wall: 1, Node: "n1"}, Content: &ContentOp{Inode: InodeID{0: 0x80, 15: 9}, Content: &c}}
	if err := validateOp(&op); err != nil {
		t.Fatal(err)
	}
	enc := EncodeOps([]Op{op})
	if len(enc) > 48<<20 || OpSize(&op) < len(enc) {
		t.Fatalf("largest op encodes to %d bytes (OpSize %d); frame limit 64 MiB", len(enc), OpSize(&op))
	}
	c.Chunks = append(c.Chunks, ChunkID{1})
	c.Size += 4 << 20
	if err := validateOp(&op); err == nil {
		t.Fatal("an op with more than MaxChunks chunks passed validation")
	}
}

// TestMissingSharesTheBatch: one origin with a long backlog does not
// starve the others out of a bounded batch.
func TestMissingSharesTheBatch(t *testing.T) {
	rs := newTestReplicas(t, 3)
	a, b, c := rs[0], rs[1], rs[2]
	for i := range 50 {
		mk(t, a, "a"+itoa(i))
	}
	mk(t, b, "b")
	exchange(t, a, c)
	exchange(t, b, c)
	ops, err := c.Missing(nil, 10, 0)
	if err != nil {
		t.Fatal(err)
	}
	origins := map[NodeID]int{}
	for _, op := range ops {
		origins[op.ID.Node]++
	}
	if len(ops) != 10 || origins[b.Node()] == 0 {
		t.Fatalf("batch of %d ops by origin %v: the small origin was starved", len(ops), origins)
	}
}

func itoa(i int) string { return strconv.Itoa(i) }
