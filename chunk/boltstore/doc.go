// Package boltstore is a chunk storage engine keeping every chunk in one
// bbolt file.
//
// # Layout
//
// <dir>/chunks.db holds two buckets: "chunks" (key: the 32-byte id, value:
// the blob) and "meta" (key "usage": chunk count and byte total as two
// big-endian uint64, updated in the same transaction as every change, so
// Usage is exact and O(1) after a restart).
//
// # Durability
//
// Put and Delete go through db.Batch: concurrent calls share one
// transaction and one fsync (group commit), and each returns only after that
// commit. bbolt's file lock keeps a second Store (or process) out; Open
// gives up after a second with an error wrapping chunk.ErrLocked.
//
// # Caveats
//
//   - bbolt memory-maps the file and never shrinks it; deleted space is
//     reused but not returned to the file system.
//   - Every chunk is a large value (overflow pages); this engine suits
//     modest data sets and tests better than the rawfile engine does for
//     large ones.
//   - List copies ids out in pages of 1024 so fn runs outside any
//     transaction and may call the store.
package boltstore
