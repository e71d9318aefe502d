package search

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/blevesearch/bleve/v2"
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
)

// openStore opens the index in dir, or creates it when it is missing,
// unreadable (corrupt) or of another format. rebuilt says why it was made
// anew ("" when an existing index was opened).
func openStore(dir string, log *slog.Logger) (idx bleve.Index, rebuilt string, err error) {
	if _, err := os.Stat(dir); errors.Is(err, os.ErrNotExist) {
		idx, err := createStore(dir)
		return idx, "missing", err
	}
	idx, err = bleve.Open(dir)
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

func createStore(dir string) (bleve.Index, error) {
	if err := os.MkdirAll(filepath.Dir(dir), 0o755); err != nil {
		return nil, fmt.Errorf("search index dir: %w", err)
	}
	idx, err := bleve.New(dir, newMapping())
	if err != nil {
		return nil, fmt.Errorf("create search index %s: %w", dir, err)
	}
	if err := idx.SetInternal(keyFormat, []byte(FormatVersion)); err != nil {
		idx.Close()
		return nil, fmt.Errorf("create search index %s: %w", dir, err)
	}
	return idx, nil
}

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
