package replica

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"testing"

	"pgregory.net/rapid"

	"github.com/clusterf/clusterf/chunk"
	"github.com/clusterf/clusterf/crdt"
)

var ctx = context.Background()

func mustCreate(t testing.TB, f *FS, dir crdt.InodeID, name string) (Attr, *Handle) {
	t.Helper()
	a, h, err := f.Create(ctx, dir, name, 0o644, Owner{}, os.O_RDWR)
	if err != nil {
		t.Fatalf("create %s: %v", name, err)
	}
	return a, h
}

func readAll(t testing.TB, f *FS, ref crdt.Ref) []byte {
	t.Helper()
	h, err := f.Open(ctx, ref, os.O_RDONLY)
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	defer h.Release()
	buf := make([]byte, h.Size()+10)
	n, err := h.ReadAt(ctx, buf, 0)
	if err != nil && !errors.Is(err, io.EOF) {
		t.Fatalf("read: %v", err)
	}
	return buf[:n]
}

// TestContentModel checks writes, truncates, flushes and reopens against a
// byte-slice model, with a small chunk size so chunk boundaries, holes and
// the inline/chunked switch are all crossed.
func TestContentModel(t *testing.T) {
	base := t.TempDir()
	iter := 0
	rapid.Check(t, func(rt *rapid.T) {
		iter++
		f, closeFS, err := OpenTestFS(filepath.Join(base, strconv.Itoa(iter)), 4096)
		if err != nil {
			rt.Fatal(err)
		}
		defer closeFS()
		a, h := mustCreate(t, f, crdt.RootID, "f")
		var model []byte
		for i, n := 0, rapid.IntRange(1, 30).Draw(rt, "steps"); i < n; i++ {
			switch rapid.IntRange(0, 5).Draw(rt, "op") {
			case 0, 1: // write
				off := rapid.Int64Range(0, 20000).Draw(rt, "off")
				size := rapid.IntRange(1, 9000).Draw(rt, "size")
				fill := byte(rapid.IntRange(0, 3).Draw(rt, "fill")) // 0: zeros (holes)
				p := bytes.Repeat([]byte{fill}, size)
				if _, err := h.WriteAt(ctx, p, off); err != nil {
					rt.Fatalf("write: %v", err)
				}
				if end := off + int64(size); end > int64(len(model)) {
					model = append(model, make([]byte, end-int64(len(model)))...)
				}
				copy(model[off:], p)
			case 2: // truncate
				size := rapid.Int64Range(0, 20000).Draw(rt, "trunc")
				if err := h.Truncate(size); err != nil {
					rt.Fatalf("truncate: %v", err)
				}
				if size < int64(len(model)) {
					model = model[:size]
				} else {
					model = append(model, make([]byte, size-int64(len(model)))...)
				}
			case 3: // flush
				if err := h.Flush(ctx); err != nil {
					rt.Fatalf("flush: %v", err)
				}
			case 4: // close and reopen
				if err := h.Release(); err != nil {
					rt.Fatalf("release: %v", err)
				}
				if h, err = f.Open(ctx, a.Ref, os.O_RDWR); err != nil {
					rt.Fatalf("reopen: %v", err)
				}
			case 5: // read back while staged: chunks the pipeline stored already, staged ones, base ones
				got := make([]byte, len(model)+10)
				n, err := h.ReadAt(ctx, got, 0)
				if err != nil && !errors.Is(err, io.EOF) {
					rt.Fatalf("read: %v", err)
				}
				if !bytes.Equal(got[:n], model) {
					rt.Fatalf("staged content differs from model (len %d vs %d)", n, len(model))
				}
			}
			if got := h.Size(); got != int64(len(model)) {
				rt.Fatalf("size %d, model %d", got, len(model))
			}
		}
		if err := h.Release(); err != nil {
			rt.Fatalf("release: %v", err)
		}
		if got := readAll(t, f, a.Ref); !bytes.Equal(got, model) {
			i := 0
			for i < len(got) && i < len(model) && got[i] == model[i] {
				i++
			}
			rt.Fatalf("content differs from model at byte %d (len %d vs %d)", i, len(got), len(model))
		}
		st, _ := f.GetAttr(ctx, a.Ref)
		if st.Size != int64(len(model)) {
			rt.Fatalf("committed size %d, model %d", st.Size, len(model))
		}
	})
}

func TestSparseFileStoresNoZeroChunks(t *testing.T) {
	f := TestFS(t, 4096)
	a, h := mustCreate(t, f, crdt.RootID, "sparse")
	if _, err := h.WriteAt(ctx, []byte("end"), 1<<20); err != nil {
		t.Fatal(err)
	}
	if err := h.Release(); err != nil {
		t.Fatal(err)
	}
	u, err := f.Chunks().Usage(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if u.Chunks != 1 {
		t.Fatalf("stored %d chunks for a 1 MiB sparse file with 3 bytes, want 1", u.Chunks)
	}
	st, _ := f.GetAttr(ctx, a.Ref)
	if st.Size != 1<<20+3 || st.Blocks > 16 {
		t.Fatalf("size %d blocks %d", st.Size, st.Blocks)
	}
}

func TestAppendHandle(t *testing.T) {
	f := TestFS(t, 4096)
	a, h := mustCreate(t, f, crdt.RootID, "log")
	h.WriteAt(ctx, []byte("one\n"), 0)
	h.Release()
	h2, err := f.Open(ctx, a.Ref, os.O_WRONLY|os.O_APPEND)
	if err != nil {
		t.Fatal(err)
	}
	h2.WriteAt(ctx, []byte("two\n"), 0) // offset ignored with O_APPEND
	h2.Release()
	if got := string(readAll(t, f, a.Ref)); got != "one\ntwo\n" {
		t.Fatalf("got %q", got)
	}
}

func TestOpenTruncAndUnlinkedOpenFile(t *testing.T) {
	f := TestFS(t, 4096)
	a, h := mustCreate(t, f, crdt.RootID, "x")
	h.WriteAt(ctx, bytes.Repeat([]byte("a"), 10000), 0)
	if err := h.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if err := f.Unlink(ctx, crdt.RootID, "x"); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 5)
	if _, err := h.ReadAt(ctx, buf, 9995); err != nil || string(buf) != "aaaaa" {
		t.Fatalf("read unlinked: %q %v", buf, err)
	}
	st, err := f.GetAttr(ctx, a.Ref)
	if err != nil || st.Nlink != 0 {
		t.Fatalf("unlinked attr nlink=%d err=%v", st.Nlink, err)
	}
	h.Release()

	b, h2 := mustCreate(t, f, crdt.RootID, "y")
	h2.WriteAt(ctx, []byte("hello"), 0)
	h2.Release()
	h3, err := f.Open(ctx, b.Ref, os.O_WRONLY|os.O_TRUNC)
	if err != nil {
		t.Fatal(err)
	}
	h3.Release()
	if got := readAll(t, f, b.Ref); len(got) != 0 {
		t.Fatalf("O_TRUNC left %q", got)
	}
}

func TestCorruptChunkIsAnError(t *testing.T) {
	env := NewTestEnv(t, 4096)
	f := env.FS
	a, h := mustCreate(t, f, crdt.RootID, "c")
	data := bytes.Repeat([]byte("0123456789"), 1000)
	h.WriteAt(ctx, data, 0)
	h.Release()
	// Flip a byte of every stored chunk.
	var ids []chunk.ID
	f.Chunks().List(ctx, func(id chunk.ID) error { ids = append(ids, id); return nil })
	if len(ids) == 0 {
		t.Fatal("no chunks stored")
	}
	for _, id := range ids {
		env.CorruptChunk(t, id)
	}
	h2, err := f.Open(ctx, a.Ref, os.O_RDONLY)
	if err != nil {
		t.Fatal(err)
	}
	defer h2.Release()
	buf := make([]byte, 100)
	n, err := h2.ReadAt(ctx, buf, 0)
	if !errors.Is(err, chunk.ErrCorrupt) || n != 0 {
		t.Fatalf("read of corrupt chunk: n=%d err=%v, want ErrCorrupt", n, err)
	}
}

func TestNamespaceErrors(t *testing.T) {
	f := TestFS(t, 0)
	d, err := f.Mkdir(ctx, crdt.RootID, "d", 0o755, Owner{})
	if err != nil {
		t.Fatal(err)
	}
	_, h := mustCreate(t, f, d.Ref.Inode, "file")
	h.Release()
	long := string(bytes.Repeat([]byte("n"), 256))
	cases := []struct {
		name string
		err  error
		want error
	}{
		{"mkdir existing", func() error { _, err := f.Mkdir(ctx, crdt.RootID, "d", 0o755, Owner{}); return err }(), crdt.ErrExist},
		{"rmdir non-empty", f.Rmdir(ctx, crdt.RootID, "d"), crdt.ErrNotEmpty},
		{"unlink dir", f.Unlink(ctx, crdt.RootID, "d"), crdt.ErrIsDir},
		{"rmdir file", f.Rmdir(ctx, d.Ref.Inode, "file"), crdt.ErrNotDir},
		{"lookup missing", func() error { _, err := f.Lookup(ctx, crdt.RootID, "nope"); return err }(), crdt.ErrNotFound},
		{"name too long", func() error { _, err := f.Mkdir(ctx, crdt.RootID, long, 0o755, Owner{}); return err }(), crdt.ErrNameTooLong},
		{"rename into own subtree", f.Rename(ctx, crdt.RootID, "d", d.Ref.Inode, "sub", 0), crdt.ErrInvalid},
		{"readlink of dir", func() error { _, err := f.Readlink(ctx, d.Ref.Inode); return err }(), ErrNotSymlink},
		{"remove missing xattr", f.RemoveXattr(ctx, d.Ref.Inode, "user.x"), crdt.ErrNoAttr},
	}
	for _, c := range cases {
		if !errors.Is(c.err, c.want) {
			t.Errorf("%s: got %v, want %v", c.name, c.err, c.want)
		}
	}
}

func TestLinkRenameSymlinkXattr(t *testing.T) {
	f := TestFS(t, 0)
	a, h := mustCreate(t, f, crdt.RootID, "a")
	h.WriteAt(ctx, []byte("data"), 0)
	h.Release()
	if _, err := f.Link(ctx, a.Ref.Inode, crdt.RootID, "b"); err != nil {
		t.Fatal(err)
	}
	st, _ := f.GetAttr(ctx, a.Ref)
	if st.Nlink != 2 {
		t.Fatalf("nlink %d, want 2", st.Nlink)
	}
	if err := f.Rename(ctx, crdt.RootID, "b", crdt.RootID, "c", 0); err != nil {
		t.Fatal(err)
	}
	got, err := f.Lookup(ctx, crdt.RootID, "c")
	if err != nil || got.Ref.Inode != a.Ref.Inode {
		t.Fatalf("lookup c: %v %v", got, err)
	}
	s, err := f.Symlink(ctx, crdt.RootID, "l", "a", Owner{})
	if err != nil {
		t.Fatal(err)
	}
	if tgt, err := f.Readlink(ctx, s.Ref.Inode); err != nil || tgt != "a" {
		t.Fatalf("readlink %q %v", tgt, err)
	}
	if err := f.SetXattr(ctx, a.Ref.Inode, "user.k", []byte("v"), XattrCreate); err != nil {
		t.Fatal(err)
	}
	if err := f.SetXattr(ctx, a.Ref.Inode, "user.k", []byte("v"), XattrCreate); !errors.Is(err, crdt.ErrExist) {
		t.Fatalf("XattrCreate twice: %v", err)
	}
	if v, err := f.GetXattr(ctx, a.Ref.Inode, "user.k"); err != nil || string(v) != "v" {
		t.Fatalf("getxattr %q %v", v, err)
	}
	ents, err := f.ReadDir(ctx, crdt.RootID)
	if err != nil || len(ents) != 3 {
		t.Fatalf("readdir: %v %v", ents, err)
	}
}

func TestRemoveStaleUploads(t *testing.T) {
	f := TestFS(t, 0)
	d, err := f.Mkdir(ctx, crdt.RootID, "d", 0o755, Owner{})
	if err != nil {
		t.Fatal(err)
	}
	_, h := mustCreate(t, f, d.Ref.Inode, UploadPrefix+"abc")
	h.Release()
	_, h = mustCreate(t, f, d.Ref.Inode, "keep.txt")
	h.Release()
	n, err := f.RemoveStaleUploads(ctx)
	if err != nil || n != 1 {
		t.Fatalf("removed %d, err %v; want 1", n, err)
	}
	ents, _ := f.ReadDir(ctx, d.Ref.Inode)
	if len(ents) != 1 || ents[0].Name != "keep.txt" {
		t.Fatalf("left %v", ents)
	}
}

// A small file's commit allocates about its own size, not a whole chunk:
// each close of a 16 KiB file once made (and zeroed) a 4 MiB buffer, half
// the node's CPU in a cp -a of source trees.
func TestSmallCommitAllocatesLittle(t *testing.T) {
	f := TestFS(t, 4<<20)
	data := bytes.Repeat([]byte("small file, not inline; "), 700) // ~16 KiB
	commit := func(name string) {
		_, h := mustCreate(t, f, crdt.RootID, name)
		if _, err := h.WriteAt(ctx, data, 0); err != nil {
			t.Fatal(err)
		}
		if err := h.Release(); err != nil {
			t.Fatal(err)
		}
	}
	commit("warm-up") // pools, encoders, staging dir
	var before, after runtime.MemStats
	const files = 8
	runtime.ReadMemStats(&before)
	for i := range files {
		commit(fmt.Sprintf("f%d", i))
	}
	runtime.ReadMemStats(&after)
	if per := (after.TotalAlloc - before.TotalAlloc) / files; per > 1<<20 {
		t.Fatalf("committing a %d-byte file allocated %d bytes, want well under a 4 MiB chunk", len(data), per)
	}
}
