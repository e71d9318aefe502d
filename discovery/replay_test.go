package discovery

import (
	"fmt"
	"net/netip"
	"testing"
	"time"
)

func announce(t *testing.T, key []byte, node string, ts time.Time, nonce uint64) []byte {
	t.Helper()
	a := announcement{V: 1, Cluster: ClusterID(key), Node: node, QUICPort: 7000, TS: ts.UnixMilli(),
		Nonce: []byte(fmt.Sprintf("%08x", nonce))[:nonceLen]}
	pkt, err := encodePacket(a, key)
	if err != nil {
		t.Fatal(err)
	}
	return pkt
}

// Defect 8: the 8,192-entry nonce FIFO was shorter than the 10-minute
// window once ~80 nodes announced, so a captured announcement replayed from
// another address after the cache wrapped was accepted and redirected that
// peer. Now each node's announcements must be newer than the last one
// accepted from it.
func TestDefect8ReplayAfterNonceCacheWraps(t *testing.T) {
	key := []byte("k")
	var log peerLog
	d, err := New(Config{NodeID: "me", ClusterKey: key, Port: 1, QUICPort: 1, OnPeer: log.add})
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Now()
	captured := announce(t, key, "victim", t0, 0)
	d.handlePacket(captured, netip.MustParseAddr("192.0.2.1"), t0)
	// 100 nodes announce every 3 s for 4.5 minutes: 9,000 announcements
	// within the skew window, more than the old cache held.
	const nodes, rounds = 100, 90
	for r := 1; r <= rounds; r++ {
		now := t0.Add(time.Duration(r) * 3 * time.Second)
		for n := range nodes {
			src := netip.AddrFrom4([4]byte{198, 18, byte(n >> 8), byte(n)})
			d.handlePacket(announce(t, key, fmt.Sprintf("node-%d", n), now, uint64(r*nodes+n+1)), src, now)
		}
	}
	if s := d.Stats(); s.Accepted != 1+nodes*rounds {
		t.Fatalf("flood: %+v", s)
	}
	before := d.Stats().DroppedReplay
	now := t0.Add(rounds*3*time.Second + time.Second)
	d.handlePacket(captured, netip.MustParseAddr("203.0.113.66"), now)
	if s := d.Stats(); s.DroppedReplay != before+1 {
		t.Fatalf("replayed announcement not dropped as a replay: %+v", s)
	}
	for _, p := range log.peers {
		if p.NodeID == "victim" && p.Addr != "192.0.2.1:7000" {
			t.Fatalf("victim redirected to %s", p.Addr)
		}
	}
}

// An older announcement of a node (delayed or replayed, any nonce) is
// dropped once a newer one was accepted; a newer one is accepted.
func TestAnnouncementMustBeNewer(t *testing.T) {
	key := []byte("k")
	d, err := New(Config{NodeID: "me", ClusterKey: key, Port: 1, QUICPort: 1})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	src := netip.MustParseAddr("192.0.2.1")
	for i, tc := range []struct {
		ts     time.Duration
		accept bool
	}{{0, true}, {0, false}, {-time.Second, false}, {3 * time.Second, true}, {2 * time.Second, false}, {6 * time.Second, true}} {
		before := d.Stats()
		d.handlePacket(announce(t, key, "p", now.Add(tc.ts), uint64(i)), src, now.Add(6*time.Second))
		got := d.Stats().Accepted > before.Accepted
		if got != tc.accept {
			t.Fatalf("announcement %d (ts %v): accepted %v, want %v", i, tc.ts, got, tc.accept)
		}
		if !tc.accept && d.Stats().DroppedReplay != before.DroppedReplay+1 {
			t.Fatalf("announcement %d: not counted as a replay", i)
		}
	}
}

// The table of nodes is bounded. When it is full it forgets only nodes
// whose last announcement is outside the skew window (a replay of those is
// stale anyway) and otherwise refuses new nodes instead of forgetting.
func TestNodeTableFull(t *testing.T) {
	key := []byte("k")
	d, err := New(Config{NodeID: "me", ClusterKey: key, Port: 1, QUICPort: 1})
	if err != nil {
		t.Fatal(err)
	}
	d.nodes = newNodeTable(4)
	t0 := time.Now()
	src := func(n int) netip.Addr { return netip.AddrFrom4([4]byte{198, 18, 0, byte(n)}) }
	first := announce(t, key, "n0", t0, 100)
	d.handlePacket(first, src(0), t0)
	for n := 1; n < 4; n++ {
		d.handlePacket(announce(t, key, fmt.Sprintf("n%d", n), t0.Add(time.Minute), uint64(n)), src(n), t0.Add(time.Minute))
	}
	d.handlePacket(announce(t, key, "new", t0.Add(time.Minute), 9), src(9), t0.Add(time.Minute))
	if s := d.Stats(); s.Accepted != 4 || s.DroppedFull != 1 {
		t.Fatalf("full table: %+v", s)
	}
	// n0 is outside the window 5 min after its announcement: it may be
	// forgotten, and its old announcement is still refused (stale).
	later := t0.Add(MaxSkew + time.Second)
	d.handlePacket(announce(t, key, "new", later, 10), src(9), later)
	if s := d.Stats(); s.Accepted != 5 {
		t.Fatalf("a node outside the window was not forgotten: %+v", s)
	}
	d.handlePacket(first, src(7), later)
	if s := d.Stats(); s.Accepted != 5 || s.DroppedStale != 1 {
		t.Fatalf("replay of a forgotten node: %+v", s)
	}
}
