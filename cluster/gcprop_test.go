package cluster

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"testing"
	"time"

	"pgregory.net/rapid"

	"github.com/clusterf/clusterf/chunk"
	"github.com/clusterf/clusterf/crdt"
	"github.com/clusterf/clusterf/replica"
)

var gcPropChecks = flag.String("gcprop.checks", "5", "rapid checks of TestPropertyGCSafety (each starts a small cluster)")

// staged is a handle with unflushed writes, and what it will commit.
type stagedHandle struct {
	node *fsNode
	h    *replica.Handle
	name string
}

// TestPropertyGCSafety: random writers, overwrites, deletes, handles that
// hold staged writes, partitions, restarts and garbage collection rounds
// with a grace period of 1 ns over three replicas. Invariant, checked after
// every step: every chunk that any node's metadata references from a live
// version, or that any node pins, is stored on at least one node. At the
// end (healed, synced, handles flushed) every file reads back on every node.
func TestPropertyGCSafety(t *testing.T) {
	f := flag.Lookup("rapid.checks")
	old := f.Value.String()
	if err := f.Value.Set(*gcPropChecks); err != nil {
		t.Fatal(err)
	}
	defer f.Value.Set(old)
	rapid.Check(t, func(rt *rapid.T) { gcPropertyRun(t, rt) })
}

func gcPropertyRun(t *testing.T, rt *rapid.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	// Three storage members with RF 2 (so no node holds everything) and a
	// client, which stores nothing but what it writes or reads.
	nodes := startFSCluster(t, ctx, 4, func(i int, o *fsNodeOpts) { o.persistent, o.noStore = true, i == 3 })
	nodes[0].meta.Update(func(tx *crdt.Tx) error {
		return tx.SetSetting(crdt.SettingReplicationFactor, crdt.EncodeValue(2))
	})
	synced(t, nodes...)
	var handles []*stagedHandle
	files := []string{"a", "b", "c", "d"}
	steps := rapid.IntRange(10, 40).Draw(rt, "steps")
	for step := range steps {
		n := nodes[rapid.IntRange(0, len(nodes)-1).Draw(rt, "node")]
		name := rapid.SampledFrom(files).Draw(rt, "file")
		switch rapid.IntRange(0, 11).Draw(rt, "action") {
		case 0, 1: // replace a file (atomic upload)
			size := rapid.IntRange(1, 3).Draw(rt, "chunks") * (40 << 10)
			data := bytes.Repeat([]byte{byte(step), byte(size)}, size/2)
			n.fs.PutFile(ctx, name, bytes.NewReader(data), replica.PutOptions{})
		case 2: // overwrite part of a file in place
			if a, err := n.fs.Walk(ctx, name); err == nil {
				if h, err := n.fs.Open(ctx, a.Ref, os.O_RDWR); err == nil {
					h.WriteAt(ctx, []byte(fmt.Sprintf("step %d", step)), int64(rapid.IntRange(0, 100<<10).Draw(rt, "off")))
					h.Release()
				}
			}
		case 3, 10: // open a handle and stage a write to the second chunk (the first is never read)
			if a, err := n.fs.Walk(ctx, name); err == nil {
				if h, err := n.fs.Open(ctx, a.Ref, os.O_RDWR); err == nil {
					h.WriteAt(ctx, []byte("staged"), 65<<10)
					handles = append(handles, &stagedHandle{node: n, h: h, name: name})
				}
			}
		case 4: // flush and close the oldest staged handle
			if len(handles) > 0 {
				sh := handles[0]
				handles = handles[1:]
				sh.h.Flush(ctx)
				sh.h.Release()
			}
		case 5:
			n.fs.RemoveAll(ctx, name)
		case 6: // cut one node off, or heal everything
			if rapid.Bool().Draw(rt, "heal") {
				partition(false, nodes, nodes)
			} else {
				partition(true, []*fsNode{n}, others(nodes, n))
			}
		case 7: // restart (its staged handles are lost with it)
			kept := handles[:0]
			for _, sh := range handles {
				if sh.node != n {
					kept = append(kept, sh)
				}
			}
			handles = kept
			n.restart(t, ctx, nodes)
		default: // garbage collection everywhere, after some anti-entropy
			time.Sleep(time.Duration(rapid.IntRange(0, 300).Draw(rt, "wait")) * time.Millisecond)
			for _, x := range nodes {
				x.c.RepairOnce(ctx)
			}
		}
		if missing := missingChunks(nodes); len(missing) > 0 {
			rt.Fatalf("step %d: %d referenced or pinned chunks are stored nowhere, e.g. %s", step, len(missing), missing[0])
		}
	}
	for _, sh := range handles {
		if err := sh.h.Flush(ctx); err != nil {
			rt.Fatalf("flush of a staged handle: %v", err)
		}
		sh.h.Release()
	}
	partition(false, nodes, nodes)
	synced(t, nodes...)
	waitAllUp(t, nodes)
	for _, n := range nodes {
		n.c.RepairOnce(ctx)
	}
	if missing := missingChunks(nodes); len(missing) > 0 {
		rt.Fatalf("after healing: %d referenced chunks are stored nowhere", len(missing))
	}
	for _, n := range nodes {
		ents, err := n.fs.ReadDir(ctx, crdt.RootID)
		if err != nil {
			rt.Fatal(err)
		}
		for _, e := range ents {
			if _, err := n.readRef(e.Attr.Ref); err != nil && !errors.Is(err, crdt.ErrNotFound) {
				rt.Fatalf("%s: %s does not read back: %v", n.id, e.Name, err)
			}
		}
	}
}

func others(all []*fsNode, n *fsNode) []*fsNode {
	var out []*fsNode
	for _, x := range all {
		if x != n {
			out = append(out, x)
		}
	}
	return out
}

// missingChunks lists chunks referenced by a live version in some node's
// metadata, or pinned on some node, that no node stores.
func missingChunks(nodes []*fsNode) []chunk.ID {
	need := map[chunk.ID]bool{}
	stored := map[chunk.ID]bool{}
	for _, n := range nodes {
		n.meta.View(func(v *crdt.View) error {
			v.ChunkRefs(func(id crdt.ChunkID) { need[chunk.ID(id)] = true })
			return nil
		})
		_, pins := n.keep.Pins(^uint64(0))
		for _, id := range pins {
			need[id] = true
		}
		for id := range n.stored() {
			stored[id] = true
		}
	}
	var out []chunk.ID
	for id := range need {
		if !stored[id] {
			out = append(out, id)
		}
	}
	return out
}
