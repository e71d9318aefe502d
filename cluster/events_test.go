package cluster

import (
	"context"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/clusterf/clusterf/chunk"
	"github.com/clusterf/clusterf/chunk/lifecycle"
	"github.com/clusterf/clusterf/chunk/rawfile"
	"github.com/clusterf/clusterf/crdt"
	"github.com/clusterf/clusterf/transport"
)

// eventRecorder collects a member's events.
type eventRecorder struct {
	mu sync.Mutex
	ev []Event
}

func (r *eventRecorder) add(e Event) {
	r.mu.Lock()
	r.ev = append(r.ev, e)
	r.mu.Unlock()
}

func (r *eventRecorder) kinds(peer crdt.NodeID) []EventKind {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []EventKind
	for _, e := range r.ev {
		if e.Peer == peer {
			out = append(out, e.Kind)
		}
	}
	return out
}

// eventMember is a member whose events and info are recorded; it stops
// when its ctx ends.
func eventMember(t *testing.T, ctx context.Context, id string, rec *eventRecorder) *member {
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
	m.tr, err = transport.New(transport.Config{NodeID: id, Listen: "127.0.0.1:0", Handler: memberHandler{m}})
	if err != nil {
		t.Fatal(err)
	}
	m.c = New(Config{Self: m.id, Meta: m.meta, Chunks: m.chunks, Transport: m.tr,
		SyncInterval: 100 * time.Millisecond, DownAfter: time.Second, RepairInterval: time.Hour,
		OnEvent: rec.add,
		Info: func(context.Context) MemberInfo {
			return MemberInfo{Version: "v-" + id, Chunks: 7, DiskFree: 1 << 30}
		}})
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

// TestPeerEventsInfoAndTraffic: a peer's up, unreachable and down
// transitions come as events in that order; MemberInfos carries the peer's
// own account (its Info and its view of its peers); chunks fetched from a
// peer are counted by peer.
func TestPeerEventsInfoAndTraffic(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	bctx, stopB := context.WithCancel(ctx)
	var ra, rb eventRecorder
	a, b := eventMember(t, ctx, "a", &ra), eventMember(t, bctx, "b", &rb)
	a.c.AddPeer(b.id, b.addr(), 0)
	b.c.AddPeer(a.id, a.addr(), 0)
	waitUntil(t, "a sees b up", func() bool { return slices.Contains(ra.kinds("b"), EventPeerUp) })

	infos := a.c.MemberInfos(ctx)
	if len(infos) != 2 || infos[0].ID != "a" || infos[1].ID != "b" {
		t.Fatalf("member infos: %+v", infos)
	}
	if got := infos[1]; got.Err != "" || got.Version != "v-b" || got.Chunks != 7 || len(got.Peers) != 1 || got.Peers[0].ID != "a" {
		t.Fatalf("b's info as a sees it: %+v", got)
	}

	data := []byte("traffic from b")
	blob, id := chunk.Encode(data), chunk.Sum(data)
	if err := b.chunks.Put(ctx, id, blob); err != nil {
		t.Fatal(err)
	}
	if _, err := a.c.FetchChunk(ctx, id); err != nil {
		t.Fatal(err)
	}
	if tr := a.c.Traffic()["b"]; tr.Chunks != 1 || tr.Bytes != int64(len(blob)) {
		t.Fatalf("traffic from b: %+v, want 1 chunk of %d bytes", tr, len(blob))
	}

	stopB()
	waitUntil(t, "a sees b down", func() bool { return slices.Contains(ra.kinds("b"), EventPeerDown) })
	if got, want := ra.kinds("b"), []EventKind{EventPeerUp, EventPeerUnreachable, EventPeerDown}; !slices.Equal(got, want) {
		t.Fatalf("events about b: %v, want %v", got, want)
	}
	if infos := a.c.MemberInfos(ctx); infos[1].Err == "" {
		t.Fatalf("a down member's info has no error: %+v", infos[1])
	}
}
