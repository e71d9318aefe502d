// Package webdav serves a cluster path over WebDAV (RFC 4918, class 1 and
// 2) with golang.org/x/net/webdav, through a FileSystem adapter of the
// filesystem core (replica.FS): WebDAV sees exactly what the mount and
// REST see.
//
// # Serving
//
// New returns the http.Handler for a cluster path ("/photos", created when
// missing) under a URL prefix. The node mounts it at /webdav/ always and at
// / with --webdav. Authentication is the HTTP server's job, not this
// package's.
//
// # Names
//
// Request paths, and the Destination of COPY and MOVE, are confined by
// mapPath: NUL bytes, backslashes and ".." components (also as %2e%2e,
// %5C, %00) get 400 before anything is touched; paths outside the prefix
// get 404. Symlinks made through the mount are invisible (WebDAV cannot
// show them, and following them could leave the served tree). Conflict
// copies are listed and readable but read-only.
//
// # Writes
//
// A PUT (and the destination file of a COPY, and a LOCK on a new name)
// writes to a hidden temporary file (".clusterf-upload-*", never listed)
// that is committed and renamed over the target only when the whole body
// arrived, every read and write succeeded and the commit did: readers see
// the old or the new content, never a partial one. A failed commit fails
// the PUT with 500 (507 on a full disk). A PUT over a file keeps its mode
// and dead properties; its inode changes, as with the REST PUT.
//
// # Properties and ETags
//
// Dead properties (PROPPATCH) are extended attributes "user.webdav.<name>"
// of the inode, holding the property as XML, so they replicate, move with
// MOVE, are copied by COPY and show through the mount. ETags are strong and
// derived from the inode, conflict version, size and mtime; the ETag a PUT
// answers is the one later GETs and PROPFINDs give.
//
// # Locks
//
// Locks (exclusive and shared write locks) live in the memory of the node
// that granted them and are lost on restart. If headers are evaluated fully,
// entity tags and Not included; a request whose If header fails gets 412.
//
// # Errors
//
// Core errors become errno-carrying *os.PathError values in one place
// (toOSError), because x/net/webdav tests them with os.IsNotExist and
// friends; the original error is kept for the status rewrite (rewriteStatus)
// and logged. A 5xx is logged at warn level, everything else at debug.
package webdav
