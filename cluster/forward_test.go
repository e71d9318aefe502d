package cluster

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"testing"

	"github.com/clusterf/clusterf/chunk"
)

// TestChainPut: a writer that is not a holder sends each chunk once, to
// the head of the chain of its RF=3 holders; Replicate returns only once
// min(RF, 2) = 2 copies are stored (rawfile Put: durable), also when one
// holder of the chain fails, and the chain passes the chunk on to every
// holder that works without any repair (the chunk is referenced by no
// file, so repair never copies it).
func TestChainPut(t *testing.T) {
	for _, tc := range []struct {
		name   string
		refuse int // index of the failing holder, -1 none
	}{
		{"all up", -1},
		{"head refuses", 0},
		{"middle refuses", 1},
		{"tail refuses", 2},
	} {
		t.Run(tc.name, func(t *testing.T) { testChainPut(t, tc.refuse) })
	}
}

func testChainPut(t *testing.T, refuse int) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	key := []byte("k")
	ms := []*member{newMember(t, ctx, "w", key), newMember(t, ctx, "h1", key), newMember(t, ctx, "h2", key), newMember(t, ctx, "h3", key)}
	for _, a := range ms {
		for _, b := range ms {
			if a != b {
				a.c.AddPeer(b.id, b.addr(), 0)
			}
		}
	}
	w := ms[0]
	waitUntil(t, "peers up", func() bool {
		for _, m := range ms {
			if len(m.c.StorageMembers()) != len(ms) {
				return false
			}
		}
		return true
	})
	// A chunk whose holders are the three others (w is not one of them).
	var data []byte
	var id chunk.ID
	var holders []string
	for i := 0; ; i++ {
		data = bytes.Repeat([]byte(fmt.Sprintf("chain %d ", i)), 20000)
		id = chunk.Sum(data)
		holders = w.c.Placement().Holders(id)
		if !slices.Contains(holders, string(w.id)) {
			break
		}
	}
	if len(holders) != 3 {
		t.Fatalf("holders %v, want 3", holders)
	}
	byID := map[string]*member{}
	for _, m := range ms {
		byID[string(m.id)] = m
		defer m.chunks.Pin(id).Release() // no collection of the unreferenced chunk meanwhile
	}
	if refuse >= 0 {
		byID[holders[refuse]].refusePut.Store(true)
	}
	if err := w.chunks.Put(ctx, id, chunk.Encode(data)); err != nil {
		t.Fatal(err)
	}
	if err := w.c.Replicate(ctx, []chunk.ID{id}); err != nil {
		t.Fatal(err)
	}
	copies := func() (n int) {
		for _, h := range holders {
			if ok, _ := byID[h].chunks.Present(ctx, id, nil); ok {
				n++
			}
		}
		return n
	}
	if n := copies(); n < 2 {
		t.Fatalf("Replicate returned with %d copies on holders %v (holder %d refusing), want at least 2", n, holders, refuse)
	}
	want := 3
	if refuse >= 0 {
		want = 2
	}
	waitUntil(t, "the chain reaches every working holder", func() bool { return copies() == want })
	if refuse < 0 {
		// Each holder got the chunk once: the writer sent it to the head
		// only, the head to the second, the second to the third.
		for _, h := range holders {
			if n := byID[h].puts.Load(); n != 1 {
				t.Errorf("holder %s answered %d puts, want 1", h, n)
			}
		}
	}
}
