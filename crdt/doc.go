// Package crdt is the replicated metadata model of clusterf: the namespace
// tree, inode attributes, file content versions, extended attributes and
// cluster settings, kept as operation-based CRDTs so every node can change
// its copy without coordination and all copies converge.
//
// It never touches chunks, the network or the kernel: callers (replica.FS,
// the sync layer) move ops and snapshots around and read through View.
//
// # Ops, clocks and logs
//
// Every change is an Op with an id (origin node, per-origin sequence number
// 1, 2, 3, ... without gaps) and a hybrid logical clock Timestamp (wall ns,
// logical counter, node), totally ordered. The Clock never goes backwards:
// Open observes every persisted timestamp, Apply observes every remote one,
// so a peer whose clock runs minutes ahead only bumps the logical counter.
// An op more than MaxClockSkew ahead of the local wall clock is deferred by
// Apply (applied when offered again after the clock caught up), and the
// clock saturates instead of overflowing, so a crafted timestamp cannot
// break a node.
// Each replica keeps the per-origin op logs and a VersionVector; Missing
// returns what a peer lacks, Apply ignores duplicates and skips ops that
// would leave a gap (they are resent after the next exchange).
//
// # Tree
//
// Tree nodes are dentries (a directory's dentry id is its inode id; hard
// links are extra dentries with fresh ids). Creating, renaming and deleting
// (moving to TrashID) are all MoveOps applied with the move algorithm of
// Kleppmann et al. (2021): a log sorted by timestamp with undo data; a late
// op undoes the newer ones, applies, and redoes them; a move that would
// make a cycle is skipped. Unknown parents are allowed (the subtree is
// invisible until the parent arrives). Each node remembers the place it had
// before its current move.
//
// # Registers and content
//
// Attributes are per-field last-writer-wins registers, xattrs LWW per name
// with remove tombstones, settings LWW per key. Content is a dotted
// multi-value register: a ContentOp removes the versions its Context covers,
// joins the context, and adds its version unless already covered. The latest
// version wins; concurrent ones stay as conflict siblings.
//
// # What a user sees
//
// View derives the namespace deterministically from the state, so every
// replica shows the same names. A dentry is live if its parent chain reaches
// RootID. A deleted dentry is resurrected, shown at its previous place (or
// under the root if that place is gone), when a delete raced with a write
// the deleter had not seen (a file whose inode has no other live dentry and
// a content version the delete's Context does not cover) or with a create
// or move into a removed directory. So no acknowledged write disappears
// silently. Dentries sharing a name in a directory show the latest move under
// the name and the others as ConflictName(name, move time); content siblings
// appear as ConflictName(file name, version time) entries with Ref.Version
// set; generated names that collide get "-2", "-3", ... in timestamp order.
//
// # Guarantees
//
// Replicas that applied the same set of ops, in any order, grouping or with
// duplicates, have byte-identical EncodeState. The tree never has a cycle;
// after all ops are delivered every dentry reaches RootID or TrashID. A
// content version is dropped only by an op whose context covers it.
// These are checked by property tests (pgregory.net/rapid) and fuzzing.
//
// # Persistence and locking
//
// A Replica holds one RWMutex: View under the read lock, Update, Apply,
// InstallSnapshot and Compact under the write lock. Changes are applied in
// memory, queued, and written by group commit: one caller writes every
// queued transaction with one write while the others wait. Without a
// Journal that write is a Store.Append (bbolt fsyncs on commit). With one
// (commit.go, journal.go) it is one journal append, which survives a crash
// of the process; UpdateAsync returns there, and a background committer
// makes the ops durable within milliseconds (a sync round: BeforeDurable,
// a durable mark, one fdatasync, shared by every waiter) and moves them
// into the Store in batches (checkpoints), so meta.db only ever sees whole
// synced bbolt transactions. Update, Apply and InstallSnapshot still
// return only once durable. Ops are persisted in apply order; every
// SnapshotEvery ops a snapshot replaces the ops it covers.
// Encodings are CBOR with a one-byte format version and decode limits.
//
// # Caveats
//
// Resurrection is recomputed after each change from the resurrection
// candidates only (trash directories with children, deleted files with a
// version their delete did not cover), kept up to date incrementally, so
// ordinary tombstones cost nothing until Compact removes them.
// Compact relies on its caller's stability promise (see Compact); state
// encodings of replicas that compacted differently differ.
package crdt
