package replica

import (
	"bytes"
	"errors"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	"pgregory.net/rapid"

	"github.com/clusterf/clusterf/crdt"
)

const pib = int64(1) << 50

// TestHugeSparseFile: growing a file to 1 PiB and writing in the middle
// costs the chunks written: the commit stores one chunk, the version is
// sparse, the staging file holds one slot, holes read as zeros.
func TestHugeSparseFile(t *testing.T) {
	env := NewTestEnv(t, 0)
	f := env.FS
	a, h := mustCreate(t, f, crdt.RootID, "big")
	if err := h.Truncate(pib); err != nil {
		t.Fatal(err)
	}
	if err := h.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := h.WriteAt(ctx, []byte("x"), pib/2); err != nil {
		t.Fatal(err)
	}
	if st, err := h.of.staging.Stat(); err != nil || st.Size() > int64(f.chunkSize) {
		t.Fatalf("staging file of %d bytes (%v) for one chunk written at 512 TiB", st.Size(), err)
	}
	if err := h.Release(); err != nil {
		t.Fatal(err)
	}
	st, err := f.GetAttr(ctx, a.Ref)
	if err != nil || st.Size != pib || st.Blocks != int64(f.chunkSize)/512 {
		t.Fatalf("size %d blocks %d (%v), want %d and one chunk", st.Size, st.Blocks, err, pib)
	}
	var c crdt.Content
	_ = env.Meta.View(func(v *crdt.View) error { c, err = v.Version(a.Ref); return err })
	if len(c.Sparse) != 1 || c.StoredChunks() != 1 || c.Sparse[0].Index != uint64(pib/2)/uint64(f.chunkSize) {
		t.Fatalf("content %d dense ids, sparse %v", len(c.Chunks), c.Sparse)
	}
	h, err = f.Open(ctx, a.Ref, os.O_RDONLY)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Release()
	for _, off := range []int64{0, pib/2 - 1, pib / 2, pib/2 + 1, pib - 3} {
		buf := make([]byte, 3)
		if _, err := h.ReadAt(ctx, buf, off); err != nil {
			t.Fatalf("read at %d: %v", off, err)
		}
		want := []byte{0, 0, 0}
		if off <= pib/2 && pib/2 < off+3 {
			want[pib/2-off] = 'x'
		}
		if !bytes.Equal(buf, want) {
			t.Fatalf("read at %d: %q, want %q", off, buf, want)
		}
	}
	cs := int64(f.chunkSize)
	seeks := []struct {
		data bool
		off  int64
		want int64
		err  error
	}{
		{true, 0, pib / 2 / cs * cs, nil},
		{false, 0, 0, nil},
		{false, pib / 2, pib/2/cs*cs + cs, nil},
		{true, pib/2 + cs, 0, syscall.ENXIO},
		{false, pib - 1, pib - 1, nil},
		{true, pib, 0, syscall.ENXIO},
		{false, pib, 0, syscall.ENXIO},
	}
	for _, s := range seeks {
		got, err := h.seek(s.off, s.data)
		if (s.err == nil && (err != nil || got != s.want)) || (s.err != nil && !errors.Is(err, s.err)) {
			t.Errorf("seek data=%v from %d: %d %v, want %d %v", s.data, s.off, got, err, s.want, s.err)
		}
	}
}

// TestFileSizeLimits: sizes up to MaxInt64 are fine; beyond is EFBIG;
// more than crdt.MaxChunks stored chunks is EFBIG.
func TestFileSizeLimits(t *testing.T) {
	env := NewTestEnv(t, 4096)
	f := env.FS
	a, h := mustCreate(t, f, crdt.RootID, "f")
	if _, err := h.WriteAt(ctx, []byte("ab"), math.MaxInt64-2); err != nil {
		t.Fatalf("write ending at MaxInt64: %v", err)
	}
	if _, err := h.WriteAt(ctx, []byte("ab"), math.MaxInt64-1); !errors.Is(err, syscall.EFBIG) {
		t.Fatalf("write past MaxInt64: %v, want EFBIG", err)
	}
	if err := h.Release(); err != nil {
		t.Fatal(err)
	}
	h, err := f.Open(ctx, a.Ref, os.O_RDONLY)
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 4)
	if n, _ := h.ReadAt(ctx, buf, math.MaxInt64-4); n != 4 || string(buf) != "\x00\x00ab" {
		t.Fatalf("last bytes %q", buf[:n])
	}
	h.Release()
	// A version that stores MaxChunks chunks: one more chunk is EFBIG.
	full := make([]crdt.SparseChunk, crdt.MaxChunks)
	for i := range full {
		full[i] = crdt.SparseChunk{Index: uint64(2 * i), ID: crdt.ChunkID{1, byte(i), byte(i >> 8), byte(i >> 16)}}
	}
	b, hb := mustCreate(t, f, crdt.RootID, "full")
	hb.Release()
	c := crdt.Content{Size: 2 * crdt.MaxChunks * 4096, ChunkSize: 4096, Sparse: full}
	if _, err := env.Meta.Update(func(tx *crdt.Tx) error {
		_, err := tx.WriteContent(b.Ref.Inode, crdt.OpID{}, c)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	hb, err = f.Open(ctx, b.Ref, os.O_RDWR)
	if err != nil {
		t.Fatal(err)
	}
	defer hb.Release()
	if _, err := hb.WriteAt(ctx, []byte("x"), 4096*1); !errors.Is(err, syscall.EFBIG) {
		t.Fatalf("write of chunk %d beyond the stored limit: %v, want EFBIG", crdt.MaxChunks+1, err)
	}
}

// TestSparseModel: writes and truncates at offsets far apart (up to
// MaxInt64) read back as a sparse byte model says, across commits and
// reopens, and every commit's version is valid.
func TestSparseModel(t *testing.T) {
	base := t.TempDir()
	iter := 0
	regions := []int64{0, 5000, 1 << 40, pib, math.MaxInt64 - 20000}
	rapid.Check(t, func(rt *rapid.T) {
		iter++
		f, closeFS, err := OpenTestFS(filepath.Join(base, strconv.Itoa(iter)), 4096)
		if err != nil {
			rt.Fatal(err)
		}
		defer closeFS()
		a, h := mustCreate(t, f, crdt.RootID, "f")
		model := map[int64]byte{} // non-zero bytes
		var size int64
		at := func(name string) int64 {
			return rapid.SampledFrom(regions).Draw(rt, name) + rapid.Int64Range(0, 12000).Draw(rt, name+"+")
		}
		for i, n := 0, rapid.IntRange(1, 25).Draw(rt, "steps"); i < n; i++ {
			switch rapid.IntRange(0, 4).Draw(rt, "op") {
			case 0, 1:
				off := at("off")
				p := bytes.Repeat([]byte{byte(rapid.IntRange(0, 2).Draw(rt, "fill"))}, rapid.IntRange(1, 6000).Draw(rt, "len"))
				if off > math.MaxInt64-int64(len(p)) {
					continue
				}
				if _, err := h.WriteAt(ctx, p, off); err != nil {
					rt.Fatalf("write at %d: %v", off, err)
				}
				for j, b := range p {
					if b != 0 {
						model[off+int64(j)] = b
					} else {
						delete(model, off+int64(j))
					}
				}
				size = max(size, off+int64(len(p)))
			case 2:
				to := at("trunc")
				if err := h.Truncate(to); err != nil {
					rt.Fatalf("truncate to %d: %v", to, err)
				}
				for o := range model {
					if o >= to {
						delete(model, o)
					}
				}
				size = to
			case 3:
				if err := h.Flush(ctx); err != nil {
					rt.Fatalf("flush: %v", err)
				}
			case 4:
				if err := h.Release(); err != nil {
					rt.Fatalf("release: %v", err)
				}
				if h, err = f.Open(ctx, a.Ref, os.O_RDWR); err != nil {
					rt.Fatal(err)
				}
			}
			if got := h.Size(); got != size {
				rt.Fatalf("size %d, model %d", got, size)
			}
		}
		check := func(off int64) {
			if off < 0 || off >= size {
				return
			}
			buf := make([]byte, 1)
			if _, err := h.ReadAt(ctx, buf, off); err != nil {
				rt.Fatalf("read at %d: %v", off, err)
			}
			if buf[0] != model[off] {
				rt.Fatalf("byte %d = %d, model %d", off, buf[0], model[off])
			}
		}
		if err := h.Flush(ctx); err != nil {
			rt.Fatal(err)
		}
		for o := range model {
			check(o)
			check(o - 1)
			check(o + 1)
		}
		for _, r := range regions {
			check(r)
			check(r + 4095)
			check(r + 4096)
		}
		h.Release()
	})
}

func TestMknodSpecialFiles(t *testing.T) {
	f := TestFS(t, 0)
	kinds := []crdt.Kind{crdt.KindFIFO, crdt.KindSocket, crdt.KindCharDev, crdt.KindBlockDev}
	for i, k := range kinds {
		a, err := f.Mknod(ctx, crdt.RootID, k.String(), k, 0o640, 0x801+uint32(i), Owner{UID: 5, GID: 6})
		if err != nil {
			t.Fatal(err)
		}
		wantRdev := uint32(0)
		if k == crdt.KindCharDev || k == crdt.KindBlockDev {
			wantRdev = 0x801 + uint32(i)
		}
		if a.Kind != k || a.Mode != 0o640 || a.Rdev != wantRdev || a.Size != 0 || a.Blocks != 0 || a.UID != 5 || a.Nlink != 1 {
			t.Errorf("%v: %+v", k, a)
		}
		if _, err := f.Open(ctx, a.Ref, os.O_RDONLY); !errors.Is(err, ErrSpecial) {
			t.Errorf("open %v: %v, want ErrSpecial", k, err)
		}
		size := int64(0)
		if _, err := f.SetAttr(ctx, a.Ref, SetAttrIn{Size: &size}); !errors.Is(err, ErrSpecial) {
			t.Errorf("truncate %v: %v, want ErrSpecial", k, err)
		}
		if _, err := f.Link(ctx, a.Ref.Inode, crdt.RootID, k.String()+"-link"); err != nil {
			t.Errorf("link %v: %v", k, err)
		}
	}
	if _, err := f.Mknod(ctx, crdt.RootID, "d", crdt.KindDir, 0o755, 0, Owner{}); !errors.Is(err, crdt.ErrInvalid) {
		t.Errorf("mknod of a directory: %v", err)
	}
}

// TestSetgidDirectory: a new inode in a set-group-ID directory gets its
// group; a new directory also the bit (as ext4).
func TestSetgidDirectory(t *testing.T) {
	f := TestFS(t, 0)
	d, err := f.Mkdir(ctx, crdt.RootID, "d", 0o2775, Owner{UID: 1, GID: 50})
	if err != nil {
		t.Fatal(err)
	}
	sub, err := f.Mkdir(ctx, d.Ref.Inode, "sub", 0o755, Owner{UID: 2, GID: 60})
	if err != nil || sub.GID != 50 || sub.Mode != 0o2755 {
		t.Fatalf("subdir gid %d mode %o (%v), want 50 and 02755", sub.GID, sub.Mode, err)
	}
	a, h := mustCreateAs(t, f, d.Ref.Inode, "file", 0o644, Owner{UID: 2, GID: 60})
	h.Release()
	if a.GID != 50 || a.Mode != 0o644 {
		t.Fatalf("file gid %d mode %o, want 50 and 0644", a.GID, a.Mode)
	}
	plain, err := f.Mkdir(ctx, crdt.RootID, "plain", 0o755, Owner{UID: 2, GID: 60})
	if err != nil || plain.GID != 60 {
		t.Fatalf("plain dir gid %d (%v), want the caller's", plain.GID, err)
	}
}

func mustCreateAs(t testing.TB, f *FS, dir crdt.InodeID, name string, mode uint32, o Owner) (Attr, *Handle) {
	t.Helper()
	a, h, err := f.Create(ctx, dir, name, mode, o, os.O_RDWR)
	if err != nil {
		t.Fatalf("create %s: %v", name, err)
	}
	return a, h
}

func TestLookupNameTooLong(t *testing.T) {
	f := TestFS(t, 0)
	long := string(bytes.Repeat([]byte("n"), crdt.MaxNameLen+1))
	if _, err := f.Lookup(ctx, crdt.RootID, long); !errors.Is(err, crdt.ErrNameTooLong) {
		t.Fatalf("lookup of a 256-byte name: %v, want ErrNameTooLong", err)
	}
}

// TestCtimeOnEveryChange: every metadata change moves the ctime; a
// committed write leaves mtime == ctime (as ext4).
func TestCtimeOnEveryChange(t *testing.T) {
	env := NewTestEnv(t, 0)
	f := env.FS
	clock := time.Unix(1000, 0)
	f.now = func() time.Time { clock = clock.Add(time.Second); return clock }
	a, h := mustCreate(t, f, crdt.RootID, "a")
	if _, err := h.WriteAt(ctx, []byte("data"), 0); err != nil {
		t.Fatal(err)
	}
	h.Release()
	st, _ := f.GetAttr(ctx, a.Ref)
	if !st.Mtime.Equal(st.Ctime) {
		t.Errorf("after a write mtime %v ctime %v, want equal", st.Mtime, st.Ctime)
	}
	b, hb := mustCreate(t, f, crdt.RootID, "b")
	hb.Release()
	if _, err := f.Link(ctx, b.Ref.Inode, crdt.RootID, "b2"); err != nil {
		t.Fatal(err)
	}
	if err := f.SetXattr(ctx, a.Ref.Inode, "user.k", []byte("v"), 0); err != nil {
		t.Fatal(err)
	}
	steps := []struct {
		name  string
		inode crdt.InodeID
		do    func() error
	}{
		{"removexattr", a.Ref.Inode, func() error { return f.RemoveXattr(ctx, a.Ref.Inode, "user.k") }},
		{"rename over a linked file", b.Ref.Inode, func() error { return f.Rename(ctx, crdt.RootID, "a", crdt.RootID, "b", 0) }},
		{"chown -1 -1", a.Ref.Inode, func() error { _, err := f.SetAttr(ctx, a.Ref, SetAttrIn{Touch: true}); return err }},
	}
	for _, s := range steps {
		before, _ := f.GetAttr(ctx, crdt.Ref{Inode: s.inode})
		if err := s.do(); err != nil {
			t.Fatalf("%s: %v", s.name, err)
		}
		after, _ := f.GetAttr(ctx, crdt.Ref{Inode: s.inode})
		if !after.Ctime.After(before.Ctime) {
			t.Errorf("%s: ctime %v -> %v, want later", s.name, before.Ctime, after.Ctime)
		}
	}
}
