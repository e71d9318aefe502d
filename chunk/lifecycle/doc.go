// Package lifecycle owns the life of the chunks a node stores: which are
// pinned, which are known good, and the only way to delete one.
//
// # Why a package of its own
//
// A content-addressed store loses data in exactly one way: a chunk is
// deleted while something still needs it. The Keeper wraps a chunk.Store
// and does not offer Delete. What it offers instead says why a chunk goes:
//
//   - Collect deletes garbage: only chunks that are not pinned and that
//     nobody pinned, unpinned or stored again since the caller's decision
//     began (an epoch read before the caller computed "unreferenced"). The
//     check and the delete happen under the Keeper's lock, the same lock
//     Pin takes, so a writer that pins a chunk before trusting it (dedup)
//     can never lose it to a collection that started before.
//   - Drop deletes an extra copy that other holders confirmed; pinned
//     chunks are kept.
//   - Replace and DropCorrupt remove a copy whose bytes do not match its id
//     (checked again under the lock: a good copy is never deleted).
//
// # Pins
//
// A pin says "something on this node may still add a reference to this
// chunk or read it": an open file's committed content, a commit between
// storing its chunks and the metadata op that names them, an upload. Pins
// are counted (the same chunk may be pinned many times) and released by
// their owner. Pins returns the pinned set with a generation number so the
// cluster layer can tell peers what this node pins: a peer collects a
// chunk only once every member has reported that it no longer pins it.
//
// # Verified presence
//
// Stores never check bytes (chunk.Store doc). The Keeper decides when a
// stored copy counts as present: Verify reads and checks it every time
// (dedup, before a write trusts an existing chunk); Present trusts a copy
// verified since this process started and verifies the others on demand
// (replica counts, chunk/have, repair), within an optional byte budget so
// that an answer to a peer never stalls on a cold store. A copy found
// corrupt is dropped from the verified set and replaced when a good one
// is at hand.
package lifecycle
