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

// eventRecorder collects a member's events (kinds and last leave out
// garbage collection's waiting, which comes and goes with repair rounds).
type eventRecorder struct {
	mu sync.Mutex
	ev []Event
}

func (r *eventRecorder) add(e Event) {
	r.mu.Lock()
	r.ev = append(r.ev, e)
	r.mu.Unlock()
}

func (r *eventRecorder) last(peer crdt.NodeID) Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out Event
	for _, e := range r.ev {
		if e.Peer == peer && e.Kind != EventGCWaiting {
			out = e
		}
	}
	return out
}

func (r *eventRecorder) kinds(peer crdt.NodeID) []EventKind {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []EventKind
	for _, e := range r.ev {
		if e.Peer == peer && e.Kind != EventGCWaiting {
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
	// As the node does: the transport outlives the cluster's Run, so that
	// the goodbye to the peers goes out.
	tctx, stopTransport := context.WithCancel(context.Background())
	done := make(chan struct{}, 2)
	go func() { m.tr.Serve(tctx); done <- struct{}{} }()
	go func() { m.c.Run(ctx); stopTransport(); done <- struct{}{} }()
	t.Cleanup(func() {
		<-done
		<-done
		m.tr.Close()
		m.meta.Close()
		m.store.Close()
	})
	return m
}

// TestPeerEventsInfoAndTraffic: a peer that stops says so and is down at
// once; one that just stops answering is unreachable, then down; events
// come in that order. MemberInfos carries the peer's own account (its
// Info and its view of its peers); chunks fetched from a peer are counted
// by peer.
func TestPeerEventsInfoAndTraffic(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	bctx, stopB := context.WithCancel(ctx)
	var ra, rb, rc eventRecorder
	a, b, c := eventMember(t, ctx, "a", &ra), eventMember(t, bctx, "b", &rb), eventMember(t, ctx, "c", &rc)
	for _, x := range []*member{a, b, c} {
		for _, y := range []*member{a, b, c} {
			if x != y {
				x.c.AddPeer(y.id, y.addr(), 0)
			}
		}
	}
	waitUntil(t, "a sees b and c up", func() bool {
		return slices.Contains(ra.kinds("b"), EventPeerUp) && slices.Contains(ra.kinds("c"), EventPeerUp)
	})

	infos := a.c.MemberInfos(ctx)
	if len(infos) != 3 || infos[0].ID != "a" || infos[1].ID != "b" {
		t.Fatalf("member infos: %+v", infos)
	}
	if got := infos[1]; got.Err != "" || got.Version != "v-b" || got.Chunks != 7 || len(got.Peers) != 2 || got.Peers[0].ID != "a" {
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

	stopB() // b says bye
	waitUntil(t, "a sees b down", func() bool { return slices.Contains(ra.kinds("b"), EventPeerDown) })
	// b stops serving as it says bye, so a may see a failed round first.
	if got := ra.kinds("b"); !slices.Equal(got, []EventKind{EventPeerUp, EventPeerDown}) &&
		!slices.Equal(got, []EventKind{EventPeerUp, EventPeerUnreachable, EventPeerDown}) {
		t.Fatalf("events about b, which stopped: %v", got)
	}
	if e := ra.last("b"); e.Err != errLeft.Error() {
		t.Fatalf("b is down for %q, want its bye (%q)", e.Err, errLeft)
	}
	if infos := a.c.MemberInfos(ctx); infos[1].Err == "" {
		t.Fatalf("a down member's info has no error: %+v", infos[1])
	}

	c.tr.Close() // c just stops answering
	waitUntil(t, "a sees c down", func() bool { return slices.Contains(ra.kinds("c"), EventPeerDown) })
	if got, want := ra.kinds("c"), []EventKind{EventPeerUp, EventPeerUnreachable, EventPeerDown}; !slices.Equal(got, want) {
		t.Fatalf("events about c, which stopped answering: %v, want %v", got, want)
	}
}
