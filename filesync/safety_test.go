package filesync

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/clusterf/clusterf/atrest"
)

func TestRenameIsRename(t *testing.T) {
	e := newEnv(t)
	e.write("d/one.bin", strings.Repeat("1", 100<<10))
	e.write("d/two.bin", strings.Repeat("2", 100<<10))
	e.write("f.bin", strings.Repeat("3", 100<<10))
	e.mustOnce(Import, "/b")
	a0, _ := e.fs.Walk(context.Background(), "/b/d/one.bin")
	if err := os.Rename(filepath.Join(e.local, "d"), filepath.Join(e.local, "moved")); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(filepath.Join(e.local, "f.bin"), filepath.Join(e.local, "moved/g.bin")); err != nil {
		t.Fatal(err)
	}
	st := e.mustOnce(Import, "/b")
	if st.BytesDone != 0 || st.Renamed != 2 || st.Deleted != 0 {
		t.Fatalf("rename copied or deleted: %+v", st)
	}
	if d := diffTrees(localTree(t, e.local), e.clusterTree("/b")); d != "" {
		t.Fatal(d)
	}
	a1, _ := e.fs.Walk(context.Background(), "/b/moved/one.bin")
	if a1.Ref.Inode != a0.Ref.Inode {
		t.Fatal("the cluster file was copied, not renamed")
	}
}

func TestMassDeleteRefused(t *testing.T) {
	e := newEnv(t)
	for i := range 30 {
		e.write(fmt.Sprintf("f%02d", i), "x")
	}
	e.mustOnce(Import, "/b")
	for i := range 20 {
		os.Remove(filepath.Join(e.local, fmt.Sprintf("f%02d", i)))
	}
	st, err := e.once(Import, "/b")
	if err == nil || st.State != StateFailed || !strings.Contains(st.Reason, "refusing to delete 20 of 30 files") {
		t.Fatalf("mass delete not refused: %v %+v", err, st)
	}
	if n := len(e.clusterTree("/b")); n != 30 {
		t.Fatalf("cluster lost files: %d left", n)
	}
	// Emptying the folder is refused even when small.
	for i := 20; i < 30; i++ {
		os.Remove(filepath.Join(e.local, fmt.Sprintf("f%02d", i)))
	}
	st, err = e.once(Import, "/b", func(c *PairConfig) { c.MaxDelete = MaxDelete{Percent: 99} })
	if err == nil || !strings.Contains(st.Reason, "is empty") {
		t.Fatalf("empty source not refused: %v %+v", err, st)
	}
	// Allowed explicitly.
	st = e.mustOnce(Import, "/b", func(c *PairConfig) { c.MaxDelete = MaxDelete{Percent: 100} })
	if st.Deleted != 30 || len(e.clusterTree("/b")) != 0 {
		t.Fatalf("--max-delete 100%% did not delete: %+v %v", st, e.clusterTree("/b"))
	}
}

func TestUnmountedSourceRefused(t *testing.T) {
	e := newEnv(t)
	e.write("a", "a")
	e.mustOnce(Import, "/b")
	os.RemoveAll(e.local)
	if st, err := e.once(Import, "/b"); err == nil || !strings.Contains(st.Reason, "missing") {
		t.Fatalf("missing source not refused: %v %+v", err, st)
	}
	if _, ok := e.read("/b/a"); !ok {
		t.Fatal("cluster file deleted")
	}
}

func TestBothWaysConflict(t *testing.T) {
	e := newEnv(t)
	e.write("doc.txt", "v1")
	e.mustOnce(Both, "/s")
	// Both sides change it; the cluster's change is newer.
	e.write("doc.txt", "local edit")
	old := time.Now().Add(-time.Hour)
	os.Chtimes(filepath.Join(e.local, "doc.txt"), old, old)
	e.put("/s/doc.txt", "cluster edit")
	st := e.mustOnce(Both, "/s")
	if st.Conflicts != 1 {
		t.Fatalf("%+v", st)
	}
	lt, ct := localTree(t, e.local), e.clusterTree("/s")
	if d := diffTrees(lt, ct); d != "" {
		t.Fatalf("sides differ: %s", d)
	}
	if lt["doc.txt"] != "cluster edit" || len(lt) != 2 {
		t.Fatalf("winner/loser wrong: %v", lt)
	}
	for name, c := range lt {
		if name != "doc.txt" && (c != "local edit" || !strings.HasPrefix(name, "doc.conflict-n1-") || !strings.HasSuffix(name, ".txt")) {
			t.Fatalf("conflict copy %q = %q", name, c)
		}
	}
	// Deleted here, changed there: the change wins.
	os.Remove(filepath.Join(e.local, "doc.txt"))
	e.put("/s/doc.txt", "changed again")
	e.mustOnce(Both, "/s")
	if c := localTree(t, e.local)["doc.txt"]; c != "changed again" {
		t.Fatalf("modification lost to a delete: %q", c)
	}
}

func TestContinuousBothWays(t *testing.T) {
	e := newEnv(t)
	if err := e.m.Add(PairConfig{Local: e.local, Cluster: "/live", Mode: Both}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	e.m.Start(ctx)
	defer func() { cancel(); e.m.Close() }()
	e.write("new/file.txt", "hello")
	eventually(t, "local create reaches the cluster", func() string {
		if c, _ := e.read("/live/new/file.txt"); c != "hello" {
			return "not yet: " + c
		}
		return ""
	})
	e.put("/live/from-cluster.txt", "remote")
	eventually(t, "cluster create reaches the folder", func() string {
		b, _ := os.ReadFile(filepath.Join(e.local, "from-cluster.txt"))
		if string(b) != "remote" {
			return "not yet"
		}
		return ""
	})
	os.Rename(filepath.Join(e.local, "new/file.txt"), filepath.Join(e.local, "renamed.txt"))
	eventually(t, "rename reaches the cluster", func() string {
		if _, ok := e.read("/live/new/file.txt"); ok {
			return "old name still there"
		}
		if c, _ := e.read("/live/renamed.txt"); c != "hello" {
			return "new name missing"
		}
		return ""
	})
	if err := e.fs.RemoveAll(context.Background(), "/live/from-cluster.txt"); err != nil {
		t.Fatal(err)
	}
	eventually(t, "cluster delete reaches the folder", func() string {
		if _, err := os.Lstat(filepath.Join(e.local, "from-cluster.txt")); err == nil {
			return "still there"
		}
		return ""
	})
	cfg := PairConfig{Local: e.local, Cluster: "/live", Mode: Both}
	st, _ := e.m.Pair(cfg.ID())
	if st.Renamed != 1 || len(st.Errors) != 0 {
		t.Fatalf("%+v", st)
	}
}

func TestIgnoreFileAndExcludesBothWays(t *testing.T) {
	e := newEnv(t)
	e.write(IgnoreFile, "*.tmp\n/build/\n!keep.tmp\n")
	e.write("a.tmp", "x")
	e.write("keep.tmp", "k")
	e.write("build/out", "o")
	e.write("src/build/x", "nested build dir is not /build")
	e.write("cache/c", "c")
	e.put("/x/cache/remote", "excluded in the cluster too")
	e.put("/x/b.tmp", "remote tmp")
	e.mustOnce(Both, "/x", func(c *PairConfig) { c.Excludes = []string{"cache"} })
	ct := e.clusterTree("/x")
	for _, p := range []string{"a.tmp", "build", IgnoreFile} {
		if _, ok := ct[p]; ok {
			t.Errorf("%s was imported", p)
		}
	}
	for _, p := range []string{"keep.tmp", "src/build/x"} {
		if _, ok := ct[p]; !ok {
			t.Errorf("%s missing", p)
		}
	}
	if _, err := os.Stat(filepath.Join(e.local, "b.tmp")); err == nil {
		t.Error("excluded cluster file exported")
	}
	if _, err := os.Stat(filepath.Join(e.local, "cache/remote")); err == nil {
		t.Error("excluded cluster dir exported")
	}
	if _, ok := ct["cache/remote"]; !ok {
		t.Error("excluded cluster file deleted")
	}
}

func TestStateSealed(t *testing.T) {
	dir := t.TempDir()
	var key [32]byte
	key[0] = 7
	seal := atrest.NewSealer(key)
	p := filepath.Join(dir, "s.db")
	s, err := openState(p, seal)
	if err != nil {
		t.Fatal(err)
	}
	s.set("secret-folder/secret-name.txt", record{Kind: kindFile, L: localStamp{Size: 5}})
	if err := s.close(); err != nil {
		t.Fatal(err)
	}
	raw, _ := os.ReadFile(p)
	if strings.Contains(string(raw), "secret") {
		t.Fatal("a name is in the clear")
	}
	s, err = openState(p, seal)
	if err != nil {
		t.Fatal(err)
	}
	if n := s.get("secret-folder/secret-name.txt"); n == nil || n.rec.L.Size != 5 {
		t.Fatal("record lost")
	}
	s.close()
	key[0] = 8
	if _, err := openState(p, atrest.NewSealer(key)); err == nil {
		t.Fatal("opened with another key")
	}
}

// TestPerFileErrorsRetried: a file that cannot be written (immutable, so
// not even root may replace it) is reported with its error while the rest
// syncs; the one-shot pass says so (failed) and a later pass, once the
// file can be written, completes.
func TestPerFileErrorsRetried(t *testing.T) {
	e := newEnv(t)
	e.put("/c/ok1.txt", "one")
	e.put("/c/stuck.txt", "v1")
	e.put("/c/ok2.txt", "two")
	e.mustOnce(Export, "/c")
	e.put("/c/stuck.txt", "v2")
	e.put("/c/ok1.txt", "one again")
	stuck := filepath.Join(e.local, "stuck.txt")
	setImmutable(t, stuck, true)
	defer setImmutable(t, stuck, false)
	st, err := e.once(Export, "/c")
	if err == nil || st.State != StateFailed || len(st.Errors) != 1 || st.Errors[0].Path != "stuck.txt" || st.Errors[0].Attempts != onceAttempts {
		t.Fatalf("per-file error not reported: %v %+v", err, st)
	}
	if b, _ := os.ReadFile(filepath.Join(e.local, "ok1.txt")); string(b) != "one again" {
		t.Fatalf("one failing file stopped the others: ok1.txt = %q", b)
	}
	setImmutable(t, stuck, false)
	e.mustOnce(Export, "/c")
	if b, _ := os.ReadFile(stuck); string(b) != "v2" {
		t.Fatalf("stuck.txt = %q after the retry", b)
	}
}

func setImmutable(t *testing.T, p string, on bool) {
	t.Helper()
	f, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	flags, err := unix.IoctlGetUint32(int(f.Fd()), unix.FS_IOC_GETFLAGS)
	if err != nil {
		t.Fatalf("FS_IOC_GETFLAGS on %s (the test needs ext4 or another filesystem with chattr flags): %v", p, err)
	}
	if on {
		flags |= fsImmutableFL
	} else {
		flags &^= fsImmutableFL
	}
	if err := unix.IoctlSetPointerInt(int(f.Fd()), unix.FS_IOC_SETFLAGS, int(flags)); err != nil {
		t.Fatalf("FS_IOC_SETFLAGS: %v", err)
	}
}

// fsImmutableFL is FS_IMMUTABLE_FL of linux/fs.h (chattr +i).
const fsImmutableFL = 0x00000010

// TestSameContentNoConflict: with no base (a tree copied to both sides
// without its times, or a copy a kill -9 kept from being recorded), files
// that differ only in mtime are hashed and recorded as equal, the winner's
// mtime given to the other side, with no copy and no conflict copy; files
// of the same size with other bytes are still kept both.
func TestSameContentNoConflict(t *testing.T) {
	old := time.Now().Add(-48 * time.Hour).Truncate(time.Second)
	for _, tc := range []struct {
		mode      Mode
		localWins bool
	}{{Import, true}, {Export, false}, {Both, false}} { // the cluster's copy is newer
		t.Run(tc.mode.String(), func(t *testing.T) {
			e := newEnv(t)
			e.write("same.txt", "identical")
			e.write("other.txt", "aaaa")
			os.Chtimes(filepath.Join(e.local, "same.txt"), old, old)
			e.put("/s/same.txt", "identical")
			e.put("/s/other.txt", "bbbb")
			st := e.mustOnce(tc.mode, "/s")
			// Only other.txt's versions travel (4 bytes each): same.txt is not copied.
			if st.Conflicts != 1 || st.BytesDone > 8 {
				t.Fatalf("first pass: %+v", st)
			}
			a, err := e.fs.Walk(context.Background(), "/s/same.txt")
			if err != nil {
				t.Fatal(err)
			}
			lm := lstat(t, filepath.Join(e.local, "same.txt")).Mtim.Nano()
			if lm != a.Mtime.UnixNano() || (lm == old.UnixNano()) != tc.localWins {
				t.Fatalf("mtimes after the pass: local %v, cluster %v (old %v)", time.Unix(0, lm), a.Mtime, old)
			}
			for side, tree := range map[string]map[string]string{"folder": localTree(t, e.local), "cluster": e.clusterTree("/s")} {
				for name := range tree {
					if strings.HasPrefix(name, "same.") && name != "same.txt" {
						t.Errorf("%s: a conflict copy of equal content: %v", side, tree)
					}
				}
			}
			if st := e.mustOnce(tc.mode, "/s"); st.FilesDone != 0 || st.Conflicts != 0 || st.Deleted != 0 {
				t.Fatalf("second pass: %+v", st)
			}
		})
	}
}

// TestIgnoreFileReread: a changed .clusterfignore applies while the pair
// runs (import: its fsnotify event; export: the next round): newly
// included paths are synced, newly excluded ones are left alone on both
// sides (never deleted).
func TestIgnoreFileReread(t *testing.T) {
	for _, mode := range []Mode{Import, Export} {
		t.Run(mode.String(), func(t *testing.T) {
			e := newEnv(t)
			e.write(IgnoreFile, "later/\n")
			e.write("keep/a", "a")
			e.write("later/b", "b")
			e.put("/r/keep/a", "a")
			e.put("/r/later/b", "b")
			if err := e.m.Add(PairConfig{Local: e.local, Cluster: "/r", Mode: mode}); err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithCancel(context.Background())
			e.m.Start(ctx)
			defer func() { cancel(); e.m.Close() }()
			id := e.m.Pairs()[0].ID
			eventually(t, "first scan", func() string {
				if st, _ := e.m.Pair(id); st.Scans == 0 || st.State != StateIdle {
					return "not idle"
				}
				return ""
			})
			// Now later/ is synced and keep/ is excluded.
			e.write(IgnoreFile, "keep/\n")
			e.write("later/new", "from the folder")
			e.put("/r/later/remote", "from the cluster")
			e.write("keep/local-only", "x")
			e.put("/r/keep/cluster-only", "y")
			want := "later/new"
			if mode == Export {
				want = "later/remote"
			}
			eventually(t, want+" synced after the ignore file changed", func() string {
				lt, ct := localTree(t, e.local), e.clusterTree("/r")
				if lt[want] == "" || ct[want] == "" {
					return "not yet"
				}
				return ""
			})
			st, _ := e.m.Pair(id)
			if st.Conflicts != 0 || st.Deleted != 0 || len(st.Errors) != 0 {
				t.Fatalf("%+v", st)
			}
			lt, ct := localTree(t, e.local), e.clusterTree("/r")
			if ct["keep/local-only"] != "" || lt["keep/cluster-only"] != "" {
				t.Errorf("a newly excluded path was synced: folder %v, cluster %v", lt, ct)
			}
			if lt["keep/a"] != "a" || ct["keep/a"] != "a" || lt["later/b"] != "b" || ct["later/b"] != "b" {
				t.Errorf("a path was lost: folder %v, cluster %v", lt, ct)
			}
		})
	}
}

// TestBurstDeleteJudgedWhole: an rm -rf that takes longer than a round
// (here 30 of 40 files deleted over about a second) is judged by
// --max-delete as a whole once the folder settles, instead of a round's
// share at a time (each under the threshold): nothing is deleted in the
// cluster and the pair says why.
func TestBurstDeleteJudgedWhole(t *testing.T) {
	e := newEnv(t)
	for i := range 40 {
		e.write(fmt.Sprintf("f%02d", i), "x")
	}
	cfg := PairConfig{Local: e.local, Cluster: "/burst", Mode: Import}
	if err := e.m.Add(cfg); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	e.m.Start(ctx)
	defer func() { cancel(); e.m.Close() }()
	eventually(t, "first import", func() string {
		if st, _ := e.m.Pair(cfg.ID()); st.State != StateIdle || st.Files != 40 {
			return fmt.Sprintf("%+v", st)
		}
		return ""
	})
	for i := range 30 { // 12 at once, then one every 60 ms: the rounds see parts
		os.Remove(filepath.Join(e.local, fmt.Sprintf("f%02d", i)))
		if i >= 12 {
			time.Sleep(60 * time.Millisecond)
		}
	}
	eventually(t, "the burst refused", func() string {
		if st, _ := e.m.Pair(cfg.ID()); st.State != StateRefused || !strings.Contains(st.Reason, "refusing to delete 30 of 40") {
			return fmt.Sprintf("%+v", st)
		}
		return ""
	})
	st, _ := e.m.Pair(cfg.ID())
	if n := len(e.clusterTree("/burst")); n != 40 || st.Deleted != 0 {
		t.Fatalf("part of the burst reached the cluster: %d files left there, %d deleted", n, st.Deleted)
	}
	// The tail of a refused delete (a few more files, each under the
	// threshold alone) waits too, while other changes go on.
	for i := 30; i < 33; i++ {
		os.Remove(filepath.Join(e.local, fmt.Sprintf("f%02d", i)))
	}
	e.write("new.txt", "created meanwhile")
	eventually(t, "a create while refused", func() string {
		if c, _ := e.read("/burst/new.txt"); c == "" {
			return "not yet"
		}
		return ""
	})
	st, _ = e.m.Pair(cfg.ID())
	if n := len(e.clusterTree("/burst")); n != 41 || st.Deleted != 0 || st.State != StateRefused {
		t.Fatalf("after the tail: %d files in the cluster, %d deleted, state %s", n, st.Deleted, st.State)
	}
	// Putting the files back lifts the refusal at the next full scan.
	for i := range 33 {
		e.write(fmt.Sprintf("f%02d", i), "x")
	}
	deadline := time.Now().Add(time.Minute)
	for st, _ = e.m.Pair(cfg.ID()); st.State != StateIdle || st.Reason != ""; st, _ = e.m.Pair(cfg.ID()) {
		if time.Now().After(deadline) {
			t.Fatalf("the refusal was not lifted: %+v", st)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if n := len(e.clusterTree("/burst")); n != 41 || st.Deleted != 0 {
		t.Fatalf("after the files came back: %d in the cluster, %d deleted", n, st.Deleted)
	}
}
