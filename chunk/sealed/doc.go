// Package sealed is a chunk.Store decorator that encrypts what any engine
// below it writes: the blobs and the ids they are stored under.
//
// # On disk
//
// A chunk whose cluster id is id is stored under Name(id), a keyed 256-bit
// pseudorandom permutation of id (a four-round Feistel network with
// AES-256 round functions, Luby-Rackoff), so file names and keys on disk
// reveal nothing about the content and a known file cannot be confirmed by
// hashing it. The permutation is reversible, so List gives back the
// cluster's ids without reading any chunk. The blob is sealed with
// atrest.Sealer ("chunk-data" key) with the plain id as associated data: a
// blob copied or renamed to another id fails to open.
//
// Cluster ids stay the unkeyed BLAKE3 of the plain chunk: placement, dedup
// and chunk/have are cluster-wide and some nodes may not encrypt. Only the
// node's own disk is keyed.
//
// # Contract
//
// Store passes chunktest.Suite like the engines. Usage reports plain blob
// bytes: the engine's bytes minus atrest.Overhead per chunk, exact because
// the overhead is constant (the chunk keeper's freed-bytes arithmetic
// relies on it). A blob that fails to open (changed on disk, or sealed
// with another key) is returned by Get as a one-byte blob with header
// chunk.FormatUnopenable, which chunk.Decode reports as ErrCorrupt, so
// every caller treats it like any corrupt copy: never returned as data,
// repaired from another holder.
package sealed
