// Package replica is the one filesystem core of clusterf.
//
// Every frontend — the FUSE mount (fusefs), REST (api), WebDAV (webdav),
// search and import/export — reads and changes files only through FS. A
// behaviour fixed here is fixed for all of them.
//
// # Model
//
// Metadata (names, attributes, content versions) lives in a crdt.Replica;
// file bytes live in a chunk.Store as immutable, content-addressed chunks cut
// at fixed offsets (Config.ChunkSize, 4 MiB by default). Files up to
// Config.InlineMax bytes are stored inline in the metadata instead.
//
// # Write path
//
// Writes go to a per-inode staging file under Config.StagingDir (write-back).
// A chunk touched for the first time is first copied from the committed
// version into the staging file, so the staging file always holds whole
// chunks. Flush and Fsync commit: every dirty chunk is hashed (BLAKE3),
// compressed when it helps, stored durably, and one metadata op records the
// new content version. Only then does Flush return nil: an acknowledged
// write is durable.
//
// # Read path
//
// Dirty chunks are read from the staging file, clean ones from the chunk
// store; every chunk read from the store is verified against its id. A
// mismatch is logged as corruption and returned as an error wrapping
// chunk.ErrCorrupt: wrong bytes are never returned.
//
// # Concurrency
//
// FS is safe for concurrent use. All handles of one inode share one open-file
// entry (refcounted) whose mutex serializes its content operations.
//
// # Errors
//
// Errors wrap the crdt sentinels (crdt.ErrNotFound, ...), chunk.ErrCorrupt,
// the package's own sentinels and syscall errnos from the local disk (ENOSPC);
// frontends map them with errors.Is at their boundary.
package replica
