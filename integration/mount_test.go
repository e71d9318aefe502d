package integration

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// genTree writes a source tree under root: nested directories, an empty
// directory, files at the inline boundary (4096), just over it, and over one
// 4 MiB chunk, various modes, a relative symlink and fixed mtimes (ns).
func genTree(t testing.TB, root string) {
	t.Helper()
	dirs := []string{"a/b/c", "empty-dir", "x"}
	for _, d := range dirs {
		if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	files := []struct {
		name string
		size int
		perm os.FileMode
	}{
		{"small.txt", 100, 0o644},
		{"empty", 0, 0o644},
		{"exec.sh", 300, 0o755},
		{"private", 2000, 0o600},
		{"a/inline-4096", 4096, 0o644},
		{"a/b/just-over", 4097, 0o640},
		{"a/b/c/big", 5<<20 + 123, 0o644},
		{"x/medium", 300 << 10, 0o644},
	}
	for i, f := range files {
		p := filepath.Join(root, f.name)
		if err := os.WriteFile(p, randomBytes(f.size, byte(10+i)), f.perm); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(p, f.perm); err != nil { // not subject to umask
			t.Fatal(err)
		}
		mt := time.Date(2019, 5, 6, 7, 8, 9, 123456789+i*1000, time.UTC)
		if err := os.Chtimes(p, mt, mt); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Symlink("a/b/just-over", filepath.Join(root, "link")); err != nil {
		t.Fatal(err)
	}
	// Directory mtimes last, deepest first: creating entries changes them.
	for i, d := range []string{"a/b/c", "a/b", "a", "empty-dir", "x"} {
		mt := time.Date(2018, 1, 2, 3, 4, 5, 987654321-i, time.UTC)
		if err := os.Chtimes(filepath.Join(root, d), mt, mt); err != nil {
			t.Fatal(err)
		}
	}
}

func statT(t testing.TB, path string) *syscall.Stat_t {
	t.Helper()
	var st syscall.Stat_t
	if err := syscall.Lstat(path, &st); err != nil {
		t.Fatalf("lstat %s: %v", path, err)
	}
	return &st
}

func requireGone(t testing.TB, path string) {
	t.Helper()
	if _, err := os.Lstat(path); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("%s: got %v, want ENOENT", path, err)
	}
}

// TestMountTools drives one mount with everyday tools (cp, ls, cat, mv, rm,
// ln, chmod, touch, truncate, dd, git, rsync), then restarts the node and
// checks that the whole tree is unchanged.
func TestMountTools(t *testing.T) {
	n := StartNode(t, NodeOptions{})
	mnt := n.Mountpoint()
	src := t.TempDir()
	genTree(t, src)
	srcSnap := takeSnapshot(t, src)

	t.Run("cp", func(t *testing.T) {
		mustRun(t, mnt, "cp", "-r", src+"/.", filepath.Join(mnt, "cp"))
		requireSameTree(t, "cp -r", srcSnap, takeSnapshot(t, filepath.Join(mnt, "cp")), false)
	})

	t.Run("ls", func(t *testing.T) {
		out := mustRun(t, mnt, "ls", "-la", filepath.Join(mnt, "cp"))
		for _, want := range []string{"small.txt", "exec.sh", "empty-dir", "link -> a/b/just-over", "-rwxr-xr-x", "-rw-------"} {
			if !strings.Contains(out, want) {
				t.Errorf("ls -la output lacks %q:\n%s", want, out)
			}
		}
		out = mustRun(t, mnt, "ls", "-lR", filepath.Join(mnt, "cp"))
		if !strings.Contains(out, "big") || !strings.Contains(out, "just-over") {
			t.Errorf("ls -lR output lacks nested files:\n%s", out)
		}
	})

	t.Run("cat", func(t *testing.T) {
		for _, name := range []string{"small.txt", "a/b/just-over", "link", "a/b/c/big"} {
			want, err := os.ReadFile(filepath.Join(src, name))
			if err != nil {
				t.Fatal(err)
			}
			got := mustRun(t, mnt, "cat", filepath.Join(mnt, "cp", name))
			if got != string(want) {
				t.Errorf("cat %s: %d bytes, want %d (sha256 %.16s, want %.16s)", name, len(got), len(want), sha([]byte(got)), sha(want))
			}
		}
	})

	t.Run("mv", func(t *testing.T) {
		cp := filepath.Join(mnt, "cp")
		mustRun(t, cp, "mv", "small.txt", "a/moved.txt")
		requireGone(t, filepath.Join(cp, "small.txt"))
		if got, want := hashFile(t, filepath.Join(cp, "a/moved.txt")), srcSnap["small.txt"].SHA256; got != want {
			t.Errorf("moved file: sha256 %s, want %s", got, want)
		}
		mustRun(t, cp, "mv", "a/b", "b2")
		requireGone(t, filepath.Join(cp, "a/b"))
		if got, want := hashFile(t, filepath.Join(cp, "b2/c/big")), srcSnap["a/b/c/big"].SHA256; got != want {
			t.Errorf("file in moved directory: sha256 %s, want %s", got, want)
		}
		// Rename over an existing file.
		mustRun(t, cp, "mv", "-f", "private", "exec.sh")
		requireGone(t, filepath.Join(cp, "private"))
		if got, want := hashFile(t, filepath.Join(cp, "exec.sh")), srcSnap["private"].SHA256; got != want {
			t.Errorf("rename over existing: sha256 %s, want %s", got, want)
		}
		// The relative symlink now dangles; it is still a symlink.
		if target, err := os.Readlink(filepath.Join(cp, "link")); err != nil || target != "a/b/just-over" {
			t.Errorf("readlink after mv: %q, %v", target, err)
		}
	})

	t.Run("rm", func(t *testing.T) {
		mustRun(t, mnt, "rm", "-r", filepath.Join(mnt, "cp"))
		requireGone(t, filepath.Join(mnt, "cp"))
		names, err := os.ReadDir(mnt)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range names {
			if e.Name() == "cp" {
				t.Errorf("readdir still lists cp after rm -r")
			}
		}
	})

	t.Run("ln", func(t *testing.T) {
		dir := filepath.Join(mnt, "ln")
		if err := os.Mkdir(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		data := randomBytes(5000, 20)
		writeFileSync(t, filepath.Join(dir, "target"), data, 0o644)

		mustRun(t, dir, "ln", "-s", "target", "sym")
		if got, err := os.Readlink(filepath.Join(dir, "sym")); err != nil || got != "target" {
			t.Fatalf("readlink sym: %q, %v", got, err)
		}
		requireContent(t, filepath.Join(dir, "sym"), data)
		mustRun(t, dir, "ln", "-s", "/nonexistent/abs", "dangling")
		if got, err := os.Readlink(filepath.Join(dir, "dangling")); err != nil || got != "/nonexistent/abs" {
			t.Fatalf("readlink dangling: %q, %v", got, err)
		}

		mustRun(t, dir, "ln", "target", "hard")
		a, b := statT(t, filepath.Join(dir, "target")), statT(t, filepath.Join(dir, "hard"))
		if a.Nlink != 2 || b.Nlink != 2 {
			t.Errorf("nlink after ln: target %d, hard %d; want 2, 2", a.Nlink, b.Nlink)
		}
		if a.Ino != b.Ino {
			t.Errorf("hard link inode numbers differ: %d vs %d", a.Ino, b.Ino)
		}
		if out := mustRun(t, dir, "stat", "-c", "%h", "hard"); strings.TrimSpace(out) != "2" {
			t.Errorf("stat -c %%h hard = %q, want 2", out)
		}
		// A write through one name shows through the other.
		f, err := os.OpenFile(filepath.Join(dir, "hard"), os.O_WRONLY|os.O_APPEND, 0)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := f.Write([]byte("appended")); err != nil {
			t.Fatal(err)
		}
		if err := f.Close(); err != nil {
			t.Fatal(err)
		}
		requireContent(t, filepath.Join(dir, "target"), append(slices.Clone(data), "appended"...))
		mustRun(t, dir, "rm", "target")
		if st := statT(t, filepath.Join(dir, "hard")); st.Nlink != 1 {
			t.Errorf("nlink after removing the other name: %d, want 1", st.Nlink)
		}
	})

	t.Run("chmod", func(t *testing.T) {
		p := filepath.Join(mnt, "chmod-me")
		writeFileSync(t, p, []byte("x"), 0o644)
		for _, c := range []struct {
			arg  string
			want os.FileMode
		}{{"600", 0o600}, {"u+x", 0o700}, {"755", 0o755}, {"0444", 0o444}} {
			mustRun(t, mnt, "chmod", c.arg, p)
			fi, err := os.Lstat(p)
			if err != nil {
				t.Fatal(err)
			}
			if fi.Mode() != c.want {
				t.Errorf("chmod %s: mode %v, want %v", c.arg, fi.Mode(), c.want)
			}
		}
		d := filepath.Join(mnt, "chmod-dir")
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
		mustRun(t, mnt, "chmod", "700", d)
		if fi, err := os.Lstat(d); err != nil {
			t.Error(err)
		} else if fi.Mode() != fs.ModeDir|0o700 {
			t.Errorf("chmod 700 dir: mode %v", fi.Mode())
		}
	})

	t.Run("touch", func(t *testing.T) {
		p := filepath.Join(mnt, "touched")
		mustRun(t, mnt, "touch", p) // creates
		mustRun(t, mnt, "touch", "-d", "2020-01-02 03:04:05", p)
		want := time.Date(2020, 1, 2, 3, 4, 5, 0, time.Local)
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if !fi.ModTime().Equal(want) {
			t.Errorf("mtime after touch -d: %v, want %v", fi.ModTime(), want)
		}
		// On a chunked file too.
		big := filepath.Join(mnt, "touched-big")
		writeFileSync(t, big, randomBytes(5<<20, 21), 0o644)
		mustRun(t, mnt, "touch", "-d", "2020-01-02 03:04:05", big)
		if fi, err := os.Stat(big); err != nil {
			t.Error(err)
		} else if !fi.ModTime().Equal(want) {
			t.Errorf("mtime of chunked file after touch -d: %v, want %v", fi.ModTime(), want)
		}
	})

	t.Run("truncate", func(t *testing.T) {
		p := filepath.Join(mnt, "trunc")
		cur := randomBytes(5000, 22)
		writeFileSync(t, p, cur, 0o644)
		check := func(size int) {
			t.Helper()
			mustRun(t, mnt, "truncate", "-s", strconv.Itoa(size), p)
			want := make([]byte, size) // growing pads with zeros
			copy(want, cur)
			requireContent(t, p, want)
			if fi, err := os.Stat(p); err != nil {
				t.Fatal(err)
			} else if fi.Size() != int64(size) {
				t.Fatalf("size after truncate -s %d: %d", size, fi.Size())
			}
			cur = want
		}
		check(6 << 20) // grow across the 4 MiB chunk boundary
		check(3000)    // shrink to an inline size
		check(100)
		check(10000) // grow an inline file past 4 KiB: zeros after byte 100
		check(0)
	})

	t.Run("dd", func(t *testing.T) {
		srcFile := filepath.Join(t.TempDir(), "src")
		mustRun(t, "/", "dd", "if=/dev/urandom", "of="+srcFile, "bs=1M", "count=100", "status=none")
		dst := filepath.Join(mnt, "dd-100M")
		mustRun(t, "/", "dd", "if="+srcFile, "of="+dst, "bs=1M", "conv=fsync", "status=none")
		if got, want := hashFile(t, dst), hashFile(t, srcFile); got != want {
			t.Fatalf("dd into mount: sha256 %s, want %s", got, want)
		}
		// Overwrite 32 KiB across the first 4 MiB chunk boundary in place.
		mustRun(t, "/", "dd", "if=/dev/zero", "of="+dst, "bs=4096", "seek=1020", "count=8", "conv=notrunc,fsync", "status=none")
		want, err := os.ReadFile(srcFile)
		if err != nil {
			t.Fatal(err)
		}
		clear(want[1020*4096 : 1028*4096])
		requireContent(t, dst, want)
	})

	t.Run("git", func(t *testing.T) {
		dir := filepath.Join(mnt, "repo")
		if err := os.Mkdir(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		git := func(args ...string) string {
			t.Helper()
			return mustRun(t, dir, "git", append([]string{"-c", "user.name=Integration Test", "-c", "user.email=it@example.com", "-c", "init.defaultBranch=main"}, args...)...)
		}
		git("init", "-q")
		if err := os.MkdirAll(filepath.Join(dir, "src/pkg"), 0o755); err != nil {
			t.Fatal(err)
		}
		for i, name := range []string{"README", "src/main.go", "src/pkg/big.bin"} {
			size := 200
			if strings.HasSuffix(name, ".bin") {
				size = 1 << 20
			}
			if err := os.WriteFile(filepath.Join(dir, name), randomBytes(size, byte(30+i)), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		git("add", "-A")
		git("commit", "-q", "-m", "first")
		if err := os.WriteFile(filepath.Join(dir, "README"), []byte("changed\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		git("commit", "-q", "-a", "-m", "second")
		if out := git("status", "--porcelain"); strings.TrimSpace(out) != "" {
			t.Errorf("git status after commit is not clean:\n%s", out)
		}
		if out := git("log", "--oneline"); len(strings.Split(strings.TrimSpace(out), "\n")) != 2 {
			t.Errorf("git log: want 2 commits:\n%s", out)
		}
		git("gc", "-q")
		git("fsck", "--full", "--strict")
	})

	t.Run("rsync", func(t *testing.T) {
		in := filepath.Join(mnt, "rsync")
		mustRun(t, "/", "rsync", "-a", src+"/", in+"/")
		requireSameTree(t, "rsync -a into the mount", srcSnap, takeSnapshot(t, in), true)
		// A second run finds nothing to do: sizes, mtimes and modes stuck.
		if out := mustRun(t, "/", "rsync", "-ai", src+"/", in+"/"); strings.TrimSpace(out) != "" {
			t.Errorf("second rsync -ai into the mount changed things:\n%s", out)
		}
		out := filepath.Join(t.TempDir(), "out")
		mustRun(t, "/", "rsync", "-a", in+"/", out+"/")
		requireSameTree(t, "rsync -a out of the mount", srcSnap, takeSnapshot(t, out), true)
	})

	if t.Failed() {
		return
	}
	before := takeSnapshot(t, mnt)
	n.Stop()
	n.Restart()
	requireSameTree(t, "whole mount after restart", before, takeSnapshot(t, mnt), true)
	n.Stop()
}
