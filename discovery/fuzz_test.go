package discovery

import (
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"testing"
	"time"
)

var fuzzKey = []byte("fuzz cluster key")

func seedPackets() [][]byte {
	ts := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC).UnixMilli()
	a := announcement{V: 1, Cluster: ClusterID(fuzzKey), Node: "node-a", QUICPort: 7000, HTTPPort: 8080, TS: ts, Nonce: []byte("01234567")}
	keyed, _ := encodePacket(a, fuzzKey)
	a.Cluster = ClusterID(nil)
	open, _ := encodePacket(a, nil)
	return [][]byte{
		keyed,
		open,
		keyed[:len(keyed)-32],
		append(open, 1, 2, 3),
		{0xa1, 0x61, 0x76, 0x01},             // {v: 1}
		{0xbf, 0x61, 0x76, 0x01, 0xff},       // indefinite map
		{0xc1, 0x1a, 0, 0, 0, 0},             // tag
		{0x9f, 0x9f, 0x9f, 0x9f, 0x9f, 0x9f}, // nested indefinite arrays
		{},
	}
}

func FuzzDecodePacket(f *testing.F) {
	for _, s := range seedPackets() {
		f.Add(s)
	}
	id := ClusterID(fuzzKey)
	f.Fuzz(func(t *testing.T, pkt []byte) {
		if a, err := decodePacket(pkt, fuzzKey, id); err == nil {
			// Whatever decodes must re-encode to a packet that decodes.
			re, err := encodePacket(a, fuzzKey)
			if err != nil {
				t.Fatalf("re-encode: %v", err)
			}
			if _, err := decodePacket(re, fuzzKey, id); err != nil {
				t.Fatalf("re-decode: %v", err)
			}
		}
		decodePacket(pkt, nil, ClusterID(nil))

		// The whole receive path: counts every packet exactly once.
		d, err := New(Config{NodeID: "me", ClusterKey: fuzzKey, Port: 1, QUICPort: 1, OnPeer: func(Peer) {}})
		if err != nil {
			t.Fatal(err)
		}
		d.handlePacket(pkt, netip.MustParseAddr("192.0.2.1"), time.Date(2030, 1, 1, 0, 0, 1, 0, time.UTC))
		s := d.Stats()
		sum := s.Accepted + s.DroppedMalformed + s.DroppedForeign + s.DroppedBadMAC + s.DroppedOwn +
			s.DroppedStale + s.DroppedReplay + s.DroppedRateLimited
		if s.Received != 1 || sum != 1 {
			t.Fatalf("counted %d of %d: %+v", sum, s.Received, s)
		}
	})
}

// TestWriteFuzzCorpus regenerates testdata/fuzz/FuzzDecodePacket from
// seedPackets when CLUSTERF_WRITE_CORPUS=1.
func TestWriteFuzzCorpus(t *testing.T) {
	// Without CLUSTERF_WRITE_CORPUS=1 the committed corpus must match the
	// seeds (so it never silently goes stale); with it, it is rewritten.
	write := os.Getenv("CLUSTERF_WRITE_CORPUS") == "1"
	dir := filepath.Join("testdata", "fuzz", "FuzzDecodePacket")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for i, s := range seedPackets() {
		body := fmt.Sprintf("go test fuzz v1\n[]byte(%q)\n", s)
		path := filepath.Join(dir, fmt.Sprintf("seed-%02d", i))
		if !write {
			if got, err := os.ReadFile(path); err != nil || string(got) != body {
				t.Errorf("%s is stale or missing (err %v): run with CLUSTERF_WRITE_CORPUS=1", path, err)
			}
			continue
		}
		if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}
