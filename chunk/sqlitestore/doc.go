// Package sqlitestore is a chunk storage engine on SQLite through
// modernc.org/sqlite (pure Go: the binary stays static and cgo-free).
//
// # Layout
//
// <dir>/chunks.sqlite (tables chunks(id PRIMARY KEY, blob) and a one-row
// usage table updated in the same transactions, so Usage is exact after
// any crash), its -wal and -shm files, and <dir>/LOCK, flock(2)ed while a
// Store is open.
//
// # Durability and batching
//
// The database runs in WAL mode with synchronous=FULL: a committed
// transaction is durable. Puts and Deletes go to one writer goroutine that
// commits everything queued in one transaction (up to 64 MiB or 512
// requests), so concurrent callers share a WAL fsync; a batch that fails
// is retried one request at a time, so only the request at fault gets the
// error. Reads run on their own connections and see committed data only.
//
// # Caveats
//
//   - Blobs of megabytes live in overflow pages; the extent engine reads
//     them with less work.
//   - The WAL is checkpointed into the main file every 64 MiB.
package sqlitestore
