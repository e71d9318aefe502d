package sealed_test

import (
	"bytes"
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"pgregory.net/rapid"

	"github.com/clusterf/clusterf/atrest"
	"github.com/clusterf/clusterf/chunk"
	"github.com/clusterf/clusterf/chunk/chunktest"
	"github.com/clusterf/clusterf/chunk/engines"
	"github.com/clusterf/clusterf/chunk/sealed"
)

var keys = atrest.KeysFromMaster([32]byte{1, 2, 3})

func openSealed(t testing.TB, engine, dir string) *sealed.Store {
	t.Helper()
	inner, err := engines.Open(engine, dir)
	if err != nil {
		t.Fatal(err)
	}
	return sealed.New(inner, keys)
}

// corruptVia flips a byte of the sealed copy through the engine itself, so
// the same damage works for every engine.
func corruptVia(engine string) chunktest.CorruptFunc {
	return func(t *testing.T, dir string, id chunk.ID) {
		inner, err := engines.Open(engine, dir)
		if err != nil {
			t.Fatal(err)
		}
		defer inner.Close()
		ctx := context.Background()
		name := sealed.New(inner, keys).Name(id)
		b, err := inner.Get(ctx, name)
		if err != nil {
			t.Fatal(err)
		}
		b[len(b)/2] ^= 0x40
		if err := inner.Delete(ctx, name); err != nil {
			t.Fatal(err)
		}
		if err := inner.Put(ctx, name, b); err != nil {
			t.Fatal(err)
		}
	}
}

// TestSuite runs the conformance suite for every engine with encryption on
// (the engines' own packages run it with encryption off).
func TestSuite(t *testing.T) {
	for _, engine := range engines.Names() {
		t.Run(engine, func(t *testing.T) {
			chunktest.Suite(t, func(t *testing.T, dir string) chunk.Store { return openSealed(t, engine, dir) },
				chunktest.WithCorrupt(corruptVia(engine)))
		})
	}
}

func TestNamePermutation(t *testing.T) {
	s := sealed.New(nil, keys)
	other := sealed.New(nil, atrest.KeysFromMaster([32]byte{9}))
	rapid.Check(t, func(t *rapid.T) {
		var id chunk.ID
		copy(id[:], rapid.SliceOfN(rapid.Byte(), 32, 32).Draw(t, "id"))
		name := s.Name(id)
		if name == id || name == other.Name(id) {
			t.Fatalf("name %s of %s is not keyed", name, id)
		}
		var id2 chunk.ID
		copy(id2[:], rapid.SliceOfN(rapid.Byte(), 32, 32).Draw(t, "id2"))
		if id2 != id && s.Name(id2) == name {
			t.Fatalf("two ids share the name %s", name)
		}
	})
}

// TestNothingPlainOnDisk: neither the plain id, nor the content, nor the
// blob appear in the files of any engine; List and Usage still speak of
// plain ids and blob sizes.
func TestNothingPlainOnDisk(t *testing.T) {
	for _, engine := range engines.Names() {
		t.Run(engine, func(t *testing.T) {
			dir := t.TempDir()
			s := openSealed(t, engine, dir)
			ctx := context.Background()
			c := chunktest.TextChunk(42, 20000)
			if err := s.Put(ctx, c.ID, c.Blob); err != nil {
				t.Fatal(err)
			}
			raw := chunktest.RandomChunk(43, 5000)
			if err := s.Put(ctx, raw.ID, raw.Blob); err != nil {
				t.Fatal(err)
			}
			var ids []chunk.ID
			if err := s.List(ctx, func(id chunk.ID) error { ids = append(ids, id); return nil }); err != nil {
				t.Fatal(err)
			}
			if len(ids) != 2 || !(ids[0] == c.ID || ids[1] == c.ID) {
				t.Fatalf("List = %v", ids)
			}
			u, _ := s.Usage(ctx)
			if u.Chunks != 2 || u.Bytes != int64(len(c.Blob)+len(raw.Blob)) {
				t.Fatalf("Usage = %+v", u)
			}
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			needles := [][]byte{
				c.ID[:], []byte(c.ID.String()), raw.ID[:], []byte(raw.ID.String()),
				[]byte("the quick brown fox"), raw.Plain[1000:1032],
			}
			filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
				if err != nil {
					t.Fatal(err)
				}
				for _, n := range needles {
					if strings.Contains(p, string(n)) {
						t.Errorf("path %s names a plain id", p)
					}
				}
				if d.IsDir() {
					return nil
				}
				b, err := os.ReadFile(p)
				if err != nil {
					t.Fatal(err)
				}
				for i, n := range needles {
					if bytes.Contains(b, n) {
						t.Errorf("%s holds plain needle %d", p, i)
					}
				}
				return nil
			})
		})
	}
}

// TestSwappedBlobs: the sealed blob of one chunk stored under another's
// name does not open (the id is bound in), and is reported corrupt.
func TestSwappedBlobs(t *testing.T) {
	dir := t.TempDir()
	inner, err := engines.Open("rawfile", dir)
	if err != nil {
		t.Fatal(err)
	}
	s := sealed.New(inner, keys)
	defer s.Close()
	ctx := context.Background()
	a, b := chunktest.RandomChunk(1, 100), chunktest.RandomChunk(2, 100)
	for _, c := range []chunktest.Chunk{a, b} {
		if err := s.Put(ctx, c.ID, c.Blob); err != nil {
			t.Fatal(err)
		}
	}
	ab, _ := inner.Get(ctx, s.Name(a.ID))
	inner.Delete(ctx, s.Name(b.ID))
	inner.Put(ctx, s.Name(b.ID), ab)
	blob, err := s.Get(ctx, b.ID)
	if err != nil {
		t.Fatal(err)
	}
	if plain, err := chunk.Decode(b.ID, blob); !errors.Is(err, chunk.ErrCorrupt) || plain != nil {
		t.Fatalf("swapped blob: Decode = %d bytes, %v", len(plain), err)
	} else if !strings.Contains(err.Error(), "failed authentication") {
		t.Fatalf("error %q does not say why", err)
	}
	// Another key reads nothing either.
	wrong := sealed.New(inner, atrest.KeysFromMaster([32]byte{7}))
	if ok, _ := wrong.Has(ctx, a.ID); ok {
		t.Fatal("a store with another key finds the chunk")
	}
}

// lazyStore records PutLazy and Sync calls of the engine below.
type lazyStore struct {
	chunk.Store
	lazy, syncs int
}

func (l *lazyStore) PutLazy(ctx context.Context, id chunk.ID, blob []byte) error {
	l.lazy++
	return l.Store.Put(ctx, id, blob)
}

func (l *lazyStore) Sync(context.Context) error { l.syncs++; return nil }

// TestLazyPassesThrough: PutLazy and Sync reach the engine below, sealed.
func TestLazyPassesThrough(t *testing.T) {
	ctx := context.Background()
	inner, err := engines.Open("rawfile", t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	l := &lazyStore{Store: inner}
	s := sealed.New(l, keys)
	defer s.Close()
	c := chunktest.RandomChunk(5, 1000)
	if err := s.PutLazy(ctx, c.ID, c.Blob); err != nil {
		t.Fatal(err)
	}
	if err := s.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	if l.lazy != 1 || l.syncs != 1 {
		t.Fatalf("engine saw %d PutLazy, %d Sync", l.lazy, l.syncs)
	}
	blob, err := s.Get(ctx, c.ID)
	if err != nil || !bytes.Equal(blob, c.Blob) {
		t.Fatalf("Get after PutLazy: %v", err)
	}
}

// TestPutLazyInPlace seals a blob where it lies, for every engine, and
// checks that Get gives the blob back, that the engine saw PutLazy, and
// that what lies in the buffer afterwards is no longer the plaintext.
func TestPutLazyInPlace(t *testing.T) {
	ctx := context.Background()
	for _, engine := range engines.Names() {
		t.Run(engine, func(t *testing.T) {
			s := openSealed(t, engine, t.TempDir())
			defer s.Close()
			before, after := s.Room()
			c := chunktest.RandomChunk(7, 1<<20+3)
			buf := make([]byte, before+len(c.Blob), before+len(c.Blob)+after)
			copy(buf[before:], c.Blob)
			if err := s.PutLazyInPlace(ctx, c.ID, buf); err != nil {
				t.Fatal(err)
			}
			if bytes.Contains(buf, c.Blob[1:64]) {
				t.Fatal("the plaintext is still in the buffer: not sealed in place")
			}
			if err := s.Sync(ctx); err != nil {
				t.Fatal(err)
			}
			got, err := s.Get(ctx, c.ID)
			if err != nil || !bytes.Equal(got, c.Blob) {
				t.Fatalf("Get after PutLazyInPlace: %d bytes, %v", len(got), err)
			}
			if err := s.PutLazyInPlace(ctx, c.ID, buf[:before]); err == nil {
				t.Fatal("an empty blob was accepted")
			}
		})
	}
}
