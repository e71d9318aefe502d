// Package cluster keeps a node's metadata replica in step with its peers
// and tracks their liveness.
//
// # Sync
//
// Each known peer has one loop. Every SyncInterval, and at once after a
// local commit (Changed), the loop pulls the ops we lack (our version vector
// against theirs, in bounded batches; a snapshot when they compacted past
// us) and pushes the ops they lack according to the version vector they
// last reported. Pushes give low latency; pulls are the anti-entropy that
// repairs anything lost in between. Remote ops are applied through
// crdt.Replica.Apply, which ignores duplicates and gapped ops, so every
// message may be lost, repeated or reordered.
//
// # Liveness
//
// A peer is up after a successful sync round and down after DownAfter
// without one; transitions are logged.
//
// # Content
//
// FetchChunk asks live peers for a chunk and verifies it against its id
// before returning it: a peer can never make us store or serve wrong bytes.
//
// The package never touches the FUSE mount or the chunk layout; OnApplied
// tells the node about remote changes.
package cluster
