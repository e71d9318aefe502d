package replica

import (
	"bytes"
	"context"
	"errors"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"sync/atomic"
	"testing"

	"github.com/clusterf/clusterf/atrest"
	"github.com/clusterf/clusterf/chunk"
	"github.com/clusterf/clusterf/chunk/lifecycle"
	"github.com/clusterf/clusterf/chunk/rawfile"
	"github.com/clusterf/clusterf/chunk/sealed"
	"github.com/clusterf/clusterf/crdt"
)

// settle waits until the pipeline has no job of of's queued or running
// and returns how many of its staged chunks it stored already.
func settle(of *openFile) (early int) {
	of.mu.Lock()
	defer of.mu.Unlock()
	of.waitEarly()
	for _, slot := range of.dirty {
		if slot < 0 {
			early++
		}
	}
	return early
}

// TestPipelineStoresFilledChunks writes a file chunk by chunk and checks
// that every filled chunk is stored while the file is still being written
// (its staging slot freed), that reads, a rewrite of a stored chunk, a
// truncate into one and the commit all see the right bytes, and that the
// committed version names the chunks the pipeline stored.
func TestPipelineStoresFilledChunks(t *testing.T) {
	const cs = 4096
	f, closeFS, err := OpenTestFS(filepath.Join(t.TempDir(), "fs"), cs)
	if err != nil {
		t.Fatal(err)
	}
	defer closeFS()
	a, h := mustCreate(t, f, crdt.RootID, "f")
	var model []byte
	for i := range 8 {
		p := bytes.Repeat([]byte{byte('a' + i)}, cs)
		if _, err := h.WriteAt(ctx, p, int64(i*cs)); err != nil {
			t.Fatal(err)
		}
		model = append(model, p...)
		if got := settle(h.of); got != i+1 {
			t.Fatalf("after chunk %d: %d chunks stored by the pipeline, want %d", i, got, i+1)
		}
	}
	tail := []byte("tail, not a whole chunk")
	if _, err := h.WriteAt(ctx, tail, int64(len(model))); err != nil {
		t.Fatal(err)
	}
	model = append(model, tail...)
	if got := settle(h.of); got != 8 {
		t.Fatalf("a partial chunk was stored: %d early chunks, want 8", got)
	}
	h.of.mu.Lock()
	slots := h.of.nslots
	h.of.mu.Unlock()
	if slots > 2 {
		t.Fatalf("9 chunks staged one after the other used %d staging slots: stored chunks kept theirs", slots)
	}

	check := func(when string) {
		t.Helper()
		got := make([]byte, len(model))
		if n, err := h.ReadAt(ctx, got, 0); n != len(model) {
			t.Fatalf("%s: read %d bytes: %v", when, n, err)
		}
		if !bytes.Equal(got, model) {
			t.Fatalf("%s: content differs", when)
		}
	}
	check("staged")

	// A write into a stored chunk turns it back into a staged one.
	if _, err := h.WriteAt(ctx, []byte("XY"), 3*cs+100); err != nil {
		t.Fatal(err)
	}
	copy(model[3*cs+100:], "XY")
	check("rewritten")

	if err := h.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	check("committed")

	// Stored again after the rewrite filled it? The commit named it anyway.
	var c crdt.Content
	_ = f.meta.View(func(v *crdt.View) error {
		ino, err := v.Inode(a.Ref.Inode)
		c = ino.Content
		return err
	})
	if n := c.StoredChunks(); n != 9 {
		t.Fatalf("committed version has %d stored chunks, want 9", n)
	}

	// Truncate into a chunk of the committed file, write it whole again.
	if err := h.Truncate(5*cs + 10); err != nil {
		t.Fatal(err)
	}
	model = model[:5*cs+10]
	check("truncated")
	if err := h.Release(); err != nil {
		t.Fatal(err)
	}
	if got := readAll(t, f, a.Ref); !bytes.Equal(got, model) {
		t.Fatal("content after release differs")
	}
}

// TestAbandonedChunksGoAtOnce: the chunks the pipeline stored for a file
// that is given up uncommitted (unlinked while written) leave the store
// when its last handle closes, not after garbage collection; a chunk
// another file's commit uses stays.
func TestAbandonedChunksGoAtOnce(t *testing.T) {
	const cs = 4096
	f, closeFS, err := OpenTestFS(filepath.Join(t.TempDir(), "fs"), cs)
	if err != nil {
		t.Fatal(err)
	}
	defer closeFS()
	shared := bytes.Repeat([]byte{'s'}, cs)
	_, h := mustCreate(t, f, crdt.RootID, "gone")
	var ids []chunk.ID
	for i := range 4 {
		p := bytes.Repeat([]byte{byte('a' + i)}, cs)
		if i == 3 {
			p = shared
		}
		if _, err := h.WriteAt(ctx, p, int64(i*cs)); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, chunk.Sum(p))
	}
	if got := settle(h.of); got != 4 {
		t.Fatalf("%d chunks stored by the pipeline, want 4", got)
	}
	// Another file commits the shared chunk (dedup: it pins the copy).
	_, other := mustCreate(t, f, crdt.RootID, "keeps")
	if _, err := other.WriteAt(ctx, shared, 0); err != nil {
		t.Fatal(err)
	}
	if err := other.Release(); err != nil {
		t.Fatal(err)
	}
	if err := f.Unlink(ctx, crdt.RootID, "gone"); err != nil {
		t.Fatal(err)
	}
	if err := h.Release(); err != nil {
		t.Fatal(err)
	}
	f.jobs.wg.Wait() // the drop runs once the file's pushes are done
	for i, id := range ids {
		present, err := f.chunks.Present(ctx, id, nil)
		if err != nil {
			t.Fatal(err)
		}
		if want := i == 3; present != want {
			t.Fatalf("chunk %d present=%v after the file was given up, want %v", i, present, want)
		}
	}
}

// TestReadAhead: a sequential read of a committed file loads the next
// chunk ahead and the next read takes it from there; a corrupt chunk
// loaded ahead is still an error for the read that needs it.
func TestReadAhead(t *testing.T) {
	const cs = 4096
	env, closeFS, err := openTestEnv(filepath.Join(t.TempDir(), "fs"), cs)
	if err != nil {
		t.Fatal(err)
	}
	defer closeFS()
	f := env.FS
	a, h := mustCreate(t, f, crdt.RootID, "f")
	var model []byte
	for i := range 5 {
		model = append(model, bytes.Repeat([]byte{byte('a' + i)}, cs)...)
	}
	if _, err := h.WriteAt(ctx, model, 0); err != nil {
		t.Fatal(err)
	}
	if err := h.Release(); err != nil {
		t.Fatal(err)
	}
	r, err := f.Open(ctx, a.Ref, os.O_RDONLY)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Release()
	buf := make([]byte, cs)
	for i := range 5 {
		if _, err := r.ReadAt(ctx, buf, int64(i*cs)); err != nil && !errors.Is(err, io.EOF) {
			t.Fatal(err)
		}
		if !bytes.Equal(buf, model[i*cs:(i+1)*cs]) {
			t.Fatalf("chunk %d differs", i)
		}
		r.of.mu.Lock()
		var loading []crdt.ChunkID
		for _, a := range r.of.aheads {
			loading = append(loading, a.id)
		}
		var want []crdt.ChunkID
		for k := i + 1; k <= min(i+readAheadDepth, 4); k++ {
			want = append(want, r.of.base.ChunkAt(int64(k)))
		}
		r.of.mu.Unlock()
		if !slices.Equal(loading, want) {
			t.Fatalf("after chunk %d: loading ahead %v, want the next %d chunks %v (none past the end)", i, loading, readAheadDepth, want)
		}
	}
	// Corrupt chunk 2 on disk, read chunk 1 of a new handle: chunk 2 is
	// loaded ahead, fails its hash, and its read is an error.
	r2, err := f.Open(ctx, a.Ref, os.O_RDONLY)
	if err != nil {
		t.Fatal(err)
	}
	defer r2.Release()
	id := chunk.ID(r2.of.base.ChunkAt(2))
	p := env.Store.Path(id)
	raw, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	raw[len(raw)-1] ^= 1
	if err := os.WriteFile(p, raw, 0o600); err != nil {
		t.Fatal(err)
	}
	r.of.mu.Lock()
	r.of.setCache(crdt.ChunkID{}, nil, nil)
	r.of.aheads, r.of.lastRead = nil, 0 // as if chunk 0 was read last
	r.of.mu.Unlock()
	if _, err := r2.ReadAt(ctx, buf, cs); err != nil && !errors.Is(err, io.EOF) {
		t.Fatal(err)
	}
	r.of.mu.Lock()
	var ah *ahead
	for _, a := range r.of.aheads {
		if chunk.ID(a.id) == id {
			ah = a
		}
	}
	r.of.mu.Unlock()
	if ah == nil {
		t.Fatal("the corrupt chunk was not loaded ahead")
	}
	<-ah.done
	if ah.err == nil {
		t.Fatal("a corrupt chunk loaded ahead without an error")
	}
	if n, err := r2.ReadAt(ctx, buf, 2*cs); err == nil || errors.Is(err, io.EOF) {
		t.Fatalf("read of a corrupt chunk loaded ahead: %d bytes, %v", n, err)
	}
}

// inPlaceCounter counts the chunks a sealed store seals where they lie.
type inPlaceCounter struct {
	*sealed.Store
	n atomic.Int64
}

func (c *inPlaceCounter) PutLazyInPlace(ctx context.Context, id chunk.ID, buf []byte) error {
	c.n.Add(1)
	return c.Store.PutLazyInPlace(ctx, id, buf)
}

// TestPipelineSealsInPlace writes incompressible whole chunks through an
// FS over a sealed store and checks that the pipeline had each one sealed
// in its own buffer (counted), and that the file reads back whole, before
// and after the commit.
func TestPipelineSealsInPlace(t *testing.T) {
	const cs, n = 64 << 10, 5
	dir := t.TempDir()
	meta, err := crdt.Open(crdt.Options{Node: "test"})
	if err != nil {
		t.Fatal(err)
	}
	defer meta.Close()
	raw, err := rawfile.Open(filepath.Join(dir, "chunks"))
	if err != nil {
		t.Fatal(err)
	}
	st := &inPlaceCounter{Store: sealed.New(raw, atrest.KeysFromMaster([atrest.KeySize]byte{4}))}
	defer st.Close()
	f, err := New(Config{Meta: meta, Chunks: lifecycle.New(st, nil), StagingDir: filepath.Join(dir, "staging"), ChunkSize: cs})
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	a, h := mustCreate(t, f, crdt.RootID, "sealed")
	data := make([]byte, n*cs+100)
	cc := rand.NewChaCha8([32]byte{3})
	cc.Read(data)
	if _, err := h.WriteAt(ctx, data, 0); err != nil {
		t.Fatal(err)
	}
	if got := settle(h.of); got != n {
		t.Fatalf("%d chunks stored early, want %d", got, n)
	}
	if got := st.n.Load(); got != n {
		t.Fatalf("%d chunks sealed in place, want %d", got, n)
	}
	back := make([]byte, len(data))
	if _, err := h.ReadAt(ctx, back, 0); err != nil && !errors.Is(err, io.EOF) {
		t.Fatal(err)
	}
	if !bytes.Equal(back, data) {
		t.Fatal("read before the commit differs")
	}
	if err := h.Release(); err != nil {
		t.Fatal(err)
	}
	if got := readAll(t, f, a.Ref); !bytes.Equal(got, data) {
		t.Fatalf("read after the commit: %d bytes, differs", len(got))
	}
}
