package crdt

import (
	"bytes"
	"errors"
	"syscall"
	"testing"
)

// failingStore fails Append while fail is set (a full disk).
type failingStore struct {
	Store
	fail bool
}

func (s *failingStore) Append(ops []Op) error {
	if s.fail {
		return syscall.ENOSPC
	}
	return s.Store.Append(ops)
}

// A store error fails the change (not acknowledged) but does not break the
// replica: once the store works again, the next change writes both, in order.
func TestStoreErrorIsNotFatal(t *testing.T) {
	mem := NewMemStore()
	fs := &failingStore{Store: mem, fail: true}
	r, err := Open(Options{Node: "n1", Store: fs})
	if err != nil {
		t.Fatal(err)
	}
	mk := func(name string) error {
		_, err := r.Update(func(tx *Tx) error {
			_, err := tx.Create(RootID, name, KindFile, NewAttrs{Mode: 0o644})
			return err
		})
		return err
	}
	if err := mk("a"); !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("update on a full store: %v, want ENOSPC", err)
	}
	fs.fail = false
	if err := mk("b"); err != nil {
		t.Fatalf("update after the store recovered: %v", err)
	}
	// Reopen from the store: both ops are durable, in order, without gaps.
	r2, err := Open(Options{Node: "n1", Store: mem})
	if err != nil {
		t.Fatal(err)
	}
	err = r2.View(func(v *View) error {
		for _, n := range []string{"a", "b"} {
			if _, err := v.Lookup(RootID, n); err != nil {
				t.Errorf("%s after reopen: %v", n, err)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestOpsServedOnlyWhenDurable (defect 2): ops whose append failed (a full
// disk) are not served to peers, not counted in the version vector and not
// put in snapshots; after a restart the node reuses their sequence numbers
// for new ops, and peers take the new ops (nothing was ever served twice
// under one id), so the replicas converge.
func TestOpsServedOnlyWhenDurable(t *testing.T) {
	mem := NewMemStore()
	fs := &failingStore{Store: mem}
	r, err := Open(Options{Node: "n1", Store: fs})
	if err != nil {
		t.Fatal(err)
	}
	peer := TestReplica(t, "n2")
	mk := func(r *Replica, name string) error {
		_, err := r.Update(func(tx *Tx) error {
			_, err := tx.Create(RootID, name, KindFile, NewAttrs{Mode: 0o644})
			return err
		})
		return err
	}
	if err := mk(r, "durable"); err != nil {
		t.Fatal(err)
	}
	fs.fail = true
	if err := mk(r, "lost"); !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("update on a full store: %v", err)
	}
	ops, err := r.Missing(peer.VersionVector(), 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := peer.Apply(ops); err != nil {
		t.Fatal(err)
	}
	if err := peer.View(func(v *View) error { _, err := v.Lookup(RootID, "lost"); return err }); err == nil {
		t.Fatal("a peer received an op that was never durable")
	}
	if got := r.VersionVector()["n1"]; got != 2 { // attr + move of "durable"
		t.Fatalf("version vector shows %d local ops, want the 2 durable ones", got)
	}
	// Crash (the failed ops are gone) and restart on a working disk.
	r2, err := Open(Options{Node: "n1", Store: reopenMem(mem)})
	if err != nil {
		t.Fatal(err)
	}
	if err := mk(r2, "after-restart"); err != nil {
		t.Fatal(err)
	}
	ops, err = r2.Missing(peer.VersionVector(), 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := peer.Apply(ops); err != nil {
		t.Fatal(err)
	}
	if err := peer.View(func(v *View) error { _, err := v.Lookup(RootID, "after-restart"); return err }); err != nil {
		t.Fatalf("peer dropped the new op as a duplicate of a lost one: %v", err)
	}
	if !bytes.Equal(peer.EncodeState(), r2.EncodeState()) {
		t.Fatal("replicas diverged while their version vectors agree")
	}
}
