package replica

import (
	"bytes"
	"errors"
	"io"
	"math/rand/v2"
	"os"
	"sync"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/clusterf/clusterf/chunk"
	"github.com/clusterf/clusterf/crdt"
)

func TestBufClass(t *testing.T) {
	for _, c := range []struct{ n, class int }{
		{0, -1},
		{minPooled - 1, -1},
		{minPooled, 0},
		{minPooled + bufSlack, 0},
		{minPooled + bufSlack + 1, 1},
		{1<<20 + 1, 4},      // a raw 1 MiB chunk: its class, not the next
		{4<<20 + 1 + 40, 6}, // a sealed raw 4 MiB chunk
		{minPooled<<(bufClasses-1) + bufSlack, bufClasses - 1},
		{minPooled<<(bufClasses-1) + bufSlack + 1, -1},
	} {
		if got := bufClass(c.n); got != c.class {
			t.Errorf("bufClass(%d) = %d, want %d", c.n, got, c.class)
		}
		if k := bufClass(c.n); k >= 0 {
			if b := getChunkBuf(c.n); len(b.b) < c.n || b.class != k {
				t.Errorf("getChunkBuf(%d): %d bytes, class %d", c.n, len(b.b), b.class)
			}
		}
	}
}

// TestLoadChunkBuffers checks which loads hand out a pooled buffer: a raw
// chunk's bytes alias one, a compressed chunk's do not (its buffer went
// back at once).
func TestLoadChunkBuffers(t *testing.T) {
	const cs = 128 << 10
	env := NewTestEnv(t, cs)
	f := env.FS
	data := make([]byte, 2*cs)
	rand.NewChaCha8([32]byte{9}).Read(data[:cs]) // chunk 0 incompressible, chunk 1 zeros... almost
	for i := cs; i < 2*cs; i++ {
		data[i] = byte(i % 7)
	}
	a := mustWriteFile(t, f, "mixed", data)
	r, err := f.Open(ctx, a.Ref, os.O_RDONLY)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Release()
	for idx, wantBuf := range []bool{true, false} {
		id := r.of.base.ChunkAt(int64(idx))
		got, buf, err := f.loadChunk(ctx, id, r.of.id, chunk.ReadCached)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, data[idx*cs:(idx+1)*cs]) {
			t.Fatalf("chunk %d differs", idx)
		}
		if (buf != nil) != wantBuf {
			t.Errorf("chunk %d: pooled buffer %v, want %v", idx, buf != nil, wantBuf)
		}
		buf.release()
	}
}

// TestConcurrentReadsOfPooledChunks reads one multi-chunk file through
// several handles at once, at random offsets that cross chunks, so that
// the open file's cached chunk changes under the readers all the time: a
// buffer given back to the pool while a reader still copied from it would
// show as wrong bytes (and as a race under -race).
func TestConcurrentReadsOfPooledChunks(t *testing.T) {
	const cs, nchunks = 64 << 10, 6
	f := TestFS(t, cs)
	data := make([]byte, nchunks*cs-123)
	rand.NewChaCha8([32]byte{5}).Read(data)
	a := mustWriteFile(t, f, "pooled", data)
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	for g := range 4 {
		wg.Go(func() {
			r, err := f.Open(ctx, a.Ref, os.O_RDONLY)
			if err != nil {
				errs <- err
				return
			}
			defer r.Release()
			rng := rand.New(rand.NewPCG(uint64(g), 1))
			buf := make([]byte, 3*cs)
			for range 300 {
				off := rng.IntN(len(data))
				n := 1 + rng.IntN(len(buf))
				m, err := r.ReadAt(ctx, buf[:n], int64(off))
				if err != nil && !errors.Is(err, io.EOF) {
					errs <- err
					return
				}
				if !bytes.Equal(buf[:m], data[off:off+m]) {
					errs <- errors.New("read returned other bytes than written")
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
}

// TestReadsCachedAbove reads a file of large chunks through a handle
// marked ReadsCachedAbove (as fusefs marks its handles) and through one
// that is not: only the first reads chunk files past the page cache
// (rawfile's O_DIRECT reads, counted where the file system takes them),
// and both read the same bytes.
func TestReadsCachedAbove(t *testing.T) {
	const cs = 2 << 20
	env := NewTestEnv(t, cs)
	f := env.FS
	data := make([]byte, 3*cs)
	rand.NewChaCha8([32]byte{7}).Read(data)
	a := mustWriteFile(t, f, "big", data)
	for _, above := range []bool{false, true} {
		r, err := f.Open(ctx, a.Ref, os.O_RDONLY)
		if err != nil {
			t.Fatal(err)
		}
		if above {
			r.ReadsCachedAbove()
		}
		before := env.Store.DirectReads()
		back := make([]byte, len(data))
		if n, err := r.ReadAt(ctx, back, 0); n != len(data) || (err != nil && !errors.Is(err, io.EOF)) {
			t.Fatalf("read %d, %v", n, err)
		}
		r.Release()
		if !bytes.Equal(back, data) {
			t.Fatalf("cached above %v: read other bytes", above)
		}
		n := env.Store.DirectReads() - before
		if !above && n != 0 {
			t.Errorf("plain handle: %d direct reads, want 0", n)
		}
		if above && n == 0 && onExt4(t, env.Dir) {
			t.Errorf("handle cached above: no direct reads")
		}
	}
}

// onExt4 reports whether dir is on ext4 (which takes O_DIRECT).
func onExt4(t *testing.T, dir string) bool {
	var st unix.Statfs_t
	if err := unix.Statfs(dir, &st); err != nil {
		t.Fatal(err)
	}
	return st.Type == unix.EXT4_SUPER_MAGIC
}

// mustWriteFile creates name in the root holding data, closed.
func mustWriteFile(t *testing.T, f *FS, name string, data []byte) Attr {
	t.Helper()
	a, h := mustCreate(t, f, crdt.RootID, name)
	if _, err := h.WriteAt(ctx, data, 0); err != nil {
		t.Fatal(err)
	}
	if err := h.Release(); err != nil {
		t.Fatal(err)
	}
	return a
}

// TestOversizedChunkFile grows a stored chunk file past any chunk's size
// (damage: the store refuses to read it into memory, chunk.ErrCorrupt)
// and checks that every path treats it as a corrupt copy, as it treats a
// copy whose bytes do not hash to its id: a read fails cleanly, the
// integrity check lists it as corrupt, and the keeper drops it.
func TestOversizedChunkFile(t *testing.T) {
	const cs = 128 << 10
	env := NewTestEnv(t, cs)
	f := env.FS
	data := make([]byte, cs)
	rand.NewChaCha8([32]byte{8}).Read(data)
	a := mustWriteFile(t, f, "grown", data)
	r, err := f.Open(ctx, a.Ref, os.O_RDONLY)
	if err != nil {
		t.Fatal(err)
	}
	id := chunk.ID(r.of.base.ChunkAt(0))
	r.Release()
	if err := os.Truncate(env.Store.Path(id), chunk.MaxChunkSize+1<<20); err != nil {
		t.Fatal(err)
	}
	if got := readAllErr(f, a.Ref); !errors.Is(got, chunk.ErrCorrupt) {
		t.Fatalf("read of a file whose chunk file grew: %v, want ErrCorrupt", got)
	}
	rep, err := f.CheckIntegrity(ctx)
	if err != nil {
		t.Fatalf("integrity check stopped at the damaged file: %v", err)
	}
	if len(rep.Corrupt) != 1 || rep.Corrupt[0] != id {
		t.Fatalf("integrity check: corrupt %v, want [%s]", rep.Corrupt, id)
	}
	dropped, err := f.chunks.DropCorrupt(ctx, id)
	if err != nil || !dropped {
		t.Fatalf("DropCorrupt: %v, %v; want the damaged copy gone", dropped, err)
	}
}

// readAllErr reads all of ref and returns the read's error (nil at EOF).
func readAllErr(f *FS, ref crdt.Ref) error {
	h, err := f.Open(ctx, ref, os.O_RDONLY)
	if err != nil {
		return err
	}
	defer h.Release()
	buf := make([]byte, h.Size())
	if _, err := h.ReadAt(ctx, buf, 0); err != nil && !errors.Is(err, io.EOF) {
		return err
	}
	return nil
}
