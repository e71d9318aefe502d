package search

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/blevesearch/bleve/v2"
	"github.com/blevesearch/bleve/v2/index/scorch"
)

// The index's files: this file is the one place that creates, opens and
// removes them. bleve's scorch engine writes the segment files and its
// root bolt file under dir itself; at-rest encryption (issue 18) can seal
// them with bleve_index_api's WriterHook/ReaderHook (zap passes every
// segment and the root's metadata through them), set before openStore.

// Internal keys stored with the index (written in the same batch as the
// documents they describe, so they are never ahead of them).
var (
	keyFormat = []byte("cf_format") // FormatVersion
	keyFeed   = []byte("cf_feed")   // feedMark: the feed epoch and last sequence number indexed
	keyClosed = []byte("cf_closed") // when the index was last closed cleanly
)

// openStore opens the index in dir, or creates it when it is missing,
// unreadable (corrupt) or of another format. rebuilt says why it was made
// anew ("" when an existing index was opened).
func openStore(dir string, log *slog.Logger) (idx bleve.Index, rebuilt string, err error) {
	if _, err := os.Stat(dir); errors.Is(err, os.ErrNotExist) {
		idx, err := createStore(dir)
		return idx, "missing", err
	}
	idx, err = bleve.OpenUsing(dir, runtimeConfig())
	if err == nil {
		f, ferr := idx.GetInternal(keyFormat)
		if ferr == nil && string(f) == FormatVersion {
			return idx, "", nil
		}
		idx.Close()
		rebuilt = fmt.Sprintf("format %q, want %q", f, FormatVersion)
		if ferr != nil {
			rebuilt = "unreadable format: " + ferr.Error()
		}
	} else {
		rebuilt = "unreadable: " + err.Error()
	}
	log.Warn("search index is rebuilt", "dir", dir, "reason", rebuilt)
	if err := removeStore(dir); err != nil {
		return nil, rebuilt, err
	}
	idx, err = createStore(dir)
	return idx, rebuilt, err
}

// openMemStore is an index in memory only (Config.MemoryOnly).
func openMemStore() (bleve.Index, string, error) {
	idx, err := bleve.NewMemOnly(newMapping())
	if err != nil {
		return nil, "", fmt.Errorf("create search index in memory: %w", err)
	}
	if err := idx.SetInternal(keyFormat, []byte(FormatVersion)); err != nil {
		idx.Close()
		return nil, "", err
	}
	return idx, "memory only", nil
}

// runtimeConfig: batches return once they are searchable, not once they
// are on disk (scorch persists them in the background). The index is
// derived data: what a crash loses, the start-up resync (a new feed
// epoch) puts back, and the feed mark is written in the same segments as
// the documents, so it is never ahead of them.
//
// The persister naps persisterNap before each persist (bleve's advice
// for unsafe batches), so the small segments of a stream of batches are
// merged in memory and written as one file instead of one file per batch
// that the file merger then reads and rewrites. Searches see a batch as
// soon as it returns either way; a clean close waits for at most one nap
// (closeStore: a stop right after writes took 0.46 s instead of 0.07).
// Issue 13's profile of 3,000 4 KiB creates into a fresh node: file
// merges were a third of the node's CPU; with 1 s naps the node used
// 4.6-5.4 CPU-s in the 10 s from the first create instead of 8.1-8.5
// (docs/search.md, "Persister nap").
func runtimeConfig() map[string]interface{} {
	return map[string]interface{}{
		"unsafe_batch": true,
		"scorchPersisterOptions": map[string]interface{}{
			"PersisterNapTimeMSec":      int(persisterNap / time.Millisecond),
			"PersisterNapUnderNumFiles": 1000, // bleve's default: above it, no nap
		},
	}
}

// persisterNap is how long scorch's persister gathers segments before it
// writes them (runtimeConfig).
const persisterNap = time.Second

func createStore(dir string) (bleve.Index, error) {
	if err := os.MkdirAll(filepath.Dir(dir), 0o755); err != nil {
		return nil, fmt.Errorf("search index dir: %w", err)
	}
	// Created with safe batches, so that the mapping and the format are on
	// disk before anything else; then reopened for unsafe ones.
	idx, err := bleve.NewUsing(dir, newMapping(), scorch.Name, scorch.Name, nil)
	if err != nil {
		return nil, fmt.Errorf("create search index %s: %w", dir, err)
	}
	if err := idx.SetInternal(keyFormat, []byte(FormatVersion)); err != nil {
		idx.Close()
		return nil, fmt.Errorf("create search index %s: %w", dir, err)
	}
	if err := idx.Close(); err != nil {
		return nil, fmt.Errorf("create search index %s: %w", dir, err)
	}
	idx, err = bleve.OpenUsing(dir, runtimeConfig())
	if err != nil {
		return nil, fmt.Errorf("open new search index %s: %w", dir, err)
	}
	return idx, nil
}

// closeStore waits until every batch written is on disk (unsafe batches
// are persisted in the background, and Close drops what is not), then
// closes the index.
func closeStore(idx bleve.Index, log *slog.Logger) error {
	b := idx.NewBatch()
	done := make(chan error, 1)
	b.SetPersistedCallback(func(err error) { done <- err })
	b.SetInternal(keyClosed, []byte(time.Now().UTC().Format(time.RFC3339)))
	if err := idx.Batch(b); err == nil {
		select {
		case err := <-done:
			if err != nil {
				log.Warn("search index not fully written at close; the next start catches up", "err", err)
			}
		case <-time.After(closeTimeout):
			log.Warn("search index still writing at close; the next start catches up")
		}
	}
	return idx.Close()
}

const closeTimeout = 30 * time.Second

// removeStore deletes an index directory (only one that looks like a
// bleve index or is empty: a wrong --data-dir must not cost other files).
func removeStore(dir string) error {
	des, err := os.ReadDir(dir)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("remove search index: %w", err)
	}
	for _, de := range des {
		switch n := de.Name(); {
		case n == "index_meta.json", n == "store", filepath.Ext(n) == ".zap", n == "root.bolt":
		default:
			return fmt.Errorf("remove search index %s: unexpected file %q in it; move it away", dir, n)
		}
	}
	if err := os.RemoveAll(dir); err != nil {
		return fmt.Errorf("remove search index: %w", err)
	}
	return nil
}
