package crdt

import (
	"strings"
	"testing"
)

// TestInspect: the inspector's accessors describe what the replica holds:
// log ranges and pages per origin, an inode's registers with a content
// conflict (winner and sibling), tombstones and a name clash.
func TestInspect(t *testing.T) {
	rs := newTestReplicas(t, 2)
	a, b := rs[0], rs[1]
	mk(t, a, "docs/", "docs/a.txt", "gone.txt")
	exchange(t, a, b)
	// Concurrent writes of one file and concurrent creates of one name.
	var ino InodeID
	for i, r := range []*Replica{a, b} {
		mustUpdate(t, r, func(tx *Tx) error {
			e, err := resolve(tx.View, "docs/a.txt")
			if err != nil {
				return err
			}
			ino = e.Ref.Inode
			_, err = tx.WriteContent(ino, OpID{}, Content{Size: int64(i + 1), Inline: make([]byte, i+1)})
			return err
		})
		mk(t, r, "same.txt")
	}
	mustUpdate(t, a, func(tx *Tx) error { return tx.Remove(RootID, "gone.txt", false) })
	exchange(t, a, b)

	err := b.View(func(v *View) error {
		lr := v.LogRanges()
		if lr["n1"].Last != a.VersionVector()["n1"] || lr["n2"].Last != b.VersionVector()["n2"] {
			t.Errorf("log ranges %v, version vectors %v / %v", lr, a.VersionVector(), b.VersionVector())
		}
		page := v.LogPage("n1", 0, 2)
		if len(page) != 2 || page[0].Seq != 1 || page[1].Seq != 2 || page[1].Kind != "move" {
			t.Errorf("first page of n1: %+v", page)
		}
		if rest := v.LogPage("n1", 2, 100); len(rest) == 0 || rest[0].Seq != 3 {
			t.Errorf("second page of n1 starts at %+v", rest)
		}
		reg, err := v.Registers(ino)
		if err != nil {
			return err
		}
		if len(reg.Versions) != 2 || !reg.Versions[0].Winner || reg.Versions[1].Winner || reg.Kind != "file" {
			t.Errorf("registers: versions %+v kind %s", reg.Versions, reg.Kind)
		}
		if len(reg.Attrs) == 0 || len(reg.Dentries) != 1 || reg.Dentries[0].Name != "a.txt" || !reg.Dentries[0].Live {
			t.Errorf("registers: attrs %+v dentries %+v", reg.Attrs, reg.Dentries)
		}
		n, tombs := v.Tombstones(10)
		if n != 1 || len(tombs) != 1 || tombs[0].Name != "gone.txt" || tombs[0].By != "n1" {
			t.Errorf("tombstones: %d %+v", n, tombs)
		}
		if clash := v.NameClash(RootID, "same.txt"); len(clash) != 2 {
			t.Errorf("name clash of same.txt: %v", clash)
		}
		if clash := v.NameClash(RootID, "docs"); len(clash) != 1 {
			t.Errorf("name clash of docs: %v", clash)
		}
		for _, op := range v.LogPage("n2", 0, 100) {
			if op.Kind == "content" && !strings.Contains(op.Summary, "bytes") {
				t.Errorf("content op summary %q", op.Summary)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
