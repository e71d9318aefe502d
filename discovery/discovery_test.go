package discovery

import (
	"bytes"
	"context"
	"net"
	"net/netip"
	"strconv"
	"sync"
	"testing"
	"time"
)

// freePort returns a UDP port on 127.0.0.1 that was free a moment ago.
func freePort(t testing.TB) int {
	t.Helper()
	c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	return c.LocalAddr().(*net.UDPAddr).Port
}

type peerLog struct {
	mu    sync.Mutex
	peers []Peer
}

func (l *peerLog) add(p Peer) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.peers = append(l.peers, p)
}

func (l *peerLog) find(id string) (Peer, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, p := range l.peers {
		if p.NodeID == id {
			return p, true
		}
	}
	return Peer{}, false
}

func (l *peerLog) len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.peers)
}

// startLoopback runs a Discovery bound to 127.0.0.1:port that announces
// only to 127.0.0.1:dest. No traffic leaves loopback.
func startLoopback(t *testing.T, id string, key []byte, port, dest, quic int, log *peerLog) *Discovery {
	t.Helper()
	d, err := New(Config{
		NodeID: id, ClusterKey: key, Port: port, ListenHost: "127.0.0.1",
		BroadcastAddrs: []string{net.JoinHostPort("127.0.0.1", strconv.Itoa(dest))},
		Interval:       30 * time.Millisecond, QUICPort: quic, HTTPPort: quic + 1,
		OnPeer: log.add, RateLimit: 10000,
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Run: %v", err)
			}
		case <-time.After(5 * time.Second):
			t.Error("Run did not return after cancel")
		}
	})
	return d
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for end := time.Now().Add(5 * time.Second); time.Now().Before(end); time.Sleep(10 * time.Millisecond) {
		if cond() {
			return
		}
	}
	t.Fatalf("timed out waiting for %s", what)
}

func TestTwoNodesFindEachOther(t *testing.T) {
	key := []byte("cluster key")
	pa, pb := freePort(t), freePort(t)
	var la, lb peerLog
	a := startLoopback(t, "node-a", key, pa, pb, 7001, &la)
	b := startLoopback(t, "node-b", key, pb, pa, 7002, &lb)
	waitFor(t, "a sees b", func() bool { _, ok := la.find("node-b"); return ok })
	waitFor(t, "b sees a", func() bool { _, ok := lb.find("node-a"); return ok })
	p, _ := la.find("node-b")
	if p.Addr != "127.0.0.1:7002" || p.HTTPPort != 7003 || p.LastSeen.IsZero() || p.Static {
		t.Fatalf("a saw %+v", p)
	}
	if s := a.Stats(); s.Sent == 0 || s.Accepted == 0 {
		t.Fatalf("a stats %+v", s)
	}
	if s := b.Stats(); s.DroppedBadMAC+s.DroppedMalformed+s.DroppedForeign != 0 {
		t.Fatalf("b dropped good packets: %+v", s)
	}
}

func TestOpenModeFindEachOther(t *testing.T) {
	pa, pb := freePort(t), freePort(t)
	var la, lb peerLog
	startLoopback(t, "a", nil, pa, pb, 7001, &la)
	startLoopback(t, "b", nil, pb, pa, 7002, &lb)
	waitFor(t, "a sees b", func() bool { _, ok := la.find("b"); return ok })
}

func TestWrongKeyDropped(t *testing.T) {
	pa, pb := freePort(t), freePort(t)
	var la, lb peerLog
	startLoopback(t, "a", []byte("key one"), pa, pb, 7001, &la)
	b := startLoopback(t, "b", []byte("key two"), pb, pa, 7002, &lb)
	waitFor(t, "b to drop a's announcements", func() bool { return b.Stats().DroppedForeign >= 3 })
	if lb.len() != 0 {
		t.Fatalf("OnPeer called for a foreign node: %+v", lb.peers)
	}
	// Keyed and open clusters do not mix either.
	var lc peerLog
	pc := freePort(t)
	startLoopback(t, "c", nil, pc, pb, 7003, &lc)
	waitFor(t, "b to drop open announcements", func() bool { return b.Stats().DroppedForeign >= 6 })
	if lb.len() != 0 {
		t.Fatal("OnPeer called for an open-mode node")
	}
}

// TestHostilePackets sends crafted datagrams over loopback to a running
// node and checks each is counted in the right bucket.
func TestHostilePackets(t *testing.T) {
	key := []byte("cluster key")
	port, sink := freePort(t), freePort(t)
	var log peerLog
	d := startLoopback(t, "victim", key, port, sink, 7001, &log)
	waitFor(t, "socket bound", func() bool { return d.Stats().Sent > 0 })
	conn, err := net.DialUDP("udp4", nil, &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: port})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	send := func(p []byte) {
		t.Helper()
		if _, err := conn.Write(p); err != nil {
			t.Fatal(err)
		}
	}
	good := announcement{V: 1, Cluster: ClusterID(key), Node: "peer", QUICPort: 9000, HTTPPort: 8080,
		TS: time.Now().UnixMilli(), Nonce: []byte("12345678")}
	pkt, err := encodePacket(good, key)
	if err != nil {
		t.Fatal(err)
	}

	forged := bytes.Clone(pkt)
	forged[len(forged)-1] ^= 1
	otherKey, _ := encodePacket(good, []byte("not the key")) // right cluster id, wrong MAC
	send(forged)
	send(otherKey)
	send(pkt[:len(pkt)-5])                  // truncated MAC
	send(pkt[:10])                          // truncated body
	send(bytes.Repeat([]byte{0x5a}, 1500))  // oversized
	send([]byte("garbage\x00\xff\xfe"))     // garbage
	send(append(bytes.Clone(pkt), 0, 0, 0)) // trailing bytes
	send(pkt)                               // accepted
	send(pkt)                               // replay
	staleA := good
	staleA.TS = time.Now().Add(-6 * time.Minute).UnixMilli()
	staleA.Nonce = []byte("stale...")
	stalePkt, _ := encodePacket(staleA, key)
	send(stalePkt)
	futureA := good
	futureA.TS = time.Now().Add(6 * time.Minute).UnixMilli()
	futureA.Nonce = []byte("future..")
	futurePkt, _ := encodePacket(futureA, key)
	send(futurePkt)
	ownA := good
	ownA.Node = "victim"
	ownPkt, _ := encodePacket(ownA, key)
	send(ownPkt)

	want := Stats{DroppedBadMAC: 2, DroppedMalformed: 5, Accepted: 1, DroppedReplay: 1, DroppedStale: 2, DroppedOwn: 1}
	waitFor(t, "all packets counted", func() bool { return d.Stats().Received >= 12 })
	s := d.Stats()
	s.Sent, s.Received = 0, 0
	if s != want {
		t.Fatalf("stats %+v\nwant  %+v", s, want)
	}
	if log.len() != 1 {
		t.Fatalf("OnPeer called %d times, want 1", log.len())
	}
	if p, _ := log.find("peer"); p.Addr != "127.0.0.1:9000" || p.HTTPPort != 8080 {
		t.Fatalf("peer %+v", p)
	}
}

func TestRateLimit(t *testing.T) {
	key := []byte("k")
	var log peerLog
	d, err := New(Config{NodeID: "me", ClusterKey: key, Port: 1, QUICPort: 1, OnPeer: log.add})
	if err != nil {
		t.Fatal(err)
	}
	src := netip.MustParseAddr("192.0.2.7")
	now := time.Now()
	for i := range 100 {
		a := announcement{V: 1, Cluster: ClusterID(key), Node: "p", QUICPort: 1, TS: now.UnixMilli() + int64(i),
			Nonce: []byte{byte(i), 0, 0, 0, 0, 0, 0, 0}}
		pkt, _ := encodePacket(a, key)
		d.handlePacket(pkt, src, now)
	}
	s := d.Stats()
	if s.Accepted != 20 || s.DroppedRateLimited != 80 {
		t.Fatalf("burst: %+v, want 20 accepted, 80 rate limited", s)
	}
	// Another source is not affected; tokens refill with time.
	a := announcement{V: 1, Cluster: ClusterID(key), Node: "q", QUICPort: 1, TS: now.UnixMilli(), Nonce: []byte("abcdefgh")}
	pkt, _ := encodePacket(a, key)
	d.handlePacket(pkt, netip.MustParseAddr("192.0.2.8"), now)
	a.Node, a.Nonce, a.TS = "p", []byte("abcdefgi"), now.Add(time.Second).UnixMilli()
	pkt, _ = encodePacket(a, key)
	d.handlePacket(pkt, src, now.Add(time.Second))
	if s := d.Stats(); s.Accepted != 22 {
		t.Fatalf("after refill: %+v", s)
	}
}

func TestPortZeroReportsStaticPeersAndReturns(t *testing.T) {
	var log peerLog
	d, err := New(Config{NodeID: "me", StaticPeers: []string{"10.0.0.1:7000", "[::1]:7001"}, OnPeer: log.add})
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	if log.len() != 2 || !log.peers[0].Static || log.peers[1].Addr != "[::1]:7001" {
		t.Fatalf("static peers %+v", log.peers)
	}
	if _, err := New(Config{NodeID: "me", StaticPeers: []string{"no-port"}}); err == nil {
		t.Fatal("bad static peer accepted")
	}
}

func TestClusterID(t *testing.T) {
	if string(ClusterID(nil)) != "open" {
		t.Fatal("open id")
	}
	a, b := ClusterID([]byte("x")), ClusterID([]byte("y"))
	if len(a) != 16 || bytes.Equal(a, b) {
		t.Fatalf("ids %x %x", a, b)
	}
}
