package filesync

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/clusterf/clusterf/replica"
)

func TestImportOnce(t *testing.T) {
	e := newEnv(t)
	e.write("a.txt", "alpha")
	e.write("dir/sub/b.txt", "beta")
	e.write("dir/empty", "")
	e.write("ünïcödé/名前.txt", "unicode")
	e.write("big.bin", strings.Repeat("x", 300<<10))
	e.write("node_modules/junk.js", "junk")
	if err := os.Symlink("a.txt", filepath.Join(e.local, "link")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("/etc/passwd", filepath.Join(e.local, "outside")); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mkfifo(filepath.Join(e.local, "fifo"), 0o644); err != nil {
		t.Fatal(err)
	}
	os.Chmod(filepath.Join(e.local, "dir/sub/b.txt"), 0o600)
	mt := time.Date(2020, 1, 2, 3, 4, 5, 6000, time.UTC)
	os.Chtimes(filepath.Join(e.local, "a.txt"), mt, mt)

	st := e.mustOnce(Import, "/backup", func(c *PairConfig) { c.Excludes = []string{"node_modules"} })
	if st.State != StateDone || st.Skipped != 1 {
		t.Fatalf("status %+v", st)
	}
	got := e.clusterTree("/backup")
	want := localTree(t, e.local)
	delete(want, "node_modules")
	delete(want, "node_modules/junk.js")
	if d := diffTrees(want, got); d != "" {
		t.Fatalf("cluster differs: %s", d)
	}
	a, _ := e.fs.Walk(context.Background(), "/backup/a.txt")
	if !a.Mtime.Equal(mt) {
		t.Errorf("mtime %v, want %v", a.Mtime, mt)
	}
	b, _ := e.fs.Walk(context.Background(), "/backup/dir/sub/b.txt")
	if b.Mode != 0o600 {
		t.Errorf("mode %o", b.Mode)
	}

	// A second pass copies nothing.
	st = e.mustOnce(Import, "/backup", func(c *PairConfig) { c.Excludes = []string{"node_modules"} })
	if st.BytesDone != 0 || st.FilesDone != 0 {
		t.Fatalf("second pass copied: %+v", st)
	}
}

func TestExportOnce(t *testing.T) {
	e := newEnv(t)
	e.put("/photos/x/one.jpg", "one")
	e.put("/photos/two.jpg", strings.Repeat("2", 200<<10))
	ctx := context.Background()
	d, _ := e.fs.Walk(ctx, "/photos/x")
	if _, err := e.fs.Symlink(ctx, d.Ref.Inode, "l", "../two.jpg", replica.Owner{}); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "mirror")
	e.local = out
	st := e.mustOnce(Export, "/photos")
	if st.State != StateDone {
		t.Fatalf("%+v", st)
	}
	if d := diffTrees(e.clusterTree("/photos"), localTree(t, out)); d != "" {
		t.Fatal(d)
	}
	a, _ := e.fs.Walk(ctx, "/photos/two.jpg")
	if got := lstat(t, filepath.Join(out, "two.jpg")); got.Mtim.Nano() != a.Mtime.UnixNano() || got.Mode&0o777 != a.Mode {
		t.Errorf("mtime/mode not kept: %v %o vs %v %o", got.Mtim, got.Mode, a.Mtime, a.Mode)
	}
	if st := e.mustOnce(Export, "/photos"); st.BytesDone != 0 {
		t.Fatalf("second export copied %d bytes", st.BytesDone)
	}
}

// TestAttributeChangesCopyNothing: a touch (new mtime, same bytes) and a
// chmod reach the other side as attribute changes, both ways, with no
// byte copied (the content is hashed against the base's hash).
func TestAttributeChangesCopyNothing(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	e.write("a.txt", "alpha")
	e.write("b.txt", "beta")
	e.mustOnce(Both, "/attr")
	mt := time.Date(2021, 5, 6, 7, 8, 9, 10000, time.UTC)
	os.Chtimes(filepath.Join(e.local, "a.txt"), mt, mt)
	os.Chmod(filepath.Join(e.local, "b.txt"), 0o640)
	if st := e.mustOnce(Both, "/attr"); st.BytesDone != 0 || st.FilesDone != 0 || st.Conflicts != 0 {
		t.Fatalf("local touch and chmod: %+v", st)
	}
	a, _ := e.fs.Walk(ctx, "/attr/a.txt")
	b, _ := e.fs.Walk(ctx, "/attr/b.txt")
	if !a.Mtime.Equal(mt) || b.Mode != 0o640 {
		t.Fatalf("cluster: a.txt mtime %v, b.txt mode %o", a.Mtime, b.Mode)
	}
	// The other way: the cluster's touch and chmod.
	mt2, m := mt.Add(time.Hour), uint32(0o600)
	if _, err := e.fs.SetAttr(ctx, a.Ref, replica.SetAttrIn{Mtime: &mt2}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.fs.SetAttr(ctx, b.Ref, replica.SetAttrIn{Mode: &m}); err != nil {
		t.Fatal(err)
	}
	if st := e.mustOnce(Both, "/attr"); st.BytesDone != 0 || st.FilesDone != 0 || st.Conflicts != 0 {
		t.Fatalf("cluster touch and chmod: %+v", st)
	}
	if la, lb := lstat(t, filepath.Join(e.local, "a.txt")), lstat(t, filepath.Join(e.local, "b.txt")); la.Mtim.Nano() != mt2.UnixNano() || lb.Mode&0o777 != 0o600 {
		t.Fatalf("folder: a.txt mtime %v, b.txt mode %o", time.Unix(0, la.Mtim.Nano()), lb.Mode&0o777)
	}
}
