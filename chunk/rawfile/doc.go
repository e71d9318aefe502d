// Package rawfile is the default chunk storage engine: one file per chunk.
//
// # Layout
//
// A chunk with hex id h lives at <dir>/h[0:2]/h[2:4]/h: two levels of 256
// directories, so a million chunks make about 15 files per leaf directory.
// <dir>/LOCK is flock(2)ed while a Store is open, so two stores (in one
// process or two) never share a directory.
//
// # Durability
//
// Put writes <dir>/h[0:2]/h[2:4]/.tmp-h-<random>, fsyncs it, renames it to
// the final name and fsyncs the directory; only then does it return. A crash
// leaves either the whole chunk or a temp file, and Open removes leftover
// temp files. A failed Put (ENOSPC, EIO …) removes its temp file and returns
// the cause wrapped, so errors.Is(err, syscall.ENOSPC) holds.
//
// PutLazy makes the same files without any fsync; Sync later fdatasyncs
// them and fsyncs each directory that gained an entry, the fan-out
// directories a PutLazy created included (dirs.go), and a Put through
// such a directory fsyncs it before it returns.
//
// A blob of 1 MiB or more is written with O_DIRECT (its whole 4 KiB
// blocks; the tail buffered), which skips the copy into the page cache
// (direct.go, docs/perf.md). The fsyncs, and so the durability, are the
// same either way.
//
// # Caveats
//
//   - Get returns whatever bytes the file holds, even truncated or garbage;
//     chunk.Decode catches that.
//   - Usage is counted by a walk at Open and kept in memory; files changed
//     behind the store's back are not noticed until the next Open.
//   - Deletes are not fsynced: a crash may bring a deleted chunk back, which
//     garbage collection handles.
//   - Linux/Unix only (flock, directory fsync).
package rawfile
