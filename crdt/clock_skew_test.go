package crdt

import (
	"math"
	"path/filepath"
	"testing"
	"time"
)

// poisonOp is a member's op (origin "m", seq 1) with the largest timestamp
// there is: the crafted op of defect 7.
func poisonOp() Op {
	return Op{ID: OpID{Node: "m", Seq: 1}, TS: Timestamp{Wall: math.MaxInt64, Logical: math.MaxUint32, Node: "m"},
		Attr: &AttrOp{Inode: RootID, Set: AttrMode, Mode: 0o700}}
}

func createFile(t *testing.T, r *Replica, name string) []Op {
	t.Helper()
	return mustUpdate(t, r, func(tx *Tx) error {
		_, err := tx.Create(RootID, name, KindFile, NewAttrs{Mode: 0o644})
		return err
	})
}

// Defect 7: one op with a wall time near MaxInt64 made the next local HLC
// reading overflow; peers rejected the node's ops as malformed and the node
// could not restart ("load: bad timestamp"). Now the op is deferred (not
// applied, not observed), the node's own ops stay sane and it restarts.
func TestDefect7FutureTimestampDoesNotBreakNode(t *testing.T) {
	path := filepath.Join(t.TempDir(), "meta.db")
	w := NewFakeWall(t0)
	open := func() *Replica {
		st, err := OpenBoltStore(path)
		if err != nil {
			t.Fatal(err)
		}
		r, err := Open(Options{Node: "n1", Clock: NewClock("n1", w.Now), Store: st})
		if err != nil {
			t.Fatalf("open: %v", err)
		}
		return r
	}
	r := open()
	peer := newTestReplicas(t, 2)[1]
	if _, err := r.Apply([]Op{poisonOp()}); err != nil {
		t.Fatalf("apply: %v", err)
	}
	if got := r.VersionVector()["m"]; got != 0 {
		t.Errorf("an op from the far future was applied (vv[m] = %d)", got)
	}
	if got := r.FutureOps(); got != 1 {
		t.Errorf("FutureOps = %d, want 1", got)
	}
	ops := createFile(t, r, "after")
	if ts := ops[0].TS; ts.Wall < 0 || ts.Wall > t0.Add(MaxClockSkew).UnixNano() {
		t.Fatalf("local timestamp after the crafted op: %+v", ts)
	}
	if _, err := peer.Apply(ops); err != nil {
		t.Fatalf("peer refuses the node's ops: %v", err)
	}
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	r = open()
	defer r.Close()
	createFile(t, r, "after-restart")
}

// A store written before the fix may already hold the crafted op and the
// node's own ops stamped by the overflowed clock (negative wall). Such a
// node starts, its clock is sane again and peers accept its new ops.
func TestDefect7LoadStoreWithFutureOp(t *testing.T) {
	st := NewMemStore()
	bad := poisonOp()
	overflowed := Op{ID: OpID{Node: "n1", Seq: 1}, TS: Timestamp{Wall: math.MinInt64, Node: "n1"},
		Attr: &AttrOp{Inode: RootID, Set: AttrMode, Mode: 0o755}}
	if err := st.Append([]Op{bad, overflowed}); err != nil {
		t.Fatal(err)
	}
	w := NewFakeWall(t0)
	r, err := Open(Options{Node: "n1", Clock: NewClock("n1", w.Now), Store: st})
	if err != nil {
		t.Fatalf("open a store holding a far-future op: %v", err)
	}
	defer r.Close()
	ops := createFile(t, r, "f")
	if ts := ops[0].TS; ts.Wall < t0.UnixNano() || ts.Wall > t0.Add(MaxClockSkew).UnixNano() {
		t.Fatalf("clock poisoned by the stored op: %+v", ts)
	}
	peer := newTestReplicas(t, 2)[1]
	all, err := r.Missing(peer.VersionVector(), 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	applied, err := peer.Apply(all)
	if err != nil {
		t.Fatalf("peer refuses the node's ops: %v", err)
	}
	if len(applied) != len(ops)+1 {
		t.Fatalf("peer applied %d ops, want the node's %d (the crafted op deferred)", len(applied), len(ops)+1)
	}
}

// The clock saturates at the largest timestamp instead of overflowing.
func TestClockSaturates(t *testing.T) {
	for _, tc := range []struct {
		name string
		wall time.Time
		obs  Timestamp
	}{
		{"observed max", t0, Timestamp{Wall: math.MaxInt64, Logical: math.MaxUint32}},
		{"observed max logical", t0, Timestamp{Wall: math.MaxInt64 - 1, Logical: math.MaxUint32}},
		{"wall at max", time.Unix(0, math.MaxInt64), Timestamp{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := NewFakeWall(tc.wall)
			c := NewClock("x", w.Now)
			c.Observe(tc.obs)
			prev := c.Last()
			for i := 0; i < 3; i++ {
				ts := c.Now()
				if ts.Wall < 0 || ts.Compare(prev) < 0 {
					t.Fatalf("reading %d went backwards or overflowed: %+v after %+v", i, ts, prev)
				}
				prev = ts
			}
			if c.Ahead(Timestamp{Wall: math.MaxInt64}) && tc.wall.UnixNano() == math.MaxInt64 {
				t.Fatal("ahead of a wall clock at the maximum")
			}
		})
	}
}

// An op more than MaxClockSkew ahead is deferred, not refused: the batch's
// other ops are applied, and the op is applied once the local clock has
// caught up and it is offered again.
func TestFutureOpDeferredThenApplied(t *testing.T) {
	wa, wb, wc := NewFakeWall(t0), NewFakeWall(t0.Add(MaxClockSkew+time.Minute)), NewFakeWall(t0)
	a, _ := Open(Options{Node: "a", Clock: NewClock("a", wa.Now)})
	b, _ := Open(Options{Node: "b", Clock: NewClock("b", wb.Now)})
	c, _ := Open(Options{Node: "c", Clock: NewClock("c", wc.Now)})
	mk(t, b, "from-b")
	mk(t, c, "from-c")
	var batch []Op
	for _, r := range []*Replica{b, c} {
		ops, err := r.Missing(nil, 0, 0)
		if err != nil {
			t.Fatal(err)
		}
		batch = append(batch, ops...)
	}
	if _, err := a.Apply(batch); err != nil {
		t.Fatalf("a batch with a future op is refused: %v", err)
	}
	if got := names(t, a, "/"); len(got) != 1 || got[0] != "from-c" {
		t.Fatalf("after the first delivery: %v, want [from-c]", got)
	}
	if a.FutureOps() == 0 {
		t.Fatal("deferral not counted")
	}
	wa.Advance(2 * time.Minute)
	if _, err := a.Apply(batch); err != nil {
		t.Fatal(err)
	}
	if got := names(t, a, "/"); len(got) != 2 {
		t.Fatalf("after the clock caught up: %v", got)
	}
}
