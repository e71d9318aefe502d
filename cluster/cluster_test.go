package cluster

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/clusterf/clusterf/chunk"
	"github.com/clusterf/clusterf/chunk/lifecycle"
	"github.com/clusterf/clusterf/chunk/rawfile"
	"github.com/clusterf/clusterf/crdt"
	"github.com/clusterf/clusterf/transport"
)

// member is one in-process cluster member over real QUIC on loopback.
type member struct {
	id     crdt.NodeID
	meta   *crdt.Replica
	store  chunk.Store
	chunks *lifecycle.Keeper
	tr     *transport.Transport
	c      *Cluster
	// refusePut makes the member fail every chunk/put (a holder that is
	// down or out of space), and puts counts the puts it answered.
	refusePut atomic.Bool
	puts      atomic.Int64
}

func newMember(t *testing.T, ctx context.Context, id string, key []byte) *member {
	t.Helper()
	m := &member{id: crdt.NodeID(id)}
	var err error
	if m.meta, err = crdt.Open(crdt.Options{Node: m.id}); err != nil {
		t.Fatal(err)
	}
	if m.store, err = rawfile.Open(filepath.Join(t.TempDir(), "chunks")); err != nil {
		t.Fatal(err)
	}
	m.chunks = lifecycle.New(m.store, nil)
	m.tr, err = transport.New(transport.Config{
		NodeID: id, ClusterKey: key, Listen: "127.0.0.1:0",
		Handler: memberHandler{m},
	})
	if err != nil {
		t.Fatal(err)
	}
	m.c = New(Config{Self: m.id, Meta: m.meta, Chunks: m.chunks, Transport: m.tr, SyncInterval: 200 * time.Millisecond, RepairInterval: 200 * time.Millisecond})
	done := make(chan struct{}, 2)
	go func() { m.tr.Serve(ctx); done <- struct{}{} }()
	go func() { m.c.Run(ctx); done <- struct{}{} }()
	t.Cleanup(func() {
		<-done
		<-done
		m.tr.Close()
		m.meta.Close()
		m.store.Close()
	})
	return m
}

// memberHandler serves a member's RPCs once m.c exists.
type memberHandler struct{ m *member }

func (h memberHandler) HandleRPC(ctx context.Context, p transport.PeerInfo, method string, req []byte) ([]byte, error) {
	if method == methodChunkPut {
		if h.m.refusePut.Load() {
			return nil, errors.New("test: this holder refuses puts")
		}
		h.m.puts.Add(1)
	}
	return h.m.c.HandleRPC(ctx, p, method, req)
}

func (h memberHandler) HandleStream(ctx context.Context, p transport.PeerInfo, method string, req []byte, body io.Reader, resp io.Writer) error {
	return h.m.c.HandleStream(ctx, p, method, req, body, resp)
}

func (m *member) addr() string { return m.tr.Addr().String() }

func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(2 * time.Minute) // a hang, not a slow machine (race detector, loaded CI)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestSyncReplicatesAndConverges(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	key := []byte("k")
	a, b, c := newMember(t, ctx, "a", key), newMember(t, ctx, "b", key), newMember(t, ctx, "c", key)
	defer cancel()
	// a knows b, b knows c: c learns about a's ops through b (and a learns
	// c when c calls it... here through b's relay of ops).
	a.c.AddPeer(b.id, b.addr(), 0)
	b.c.AddPeer(c.id, c.addr(), 0)
	c.c.AddPeer(a.id, a.addr(), 0)
	for i := range 50 {
		if _, err := a.meta.Update(func(tx *crdt.Tx) error {
			_, err := tx.Create(crdt.RootID, fmt.Sprintf("f%d", i), crdt.KindFile, crdt.NewAttrs{Mode: 0o644})
			return err
		}); err != nil {
			t.Fatal(err)
		}
		a.c.Changed()
	}
	if _, err := c.meta.Update(func(tx *crdt.Tx) error {
		_, err := tx.Create(crdt.RootID, "from-c", crdt.KindDir, crdt.NewAttrs{Mode: 0o755})
		return err
	}); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "identical state on all three", func() bool {
		sa, sb, sc := a.meta.EncodeState(), b.meta.EncodeState(), c.meta.EncodeState()
		return bytes.Equal(sa, sb) && bytes.Equal(sb, sc)
	})
}

func TestReplicateAndFetchVerified(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	key := []byte("k")
	a, b := newMember(t, ctx, "a", key), newMember(t, ctx, "b", key)
	defer cancel()
	a.c.AddPeer(b.id, b.addr(), 0)
	b.c.AddPeer(a.id, a.addr(), 0)
	waitUntil(t, "peers up", func() bool {
		return len(a.c.StorageMembers()) == 2 && len(b.c.StorageMembers()) == 2
	})
	data := bytes.Repeat([]byte("clusterf "), 5000)
	id := chunk.Sum(data)
	if err := a.chunks.Put(ctx, id, chunk.Encode(data)); err != nil {
		t.Fatal(err)
	}
	// RF 3 with 2 members: both hold everything; Replicate puts it on b.
	if err := a.c.Replicate(ctx, []chunk.ID{id}); err != nil {
		t.Fatal(err)
	}
	if ok, _ := b.chunks.Present(ctx, id, nil); !ok {
		t.Fatal("replicate did not reach the other holder")
	}
	// A corrupt copy on b is never served: a fetch from a peer that only
	// has bad bytes fails instead of returning them.
	b.store.Delete(ctx, id)
	b.store.Put(ctx, id, chunk.Encode([]byte("not the chunk")))
	a.store.Delete(ctx, id)
	if _, err := a.c.FetchChunk(ctx, id); err == nil {
		t.Fatal("fetch returned a chunk whose bytes do not match its id")
	}
	// A pushed chunk that does not match its id is refused.
	if _, err := a.c.call(ctx, time.Second, b.addr(), "b", methodChunkPut, encode(putRequest{ID: chunk.Sum([]byte("x")), Blob: chunk.Encode([]byte("y"))})); err == nil {
		t.Fatal("peer accepted a chunk that does not match its id")
	}
}

func TestWrongKeyPeerGetsNothing(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	a, evil := newMember(t, ctx, "a", []byte("right")), newMember(t, ctx, "evil", []byte("wrong"))
	defer cancel()
	if _, err := a.meta.Update(func(tx *crdt.Tx) error {
		_, err := tx.Create(crdt.RootID, "secret", crdt.KindFile, crdt.NewAttrs{Mode: 0o600})
		return err
	}); err != nil {
		t.Fatal(err)
	}
	evil.c.AddPeer(a.id, a.addr(), 0)
	a.c.AddPeer(evil.id, evil.addr(), 0)
	time.Sleep(time.Second)
	if vv := evil.meta.VersionVector(); vv[a.id] != 0 {
		t.Fatalf("wrong-key peer received %d ops", vv[a.id])
	}
	for _, p := range evil.c.Peers() {
		if p.Up {
			t.Fatalf("wrong-key peer sees %s up", p.ID)
		}
	}
}
