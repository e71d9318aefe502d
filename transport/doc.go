// Package transport is clusterf's member-to-member RPC layer over QUIC
// (quic-go). A Transport listens on one UDP socket and dials from the same
// socket, so a peer's connection comes from its listening address. There is
// one cached connection per peer address (re-dialed with exponential
// backoff after failures) and one bidirectional stream per RPC.
//
// The transport moves opaque bytes. It knows nothing about CRDTs, chunks
// or placement, and it must never import other clusterf packages: node ids
// are plain strings.
//
// # Wire format
//
// ALPN is "clusterf/1". Every message is a frame:
//
//	[1 byte wire version = 1][1 byte type][4 bytes big-endian length][payload]
//
// Types: 1 hello, 2 request, 3 response, 4 stream request. Payloads are
// CBOR maps (decoded with limits: no tags, no indefinite lengths, bounded
// nesting, map and array sizes). A length above MaxMessage (default 64 MiB)
// is an error read from the header alone; the payload is never allocated.
// Payloads above 1 MiB are buffered as they arrive rather than allocated
// from the header's claim.
//
//	hello    {v, node, proof}     first stream of every connection
//	request  {m: method, b: body} then FIN        (Call)
//	response {ok, code, error, b}  then FIN
//	stream request {m, b} then raw body bytes until FIN        (CallStream)
//	→ response {ok, code, error} then raw response bytes until FIN
//
// Method names starting with "clusterf/" are reserved ("clusterf/ping").
//
// # Security
//
// Each node generates an ephemeral self-signed ECDSA P-256 certificate at
// New; certificates carry no identity and the client skips verification.
// Membership is proven on every new connection, in both directions, before
// any RPC is served: the client sends hello{v, node, proof} on the first
// stream with proof = HMAC-SHA256(clusterKey, "clusterf/1 auth" || "client"
// || node id || exporter), where exporter is the TLS 1.3 exporter value
// ExportKeyingMaterial("EXPORTER-clusterf-auth", nil, 32) of this very
// connection. The server checks it with hmac.Equal and answers with its own
// hello using role "server". Because the exporter binds the proof to the
// TLS session, a man in the middle (who must run two TLS sessions) cannot
// relay a proof, and a proof cannot be replayed on another connection or
// reflected in the other role.
//
// A failed check closes the connection with application error 0x10; the
// refusing side logs a warning and counts it (Stats.AuthFailures), the
// dialing caller gets ErrUnauthorized. A keyed node refuses a keyless
// (open mode) peer and vice versa; a peer announcing our own node id is
// refused with ErrSelfConnection. Without a key the node runs in open LAN
// mode (hello without proof) and says so at warn level.
//
// With a key, the QUIC stateless reset key is derived from the cluster key
// and node id, so a restarted node resets its peers' stale connections.
//
// # Lifecycle
//
// New binds the socket; Call, CallStream and Ping work right away. Serve
// accepts connections until its ctx ends, then shuts the transport down.
// Close closes every connection (in-flight RPCs fail), closes the socket
// and waits for every goroutine the transport started. Goroutines: the
// Serve loop (caller's), one per connection (stream accept loop), one per
// in-flight incoming RPC, one per CallStream upload.
//
// Deadlines: a Call uses ctx's deadline, or RPCTimeout if ctx has none;
// cancelling ctx resets the stream (CancelRead/CancelWrite) and the
// handler's ctx ends. Handlers get at most RPCTimeout. CallStream applies
// RPCTimeout only to the response header; the transfer is bounded by ctx
// and by the QUIC idle timeout. The body reader passed to CallStream must
// not block forever, or Close waits for it.
package transport
