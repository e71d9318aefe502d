package replica

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/clusterf/clusterf/chunk"
	"github.com/clusterf/clusterf/chunk/lifecycle"
	"github.com/clusterf/clusterf/chunk/rawfile"
	"github.com/clusterf/clusterf/crdt"
)

// TestEnv is an FS with its parts, for tests that look behind the core
// (corrupt a chunk file, inspect the store).
type TestEnv struct {
	FS    *FS
	Meta  *crdt.Replica
	Store *rawfile.Store // the raw chunk store under the keeper
	Dir   string
}

// CorruptChunk flips one byte of the stored chunk file of id.
func (e *TestEnv) CorruptChunk(tb testing.TB, id chunk.ID) {
	tb.Helper()
	p := e.Store.Path(id)
	b, err := os.ReadFile(p)
	if err != nil {
		tb.Fatal(err)
	}
	b[len(b)-1] ^= 0xff
	if err := os.WriteFile(p, b, 0o600); err != nil {
		tb.Fatal(err)
	}
}

// NewTestEnv returns a TestEnv over an in-memory metadata replica and a
// rawfile chunk store in t.TempDir(), closed at cleanup. chunkSize 0 is
// the default.
func NewTestEnv(t testing.TB, chunkSize int) *TestEnv {
	t.Helper()
	e, closeFS, err := openTestEnv(t.TempDir(), chunkSize)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(closeFS)
	return e
}

// TestFS returns the FS of NewTestEnv.
func TestFS(t testing.TB, chunkSize int) *FS { return NewTestEnv(t, chunkSize).FS }

// OpenTestFS is TestFS for callers without a testing.TB (property tests):
// the returned function closes everything and removes dir.
func OpenTestFS(dir string, chunkSize int) (*FS, func(), error) {
	e, closeFS, err := openTestEnv(dir, chunkSize)
	if err != nil {
		return nil, nil, err
	}
	return e.FS, closeFS, nil
}

func openTestEnv(dir string, chunkSize int) (*TestEnv, func(), error) {
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
		Chunks:     lifecycle.New(store, nil),
		StagingDir: filepath.Join(dir, "staging"),
		ChunkSize:  chunkSize,
	})
	if err != nil {
		meta.Close()
		store.Close()
		return nil, nil, err
	}
	e := &TestEnv{FS: fsys, Meta: meta, Store: store, Dir: dir}
	return e, func() {
		fsys.Close()
		meta.Close()
		store.Close()
		os.RemoveAll(dir)
	}, nil
}
