package crdt

import (
	"errors"
	"math"
	"reflect"
	"strings"
	"testing"

	"pgregory.net/rapid"
)

var specialKinds = []Kind{KindFIFO, KindSocket, KindCharDev, KindBlockDev}

// TestSpecialKindsReplicate: FIFOs, sockets and devices are inodes like
// any other: created with their rdev, replicated, snapshotted, linked;
// they take no content and their kind never changes.
func TestSpecialKindsReplicate(t *testing.T) {
	rs := newTestReplicas(t, 2)
	a, b := rs[0], rs[1]
	ids := map[Kind]InodeID{}
	mustUpdate(t, a, func(tx *Tx) error {
		for i, k := range specialKinds {
			id, err := tx.Create(RootID, k.String(), k, NewAttrs{Mode: 0o640, UID: 7, GID: 8, Rdev: uint32(0x103 + i), Time: 5})
			if err != nil {
				return err
			}
			ids[k] = id
		}
		return tx.Link(ids[KindFIFO], RootID, "fifo-link")
	})
	exchange(t, a, b)
	assertSame(t, a, b)
	snap, err := DecodeSnapshot(EncodeSnapshot(mustSnapshot(t, a)))
	if err != nil {
		t.Fatal(err)
	}
	c := newTestReplicas(t, 3)[2]
	if err := c.InstallSnapshot(snap); err != nil {
		t.Fatal(err)
	}
	assertSame(t, a, b, c)
	for i, k := range specialKinds {
		err := c.View(func(v *View) error {
			in, err := v.Inode(ids[k])
			if err != nil {
				return err
			}
			wantLinks := uint32(1)
			if k == KindFIFO {
				wantLinks = 2
			}
			if in.Kind != k || in.Rdev != uint32(0x103+i) || in.Mode != 0o640 || in.UID != 7 || in.Nlink != wantLinks {
				t.Errorf("%v: got %+v", k, in)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		_, err = b.Update(func(tx *Tx) error {
			_, err := tx.WriteContent(ids[k], OpID{}, Content{Size: 1, Inline: []byte{1}})
			return err
		})
		if !errors.Is(err, ErrIsDir) {
			t.Errorf("content of a %v: %v, want refused", k, err)
		}
		_, err = b.Update(func(tx *Tx) error { return tx.SetAttr(AttrOp{Inode: ids[k], Set: AttrKind, Kind: KindFile}) })
		if !errors.Is(err, ErrInvalid) {
			t.Errorf("changing the kind of a %v: %v", k, err)
		}
	}
}

// TestSpecialKindsConflict: two nodes creating the same name concurrently,
// one a FIFO and one a file, keep both (as for files), the same on both.
func TestSpecialKindsConflict(t *testing.T) {
	rs := newTestReplicas(t, 2)
	a, b := rs[0], rs[1]
	mustUpdate(t, a, func(tx *Tx) error {
		_, err := tx.Create(RootID, "p", KindFIFO, NewAttrs{Mode: 0o644})
		return err
	})
	mustUpdate(t, b, func(tx *Tx) error {
		_, err := tx.Create(RootID, "p", KindFile, NewAttrs{Mode: 0o644})
		return err
	})
	exchange(t, a, b)
	assertSame(t, a, b)
	got := names(t, a, "/")
	if len(got) != 2 || got[0] != "p" || !strings.HasPrefix(got[1], "p.conflict-") {
		t.Fatalf("names = %v", got)
	}
}

// TestRemoteKindChangeIgnored: a crafted later AttrKind op cannot turn a
// FIFO into a file (the first kind by timestamp wins).
func TestRemoteKindChangeIgnored(t *testing.T) {
	rs := newTestReplicas(t, 2)
	a, b := rs[0], rs[1]
	var id InodeID
	mustUpdate(t, a, func(tx *Tx) (err error) {
		id, err = tx.Create(RootID, "p", KindFIFO, NewAttrs{})
		return err
	})
	exchange(t, a, b)
	forged := Op{ID: OpID{Node: a.Node(), Seq: a.VersionVector()[a.Node()] + 1}, TS: Timestamp{Wall: t0.Add(1e12).UnixNano(), Node: a.Node()},
		Attr: &AttrOp{Inode: id, Set: AttrKind, Kind: KindFile}}
	if _, err := b.Apply([]Op{forged}); err != nil {
		t.Fatal(err)
	}
	_ = b.View(func(v *View) error {
		if in, _ := v.Inode(id); in.Kind != KindFIFO {
			t.Errorf("kind = %v after a later kind op", in.Kind)
		}
		return nil
	})
}

// TestLinkLimit: Link refuses an inode with MaxLinks names (EMLINK).
func TestLinkLimit(t *testing.T) {
	r := newTestReplicas(t, 1)[0]
	var id InodeID
	mustUpdate(t, r, func(tx *Tx) (err error) {
		id, err = tx.Create(RootID, "f", KindFile, NewAttrs{})
		if err != nil {
			return err
		}
		for i := 1; i < MaxLinks; i++ {
			if err := tx.Link(id, RootID, "l"+itoa(i)); err != nil {
				return err
			}
		}
		return nil
	})
	_, err := r.Update(func(tx *Tx) error { return tx.Link(id, RootID, "one-too-many") })
	if !errors.Is(err, ErrTooManyLinks) {
		t.Fatalf("link number %d: %v, want ErrTooManyLinks", MaxLinks+1, err)
	}
}

func TestValidSparse(t *testing.T) {
	const cs = 4 << 20
	id := ChunkID{1}
	tests := []struct {
		name string
		c    Content
		ok   bool
	}{
		{"one chunk at 1 PiB", Content{Size: 1 << 50, ChunkSize: cs, Sparse: []SparseChunk{{Index: 1<<50/cs - 1, ID: id}}}, true},
		{"max size", Content{Size: math.MaxInt64, ChunkSize: cs, Sparse: []SparseChunk{{Index: 0, ID: id}, {Index: (math.MaxInt64 - 1) / cs, ID: id}}}, true},
		{"beyond the size", Content{Size: 1 << 30, ChunkSize: cs, Sparse: []SparseChunk{{Index: 1 << 30 / cs, ID: id}}}, false},
		{"hole", Content{Size: 1 << 30, ChunkSize: cs, Sparse: []SparseChunk{{Index: 3}}}, false},
		{"out of order", Content{Size: 1 << 30, ChunkSize: cs, Sparse: []SparseChunk{{Index: 3, ID: id}, {Index: 3, ID: id}}}, false},
		{"both forms", Content{Size: 1 << 30, ChunkSize: cs, Chunks: []ChunkID{id}, Sparse: []SparseChunk{{Index: 3, ID: id}}}, false},
		{"no chunk size", Content{Size: 1 << 30, Sparse: []SparseChunk{{Index: 0, ID: id}}}, false},
		{"inline", Content{Size: 1, Inline: []byte{1}, ChunkSize: cs, Sparse: []SparseChunk{{Index: 0, ID: id}}}, false},
	}
	for _, tt := range tests {
		if err := validContent(&tt.c); (err == nil) != tt.ok {
			t.Errorf("%s: %v", tt.name, err)
		}
	}
}

// TestChunkedContentForms: the dense and the sparse form of the same
// chunks read the same through every accessor, and the form is sparse
// exactly when the dense one would be large and mostly holes.
func TestChunkedContentForms(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		cs := uint32(rapid.SampledFrom([]int{1, 4096, 4 << 20}).Draw(t, "cs"))
		size := rapid.Int64Range(1, math.MaxInt64).Draw(t, "size")
		slots := (size-1)/int64(cs) + 1
		n := rapid.IntRange(0, 40).Draw(t, "n")
		seen := map[int64]bool{}
		var stored []SparseChunk
		for range n {
			idx := rapid.Int64Range(0, min(slots-1, 300)).Draw(t, "idx")
			if rapid.Bool().Draw(t, "far") {
				idx = slots - 1 - idx
			}
			if idx >= 0 && !seen[idx] {
				seen[idx] = true
				stored = append(stored, SparseChunk{Index: uint64(idx), ID: ChunkID{byte(idx), byte(idx >> 8), 1}})
			}
		}
		sortSparse(stored)
		c := ChunkedContent(size, cs, stored)
		if err := validContent(&c); err != nil {
			t.Fatalf("ChunkedContent gave invalid content: %v", err)
		}
		if c.StoredChunks() != len(stored) {
			t.Fatalf("stored %d, want %d", c.StoredChunks(), len(stored))
		}
		var got []SparseChunk
		c.EachChunk(0, func(idx int64, id ChunkID) bool {
			got = append(got, SparseChunk{Index: uint64(idx), ID: id})
			return true
		})
		if len(stored) > 0 && !reflect.DeepEqual(got, stored) {
			t.Fatalf("EachChunk = %v, want %v", got, stored)
		}
		for _, sc := range stored {
			if c.ChunkAt(int64(sc.Index)) != sc.ID {
				t.Fatalf("ChunkAt(%d) wrong", sc.Index)
			}
			if !seen[int64(sc.Index)+1] && c.ChunkAt(int64(sc.Index)+1) != (ChunkID{}) {
				t.Fatalf("ChunkAt(%d) is not a hole", sc.Index+1)
			}
		}
		if len(c.Sparse) > 0 && slots <= 2*int64(len(stored))+64 {
			t.Fatalf("sparse form for %d slots, %d stored", slots, len(stored))
		}
		if len(c.Chunks) > MaxChunks {
			t.Fatalf("dense list of %d", len(c.Chunks))
		}
	})
}

func sortSparse(s []SparseChunk) {
	for i := 1; i < len(s); i++ {
		for j := i; j > 0 && s[j].Index < s[j-1].Index; j-- {
			s[j], s[j-1] = s[j-1], s[j]
		}
	}
}

// TestLargestSparseOpFitsAFrame: the sparse form with the most chunks a
// version may have, at the largest indices, also stays under the frame.
func TestLargestSparseOpFitsAFrame(t *testing.T) {
	const cs = 4 << 20
	c := Content{Size: math.MaxInt64, ChunkSize: cs, Sparse: make([]SparseChunk, MaxChunks)}
	top := uint64(c.NumChunks() - 1)
	for i := range c.Sparse {
		c.Sparse[i] = SparseChunk{Index: top - uint64(MaxChunks-1-i), ID: ChunkID{byte(i), byte(i >> 8), 31: 0xff}}
	}
	op := Op{ID: OpID{Node: "n1", Seq: 1}, TS: Timestamp{Wall: 1, Node: "n1"}, Content: &ContentOp{Inode: InodeID{0: 0x80, 15: 9}, Content: &c}}
	if err := validateOp(&op); err != nil {
		t.Fatal(err)
	}
	enc := EncodeOps([]Op{op})
	if len(enc) > 48<<20 || OpSize(&op) < len(enc) {
		t.Fatalf("largest sparse op encodes to %d bytes (OpSize %d); frame limit 64 MiB", len(enc), OpSize(&op))
	}
	if _, err := DecodeOps(enc); err != nil {
		t.Fatal(err)
	}
	c.Sparse = append([]SparseChunk{{Index: 0, ID: ChunkID{1}}}, c.Sparse...)
	if err := validateOp(&op); err == nil {
		t.Fatal("a sparse op with more than MaxChunks chunks passed validation")
	}
}

// TestDeletedLinkStaysDeleted: link(a, b), unlink(a), a write through b,
// unlink(b): the file is gone, a does not come back (the write is covered
// by b's delete; found by TestPosixDiffRandom, seed 1). A write that no
// delete saw still brings the names back.
func TestDeletedLinkStaysDeleted(t *testing.T) {
	rs := newTestReplicas(t, 2)
	a, b := rs[0], rs[1]
	var id InodeID
	mustUpdate(t, a, func(tx *Tx) (err error) {
		if id, err = tx.Create(RootID, "a", KindFile, NewAttrs{}); err != nil {
			return err
		}
		_, err = tx.WriteContent(id, OpID{}, Content{Size: 1, Inline: []byte{1}})
		return err
	})
	mustUpdate(t, a, func(tx *Tx) error { return tx.Link(id, RootID, "b") })
	mustUpdate(t, a, func(tx *Tx) error { return tx.Remove(RootID, "a", false) })
	mustUpdate(t, a, func(tx *Tx) error {
		in, err := tx.Inode(id)
		if err != nil {
			return err
		}
		_, err = tx.WriteContent(id, in.Version, Content{Size: 1, Inline: []byte{2}})
		return err
	})
	mustUpdate(t, a, func(tx *Tx) error { return tx.Remove(RootID, "b", false) })
	exchange(t, a, b)
	assertSame(t, a, b)
	if got := names(t, a, "/"); len(got) != 0 {
		t.Fatalf("root = %v after deleting both names", got)
	}
	// Both names deleted on a while b writes: the file comes back (under
	// one of its names: one live name is enough, as before).
	mustUpdate(t, a, func(tx *Tx) (err error) {
		if id, err = tx.Create(RootID, "f", KindFile, NewAttrs{}); err != nil {
			return err
		}
		return tx.Link(id, RootID, "g")
	})
	exchange(t, a, b)
	mustUpdate(t, a, func(tx *Tx) error {
		if err := tx.Remove(RootID, "f", false); err != nil {
			return err
		}
		return tx.Remove(RootID, "g", false)
	})
	mustUpdate(t, b, func(tx *Tx) error {
		_, err := tx.WriteContent(id, OpID{}, Content{Size: 1, Inline: []byte{3}})
		return err
	})
	exchange(t, a, b)
	assertSame(t, a, b)
	if got := names(t, a, "/"); len(got) != 1 || (got[0] != "f" && got[0] != "g") {
		t.Fatalf("root = %v: a write concurrent with the deletes brings the file back", got)
	}
}
