package chunktest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"

	"github.com/clusterf/clusterf/chunk"
)

// OpenFunc opens (creating if needed) the store kept in dir. It is called
// again with the same dir, after the previous store was closed, to check that
// data persists. It should fail t on error.
type OpenFunc func(t *testing.T, dir string) chunk.Store

// CorruptFunc damages the stored copy of id in the closed store kept in dir
// (for example by flipping a byte of the file that holds it), so that the
// next Get returns different bytes (or an error).
type CorruptFunc func(t *testing.T, dir string, id chunk.ID)

// Option configures Suite.
type Option func(*config)

type config struct {
	corrupt CorruptFunc
}

// WithCorrupt adds an engine-specific corruption test: data corrupted on
// disk must be caught by Get or Decode, never returned as good.
func WithCorrupt(fn CorruptFunc) Option {
	return func(c *config) { c.corrupt = fn }
}

// Suite runs the conformance tests for a chunk.Store engine. Every subtest
// uses a fresh directory from t.TempDir.
func Suite(t *testing.T, open OpenFunc, opts ...Option) {
	var c config
	for _, o := range opts {
		o(&c)
	}
	h := &harness{open: open, cfg: c}
	t.Run("PutGet", h.testPutGet)
	t.Run("NotFound", h.testNotFound)
	t.Run("IdempotentPut", h.testIdempotentPut)
	t.Run("Delete", h.testDelete)
	t.Run("List", h.testList)
	t.Run("ListCallsStore", h.testListCallsStore)
	t.Run("EmptyBlob", h.testEmptyBlob)
	t.Run("Concurrent", h.testConcurrent)
	t.Run("Reopen", h.testReopen)
	t.Run("Large", h.testLarge)
	t.Run("CorruptBlob", h.testCorruptBlob)
	if c.corrupt != nil {
		t.Run("CorruptOnDisk", h.testCorruptOnDisk)
	}
	t.Run("Context", h.testContext)
	t.Run("Closed", h.testClosed)
}

type harness struct {
	open OpenFunc
	cfg  config
}

// openStore opens dir and closes the store when the test ends.
func (h *harness) openStore(t *testing.T, dir string) chunk.Store {
	t.Helper()
	s := h.open(t, dir)
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return s
}

// Chunk is a test chunk: plain data, its id and its encoded blob.
type Chunk struct {
	ID    chunk.ID
	Plain []byte
	Blob  []byte
}

// RandomChunk returns a chunk of n pseudo-random (incompressible) bytes
// drawn from seed.
func RandomChunk(seed uint64, n int) Chunk {
	r := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	p := make([]byte, n)
	for i := 0; i+8 <= n; i += 8 {
		v := r.Uint64()
		for j := range 8 {
			p[i+j] = byte(v >> (8 * j))
		}
	}
	for i := n &^ 7; i < n; i++ {
		p[i] = byte(r.Uint32())
	}
	return NewChunk(p)
}

// TextChunk returns a compressible chunk of about n bytes.
func TextChunk(seed uint64, n int) Chunk {
	var b bytes.Buffer
	for i := 0; b.Len() < n; i++ {
		fmt.Fprintf(&b, "line %d of chunk %d: the quick brown fox\n", i, seed)
	}
	return NewChunk(b.Bytes()[:n])
}

// NewChunk encodes plain.
func NewChunk(plain []byte) Chunk {
	return Chunk{ID: chunk.Sum(plain), Plain: plain, Blob: chunk.Encode(plain)}
}

func mustPut(t *testing.T, s chunk.Store, c Chunk) {
	t.Helper()
	if err := s.Put(context.Background(), c.ID, c.Blob); err != nil {
		t.Fatalf("Put %s: %v", c.ID, err)
	}
}

// mustRead checks that s holds c and that it decodes.
func mustRead(t *testing.T, s chunk.Store, c Chunk) {
	t.Helper()
	ctx := context.Background()
	blob, err := s.Get(ctx, c.ID)
	if err != nil {
		t.Fatalf("Get %s: %v", c.ID, err)
	}
	if !bytes.Equal(blob, c.Blob) {
		t.Fatalf("Get %s: blob of %d bytes differs from the %d put", c.ID, len(blob), len(c.Blob))
	}
	plain, err := chunk.Decode(c.ID, blob)
	if err != nil {
		t.Fatalf("Decode %s: %v", c.ID, err)
	}
	if !bytes.Equal(plain, c.Plain) {
		t.Fatalf("Decode %s: plain differs", c.ID)
	}
	ok, err := s.Has(ctx, c.ID)
	if err != nil || !ok {
		t.Fatalf("Has %s = %v, %v; want true, nil", c.ID, ok, err)
	}
}

func wantUsage(t *testing.T, s chunk.Store, cs ...Chunk) {
	t.Helper()
	var want chunk.Usage
	for _, c := range cs {
		want.Chunks++
		want.Bytes += int64(len(c.Blob))
	}
	got, err := s.Usage(context.Background())
	if err != nil {
		t.Fatalf("Usage: %v", err)
	}
	if got != want {
		t.Fatalf("Usage = %+v, want %+v", got, want)
	}
}

func listAll(t *testing.T, s chunk.Store) map[chunk.ID]bool {
	t.Helper()
	got := map[chunk.ID]bool{}
	err := s.List(context.Background(), func(id chunk.ID) error {
		if got[id] {
			t.Errorf("List: %s twice", id)
		}
		got[id] = true
		return nil
	})
	if err != nil {
		t.Fatalf("List: %v", err)
	}
	return got
}

func (h *harness) testPutGet(t *testing.T) {
	s := h.openStore(t, t.TempDir())
	wantUsage(t, s)
	a, b := RandomChunk(1, 1000), TextChunk(2, 10000)
	mustPut(t, s, a)
	mustPut(t, s, b)
	mustRead(t, s, a)
	mustRead(t, s, b)
	wantUsage(t, s, a, b)

	// Get returns a copy the caller owns.
	blob, err := s.Get(context.Background(), a.ID)
	if err != nil {
		t.Fatal(err)
	}
	for i := range blob {
		blob[i] = 0
	}
	mustRead(t, s, a)
}

func (h *harness) testNotFound(t *testing.T) {
	s := h.openStore(t, t.TempDir())
	ctx := context.Background()
	id := RandomChunk(3, 10).ID
	if _, err := s.Get(ctx, id); !errors.Is(err, chunk.ErrNotFound) {
		t.Fatalf("Get absent: err = %v, want ErrNotFound", err)
	}
	if ok, err := s.Has(ctx, id); ok || err != nil {
		t.Fatalf("Has absent = %v, %v; want false, nil", ok, err)
	}
	if err := s.Delete(ctx, id); err != nil {
		t.Fatalf("Delete absent: %v", err)
	}
	if got := listAll(t, s); len(got) != 0 {
		t.Fatalf("List of empty store: %d ids", len(got))
	}
}

func (h *harness) testIdempotentPut(t *testing.T) {
	s := h.openStore(t, t.TempDir())
	a := RandomChunk(4, 5000)
	for range 3 {
		mustPut(t, s, a)
	}
	mustRead(t, s, a)
	wantUsage(t, s, a)
	if got := listAll(t, s); len(got) != 1 || !got[a.ID] {
		t.Fatalf("List = %v, want only %s", got, a.ID)
	}
}

func (h *harness) testDelete(t *testing.T) {
	s := h.openStore(t, t.TempDir())
	ctx := context.Background()
	a, b := RandomChunk(5, 100), RandomChunk(6, 200)
	mustPut(t, s, a)
	mustPut(t, s, b)
	if err := s.Delete(ctx, a.ID); err != nil {
		t.Fatal(err)
	}
	if err := s.Delete(ctx, a.ID); err != nil {
		t.Fatalf("second Delete: %v", err)
	}
	if _, err := s.Get(ctx, a.ID); !errors.Is(err, chunk.ErrNotFound) {
		t.Fatalf("Get deleted: err = %v, want ErrNotFound", err)
	}
	if ok, _ := s.Has(ctx, a.ID); ok {
		t.Fatal("Has deleted = true")
	}
	mustRead(t, s, b)
	wantUsage(t, s, b)
	// Put after Delete stores again.
	mustPut(t, s, a)
	mustRead(t, s, a)
	wantUsage(t, s, a, b)
}

func (h *harness) testList(t *testing.T) {
	s := h.openStore(t, t.TempDir())
	want := map[chunk.ID]bool{}
	var all []Chunk
	for i := range 40 {
		c := RandomChunk(uint64(100+i), 10+i)
		mustPut(t, s, c)
		want[c.ID] = true
		all = append(all, c)
	}
	got := listAll(t, s)
	if len(got) != len(want) {
		t.Fatalf("List: %d ids, want %d", len(got), len(want))
	}
	for id := range want {
		if !got[id] {
			t.Fatalf("List misses %s", id)
		}
	}
	wantUsage(t, s, all...)

	// An error from fn stops List and comes back unchanged.
	stop := errors.New("stop")
	n := 0
	err := s.List(context.Background(), func(chunk.ID) error {
		n++
		if n == 3 {
			return stop
		}
		return nil
	})
	if err != stop {
		t.Fatalf("List with failing fn: err = %v, want %v", err, stop)
	}
	if n != 3 {
		t.Fatalf("List called fn %d times after it failed at 3", n)
	}
}

func (h *harness) testListCallsStore(t *testing.T) {
	s := h.openStore(t, t.TempDir())
	ctx := context.Background()
	for i := range 10 {
		mustPut(t, s, RandomChunk(uint64(200+i), 64))
	}
	// fn may call the store: delete everything while listing.
	err := s.List(ctx, func(id chunk.ID) error {
		if _, err := s.Get(ctx, id); err != nil {
			return err
		}
		return s.Delete(ctx, id)
	})
	if err != nil {
		t.Fatalf("List deleting: %v", err)
	}
	wantUsage(t, s)
	if got := listAll(t, s); len(got) != 0 {
		t.Fatalf("List after deleting all: %d ids", len(got))
	}
}

func (h *harness) testEmptyBlob(t *testing.T) {
	s := h.openStore(t, t.TempDir())
	if err := s.Put(context.Background(), chunk.Sum(nil), nil); err == nil {
		t.Fatal("Put of an empty blob succeeded")
	}
	wantUsage(t, s)
	// The empty chunk itself encodes to a one-byte blob and is storable.
	mustPut(t, s, NewChunk(nil))
	mustRead(t, s, NewChunk(nil))
}

func (h *harness) testConcurrent(t *testing.T) {
	s := h.openStore(t, t.TempDir())
	ctx := context.Background()
	var all []Chunk
	for i := range 24 {
		if i%2 == 0 {
			all = append(all, RandomChunk(uint64(300+i), 1+i*997))
		} else {
			all = append(all, TextChunk(uint64(300+i), 1+i*997))
		}
	}
	const workers = 6
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for w := range workers {
		wg.Go(func() {
			r := rand.New(rand.NewPCG(uint64(w), 7))
			for _, i := range r.Perm(len(all)) {
				c := all[i]
				if err := s.Put(ctx, c.ID, c.Blob); err != nil {
					errs <- fmt.Errorf("put %s: %w", c.ID, err)
					return
				}
				blob, err := s.Get(ctx, c.ID)
				if err != nil {
					errs <- fmt.Errorf("get %s: %w", c.ID, err)
					return
				}
				if !bytes.Equal(blob, c.Blob) {
					errs <- fmt.Errorf("get %s: wrong blob", c.ID)
					return
				}
				// Reads of ids other goroutines may be writing.
				other := all[r.IntN(len(all))]
				if blob, err := s.Get(ctx, other.ID); err == nil && !bytes.Equal(blob, other.Blob) {
					errs <- fmt.Errorf("get %s while being put: partial blob of %d bytes", other.ID, len(blob))
					return
				} else if err != nil && !errors.Is(err, chunk.ErrNotFound) {
					errs <- fmt.Errorf("get %s: %w", other.ID, err)
					return
				}
				if _, err := s.Usage(ctx); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	for _, c := range all {
		mustRead(t, s, c)
	}
	wantUsage(t, s, all...)
}

func (h *harness) testReopen(t *testing.T) {
	dir := t.TempDir()
	a, b, c := RandomChunk(400, 3000), TextChunk(401, 30000), RandomChunk(402, 1)
	s := h.openStore(t, dir)
	mustPut(t, s, a)
	mustPut(t, s, b)
	mustPut(t, s, c)
	if err := s.Delete(context.Background(), c.ID); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}

	s = h.openStore(t, dir)
	mustRead(t, s, a)
	mustRead(t, s, b)
	if ok, _ := s.Has(context.Background(), c.ID); ok {
		t.Fatal("deleted chunk back after reopen")
	}
	wantUsage(t, s, a, b)
	if got := listAll(t, s); len(got) != 2 || !got[a.ID] || !got[b.ID] {
		t.Fatalf("List after reopen = %v", got)
	}
}

func (h *harness) testLarge(t *testing.T) {
	dir := t.TempDir()
	s := h.openStore(t, dir)
	a, b := RandomChunk(500, 4<<20), TextChunk(501, 4<<20)
	if len(b.Blob) >= len(b.Plain) {
		t.Fatalf("compressible 4 MiB chunk encoded to %d bytes", len(b.Blob))
	}
	mustPut(t, s, a)
	mustPut(t, s, b)
	mustRead(t, s, a)
	mustRead(t, s, b)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = h.openStore(t, dir)
	mustRead(t, s, a)
	mustRead(t, s, b)
	wantUsage(t, s, a, b)
}

// testCorruptBlob stores a blob that does not match its id: the store hands
// it back as is (stores do not verify) and Decode catches it.
func (h *harness) testCorruptBlob(t *testing.T) {
	s := h.openStore(t, t.TempDir())
	ctx := context.Background()
	for _, c := range []Chunk{RandomChunk(600, 4096), TextChunk(601, 4096)} {
		bad := bytes.Clone(c.Blob)
		bad[len(bad)/2] ^= 0x01
		if err := s.Put(ctx, c.ID, bad); err != nil {
			t.Fatal(err)
		}
		blob, err := s.Get(ctx, c.ID)
		if err != nil {
			t.Fatal(err)
		}
		plain, err := chunk.Decode(c.ID, blob)
		if !errors.Is(err, chunk.ErrCorrupt) {
			t.Fatalf("Decode of flipped blob: err = %v, want ErrCorrupt", err)
		}
		if plain != nil {
			t.Fatal("Decode returned bytes with an error")
		}
		// Repair: Delete, then Put the good blob.
		if err := s.Delete(ctx, c.ID); err != nil {
			t.Fatal(err)
		}
		mustPut(t, s, c)
		mustRead(t, s, c)
	}
}

func (h *harness) testCorruptOnDisk(t *testing.T) {
	dir := t.TempDir()
	good := RandomChunk(700, 8192)
	a := TextChunk(701, 8192)
	s := h.openStore(t, dir)
	mustPut(t, s, good)
	mustPut(t, s, a)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	h.cfg.corrupt(t, dir, a.ID)

	s = h.openStore(t, dir)
	blob, err := s.Get(context.Background(), a.ID)
	if err == nil {
		if plain, err := chunk.Decode(a.ID, blob); !errors.Is(err, chunk.ErrCorrupt) || plain != nil {
			t.Fatalf("Decode of corrupted chunk = %d bytes, %v; want ErrCorrupt", len(plain), err)
		}
	}
	mustRead(t, s, good)
}

func (h *harness) testContext(t *testing.T) {
	s := h.openStore(t, t.TempDir())
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	a := RandomChunk(800, 100)
	if err := s.Put(ctx, a.ID, a.Blob); !errors.Is(err, context.Canceled) {
		t.Fatalf("Put with cancelled ctx: err = %v, want context.Canceled", err)
	}
	if _, err := s.Get(ctx, a.ID); !errors.Is(err, context.Canceled) {
		t.Fatalf("Get with cancelled ctx: err = %v", err)
	}
	if err := s.List(ctx, func(chunk.ID) error { return nil }); !errors.Is(err, context.Canceled) {
		t.Fatalf("List with cancelled ctx: err = %v", err)
	}
	wantUsage(t, s)
}

func (h *harness) testClosed(t *testing.T) {
	s := h.openStore(t, t.TempDir())
	a := RandomChunk(900, 100)
	mustPut(t, s, a)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	ctx := context.Background()
	if err := s.Put(ctx, a.ID, a.Blob); !errors.Is(err, chunk.ErrClosed) {
		t.Errorf("Put after Close: err = %v, want ErrClosed", err)
	}
	if _, err := s.Get(ctx, a.ID); !errors.Is(err, chunk.ErrClosed) {
		t.Errorf("Get after Close: err = %v, want ErrClosed", err)
	}
	if _, err := s.Has(ctx, a.ID); !errors.Is(err, chunk.ErrClosed) {
		t.Errorf("Has after Close: err = %v, want ErrClosed", err)
	}
	if err := s.Delete(ctx, a.ID); !errors.Is(err, chunk.ErrClosed) {
		t.Errorf("Delete after Close: err = %v, want ErrClosed", err)
	}
	if err := s.List(ctx, func(chunk.ID) error { return nil }); !errors.Is(err, chunk.ErrClosed) {
		t.Errorf("List after Close: err = %v, want ErrClosed", err)
	}
	if _, err := s.Usage(ctx); !errors.Is(err, chunk.ErrClosed) {
		t.Errorf("Usage after Close: err = %v, want ErrClosed", err)
	}
}
