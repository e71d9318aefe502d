package crdt

import (
	"errors"
	"testing"
)

// fuzzSeedOps returns a few real op batches and a snapshot.
func fuzzSeeds(t testing.TB) ([][]byte, []byte) {
	rs := newTestReplicas(t, 2)
	a, b := rs[0], rs[1]
	var batches [][]byte
	add := func(ops []Op) { batches = append(batches, EncodeOps(ops)) }
	var f InodeID
	add(mustUpdate(t, a, func(tx *Tx) (err error) {
		f, err = tx.Create(RootID, "f.txt", KindFile, NewAttrs{Mode: 0o644, Time: 1})
		return err
	}))
	add(mustUpdate(t, a, func(tx *Tx) error {
		if _, err := tx.Create(RootID, "d", KindDir, NewAttrs{Mode: 0o755}); err != nil {
			return err
		}
		if _, err := tx.WriteContent(f, OpID{}, Content{Size: 3, Inline: []byte("abc")}); err != nil {
			return err
		}
		if err := tx.SetXattr(f, "user.k", []byte("v")); err != nil {
			return err
		}
		return tx.SetSetting(SettingReplicationFactor, EncodeValue(2))
	}))
	add(mustUpdate(t, a, func(tx *Tx) error { // special files and a sparse version
		if _, err := tx.Create(RootID, "fifo", KindFIFO, NewAttrs{Mode: 0o600}); err != nil {
			return err
		}
		if _, err := tx.Create(RootID, "null", KindCharDev, NewAttrs{Mode: 0o666, Rdev: 0x103}); err != nil {
			return err
		}
		sparse := Content{Size: 1 << 50, ChunkSize: 4 << 20, Sparse: []SparseChunk{{Index: 7, ID: ChunkID{1}}, {Index: 1<<28 - 1, ID: ChunkID{2}}}}
		_, err := tx.WriteContent(f, OpID{}, sparse)
		return err
	}))
	exchange(t, a, b)
	add(mustUpdate(t, b, func(tx *Tx) error {
		if err := tx.Rename(RootID, "f.txt", RootID, "g.txt", 0); err != nil {
			return err
		}
		return tx.Remove(RootID, "g.txt", false)
	}))
	return batches, EncodeSnapshot(mustSnapshot(t, a))
}

func FuzzDecodeOps(f *testing.F) {
	batches, _ := fuzzSeeds(f)
	for _, b := range batches {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		ops, err := DecodeOps(b)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("error does not wrap ErrMalformed: %v", err)
			}
			return
		}
		again, err := DecodeOps(EncodeOps(ops))
		if err != nil || len(again) != len(ops) {
			t.Fatalf("round trip: %v", err)
		}
	})
}

func FuzzDecodeSnapshot(f *testing.F) {
	_, snap := fuzzSeeds(f)
	f.Add(snap)
	f.Fuzz(func(t *testing.T, b []byte) {
		s, err := DecodeSnapshot(b)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("error does not wrap ErrMalformed: %v", err)
			}
			return
		}
		r, err := Open(Options{Node: "fz"})
		if err != nil {
			t.Fatal(err)
		}
		if err := r.InstallSnapshot(s); err != nil {
			return
		}
		r.View(func(v *View) error {
			entries(v)
			v.Stats()
			return nil
		})
		r.EncodeState()
	})
}

func FuzzApply(f *testing.F) {
	batches, _ := fuzzSeeds(f)
	for _, b := range batches {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		ops, err := DecodeOps(b)
		if err != nil {
			return
		}
		r, err := Open(Options{Node: "fz"})
		if err != nil {
			t.Fatal(err)
		}
		mk(t, r, "x/", "x/y")
		if _, err := r.Apply(ops); err != nil {
			t.Fatalf("decoded ops rejected: %v", err)
		}
		r.View(func(v *View) error {
			if e := treeErr(v.s); e != "" && len(v.s.tree) < 1000 {
				// Orphans are allowed (parents may arrive later); cycles are not.
				if len(e) > 5 && e[:5] == "cycle" {
					t.Fatal(e)
				}
			}
			entries(v)
			v.Stats()
			return nil
		})
		r.EncodeState()
		_, _ = r.Snapshot()
	})
}
