package placement

import (
	"encoding/binary"
	"slices"
	"strings"

	"github.com/zeebo/blake3"

	"github.com/clusterf/clusterf/chunk"
)

// Partition returns the partition of a chunk among p partitions.
func Partition(id chunk.ID, p int) int {
	if p <= 1 {
		return 0
	}
	return int(binary.BigEndian.Uint64(id[:8]) % uint64(p))
}

// score is the rendezvous weight of node for partition.
func score(partition int, node string) uint64 {
	var buf [8]byte
	binary.BigEndian.PutUint64(buf[:], uint64(partition))
	h := blake3.New()
	h.Write(buf[:])
	h.Write([]byte(node))
	var sum [32]byte
	h.Sum(sum[:0])
	return binary.BigEndian.Uint64(sum[:8])
}

// Holders returns the rf members (storage members only) that hold
// partition, best first. members need not be sorted and may contain
// duplicates.
func Holders(partition int, members []string, rf int) []string {
	ms := slices.Clone(members)
	slices.Sort(ms)
	ms = slices.Compact(ms)
	type scored struct {
		node  string
		score uint64
	}
	s := make([]scored, len(ms))
	for i, m := range ms {
		s[i] = scored{m, score(partition, m)}
	}
	slices.SortFunc(s, func(a, b scored) int {
		if a.score != b.score {
			if a.score > b.score {
				return -1
			}
			return 1
		}
		return strings.Compare(a.node, b.node)
	})
	if rf > len(s) {
		rf = len(s)
	}
	out := make([]string, rf)
	for i := range out {
		out[i] = s[i].node
	}
	return out
}

// IsHolder reports whether node is among the holders of partition.
func IsHolder(partition int, members []string, rf int, node string) bool {
	return slices.Contains(Holders(partition, members, rf), node)
}
