package crdt

import "errors"

// Sentinel errors returned by local (Tx) operations. Callers map them to
// errnos / HTTP statuses at their boundary; they may be wrapped.
var (
	ErrNotFound     = errors.New("no such file or directory")        // ENOENT
	ErrExist        = errors.New("file exists")                      // EEXIST
	ErrNotDir       = errors.New("not a directory")                  // ENOTDIR
	ErrIsDir        = errors.New("is a directory")                   // EISDIR
	ErrNotEmpty     = errors.New("directory not empty")              // ENOTEMPTY
	ErrInvalid      = errors.New("invalid argument")                 // EINVAL (e.g. rename into own subtree)
	ErrNoAttr       = errors.New("no such attribute")                // ENODATA
	ErrCrossDevice  = errors.New("cross-device link")                // EXDEV (rename/link of a conflict sibling)
	ErrNameTooLong  = errors.New("file name too long")               // ENAMETOOLONG (> MaxNameLen bytes)
	ErrTooManyLinks = errors.New("too many links")                   // EMLINK (> MaxLinks)
	ErrNeedSnapshot = errors.New("peer is behind the compacted log") // delta sync impossible: send a snapshot
	ErrMalformed    = errors.New("malformed encoding")               // decoders
	ErrForged       = errors.New("forged or corrupt replica data")   // contradicts ops we hold (InstallSnapshot)
	ErrFuture       = errors.New("timestamp from the future")        // beyond MaxClockSkew: retry later (InstallSnapshot)
)

// MaxNameLen is the longest dentry name in bytes (as Linux NAME_MAX).
const MaxNameLen = 255

// MaxLinks is the most names Link gives one inode (as ext4's EXT4_LINK_MAX;
// tmpfs has no limit). Concurrent links on several nodes may exceed it.
const MaxLinks = 65000
