// Package extent is a chunk storage engine for many small chunks:
// append-only segment files and an in-memory index (the bitcask/Haystack
// design), so a store of a million chunks is a few hundred files, not a
// million.
//
// # Layout
//
// <dir>/LOCK is flock(2)ed while a Store is open. Segments are
// <major>-<minor>.seg (hex); records (put: id and blob; delete: a
// tombstone) are appended to the active segment, each with a CRC-32C.
// Segments replay in (major, minor) order. A segment past SegmentSize is
// sealed: fsynced, and its records listed in <segment>.hint, so Open
// reads hints, not segments.
//
// # Durability
//
// Put appends the record (one pwritev) and waits for an fsync covering
// it; concurrent Puts share one fsync (group commit: the first waiter
// syncs for everyone appended before it started). A Get or Has of a
// chunk whose fsync is still running waits for it, so nothing a crash
// could take back is ever reported stored. Deletes are not fsynced (a
// crash may bring a chunk back; garbage collection runs again). Open
// scans the active segment, truncates a torn tail (a record cut short or
// failing its CRC: never an acknowledged one, those were fsynced) and
// fsyncs the rest.
//
// # Reads
//
// One pread of exactly the blob per Get; the index says where it is.
//
// # Compaction
//
// A sealed segment whose dead share (deleted and replaced records,
// tombstones) reaches GarbageRatio is rewritten: its live records are
// copied into <major>-<minor+1>.seg, which takes its place in the replay
// order, fsynced with its hint, and then the old segment is removed.
// Until then both replay to the same index, so a crash at any step loses
// nothing. Tombstones are copied unless the segment is the oldest (no
// older put could come back) or the id is stored again. Compaction runs
// in the background after deletes and refuses to start (ErrNoRoom) when
// the file system has less free space than one segment.
//
// # Caveats
//
//   - The index holds every id in memory (about 100 bytes per chunk).
//   - Every segment stays open (one descriptor per segment).
//   - After a failed write or fsync the Store refuses further writes
//     (the state of unsynced pages is unknown); reopen it.
//   - Damage inside a sealed segment whose hint is gone cuts that segment
//     at the damage; the chunks after it are repaired from other holders.
package extent
