// Package discovery finds clusterf peers on the local network by UDP
// broadcast announcements and reports them, together with the static
// peers from --peers, through Config.OnPeer. It only reports addresses:
// it never dials, never decides membership (the transport's cluster-key
// hello does) and never imports other clusterf packages.
//
// # Wire format
//
// One UDP datagram of at most 1200 bytes per announcement:
//
//	body = CBOR map {v: 1, cluster: bytes, node: text, quic_port: uint,
//	                 http_port: uint, ts: unix ms, nonce: 8 bytes}
//	packet = body || HMAC-SHA256(clusterKey, body)   (32 bytes)
//	packet = body                                    (open mode)
//
// cluster is the first 16 bytes of SHA-256("clusterf cluster id" || key),
// or the 4 bytes "open" without a key. The body is decoded with limits (no
// tags, no indefinite lengths, bounded sizes, duplicate keys rejected);
// unknown map keys are ignored for forward compatibility.
//
// # Security
//
// Receive path, in order, each drop counted in Stats: oversized →
// rate limit per source IP (token bucket, RateLimit/s, burst 2×, table of
// at most 4096 sources) → decode (malformed) → cluster id (foreign) → MAC
// with hmac.Equal (bad MAC) → own node id → |now − ts| > 5 min (stale) →
// ts not newer than the last accepted announcement of that node (replay:
// a captured announcement can never be replayed, from any address) → a
// new node while the node table (16384 ids) is full (full; only entries
// whose timestamp left the skew window are forgotten, since a replay of
// them is stale anyway) → accepted, OnPeer(Peer{NodeID, Addr: source IP +
// quic_port, ...}). The nonce is still sent but no longer needed. A node
// whose clock steps back is not heard until its timestamps pass the last
// accepted one (at most the 5-minute window).
//
// The MAC proves the sender knows the cluster key, but announcements are
// only hints: a peer's address is trusted only after the QUIC hello in
// package transport. In open mode anybody on the LAN can announce, and the
// node warns about it. The cluster id is public and only filters foreign
// clusters cheaply; it is not a secret.
//
// # Lifecycle
//
// New validates the config. Run reports the static peers, returns at once
// if Port is 0, else binds the port (SO_REUSEADDR, SO_REUSEPORT and
// SO_BROADCAST, so several nodes in one network namespace can share it;
// note that unicast datagrams then reach only one of the sockets),
// announces every Interval ±20% to each BroadcastAddrs entry
// (default 255.255.255.255:Port) and receives until ctx ends. Run owns its
// receive goroutine and waits for it before returning. OnPeer runs on the
// receive goroutine and must not block for long.
package discovery
