package integration

import (
	"encoding/binary"
	"errors"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestNameTooLong: names are limited to 255 bytes (not runes); 256 gives
// ENAMETOOLONG for every way of creating a name, and 255 works everywhere.
func TestNameTooLong(t *testing.T) {
	n := StartNode(t, NodeOptions{})
	mnt := n.Mountpoint()
	long := strings.Repeat("a", 256)
	longUTF8 := strings.Repeat("é", 128) // 256 bytes, 128 runes

	writeFileSync(t, filepath.Join(mnt, "src"), []byte("source"), 0o644)
	for _, name := range []string{long, longUTF8} {
		p := filepath.Join(mnt, name)
		f, err := os.Create(p)
		if err == nil {
			f.Close()
		}
		requireErrno(t, err, syscall.ENAMETOOLONG, "create with a 256-byte name")
		requireErrno(t, os.Mkdir(p, 0o755), syscall.ENAMETOOLONG, "mkdir with a 256-byte name")
		requireErrno(t, os.Rename(filepath.Join(mnt, "src"), p), syscall.ENAMETOOLONG, "rename to a 256-byte name")
		requireErrno(t, os.Symlink("src", p), syscall.ENAMETOOLONG, "symlink with a 256-byte name")
		requireErrno(t, os.Link(filepath.Join(mnt, "src"), p), syscall.ENAMETOOLONG, "link with a 256-byte name")
	}
	requireContent(t, filepath.Join(mnt, "src"), []byte("source"))

	maxName := strings.Repeat("b", 255)
	maxUTF8 := strings.Repeat("é", 127) + "c" // 255 bytes
	maxDir := strings.Repeat("d", 255)
	renamed := strings.Repeat("r", 255)
	if len(maxUTF8) != 255 {
		t.Fatalf("bad test name length %d", len(maxUTF8))
	}
	writeFileSync(t, filepath.Join(mnt, maxName), []byte("max"), 0o644)
	writeFileSync(t, filepath.Join(mnt, maxUTF8), randomBytes(5000, 60), 0o644)
	if err := os.Mkdir(filepath.Join(mnt, maxDir), 0o755); err != nil {
		t.Fatal(err)
	}
	writeFileSync(t, filepath.Join(mnt, maxDir, maxName), []byte("nested"), 0o644)
	if err := os.Rename(filepath.Join(mnt, "src"), filepath.Join(mnt, renamed)); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(maxName, filepath.Join(mnt, strings.Repeat("s", 255))); err != nil {
		t.Fatal(err)
	}

	check := func() {
		t.Helper()
		requireContent(t, filepath.Join(mnt, maxName), []byte("max"))
		requireContent(t, filepath.Join(mnt, maxUTF8), randomBytes(5000, 60))
		requireContent(t, filepath.Join(mnt, maxDir, maxName), []byte("nested"))
		requireContent(t, filepath.Join(mnt, renamed), []byte("source"))
		requireContent(t, filepath.Join(mnt, strings.Repeat("s", 255)), []byte("max"))
		ents, err := os.ReadDir(mnt)
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, e := range ents {
			names = append(names, e.Name())
		}
		for _, want := range []string{maxName, maxUTF8, maxDir, renamed, strings.Repeat("s", 255)} {
			if !slices.Contains(names, want) {
				t.Errorf("readdir lacks the %d-byte name %.20s…", len(want), want)
			}
		}
		if slices.Contains(names, "src") {
			t.Errorf("readdir still lists src after rename")
		}
	}
	check()
	n.Stop()
	n.Restart()
	check()
	n.Stop()
}

// mountTmpfs mounts a tmpfs of the given size on a fresh directory, unmounted
// at cleanup. Register it before StartNode so the node stops first.
func mountTmpfs(t *testing.T, size string) string {
	t.Helper()
	dir := t.TempDir()
	mustRun(t, "/", "mount", "-t", "tmpfs", "-o", "size="+size, "tmpfs", dir)
	t.Cleanup(func() {
		if err := exec.Command("umount", dir).Run(); err != nil {
			if out, err := exec.Command("umount", "-l", dir).CombinedOutput(); err != nil {
				t.Errorf("umount -l %s: %v\n%s", dir, err, out)
			}
		}
	})
	return dir
}

// TestENOSPC: a full data dir gives ENOSPC (not EIO) to the writer, keeps
// existing files intact, and the node works again once space is freed.
func TestENOSPC(t *testing.T) {
	data := mountTmpfs(t, "64m")
	// What was written before ENOSPC is committed at close (the chunks the
	// write stored on the way fit the space kept for metadata), so after
	// the remove its space comes back by garbage collection: a short grace.
	port := freeTCPPort(t)
	n := StartNode(t, NodeOptions{DataDir: data, ExtraArgs: []string{"--gc-grace", "1s", "--http-port", strconv.Itoa(port)}})
	if code, body := httpDo(t, "PUT", "http://127.0.0.1:"+strconv.Itoa(port)+"/api/partition-sync-interval",
		[]byte(`{"partition_sync_interval_seconds": 1}`)); code != 200 {
		t.Fatalf("set the sync interval: %d %s", code, body)
	}
	mnt := n.Mountpoint()

	existing := randomBytes(1<<20, 70)
	writeFileSync(t, filepath.Join(mnt, "existing"), existing, 0o644)

	fill := filepath.Join(mnt, "fill")
	f, err := os.Create(fill)
	if err != nil {
		t.Fatal(err)
	}
	buf := randomBytes(1<<20, 71) // incompressible
	const limit = 512 << 20       // 8× the tmpfs: something must have failed by then
	var (
		werr    error
		op      = "write"
		written int
	)
	for written < limit {
		// Every MiB different: the same one again and again would be
		// deduplicated into a single stored chunk, and rightly fit.
		binary.LittleEndian.PutUint64(buf, uint64(written))
		var k int
		k, werr = f.Write(buf)
		written += k
		if werr != nil {
			break
		}
	}
	if werr == nil {
		op = "fsync"
		werr = f.Sync()
	}
	cerr := f.Close()
	if werr == nil {
		op, werr = "close", cerr
	} else if cerr != nil && !errors.Is(cerr, syscall.ENOSPC) {
		t.Errorf("close after a failed %s: %v, want nil or ENOSPC", op, cerr)
	}
	if werr == nil {
		t.Fatalf("wrote, fsynced and closed %d MiB on a 64 MiB data dir without an error", written>>20)
	}
	if !errors.Is(werr, syscall.ENOSPC) {
		t.Fatalf("%s after %d MiB on a full data dir: %v, want ENOSPC", op, written>>20, werr)
	}
	t.Logf("%s failed with ENOSPC after %d MiB", op, written>>20)

	requireContent(t, filepath.Join(mnt, "existing"), existing)
	if err := os.Remove(fill); err != nil {
		t.Fatalf("remove the partial file on a full data dir: %v", err)
	}

	// Space may be reclaimed in the background; allow it some time.
	again := randomBytes(1<<20, 72)
	deadline := time.Now().Add(20 * time.Second)
	for {
		err := writeFile(filepath.Join(mnt, "after"), again)
		if err == nil {
			break
		}
		if !errors.Is(err, syscall.ENOSPC) || time.Now().After(deadline) {
			t.Fatalf("writing 1 MiB after deleting the partial file: %v", err)
		}
		time.Sleep(250 * time.Millisecond)
	}
	requireContent(t, filepath.Join(mnt, "after"), again)
	requireContent(t, filepath.Join(mnt, "existing"), existing)
	if _, err := os.Lstat(fill); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("partial file after remove: %v, want ENOENT", err)
	}
	n.Stop()
	n.Restart()
	requireContent(t, filepath.Join(mnt, "existing"), existing)
	requireContent(t, filepath.Join(mnt, "after"), again)
	n.Stop()
}

// writeFile is writeFileSync returning the first error instead of failing.
func writeFile(path string, data []byte) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// chunkName matches rawfile chunk files (chunks/ab/cd/<64-hex>).
var chunkName = regexp.MustCompile(`^[0-9a-f]{64}`)

// TestCorruptChunk: a chunk file corrupted on disk makes reads fail with EIO
// (never the bad bytes), the node logs "corrupt", and other files still read.
func TestCorruptChunk(t *testing.T) {
	n := StartNode(t, NodeOptions{StorageMajor: "rawfile"})
	mnt := n.Mountpoint()
	victim := randomBytes(1<<20, 80)
	inline := randomBytes(1000, 81)
	writeFileSync(t, filepath.Join(mnt, "victim"), victim, 0o644)
	writeFileSync(t, filepath.Join(mnt, "inline"), inline, 0o644)
	n.Stop()

	chunks := filepath.Join(n.NodeDir(), "chunks")
	var corrupted []string
	err := filepath.WalkDir(chunks, func(path string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() || !chunkName.MatchString(d.Name()) {
			return err // skip LOCK, storage-format and other bookkeeping
		}
		b, err := os.ReadFile(path)
		if err != nil || len(b) == 0 {
			return err
		}
		for _, i := range []int{0, len(b) / 2, len(b) - 1} {
			b[i] ^= 0xff
		}
		corrupted = append(corrupted, path)
		return os.WriteFile(path, b, 0)
	})
	if err != nil {
		t.Fatalf("corrupting chunk files: %v", err)
	}
	if len(corrupted) == 0 {
		out, _ := run("/", "find", n.NodeDir())
		t.Fatalf("no chunk files under %s after writing a 1 MiB file; node dir:\n%s", chunks, out)
	}
	t.Logf("corrupted %d chunk file(s)", len(corrupted))

	n.Restart()
	got, err := os.ReadFile(filepath.Join(mnt, "victim"))
	if !errors.Is(err, syscall.EIO) {
		t.Fatalf("read of a file with a corrupted chunk: %d bytes, err %v; want EIO", len(got), err)
	}
	requireContent(t, filepath.Join(mnt, "inline"), inline)
	deadline := time.Now().Add(5 * time.Second)
	for !strings.Contains(n.Stderr(), "corrupt") {
		if time.Now().After(deadline) {
			t.Fatalf("node stderr does not mention \"corrupt\" after reading a corrupted chunk:\n%s", n.Stderr())
		}
		time.Sleep(50 * time.Millisecond)
	}
	n.Stop()
}
