package crdt

import "testing"

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
