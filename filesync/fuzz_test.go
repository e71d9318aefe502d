package filesync

import (
	"encoding/binary"
	"testing"

	"github.com/fxamacker/cbor/v2"

	"github.com/clusterf/clusterf/crdt"
)

// FuzzStateRecords: records of a damaged or hostile state file decode
// with an error or build a tree, never panic; every node of the tree is
// reachable from the root and indexed once.
func FuzzStateRecords(f *testing.F) {
	good, _ := cbor.Marshal(stored{Parent: rootID, Name: "a", Rec: record{Kind: kindFile, L: localStamp{Size: 3, Ino: 9}}})
	child, _ := cbor.Marshal(stored{Parent: 2, Name: "b", Rec: record{Kind: kindDir}})
	cyc, _ := cbor.Marshal(stored{Parent: 4, Name: "loop"})
	f.Add(binary.BigEndian.AppendUint64(nil, 2), good, binary.BigEndian.AppendUint64(nil, 3), child)
	f.Add(binary.BigEndian.AppendUint64(nil, 4), cyc, binary.BigEndian.AppendUint64(nil, 1), good)
	f.Add([]byte{1}, []byte{0xa3, 0x01}, []byte{}, []byte{})
	f.Fuzz(func(t *testing.T, k1, v1, k2, v2 []byte) {
		s := &state{nextID: rootID + 1, byIno: map[devIno]*bnode{}, byInode: map[crdt.InodeID]*bnode{},
			dirty: map[*bnode]bool{}, gone: map[uint64]bool{}, meta: map[string][]byte{}}
		s.root = &bnode{id: rootID, kids: map[string]*bnode{}, rec: record{Kind: kindDir}}
		recs := map[uint64]stored{}
		for _, kv := range [][2][]byte{{k1, v1}, {k2, v2}} {
			var st stored
			if len(kv[0]) != 8 || s.decode(bucketNodes, kv[0], kv[1], &st) != nil {
				continue
			}
			recs[binary.BigEndian.Uint64(kv[0])] = st
		}
		s.build(recs)
		seen := map[*bnode]bool{}
		s.walk(s.root, func(n *bnode) {
			if seen[n] {
				t.Fatal("a node twice in the tree")
			}
			seen[n] = true
			if n != s.root && s.get(n.rel()) != n {
				t.Fatalf("node %q not found by its path", n.rel())
			}
		})
		if s.files != s.countFiles(s.root) {
			t.Fatalf("file count %d, tree has %d", s.files, s.countFiles(s.root))
		}
	})
}
