package rawfile

import (
	"bytes"
	"context"
	"math/rand/v2"
	"path/filepath"
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/clusterf/clusterf/chunk"
)

// directCapable reports whether dir is on a file system known to take
// O_DIRECT (where the test insists on the direct path being used).
func directCapable(t *testing.T, dir string) bool {
	var st unix.Statfs_t
	if err := unix.Statfs(dir, &st); err != nil {
		t.Fatal(err)
	}
	switch st.Type {
	case unix.EXT4_SUPER_MAGIC, unix.XFS_SUPER_MAGIC, unix.BTRFS_SUPER_MAGIC:
		return true
	}
	return false
}

// TestDirectWrites stores blobs around the direct-write size and alignment
// boundaries, from aligned and unaligned memory, with Put and PutLazy, and
// reads every one back byte for byte, after a reopen too. Blobs of
// directMin bytes or more must have gone the direct way (counted) on a
// file system that takes O_DIRECT; smaller ones never.
func TestDirectWrites(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "chunks")
	s, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	rng := rand.New(rand.NewPCG(1, 2))
	backing := make([]byte, 5<<20)
	for i := range backing {
		backing[i] = byte(rng.Uint32())
	}
	cases := []struct {
		name   string
		off, n int
		direct bool
	}{
		{"small", 0, 4096, false},
		{"just under", 0, directMin - 1, false},
		{"directMin", 0, directMin, true},
		{"one more", 0, directMin + 1, true},
		{"4 MiB and a tail", 0, 4<<20 + 17, true},
		{"unaligned memory", 1, 4<<20 + 4095, true},
		{"unaligned, whole blocks", 3, 2 << 20, true},
	}
	want := map[chunk.ID][]byte{}
	for i, tc := range cases {
		blob := backing[tc.off : tc.off+tc.n]
		blob[len(blob)/2] = byte(i) // distinct ids
		if tc.off != 0 && uintptr(unsafe.Pointer(&blob[0]))%directAlign == 0 {
			t.Fatalf("%s: the test meant unaligned memory", tc.name)
		}
		id := chunk.Sum(blob)
		before := s.DirectWrites()
		put := s.Put
		if i%2 == 1 {
			put = s.PutLazy
		}
		if err := put(ctx, id, blob); err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		got := s.DirectWrites() - before
		if tc.direct && directCapable(t, dir) && got != 1 {
			t.Errorf("%s: %d direct writes, want 1", tc.name, got)
		}
		if !tc.direct && got != 0 {
			t.Errorf("%s: %d direct writes, want 0", tc.name, got)
		}
		want[id] = bytes.Clone(blob)
	}
	if err := s.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	check := func(s *Store, when string) {
		for id, b := range want {
			got, err := s.Get(ctx, id)
			if err != nil || !bytes.Equal(got, b) {
				t.Fatalf("%s: chunk of %d bytes: %d bytes back, err %v", when, len(b), len(got), err)
			}
		}
		u, err := s.Usage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		var total int64
		for _, b := range want {
			total += int64(len(b))
		}
		if u.Chunks != int64(len(want)) || u.Bytes != total {
			t.Fatalf("%s: usage %+v, want %d chunks, %d bytes", when, u, len(want), total)
		}
	}
	check(s, "written")
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s, err = Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	check(s, "reopened")
}

// TestBufferedFallback checks that a store whose file system refused
// O_DIRECT writes large blobs through the page cache, whole.
func TestBufferedFallback(t *testing.T) {
	s, err := Open(filepath.Join(t.TempDir(), "chunks"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	s.noDirect.Store(true)
	blob := bytes.Repeat([]byte("frog"), directMin)
	id := chunk.Sum(blob)
	if err := s.Put(context.Background(), id, blob); err != nil {
		t.Fatal(err)
	}
	got, err := s.Get(context.Background(), id)
	if err != nil || !bytes.Equal(got, blob) || s.DirectWrites() != 0 {
		t.Fatalf("got %d bytes, err %v, %d direct writes", len(got), err, s.DirectWrites())
	}
}

func TestAligned(t *testing.T) {
	for _, n := range []int{1, directAlign, 3*directAlign + 5, 4 << 20} {
		b := aligned(nil, n)
		if len(b) != n || uintptr(unsafe.Pointer(&b[0]))%directAlign != 0 {
			t.Fatalf("aligned(nil, %d): len %d at %p", n, len(b), &b[0])
		}
		if again := aligned(b, n/2+1); &again[0] != &b[0] {
			t.Fatalf("aligned did not reuse a large enough aligned slice")
		}
	}
}

// TestDirectReads reads blobs around the direct-read boundaries with
// chunk.ReadUncached into aligned memory with room for the last block,
// right after PutLazy (their tails still dirty in the page cache), and
// checks every byte and which reads went the direct way (counted, on a
// file system that takes O_DIRECT): a blob of directMin bytes or more
// that does not end on a block boundary. Unaligned memory, memory
// without room and chunk.ReadCached read through the page cache.
func TestDirectReads(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "chunks")
	s, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	rng := rand.New(rand.NewPCG(3, 4))
	roomy := func(n int) []byte { return aligned(nil, n+directAlign)[:n] }
	tight := func(n int) []byte { return aligned(nil, n) }
	unaligned := func(n int) []byte { return aligned(nil, n+directAlign+1)[1 : n+1] }
	cases := []struct {
		name   string
		n      int
		hint   chunk.ReadHint
		alloc  func(int) []byte
		direct bool
	}{
		{"small", 4096 + 3, chunk.ReadUncached, roomy, false},
		{"just under", directMin - 1, chunk.ReadUncached, roomy, false},
		{"directMin and one", directMin + 1, chunk.ReadUncached, roomy, true},
		{"4 MiB and a header", 4<<20 + 1, chunk.ReadUncached, roomy, true},
		{"sealed 4 MiB", 4<<20 + 42, chunk.ReadUncached, roomy, true},
		{"whole blocks", 2 << 20, chunk.ReadUncached, roomy, false},
		{"no room", 4<<20 + 1, chunk.ReadUncached, tight, false},
		{"unaligned memory", 4<<20 + 1, chunk.ReadUncached, unaligned, false},
		{"cached", 4<<20 + 1, chunk.ReadCached, roomy, false},
	}
	for i, tc := range cases {
		blob := make([]byte, tc.n)
		for j := range blob {
			blob[j] = byte(rng.Uint32())
		}
		blob[0] = byte(i)
		id := chunk.Sum(blob)
		if err := s.PutLazy(ctx, id, blob); err != nil {
			t.Fatal(err)
		}
		before := s.DirectReads()
		got, err := s.GetBuffer(ctx, id, tc.hint, tc.alloc)
		if err != nil || !bytes.Equal(got, blob) {
			t.Fatalf("%s: %d bytes back of %d, err %v", tc.name, len(got), len(blob), err)
		}
		n := s.DirectReads() - before
		if tc.direct && directCapable(t, dir) && n != 1 {
			t.Errorf("%s: %d direct reads, want 1", tc.name, n)
		}
		if !tc.direct && n != 0 {
			t.Errorf("%s: %d direct reads, want 0", tc.name, n)
		}
	}
}
