package replica

import (
	"bytes"
	"errors"
	"path/filepath"
	"sync/atomic"
	"syscall"
	"testing"

	"github.com/clusterf/clusterf/chunk/lifecycle"
	"github.com/clusterf/clusterf/chunk/rawfile"
	"github.com/clusterf/clusterf/crdt"
)

// fullStore is a metadata store whose appends fail with ENOSPC while full
// is set (a full disk under meta.db).
type fullStore struct {
	crdt.Store
	full atomic.Bool
}

func (s *fullStore) Append(ops []crdt.Op) error {
	if s.full.Load() {
		return syscall.ENOSPC
	}
	return s.Store.Append(ops)
}

// TestCommitAfterStoreErrorNoConflictCopy (TestFaults seed 20260801, the
// disk-full node): a commit whose metadata op could not be made durable
// (ENOSPC) is applied in memory anyway and written by a later flush. The
// open file must move onto that version, so that the retried commit
// supersedes it; otherwise the retry is a concurrent sibling of it and the
// file shows spurious conflict copies of its own content.
func TestCommitAfterStoreErrorNoConflictCopy(t *testing.T) {
	dir := t.TempDir()
	ms := &fullStore{Store: crdt.NewMemStore()}
	meta, err := crdt.Open(crdt.Options{Node: "n1", Store: ms})
	if err != nil {
		t.Fatal(err)
	}
	defer meta.Close()
	store, err := rawfile.Open(filepath.Join(dir, "chunks"))
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	f, err := New(Config{Meta: meta, Chunks: lifecycle.New(store, nil), StagingDir: filepath.Join(dir, "staging"), ChunkSize: 4096})
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()

	a, h := mustCreate(t, f, crdt.RootID, "f")
	if _, err := h.WriteAt(ctx, bytes.Repeat([]byte{1}, 10000), 0); err != nil {
		t.Fatal(err)
	}
	if err := h.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	want := bytes.Repeat([]byte{2}, 10000)
	if _, err := h.WriteAt(ctx, want, 0); err != nil {
		t.Fatal(err)
	}
	ms.full.Store(true)
	for range 2 { // fsync, then the flush at close
		if err := h.Flush(ctx); !errors.Is(err, syscall.ENOSPC) {
			t.Fatalf("flush on a full store: %v, want ENOSPC", err)
		}
	}
	ms.full.Store(false)
	if err := h.Release(); err != nil {
		t.Fatalf("release after the store recovered: %v", err)
	}
	ents, err := f.ReadDir(ctx, crdt.RootID)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range ents {
		names = append(names, e.Name)
	}
	if len(names) != 1 || names[0] != "f" {
		t.Errorf("root lists %q, want only f (a retried commit made conflict copies)", names)
	}
	if got := readAll(t, f, crdt.Ref{Inode: a.Ref.Inode}); !bytes.Equal(got, want) {
		t.Errorf("f holds %d bytes starting %v, want the second write", len(got), got[:min(4, len(got))])
	}
}
