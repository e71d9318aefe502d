package placement

import (
	"fmt"
	"slices"
	"testing"

	"github.com/clusterf/clusterf/chunk"
)

func members(n int) []string {
	var m []string
	for i := range n {
		m = append(m, fmt.Sprintf("node-%02d", i))
	}
	return m
}

func TestHoldersDeterministicAndDistinct(t *testing.T) {
	ms := members(7)
	rev := slices.Clone(ms)
	slices.Reverse(rev)
	for p := range 200 {
		h := Holders(p, ms, 3)
		if !slices.Equal(h, Holders(p, rev, 3)) {
			t.Fatalf("partition %d: holders depend on member order", p)
		}
		if len(h) != 3 || len(slices.Compact(slices.Sorted(slices.Values(h)))) != 3 {
			t.Fatalf("partition %d: holders %v", p, h)
		}
	}
}

func TestRFAboveMembersMeansEveryMember(t *testing.T) {
	h := Holders(5, members(4), 10)
	if len(h) != 4 {
		t.Fatalf("got %v", h)
	}
}

// A join moves about 1/N of the placements (rendezvous hashing), and only
// onto the new member.
func TestJoinMovesAboutOneNth(t *testing.T) {
	const parts, rf = 1024, 3
	old := members(5)
	grown := append(slices.Clone(old), "node-new")
	moved := 0
	for p := range parts {
		before, after := Holders(p, old, rf), Holders(p, grown, rf)
		for _, h := range after {
			if !slices.Contains(before, h) {
				if h != "node-new" {
					t.Fatalf("partition %d: %s gained it on a join of node-new", p, h)
				}
				moved++
			}
		}
	}
	share := float64(moved) / float64(parts*rf)
	t.Logf("join of a 6th node moved %d of %d placements (%.3f; ideal 1/6 = %.3f)", moved, parts*rf, share, 1.0/6)
	if share < 0.10 || share > 0.24 {
		t.Fatalf("join moved %.3f of placements, want about 1/6", share)
	}
}

func TestPartitionRange(t *testing.T) {
	var id chunk.ID
	for i := range 1000 {
		id[0], id[7] = byte(i), byte(i*7)
		if p := Partition(id, 1024); p < 0 || p >= 1024 {
			t.Fatalf("partition %d out of range", p)
		}
	}
	if Partition(id, 1) != 0 || Partition(id, 0) != 0 {
		t.Fatal("P<=1 must map to 0")
	}
}
