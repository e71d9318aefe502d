package crdt

import (
	"fmt"
	"testing"
)

// checkTree verifies that every tree node reaches RootID or TrashID (no cycle,
// no orphan) and that the display tree has no cycle.
func checkTree(t testing.TB, r *Replica) {
	t.Helper()
	r.View(func(v *View) error {
		if err := treeErr(v.s); err != "" {
			t.Fatal(err)
		}
		return nil
	})
}

func treeErr(s *state) string {
	for id := range s.tree {
		x := id
		for steps := 0; ; steps++ {
			if steps > len(s.tree)+1 {
				return "cycle at " + id.String()
			}
			if x == RootID || x == TrashID {
				break
			}
			t, ok := s.tree[x]
			if !ok {
				return "orphan " + id.String() + " (parent " + x.String() + " missing)"
			}
			x = t.Parent
		}
		if s.live(id) {
			x := id
			for steps := 0; x != RootID; steps++ {
				if steps > len(s.tree)+1 {
					return "display cycle at " + id.String()
				}
				x = s.displayParent(x)
				if x != RootID && !s.live(x) {
					return "live node under dead parent " + id.String()
				}
			}
		}
	}
	return ""
}

// resErr compares the resurrected set refresh derived (from candidates
// only) with the reference: every trash child examined, pass after pass.
func resErr(s *state) string {
	var kids []InodeID
	for k := range s.children[TrashID] {
		kids = append(kids, k)
	}
	sortIDs(kids)
	saved := s.der
	s.der = derived{res: map[InodeID]bool{}}
	prevKids := map[InodeID]int{}
	for changed := true; changed; {
		changed = false
		for _, k := range kids {
			if s.der.res[k] || !s.qualifies(k, prevKids) {
				continue
			}
			s.der.res[k] = true
			changed = true
			if t := s.tree[k]; t.HasPrev {
				prevKids[t.PrevParent]++
			}
		}
	}
	want := s.der.res
	s.der = saved
	if len(want) != len(saved.res) {
		return fmt.Sprintf("refresh resurrected %d nodes, the full scan %d", len(saved.res), len(want))
	}
	for k := range want {
		if !saved.res[k] {
			return fmt.Sprintf("the full scan resurrects %s, refresh does not", k)
		}
	}
	return ""
}
