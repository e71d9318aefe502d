// Package search is clusterf's full-text search: an index on every node
// of every name in the namespace with its attributes, type and
// extended attributes, and of what the files' bytes say (EXIF of photos,
// audio and video tags and durations, the text of text-like files, HTML
// and PDF), and the query side used by REST, the CLI and the dashboard.
//
// The index (bleve v2, scorch) lives in <node dir>/search and follows the
// core's change feed (replica.FS.Changes): every event names what to look
// at, and the documents are rebuilt from the current state. The feed
// position is stored with the documents; after a restart (a feed of
// another epoch) or when the index fell more than the feed's length
// behind, one scan of the namespace diffed against the indexed
// fingerprints catches up. An index that is missing, unreadable or of an
// older format is rebuilt at Open.
//
// Every node indexes the whole namespace, so a query is answered locally
// and returns the same results on every node. Content is read where it
// is: a node that holds a file's first chunk extracts it through the
// core; one that does not asks a holder (the search/extract RPC, which
// returns the extracted metadata and text, never the bytes). See
// docs/search.md for the decision, its cost and the numbers.
//
// Goroutines: Run owns the feed loop (the caller's) and one extraction
// worker; both stop with Run's context, and Run waits for the worker.
package search
