package replica

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/clusterf/clusterf/chunk/rawfile"
	"github.com/clusterf/clusterf/crdt"
)

// TestFS returns an FS over an in-memory metadata replica and a rawfile
// chunk store in t.TempDir(), closed at cleanup. chunkSize 0 is the default.
func TestFS(t testing.TB, chunkSize int) *FS {
	t.Helper()
	f, closeFS, err := OpenTestFS(t.TempDir(), chunkSize)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(closeFS)
	return f
}

// OpenTestFS is TestFS for callers without a testing.TB (property tests):
// the returned function closes everything and removes dir.
func OpenTestFS(dir string, chunkSize int) (*FS, func(), error) {
	meta, err := crdt.Open(crdt.Options{Node: "test"})
	if err != nil {
		return nil, nil, err
	}
	store, err := rawfile.Open(filepath.Join(dir, "chunks"))
	if err != nil {
		meta.Close()
		return nil, nil, err
	}
	fsys, err := New(Config{
		Meta:       meta,
		Chunks:     store,
		StagingDir: filepath.Join(dir, "staging"),
		ChunkSize:  chunkSize,
	})
	if err != nil {
		meta.Close()
		store.Close()
		return nil, nil, err
	}
	return fsys, func() {
		fsys.Close()
		meta.Close()
		store.Close()
		os.RemoveAll(dir)
	}, nil
}
