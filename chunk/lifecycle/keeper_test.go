package lifecycle

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"pgregory.net/rapid"

	"github.com/clusterf/clusterf/atrest"
	"github.com/clusterf/clusterf/chunk"
	"github.com/clusterf/clusterf/chunk/rawfile"
	"github.com/clusterf/clusterf/chunk/sealed"
)

var ctx = context.Background()

func newKeeper(t testing.TB) (*Keeper, *rawfile.Store) {
	t.Helper()
	st, err := rawfile.Open(filepath.Join(t.TempDir(), "chunks"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return New(st, nil), st
}

func put(t testing.TB, k *Keeper, data []byte) chunk.ID {
	t.Helper()
	id := chunk.Sum(data)
	if err := k.Put(ctx, id, chunk.Encode(data)); err != nil {
		t.Fatal(err)
	}
	return id
}

func corrupt(t testing.TB, st *rawfile.Store, id chunk.ID) {
	t.Helper()
	b, err := os.ReadFile(st.Path(id))
	if err != nil {
		t.Fatal(err)
	}
	b[len(b)-1] ^= 1
	if err := os.WriteFile(st.Path(id), b, 0o600); err != nil {
		t.Fatal(err)
	}
}

func TestCollect(t *testing.T) {
	cases := []struct {
		name    string
		between func(k *Keeper, id chunk.ID) // after the epoch is read, before Collect
		before  func(k *Keeper, id chunk.ID) // before the epoch is read
		deleted bool
	}{
		{name: "garbage goes", deleted: true},
		{name: "pinned stays", before: func(k *Keeper, id chunk.ID) { k.Pin(id) }},
		{name: "pinned during the decision stays", between: func(k *Keeper, id chunk.ID) { k.Pin(id) }},
		{name: "pinned and released during the decision stays", between: func(k *Keeper, id chunk.ID) { k.Pin(id).Release() }},
		{name: "released before the decision goes", before: func(k *Keeper, id chunk.ID) { k.Pin(id).Release() }, deleted: true},
		{name: "stored again during the decision stays", between: func(k *Keeper, id chunk.ID) {
			data, _ := k.Verify(ctx, id)
			k.Put(ctx, id, chunk.Encode(data))
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			k, _ := newKeeper(t)
			id := put(t, k, []byte("some chunk "+tc.name))
			if tc.before != nil {
				tc.before(k, id)
			}
			since := k.Epoch()
			if tc.between != nil {
				tc.between(k, id)
			}
			res, err := k.Collect(ctx, []chunk.ID{id}, since)
			if err != nil {
				t.Fatal(err)
			}
			got, _ := k.Present(ctx, id, nil)
			if got == tc.deleted || (len(res.Deleted) == 1) != tc.deleted || (len(res.Busy) == 1) == tc.deleted {
				t.Fatalf("present=%v result=%+v, want deleted=%v", got, res, tc.deleted)
			}
		})
	}
}

// TestDropFresh: a copy given up unused goes at once only when the
// caller's store created it and nobody pinned, unpinned or stored it
// since; anything that could rely on it keeps it.
func TestDropFresh(t *testing.T) {
	cases := []struct {
		name     string
		existing bool                         // stored (by a commit) before the caller's store
		between  func(k *Keeper, id chunk.ID) // after it, before DropFresh
		deleted  bool
	}{
		{name: "unused goes", deleted: true},
		{name: "there before stays", existing: true},
		{name: "pinned by another stays", between: func(k *Keeper, id chunk.ID) { k.Pin(id) }},
		{name: "pinned and released by another stays", between: func(k *Keeper, id chunk.ID) { k.Pin(id).Release() }},
		{name: "stored by a push stays", between: func(k *Keeper, id chunk.ID) {
			data, _ := k.Verify(ctx, id)
			k.Put(ctx, id, chunk.Encode(data))
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			k, _ := newKeeper(t)
			data := []byte("a chunk " + tc.name)
			id := chunk.Sum(data)
			if tc.existing {
				put(t, k, data)
			}
			pin := k.Pin(id)
			fresh, err := k.PutLazyFresh(ctx, id, chunk.Encode(data))
			if err != nil {
				t.Fatal(err)
			}
			if (fresh != 0) == tc.existing {
				t.Fatalf("fresh = %d", fresh)
			}
			if tc.between != nil {
				tc.between(k, id)
			}
			dropped, err := k.DropFresh(ctx, id, fresh)
			pin.Release()
			if err != nil {
				t.Fatal(err)
			}
			present, _ := k.Present(ctx, id, nil)
			if dropped != tc.deleted || present == tc.deleted {
				t.Fatalf("dropped=%v present=%v, want deleted=%v", dropped, present, tc.deleted)
			}
		})
	}
	// Without the caller's pin nothing is dropped (it may be a commit's).
	k, _ := newKeeper(t)
	data := []byte("unpinned")
	id := chunk.Sum(data)
	fresh, err := k.PutLazyFresh(ctx, id, chunk.Encode(data))
	if err != nil {
		t.Fatal(err)
	}
	if dropped, _ := k.DropFresh(ctx, id, fresh); dropped {
		t.Fatal("dropped a copy nobody pinned")
	}
}

func TestDropKeepsPinned(t *testing.T) {
	k, _ := newKeeper(t)
	a, b := put(t, k, []byte("a")), put(t, k, []byte("b"))
	k.Pin(a)
	done, _, err := k.Drop(ctx, []chunk.ID{a, b})
	if err != nil || len(done) != 1 || done[0] != b {
		t.Fatalf("drop = %v %v, want only b", done, err)
	}
}

func TestPinsGeneration(t *testing.T) {
	k, _ := newKeeper(t)
	id := chunk.Sum([]byte("x"))
	g0, _ := k.Pins(0)
	p := k.Pin(id)
	g1, ids := k.Pins(g0)
	if g1 == g0 || len(ids) != 1 || ids[0] != id {
		t.Fatalf("after pin: gen %d→%d ids %v", g0, g1, ids)
	}
	if g, ids := k.Pins(g1); g != g1 || ids != nil {
		t.Fatalf("unchanged set sent again: gen %d ids %v", g, ids)
	}
	k.Pin(id).Release() // a second pin of a pinned chunk does not change the set
	if g, _ := k.Pins(g1); g != g1 {
		t.Fatal("pinning an already pinned chunk changed the generation")
	}
	p.Release()
	if g, ids := k.Pins(g1); g == g1 || len(ids) != 0 {
		t.Fatalf("after release: gen %d ids %v", g, ids)
	}
}

func TestVerifyAndPutReplaceCorrupt(t *testing.T) {
	k, st := newKeeper(t)
	data := bytes.Repeat([]byte("frog"), 1000)
	id := put(t, k, data)
	corrupt(t, st, id)
	if got, err := k.Verify(ctx, id); err != nil || got != nil {
		t.Fatalf("verify of a corrupt copy = %d bytes, %v; want absent", len(got), err)
	}
	if ok, _ := k.Present(ctx, id, nil); ok {
		t.Fatal("a corrupt copy counts as present")
	}
	if err := k.Put(ctx, id, chunk.Encode(data)); err != nil {
		t.Fatal(err)
	}
	if got, _ := k.Verify(ctx, id); !bytes.Equal(got, data) {
		t.Fatal("put did not replace the corrupt copy")
	}
	// DropCorrupt never deletes a good copy.
	if gone, err := k.DropCorrupt(ctx, id); gone || err != nil {
		t.Fatalf("DropCorrupt of a good copy: %v %v", gone, err)
	}
}

func TestPresentBudget(t *testing.T) {
	k, st := newKeeper(t)
	id := put(t, k, bytes.Repeat([]byte("z"), 5000))
	k2 := New(st, nil) // a restarted node: nothing verified yet
	zero := int64(0)
	if ok, _ := k2.Present(ctx, id, &zero); ok {
		t.Fatal("an unverified copy counted without reading it")
	}
	budget := int64(1 << 20)
	if ok, _ := k2.Present(ctx, id, &budget); !ok || budget == 1<<20 {
		t.Fatalf("present=%v budget=%d", ok, budget)
	}
	if ok, _ := k2.Present(ctx, id, &zero); !ok {
		t.Fatal("a verified copy needs a budget")
	}
}

// TestPropertyDedupNeverLosesATrustedChunk: concurrent writers follow the
// dedup protocol (pin, then Verify; reuse the chunk only if it is there)
// while a collector deletes every chunk it was given; a chunk a writer
// decided to reuse is still stored when the writer is done.
func TestPropertyDedupNeverLosesATrustedChunk(t *testing.T) {
	rapid.Check(t, func(rt *rapid.T) {
		k, _ := newKeeper(t)
		n := rapid.IntRange(1, 8).Draw(rt, "chunks")
		ids := make([]chunk.ID, n)
		for i := range ids {
			ids[i] = put(t, k, []byte{byte(i), 'c'})
		}
		writers := rapid.SliceOfN(rapid.Bool(), n, n).Draw(rt, "writers")
		var wg sync.WaitGroup
		var mu sync.Mutex
		var pins []*Pin
		trusted := map[chunk.ID]bool{}
		since := k.Epoch()
		for i, w := range writers {
			if !w {
				continue
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				pin := k.Pin(ids[i])
				data, err := k.Verify(ctx, ids[i])
				mu.Lock()
				defer mu.Unlock()
				pins = append(pins, pin)
				if err == nil && data != nil {
					trusted[ids[i]] = true
				}
			}()
		}
		if _, err := k.Collect(ctx, ids, since); err != nil {
			rt.Fatal(err)
		}
		wg.Wait()
		for id := range trusted {
			if ok, _ := k.Present(ctx, id, nil); !ok {
				rt.Fatalf("chunk %s was reused by a writer and then collected", id)
			}
		}
		for _, p := range pins {
			p.Release()
		}
	})
}

// putCounter counts the Puts that reach the store.
type putCounter struct {
	*rawfile.Store
	puts int
}

func (p *putCounter) Put(ctx context.Context, id chunk.ID, blob []byte) error {
	p.puts++
	return p.Store.Put(ctx, id, blob)
}

// TestPutMakesALazyCopyDurable: Put of a chunk a PutLazy stored (not yet
// synced) must reach the store, whose Put of a present id makes it
// durable; otherwise a push to a holder that has the chunk only lazily
// (from its own close) would be acknowledged as durable and is not.
func TestPutMakesALazyCopyDurable(t *testing.T) {
	st, err := rawfile.Open(filepath.Join(t.TempDir(), "chunks"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	pc := &putCounter{Store: st}
	k := New(pc, nil)
	data := []byte("stored lazily first")
	id := chunk.Sum(data)
	if err := k.PutLazy(ctx, id, chunk.Encode(data)); err != nil {
		t.Fatal(err)
	}
	before := pc.puts
	if err := k.Put(ctx, id, chunk.Encode(data)); err != nil {
		t.Fatal(err)
	}
	if pc.puts == before {
		t.Fatal("Put of a lazily stored chunk returned without asking the store to make it durable")
	}
}

// TestDecodeHashesUnlessAuthenticated checks what Keeper.Decode trusts: a
// plain store's blob is always hashed; a sealed store's blob is trusted
// once it opened, and one byte changed on disk still fails; and a Put
// that broke its contract (blob of another id) is still found by Verify,
// the scrub's check, on the sealed store too.
func TestDecodeHashesUnlessAuthenticated(t *testing.T) {
	a, b := []byte("chunk a"), []byte("chunk b")
	idA := chunk.Sum(a)

	plain, _ := newKeeper(t)
	if err := plain.Put(ctx, idA, chunk.Encode(b)); err != nil { // contract broken on purpose
		t.Fatal(err)
	}
	blob, err := plain.Get(ctx, idA)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := plain.Decode(idA, blob); !errors.Is(err, chunk.ErrCorrupt) {
		t.Fatalf("plain store, wrong blob: %v, want ErrCorrupt", err)
	}

	raw, err := rawfile.Open(filepath.Join(t.TempDir(), "chunks"))
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	st := sealed.New(raw, atrest.KeysFromMaster([atrest.KeySize]byte{1}))
	k := New(st, nil)
	if !k.authenticated {
		t.Fatal("a sealed store is not seen as authenticated")
	}
	idB := put(t, k, b)
	blob, err = k.Get(ctx, idB)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := k.Decode(idB, blob); err != nil || !bytes.Equal(got, b) {
		t.Fatalf("sealed store, good blob: %q, %v", got, err)
	}
	corrupt(t, raw, st.Name(idB))
	blob, err = k.Get(ctx, idB)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := k.Decode(idB, blob); !errors.Is(err, chunk.ErrCorrupt) || got != nil {
		t.Fatalf("sealed store, byte changed on disk: %q, %v; want ErrCorrupt", got, err)
	}

	if err := k.Put(ctx, idA, chunk.Encode(b)); err != nil { // contract broken on purpose
		t.Fatal(err)
	}
	if data, err := k.Verify(ctx, idA); err != nil || data != nil {
		t.Fatalf("Verify of a blob put under the wrong id: %q, %v; want it reported absent", data, err)
	}
}
