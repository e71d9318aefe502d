package integration

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// specialTree builds, as root, a tree with what backup tools must carry:
// FIFOs, a socket, device nodes, set-user-ID and set-group-ID files, a
// sticky and a set-group-ID directory, hard links, sparse files, mode 0000
// files, symlinks (one dangling), xattrs, other owners, old mtimes.
func specialTree(t *testing.T, root string) {
	t.Helper()
	must := func(what string, err error) {
		t.Helper()
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}
	file := func(p, data string, mode uint32) {
		t.Helper()
		must("write "+p, os.WriteFile(filepath.Join(root, p), []byte(data), 0o600))
		must("chmod "+p, unix.Chmod(filepath.Join(root, p), mode))
	}
	must("mkdir", os.MkdirAll(filepath.Join(root, "sub", "deep"), 0o755))
	must("mkdir", os.Mkdir(filepath.Join(root, "sticky"), 0o755))
	must("chmod", unix.Chmod(filepath.Join(root, "sticky"), 0o1777))
	must("mkdir", os.Mkdir(filepath.Join(root, "sgid"), 0o755))
	must("chown", os.Chown(filepath.Join(root, "sgid"), DiffUID, DiffGroup2))
	must("chmod", unix.Chmod(filepath.Join(root, "sgid"), 0o2775))
	file("plain", "plain bytes\n", 0o644)
	file("setuid", "#!/bin/sh\n", 0o4755)
	file("setgid", "#!/bin/sh\n", 0o2755)
	file("zero", "secret", 0)
	file("sub/zero", "", 0)
	file("sub/deep/owned", "theirs", 0o640)
	must("chown", os.Chown(filepath.Join(root, "sub/deep/owned"), DiffUID, DiffGroup2))
	file("sgid/inside", "in", 0o664)
	must("link", os.Link(filepath.Join(root, "plain"), filepath.Join(root, "sub", "plain-link")))
	must("link", os.Link(filepath.Join(root, "plain"), filepath.Join(root, "sticky", "plain-link2")))
	must("mkfifo", unix.Mkfifo(filepath.Join(root, "fifo"), 0o640))
	must("mkfifo", unix.Mkfifo(filepath.Join(root, "sub", "fifo2"), 0o600))
	must("link", os.Link(filepath.Join(root, "fifo"), filepath.Join(root, "fifo-link")))
	must("mknod", unix.Mknod(filepath.Join(root, "null"), unix.S_IFCHR|0o666, int(unix.Mkdev(1, 3))))
	must("mknod", unix.Mknod(filepath.Join(root, "sub", "disk"), unix.S_IFBLK|0o660, int(unix.Mkdev(8, 17))))
	sock, err := unix.Socket(unix.AF_UNIX, unix.SOCK_STREAM, 0)
	must("socket", err)
	must("bind", unix.Bind(sock, &unix.SockaddrUnix{Name: filepath.Join(root, "sock")}))
	unix.Close(sock)
	must("symlink", os.Symlink("plain", filepath.Join(root, "link")))
	must("symlink", os.Symlink("nowhere/at/all", filepath.Join(root, "dangling")))
	sparse, err := os.Create(filepath.Join(root, "sparse"))
	must("create sparse", err)
	_, err = sparse.WriteAt([]byte("middle"), 32<<20)
	must("write sparse", err)
	must("truncate sparse", sparse.Truncate(64<<20))
	must("close sparse", sparse.Close())
	must("xattr", unix.Setxattr(filepath.Join(root, "plain"), "user.note", []byte("kept"), 0))
	must("xattr", unix.Setxattr(filepath.Join(root, "sub"), "user.dir", []byte("also"), 0))
	old := time.Date(2001, 2, 3, 4, 5, 6, 789000000, time.UTC)
	for _, p := range []string{"plain", "setuid", "zero", "sparse", "sub/deep", "fifo", "null"} {
		must("utimes "+p, os.Chtimes(filepath.Join(root, p), old, old))
	}
	must("lutimes", unix.Lutimes(filepath.Join(root, "link"), []unix.Timeval{unix.NsecToTimeval(old.UnixNano()), unix.NsecToTimeval(old.UnixNano())}))
	must("chown", os.Lchown(filepath.Join(root, "fifo"), DiffOtherUID, DiffOtherGID))
	// Every other entry (directories last) gets an old time too: a copy made
	// within the same second as the tree would otherwise find rsync leaving
	// the times it judges equal at its one-second resolution.
	old2 := unix.NsecToTimespec(time.Date(2002, 3, 4, 5, 6, 7, 891000000, time.UTC).UnixNano())
	var paths []string
	must("walk", filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		paths = append(paths, p)
		return err
	}))
	for i := len(paths) - 1; i >= 0; i-- {
		var st unix.Stat_t
		must("lstat", unix.Lstat(paths[i], &st))
		if st.Mtim.Nano() != old.UnixNano() {
			must("utimes "+paths[i], unix.UtimesNanoAt(unix.AT_FDCWD, paths[i], []unix.Timespec{old2, old2}, unix.AT_SYMLINK_NOFOLLOW))
		}
	}
}

// treeEntry is what must survive a copy, by path.
type treeEntry struct {
	Type, Target, Content, Xattrs string
	Mode, UID, GID                uint32
	Size                          int64
	Rdev                          uint64
	Nlink                         uint64
	Links                         string // the other paths of the same inode
	Mtime                         int64
}

// readTree lstats every entry below root (sockets only when withSockets).
func readTree(t *testing.T, root string, withSockets bool) map[string]treeEntry {
	t.Helper()
	out := map[string]treeEntry{}
	byIno := map[uint64][]string{}
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || p == root {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		var st unix.Stat_t
		if err := unix.Lstat(p, &st); err != nil {
			return err
		}
		e := treeEntry{Type: typeName(st.Mode), Mode: st.Mode & 0o7777, UID: st.Uid, GID: st.Gid, Nlink: st.Nlink, Rdev: st.Rdev, Mtime: st.Mtim.Nano()}
		switch e.Type {
		case "socket":
			if !withSockets {
				return nil
			}
		case "file":
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			e.Size, e.Content = st.Size, fmt.Sprintf("%d bytes, sha256 %.16s", len(b), sha(b))
		case "symlink":
			e.Target, _ = os.Readlink(p)
		}
		buf := make([]byte, 4096)
		if n, err := unix.Llistxattr(p, buf); err == nil {
			var names []string
			for _, nm := range strings.Split(string(buf[:n]), "\x00") {
				if strings.HasPrefix(nm, "user.") {
					v := make([]byte, 256)
					m, _ := unix.Lgetxattr(p, nm, v)
					names = append(names, nm+"="+string(v[:max(m, 0)]))
				}
			}
			sort.Strings(names)
			e.Xattrs = strings.Join(names, ",")
		}
		if e.Type != "dir" {
			byIno[st.Ino] = append(byIno[st.Ino], rel)
		}
		out[rel] = e
		return nil
	})
	if err != nil {
		t.Fatalf("walk %s: %v", root, err)
	}
	for _, paths := range byIno {
		sort.Strings(paths)
		for _, p := range paths {
			e := out[p]
			e.Links = strings.Join(paths, " ")
			out[p] = e
		}
	}
	return out
}

func compareTrees(t *testing.T, what string, want, got map[string]treeEntry) {
	t.Helper()
	var diffs []string
	for p, w := range want {
		g, ok := got[p]
		switch {
		case !ok:
			diffs = append(diffs, p+": missing")
		case w != g:
			diffs = append(diffs, fmt.Sprintf("%s:\n\twant %+v\n\tgot  %+v", p, w, g))
		}
	}
	for p := range got {
		if _, ok := want[p]; !ok {
			diffs = append(diffs, p+": unexpected")
		}
	}
	sort.Strings(diffs)
	if len(diffs) > 0 {
		t.Errorf("%s: %d differences:\n%s", what, len(diffs), strings.Join(diffs, "\n"))
	}
}

// TestCopyRoundTrips: cp -a, rsync -a and tar carry a tree with special
// files, privileges, hard links, sparse files and mode 0000 files onto the
// mount and back exactly as they carry it between two tmpfs directories:
// every stat field that means something is equal to that reference copy,
// and rsync -a --dry-run -i from the source reports nothing (for cp and
// rsync) or what it reports for the reference (tar drops sockets and the
// hard link of a FIFO, on every filesystem).
func TestCopyRoundTrips(t *testing.T) {
	e := NewDiffEnv(t)
	src := filepath.Join(e.Tmpfs, "src")
	if err := os.Mkdir(src, 0o755); err != nil {
		t.Fatal(err)
	}
	specialTree(t, src)
	tools := []struct {
		name  string
		exact bool // the tool copies the tree exactly between local dirs
		copy  func(from, to string)
	}{
		{"cp", true, func(from, to string) { mustRun(t, "/", "cp", "-a", from, to) }},
		{"rsync", true, func(from, to string) { mustRun(t, "/", "rsync", "-aHSX", from+"/", to+"/") }},
		{"tar", false, func(from, to string) {
			if err := os.Mkdir(to, 0o755); err != nil {
				t.Fatal(err)
			}
			mustRun(t, "/", "sh", "-c", fmt.Sprintf("tar -C %s --xattrs --xattrs-include='user.*' -cpSf - . | tar -C %s --xattrs --xattrs-include='user.*' -xpSf -", from, to))
		}},
	}
	dryRun := func(from, to string) string {
		return strings.TrimSpace(mustRun(t, "/", "rsync", "-aHX", "--dry-run", "-i", from+"/", to+"/"))
	}
	for _, tool := range tools {
		t.Run(tool.name, func(t *testing.T) {
			ref := filepath.Join(e.Tmpfs, tool.name+"-ref")
			onMount := filepath.Join(e.Mount, tool.name)
			back := filepath.Join(e.Tmpfs, tool.name+"-back")
			tool.copy(src, ref)
			tool.copy(src, onMount)
			tool.copy(onMount, back)
			want, wantDry := readTree(t, ref, true), dryRun(src, ref)
			if tool.exact {
				compareTrees(t, tool.name+" between tmpfs dirs", readTree(t, src, true), want)
				if wantDry != "" {
					t.Errorf("rsync -aHX --dry-run -i after %s between tmpfs dirs:\n%s", tool.name, wantDry)
				}
			}
			for _, dst := range []string{onMount, back} {
				compareTrees(t, tool.name+" to "+dst, want, readTree(t, dst, true))
				if got := dryRun(src, dst); got != wantDry {
					t.Errorf("rsync -aHX --dry-run -i %s/ %s/ reports\n%s\nwant\n%s", src, dst, got, wantDry)
				}
			}
			// The sparse file stays sparse on the mount: one 4 MiB chunk stored.
			var st unix.Stat_t
			if err := unix.Stat(filepath.Join(onMount, "sparse"), &st); err != nil {
				t.Fatal(err)
			}
			if st.Size != 64<<20 || st.Blocks*512 > 4<<20 {
				t.Errorf("sparse file on the mount: size %d, %d bytes of blocks (want 64 MiB, at most one 4 MiB chunk)", st.Size, st.Blocks*512)
			}
		})
	}
}

// TestTruncatePetabyte: `truncate -s 1P` returns at once (it costs no
// chunk), stat shows the size, the hole reads as zeros, du shows nothing,
// SEEK_DATA finds no data; a write in the middle stores one chunk; the
// node answers other requests all along (docs/posix.md).
func TestTruncatePetabyte(t *testing.T) {
	n := StartNode(t, NodeOptions{})
	f := filepath.Join(n.Mountpoint(), "huge")
	const pib = int64(1) << 50
	stop, done := make(chan struct{}), make(chan struct{})
	var stats int
	go func() { // the mount keeps answering while the truncate runs
		defer close(done)
		for {
			select {
			case <-stop:
				return
			default:
			}
			if _, err := os.ReadDir(n.Mountpoint()); err != nil {
				t.Errorf("readdir during the truncate: %v", err)
				return
			}
			stats++
		}
	}()
	start := time.Now()
	out := mustRun(t, "/", "truncate", "-s", "1P", f)
	took := time.Since(start)
	close(stop)
	<-done
	t.Logf("truncate -s 1P: %v (%d readdirs of the mount meanwhile) %s", took.Round(time.Microsecond), stats, out)
	var st unix.Stat_t
	if err := unix.Stat(f, &st); err != nil {
		t.Fatal(err)
	}
	if st.Size != pib || st.Blocks != 0 {
		t.Fatalf("stat: size %d blocks %d, want %d and 0", st.Size, st.Blocks, pib)
	}
	if du := strings.Fields(mustRun(t, "/", "du", "-k", f)); len(du) == 0 || du[0] != "0" {
		t.Errorf("du -k: %v, want 0", du)
	}
	fd, err := unix.Open(f, unix.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fd)
	buf := make([]byte, 4096)
	for _, off := range []int64{0, pib / 2, pib - 4096} {
		if n, err := unix.Pread(fd, buf, off); err != nil || n != len(buf) || strings.Trim(string(buf), "\x00") != "" {
			t.Fatalf("read at %d: %d bytes, %v, not all zeros", off, n, err)
		}
	}
	if _, err := unix.Seek(fd, 0, unix.SEEK_DATA); err != unix.ENXIO {
		t.Errorf("SEEK_DATA in an empty 1 PiB file: %v, want ENXIO", err)
	}
	if _, err := unix.Pwrite(fd, []byte("x"), pib/2); err != nil {
		t.Fatal(err)
	}
	if err := unix.Fsync(fd); err != nil {
		t.Fatal(err)
	}
	if off, err := unix.Seek(fd, 0, unix.SEEK_DATA); err != nil || off != pib/2 {
		t.Errorf("SEEK_DATA after a write at 512 TiB: %d, %v", off, err)
	}
	du := strings.Fields(mustRun(t, "/", "du", "-k", f))
	t.Logf("du -k after one byte written at 512 TiB: %v (one 4 MiB chunk)", du)
	if len(du) == 0 || du[0] != "4096" {
		t.Errorf("du -k: %v, want 4096 (one chunk)", du)
	}
	if err := os.WriteFile(filepath.Join(n.Mountpoint(), "small"), []byte("still here"), 0o644); err != nil {
		t.Fatalf("the node stopped answering: %v", err)
	}
}
