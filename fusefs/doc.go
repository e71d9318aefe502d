// Package fusefs serves a replica.FS as a FUSE mount (go-fuse v2 fs API).
//
// It is a thin adapter: every operation calls the core and maps its error
// to an errno (toErrno); it never touches chunks, metadata records or the
// network.
//
// # Inode numbers
//
// Inode numbers are stable across mounts and nodes because they are derived
// from the cluster-wide inode id (a random 128-bit crdt.InodeID whose first
// byte always has its top bit set):
//
//	root directory                 1
//	any other inode                the first 8 bytes of its id, big-endian
//	                               (top bit always 1)
//	conflict sibling (a version)   8 bytes of BLAKE3(inode id ‖ version id),
//	                               top bit 0, never 0, 1 or 2^64-1
//
// Hard links share their inode's number. Gen is always 1: inode ids are
// never reused, so a number never names two inodes.
//
// # Caches
//
// Entry and attribute timeouts are short (Options) so changes made through
// other frontends show up quickly; the page cache is not kept across opens.
//
// # Errors
//
// toErrno unwraps %w chains with errors.Is/As (go-fuse's fs.ToErrno does not)
// and maps core sentinels to real errnos; an unexpected error is logged and
// returned as EIO; corruption is logged by the core and returned as EIO. An
// interrupted request (canceled ctx) returns EINTR.
//
// # Deadlocks
//
// A process must not access its own mount (go-fuse fs docs): tests run the
// server in a child process.
package fusefs
