// Package placement decides where chunks live: which partition a chunk
// belongs to and which members hold each partition.
//
// # Partitions
//
// A chunk belongs to partition id mod P, reading the first 8 bytes of its
// BLAKE3 id big-endian. P is fixed when the cluster is created (the
// "partitions" setting, 1024 by default), so a chunk never changes
// partition.
//
// # Holders
//
// The holders of a partition are the RF storage members with the highest
// rendezvous (highest-random-weight) score BLAKE3(partition ‖ node id).
// Every node computes the same list from the same member set, without
// coordination; when a member joins or leaves only the partitions where it
// is (or becomes) among the top RF move, about 1/N of the data. RF larger
// than the number of storage members means every storage member.
//
// The package is pure: no I/O, no clocks, safe for concurrent use.
package placement
