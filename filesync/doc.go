// Package filesync keeps a local folder and a cluster folder in step:
// import (local → cluster), export (cluster → local) or both
// (bidirectional sync), continuously or once.
//
// It works over the filesystem core (replica.FS: paths, PutFile, the change
// feed) and never touches chunks or CRDT records. Each sync pair keeps a
// base — what both sides looked like when a path was last in step (kind,
// size, mtime, mode, local inode, cluster inode and ctime, content hash) —
// in <node dir>/sync/<pair>.db (bbolt, state.go is its one file I/O).
// A path is reconciled by comparing the local entry and the cluster entry
// with the base:
//
//   - unchanged on both sides: nothing;
//   - changed on the source side only: the change is applied to the other
//     side (content, mode, mtime, rename, delete);
//   - changed on both sides: equal results are recorded, a delete loses to
//     a modification, and two different versions are both kept, the loser
//     under the cluster's conflict name (crdt.ConflictName).
//
// The base is written only after both sides are durable, and every action
// is idempotent given the three states, so a kill -9 at any moment resumes
// with neither re-copy nor spurious conflicts or deletes.
//
// Local changes are found by fsnotify (recursive) plus a periodic rescan;
// cluster changes by following replica.FS.Changes() (a scan when events
// were missed). Writes into the cluster use PutFile (temp + rename); writes
// into the local folder are temp + fsync + rename under a root opened with
// RESOLVE_BENEATH|RESOLVE_NO_SYMLINKS, so nothing is followed out of the
// tree. Safety: excludes (--exclude-dirs and .clusterfignore, gitignore
// syntax), a --max-delete threshold, refusal of a missing, unmounted or
// emptied source root; per-file errors are retried, never fatal.
//
// See docs/filesync.md.
package filesync
