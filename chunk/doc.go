// Package chunk holds the content-addressed chunk layer of clusterf: chunk
// ids, the on-disk blob codec and the Store interface that every storage
// engine implements.
//
// # Ids
//
// An [ID] is the BLAKE3-256 hash of a chunk's plain (decoded) bytes. The zero
// ID is not a chunk: in a file's chunk list it marks a hole. Ids are
// cluster-wide and stay unkeyed with encryption at rest: chunk/sealed keys
// only the names on an encrypted node's disk.
//
// # Blobs
//
// Stores hold encoded blobs, not plain data. A blob is one header byte
// followed by a payload:
//
//	0x00  raw: the payload is the plain chunk
//	0x01  zstd: the payload is one or more zstd frames
//
// [Encode] picks zstd only when it saves at least 1/16 of the size. [Decode]
// bounds decompression to [MaxChunkSize] and verifies the hash before
// returning anything: a mismatch, an unknown header or a broken frame is an
// error wrapping [ErrCorrupt], and the bad bytes are never returned.
//
// # Stores
//
// A [Store] moves blobs to and from durable storage; it does not verify them
// (the caller decodes, and so detects corruption wherever it came from).
// Engines live in subpackages (chunk/rawfile, chunk/boltstore, chunk/extent,
// chunk/sqlitestore) and are opened by name through chunk/engines;
// chunk/sealed encrypts what any of them stores. chunk/chunktest holds the conformance suite
// that every engine passes.
//
// # Caveats
//
//   - Put of an id that is already present is a no-op. To replace a corrupt
//     copy, Delete it first.
package chunk
