package crdt

import (
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
