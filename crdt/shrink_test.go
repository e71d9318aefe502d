package crdt

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

// TestMetaDBShrinksAfterCompaction (defect 5): after many creates and
// deletes, compaction plus the next snapshot bring meta.db back near its
// empty size (bbolt alone would keep the file at its peak).
func TestMetaDBShrinksAfterCompaction(t *testing.T) {
	path := filepath.Join(t.TempDir(), "meta.db")
	st, err := OpenBoltStore(path)
	if err != nil {
		t.Fatal(err)
	}
	r, err := Open(Options{Node: "n1", Store: st})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	size := func() int64 {
		fi, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		return fi.Size()
	}
	empty := size()
	const n, batch = 40000, 2000
	for b := 0; b < n; b += batch {
		mustUpdate(t, r, func(tx *Tx) error {
			for i := b; i < b+batch; i++ {
				if _, err := tx.Create(RootID, fmt.Sprintf("file-%06d", i), KindFile, NewAttrs{Mode: 0o644}); err != nil {
					return err
				}
			}
			return nil
		})
	}
	for b := 0; b < n; b += batch {
		mustUpdate(t, r, func(tx *Tx) error {
			for i := b; i < b+batch; i++ {
				if err := tx.Remove(RootID, fmt.Sprintf("file-%06d", i), false); err != nil {
					return err
				}
			}
			return nil
		})
	}
	peak := size()
	cs := r.Compact(r.VersionVector()) // a single member: everything is stable
	if cs.Tombstones != n {
		t.Fatalf("compacted %+v, want %d tombstones", cs, n)
	}
	mk(t, r, "after") // the next flush writes the snapshot
	got := size()
	t.Logf("meta.db: empty %d, peak %d, after compaction %d bytes", empty, peak, got)
	if peak < shrinkMinBytes {
		t.Fatalf("peak %d below the shrink threshold: the test proves nothing", peak)
	}
	if got > peak/10 {
		t.Fatalf("meta.db %d bytes after compaction, peak %d: not shrunk", got, peak)
	}
	// It reopens with the same state.
	want := r.EncodeState()
	r.Close()
	st2, err := OpenBoltStore(path)
	if err != nil {
		t.Fatal(err)
	}
	r2, err := Open(Options{Node: "n1", Store: st2})
	if err != nil {
		t.Fatal(err)
	}
	defer r2.Close()
	if string(r2.EncodeState()) != string(want) {
		t.Fatal("state changed across the shrink and a reopen")
	}
}
