// Package engines opens chunk storage engines by name and locks a data
// directory to the engine it was first started with.
//
// # Engines
//
//	rawfile  one file per chunk in fan-out directories (default), chunk/rawfile
//	bolt     chunks in one bbolt file, chunk/boltstore
//	extent   append-only segments and an in-memory index, chunk/extent
//	sqlite   one SQLite database (modernc.org/sqlite, WAL), chunk/sqlitestore
//
// The registry lives here rather than in package chunk because the engines
// import chunk; chunk.Open would be an import cycle.
//
// # Format lock
//
// A data directory records its storage format in <dataDir>/storage-format,
// a JSON object {"major":"rawfile","minor":"1"}. The major is the engine,
// the minor the engine's on-disk version. The file is written at first start
// (atomically: temp file, fsync, rename, fsync dir). Later starts may leave
// the flags empty ("use what is recorded") or repeat the recorded values; any
// other value is an error and changes nothing, since the engine cannot read
// another engine's data. Migrations between formats do not exist yet.
//
// The minor is the engine's on-disk format version ("1" for every engine
// today). --storage-minor may repeat the recorded or current one; any
// other value is refused, since no engine reads or migrates another
// version yet. When an engine changes its format it gets minor "2", keeps
// reading "1", and the record says which a data dir holds.
package engines
