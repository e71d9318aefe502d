package integration

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/clusterf/clusterf/filesync"
)

// Import and export (issue 16) against real nodes: real folders, the real
// binary, its mount to look at the cluster.

// syncNode starts a node with a fixed HTTP port and sync flags.
func syncNode(t *testing.T, opts NodeOptions, args ...string) (*Node, string) {
	t.Helper()
	port := freeTCPPort(t)
	opts.ExtraArgs = append(append(opts.ExtraArgs, "--http-port", strconv.Itoa(port)), args...)
	n, base := StartNode(t, opts), "http://127.0.0.1:"+strconv.Itoa(port)
	waitAPI(t, base)
	return n, base
}

// waitAPI waits for the node's HTTP API: StartNode returns once the mount
// answers, and the node opens its search index before it listens, so a
// CLI run at once could find no API yet.
func waitAPI(t *testing.T, base string) {
	t.Helper()
	eventually(t, time.Minute, "the node's HTTP API answers", func() string {
		resp, err := http.Get(base + "/status")
		if err != nil {
			return err.Error()
		}
		resp.Body.Close()
		return ""
	})
}

// syncPairs reads GET /api/sync (nil while the node's HTTP is not up yet).
func syncPairs(t *testing.T, base string) []filesync.Status {
	t.Helper()
	resp, err := http.Get(base + "/api/sync")
	if err != nil {
		return nil
	}
	defer resp.Body.Close()
	var l struct{ Pairs []filesync.Status }
	if err := json.NewDecoder(resp.Body).Decode(&l); err != nil || resp.StatusCode != 200 {
		t.Fatalf("GET /api/sync: %d %v", resp.StatusCode, err)
	}
	return l.Pairs
}

// waitPair polls the node's first pair until cond returns "".
func waitPair(t *testing.T, base string, within time.Duration, what string, cond func(filesync.Status) string) filesync.Status {
	t.Helper()
	var st filesync.Status
	eventually(t, within, what, func() string {
		ps := syncPairs(t, base)
		if len(ps) == 0 {
			return "no pairs"
		}
		st = ps[0]
		if c := cond(st); c != "" {
			return fmt.Sprintf("%s (state %s %s, %d/%d files, %d errors %v)", c, st.State, st.Reason, st.FilesDone, st.FilesDone+st.FilesPending, len(st.Errors), st.Errors)
		}
		return ""
	})
	return st
}

func idle(st filesync.Status) string {
	if st.State != filesync.StateIdle || st.Scans == 0 || st.FilesPending != 0 {
		return "not idle"
	}
	return ""
}

// filesOnly keeps the entries that sync carries with their mtime (files).
func checkFileMTimes(t *testing.T, want, got snapshot) {
	t.Helper()
	for p, w := range want {
		if w.Mode.IsRegular() && !w.MTime.Equal(got[p].MTime) {
			t.Errorf("%s: mtime %v, want %v", p, got[p].MTime, w.MTime)
		}
	}
}

func without(s snapshot, prefixes ...string) snapshot {
	out := snapshot{}
	for p, e := range s {
		keep := true
		for _, x := range prefixes {
			if p == x || strings.HasPrefix(p, x+"/") {
				keep = false
			}
		}
		if keep {
			out[p] = e
		}
	}
	return out
}

// makeImportTree fills src with what TestSyncImportLive imports and
// returns its file writer.
func makeImportTree(t *testing.T, src string) func(rel string, data []byte) {
	write := func(rel string, data []byte) {
		p := filepath.Join(src, rel)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("photos/2024/beach.jpg", randomBytes(300<<10, 1))
	write("photos/2024/empty.txt", nil)
	write("ünïcødé/日本語 ファイル.txt", []byte("名前"))
	write("deep/a/b/c/d/e/f.txt", []byte("deep"))
	write("big/100MiB.bin", randomBytes(100<<20, 2))
	write("node_modules/junk/x.js", []byte("excluded"))
	write("many/readme", []byte("r"))
	for i := range 40 {
		write(fmt.Sprintf("many/f%02d", i), []byte(strconv.Itoa(i)))
	}
	os.Symlink("photos/2024/beach.jpg", filepath.Join(src, "link-in"))
	os.Symlink("/etc/passwd", filepath.Join(src, "link-out"))
	syscall.Mkfifo(filepath.Join(src, "fifo"), 0o644)
	os.Chmod(filepath.Join(src, "deep/a/b/c/d/e/f.txt"), 0o600)

	return write
}

// TestSyncImportLive: --import-dir copies a tree with nested dirs, unicode
// names, empty files, a 100 MiB file, symlinks, a FIFO (skipped, counted)
// and an excluded dir; then live changes show in the mount within 5 s;
// then a mass delete, an emptied folder and an unmounted folder are
// refused and reported.
func TestSyncImportLive(t *testing.T) {
	src := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=512m", "tmpfs", src).CombinedOutput(); err != nil {
		t.Fatalf("mount tmpfs: %v %s", err, out)
	}
	t.Cleanup(func() { exec.Command("umount", "-l", src).Run() })
	write := makeImportTree(t, src)
	n, base := syncNode(t, NodeOptions{}, "--import-dir", src, "--cluster-dir", "/backup", "--exclude-dirs", "node_modules")
	mnt := filepath.Join(n.Mountpoint(), "backup")
	st := waitPair(t, base, 3*time.Minute, "initial import", idle)
	if st.Skipped != 1 || len(st.Errors) != 0 {
		t.Fatalf("status after the initial import: %+v", st)
	}
	want := without(takeSnapshot(t, src), "node_modules", "fifo")
	got := takeSnapshot(t, mnt)
	requireSameTree(t, "mount vs imported folder", want, got, false)
	checkFileMTimes(t, want, got)
	copied := st.BytesDone

	// Live changes: create, modify, rename (a rename, not a copy), delete, chmod.
	start := time.Now()
	write("live/new.txt", []byte("new"))
	write("photos/2024/empty.txt", []byte("now with content"))
	if err := os.Rename(filepath.Join(src, "big"), filepath.Join(src, "moved-big")); err != nil {
		t.Fatal(err)
	}
	os.Remove(filepath.Join(src, "many/readme"))
	os.Chmod(filepath.Join(src, "ünïcødé/日本語 ファイル.txt"), 0o640)
	took := eventually(t, 5*time.Second, "live changes visible in the mount", func() string {
		if d := diffSnapshots(without(takeSnapshot(t, src), "node_modules", "fifo"), takeSnapshot(t, mnt), false); len(d) > 0 {
			return strings.Join(d, "; ")
		}
		return ""
	})
	t.Logf("live changes visible in the mount %v after they were made (%v after the first)", took, time.Since(start))
	st = waitPair(t, base, 10*time.Second, "rename recognised", func(st filesync.Status) string {
		if st.Renamed < 1 {
			return "no rename"
		}
		return ""
	})
	if st.BytesDone-copied > 1<<20 {
		t.Errorf("the 100 MiB file was copied again instead of renamed: %d bytes copied for the live changes", st.BytesDone-copied)
	}

	checkImportRefusals(t, src, base, mnt)
}

// checkImportRefusals: a mass delete, then an unmount of the folder, are
// refused and reported, and reach nothing in the cluster.
func checkImportRefusals(t *testing.T, src, base, mnt string) {
	// Mass delete: most files gone at once is refused.
	for i := range 30 {
		os.Remove(filepath.Join(src, fmt.Sprintf("many/f%02d", i)))
	}
	os.RemoveAll(filepath.Join(src, "photos"))
	os.RemoveAll(filepath.Join(src, "ünïcødé"))
	os.RemoveAll(filepath.Join(src, "deep"))
	st := waitPair(t, base, 10*time.Second, "mass delete refused", func(st filesync.Status) string {
		if st.State != filesync.StateRefused || !strings.Contains(st.Reason, "refusing to delete") {
			return "not refused"
		}
		return ""
	})
	t.Logf("refused: %s", st.Reason)
	if _, err := os.Stat(filepath.Join(mnt, "photos/2024/beach.jpg")); err != nil {
		t.Fatalf("a refused delete reached the cluster: %v", err)
	}

	// Unmounting the folder: the empty directory underneath is refused.
	if out, err := exec.Command("umount", src).CombinedOutput(); err != nil {
		t.Fatalf("umount: %v %s", err, out)
	}
	st = waitPair(t, base, 20*time.Second, "unmounted folder refused", func(st filesync.Status) string {
		if st.State != filesync.StateRefused || !strings.Contains(st.Reason, "another filesystem") && !strings.Contains(st.Reason, "empty") {
			return "not refused"
		}
		return ""
	})
	t.Logf("refused: %s", st.Reason)
	if _, err := os.Stat(filepath.Join(mnt, "many/f39")); err != nil {
		t.Fatalf("the unmount reached the cluster: %v", err)
	}
}

// TestSyncKill9MidImport: a node killed with SIGKILL in the middle of a
// large import resumes after the restart without copying again what was
// done (bytes counted by the node), and the result is complete and
// identical, with no conflict copies.
func TestSyncKill9MidImport(t *testing.T) {
	src := t.TempDir()
	const files, size = 60, 2 << 20
	for i := range files {
		if err := os.WriteFile(filepath.Join(src, fmt.Sprintf("f%03d.bin", i)), randomBytes(size, byte(i)), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	n, base := syncNode(t, NodeOptions{}, "--import-dir", src, "--cluster-dir", "/big")
	st := waitPair(t, base, 2*time.Minute, "import under way", func(st filesync.Status) string {
		if st.FilesDone < 15 {
			return "not far enough"
		}
		return ""
	})
	n.Kill9()
	done := st.FilesDone * size // completed uploads (BytesDone also counts bytes of uploads in flight)
	t.Logf("killed after %d files (%d bytes) were reported copied", st.FilesDone, done)
	n.Restart()
	st = waitPair(t, base, 2*time.Minute, "import resumed and finished", idle)
	total := int64(files * size)
	t.Logf("after the restart: %d bytes copied (of %d; %d reported before the kill)", st.BytesDone, total, done)
	if st.BytesDone > total-done {
		t.Errorf("the restart copied %d bytes: more than the %d not reported done before the kill", st.BytesDone, total-done)
	}
	if st.Conflicts != 0 || st.Deleted != 0 || st.Files != files {
		t.Errorf("after the restart: %+v", st)
	}
	requireSameTree(t, "mount vs folder after kill -9 and restart", takeSnapshot(t, src), takeSnapshot(t, filepath.Join(n.Mountpoint(), "big")), true)
}

// TestSyncKill9MidExport: the same for an export: killed with SIGKILL in
// the middle of mirroring a large cluster folder, the folder holds only
// whole files under their names (the rest was never visible), and after
// the restart only the rest is copied, with no conflict copies or deletes.
func TestSyncKill9MidExport(t *testing.T) {
	const files, size = 100, 2 << 20
	n, base := syncNode(t, NodeOptions{})
	src := filepath.Join(n.Mountpoint(), "big")
	if err := os.Mkdir(src, 0o755); err != nil {
		t.Fatal(err)
	}
	content := func(i int) []byte { return randomBytes(size, byte(i)) }
	for i := range files {
		writeFileSync(t, filepath.Join(src, fmt.Sprintf("f%03d.bin", i)), content(i), 0o644)
	}
	dst := filepath.Join(t.TempDir(), "mirror")
	n.opts.ExtraArgs = append(n.opts.ExtraArgs, "--export-dir", dst, "--cluster-dir", "/big")
	// Killed as soon as 10 files are in the folder (watched directly: the
	// export is faster than polling its status).
	visible := func() []string {
		ents, _ := os.ReadDir(dst)
		var out []string
		for _, e := range ents {
			if strings.HasPrefix(e.Name(), "f") && strings.HasSuffix(e.Name(), ".bin") {
				out = append(out, e.Name())
			}
		}
		return out
	}
	n.Restart()
	for deadline := time.Now().Add(2 * time.Minute); len(visible()) < 10; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("the export did not start: %v", visible())
		}
	}
	n.Kill9()
	names := visible()
	if len(names) >= files {
		t.Fatalf("the export was complete before the kill (%d files): nothing to resume", len(names))
	}
	for _, name := range names {
		var i int
		fmt.Sscanf(name, "f%03d.bin", &i)
		if b, err := os.ReadFile(filepath.Join(dst, name)); err != nil || !bytes.Equal(b, content(i)) {
			t.Errorf("after kill -9: %s is visible under its name but not whole (%d bytes, %v)", name, len(b), err)
		}
	}
	all, _ := os.ReadDir(dst)
	done := int64(len(names)) * size
	t.Logf("killed with %d whole files in the folder (%d entries in all, temporaries included)", len(names), len(all))
	n.Restart()
	waitAPI(t, base)
	st := waitPair(t, base, 2*time.Minute, "export resumed and finished", idle)
	total := int64(files * size)
	t.Logf("after the restart: %d bytes copied (of %d; %d in the folder before the kill)", st.BytesDone, total, done)
	if st.BytesDone > total-done {
		t.Errorf("the restart copied %d bytes: more than the %d not in the folder before the kill", st.BytesDone, total-done)
	}
	if st.Conflicts != 0 || st.Deleted != 0 || st.Files != files {
		t.Errorf("after the restart: %+v", st)
	}
	requireSameTree(t, "folder vs mount after kill -9 and restart", takeSnapshot(t, src), takeSnapshot(t, dst), true)
}

// TestSyncGoTreeRoundTrip: Go's own source tree (a real tree no one here
// wrote: ~11k files) imported with `clusterf import`, exported again with
// `clusterf export` to another folder, and the three compared with diff -r.
func TestSyncGoTreeRoundTrip(t *testing.T) {
	out, err := exec.Command("go", "env", "GOROOT").Output()
	if err != nil {
		t.Fatal(err)
	}
	src := filepath.Join(strings.TrimSpace(string(out)), "src")
	n, base := syncNode(t, NodeOptions{})
	port := strings.TrimPrefix(base, "http://127.0.0.1:")
	common := []string{"--http-port", port, "--data-dir", n.DataDir(), "--node-id", n.NodeID()}
	start := time.Now()
	r := RunBinary(t, 10*time.Minute, append([]string{"import", src, "/gosrc"}, common...)...)
	if r.ExitCode != 0 {
		t.Fatalf("clusterf import: exit %d\n%s", r.ExitCode, r.Combined())
	}
	t.Logf("import took %v: %s", time.Since(start), strings.TrimSpace(r.Stdout))
	dst := filepath.Join(t.TempDir(), "export")
	start = time.Now()
	r = RunBinary(t, 10*time.Minute, append([]string{"export", "/gosrc", dst}, common...)...)
	if r.ExitCode != 0 {
		t.Fatalf("clusterf export: exit %d\n%s", r.ExitCode, r.Combined())
	}
	t.Logf("export took %v: %s", time.Since(start), strings.TrimSpace(r.Stdout))
	for _, other := range []string{dst, filepath.Join(n.Mountpoint(), "gosrc")} {
		if out, err := exec.Command("diff", "-r", "--no-dereference", src, other).CombinedOutput(); err != nil {
			t.Fatalf("diff -r %s %s: %v\n%.4000s", src, other, err, out)
		}
	}
	// Again: nothing to copy, exit 0.
	r = RunBinary(t, 5*time.Minute, append([]string{"import", src, "/gosrc"}, common...)...)
	if r.ExitCode != 0 || !strings.Contains(r.Stdout, " 0 files copied") {
		t.Fatalf("second import: exit %d\n%s", r.ExitCode, r.Combined())
	}
	// A cluster path that is a file cannot take an import: exit 1, said why.
	r = RunBinary(t, time.Minute, append([]string{"import", src, "/gosrc/go.mod"}, common...)...)
	if r.ExitCode != 1 || !strings.Contains(r.Stderr, "not a directory") {
		t.Fatalf("import into a file: exit %d\n%s", r.ExitCode, r.Combined())
	}
}
