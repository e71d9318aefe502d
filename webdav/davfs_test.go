package webdav

import (
	"bytes"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestDavfs mounts the handler with davfs2 (the kernel sees a FUSE-like
// coda/fuse mount served by mount.davfs, which talks HTTP to this process),
// copies a file in with cp, lists and reads it back with ls and cat,
// unmounts, and reads the file through the core. Only the exec'd tools
// touch the mount, so this process never blocks on its own mount.
func TestDavfs(t *testing.T) {
	needTool(t, "mount.davfs", "davfs2")
	if os.Geteuid() != 0 {
		t.Fatal("davfs2 test needs root (mount -t davfs)")
	}
	ts := newTestServer(t, nil, "/davfs")
	tmp := t.TempDir()
	mnt := filepath.Join(tmp, "mnt")
	cache := filepath.Join(tmp, "cache")
	for _, d := range []string{mnt, cache} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	// mount.davfs drops to the davfs2 user; the cache directory must
	// belong to group davfs2 with group rwx (mount.davfs(8)).
	for _, d := range []string{filepath.Dir(tmp), tmp} {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if g, err := user.LookupGroup("davfs2"); err == nil {
		gid, _ := strconv.Atoi(g.Gid)
		if err := os.Chown(cache, 0, gid); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Chmod(cache, 0o775); err != nil {
		t.Fatal(err)
	}
	secrets := filepath.Join(tmp, "secrets")
	if err := os.WriteFile(secrets, []byte(ts.url+" \"\" \"\"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	conf := filepath.Join(tmp, "davfs2.conf")
	confText := strings.Join([]string{
		"use_locks 0",
		"ask_auth 0",
		"delay_upload 0",
		// davfs2 before 1.7.2 on Linux >= 6.16: every readdir fails with
		// EINVAL unless the FUSE buffer is at least 64 KiB
		// (alisarctl/davfs2#22).
		"buf_size 64",
		"cache_dir " + cache,
		"secrets " + secrets,
		"",
	}, "\n")
	if err := os.WriteFile(conf, []byte(confText), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := run(t, 30*time.Second, "\n\n", nil, "mount", "-t", "davfs", "-o", "conf="+conf, ts.url, mnt)
	if err != nil {
		t.Fatalf("mount -t davfs: %v\n%s", err, out)
	}
	mounted := true
	umount := func() {
		t.Helper()
		var out string
		var err error
		for range 20 {
			if out, err = run(t, 30*time.Second, "", nil, "umount", mnt); err == nil {
				mounted = false
				return
			}
			time.Sleep(250 * time.Millisecond)
		}
		t.Errorf("umount %s: %v\n%s", mnt, err, out)
	}
	t.Cleanup(func() {
		if mounted {
			umount()
		}
	})

	data := bytes.Repeat([]byte("davfs2 says hello\n"), 8000) // 144 KB: three chunks
	src := filepath.Join(tmp, "src.bin")
	if err := os.WriteFile(src, data, 0o644); err != nil {
		t.Fatal(err)
	}
	sh := func(name string, args ...string) string {
		t.Helper()
		out, err := run(t, 30*time.Second, "", nil, name, args...)
		if err != nil {
			t.Fatalf("%s %v: %v\n%s", name, args, err, out)
		}
		return out
	}
	sh("mkdir", filepath.Join(mnt, "sub"))
	sh("cp", src, filepath.Join(mnt, "sub", "copied.bin"))
	if ls := sh("ls", "-l", filepath.Join(mnt, "sub")); !strings.Contains(ls, "copied.bin") {
		t.Errorf("ls of the mount lacks copied.bin:\n%s", ls)
	}
	cat := exec.Command("cat", filepath.Join(mnt, "sub", "copied.bin"))
	got, err := cat.Output()
	if err != nil || !bytes.Equal(got, data) {
		t.Errorf("cat through the mount: %d bytes, %v; want %d bytes", len(got), err, len(data))
	}
	umount()
	compareTrees(t, "cluster after davfs2", map[string][]byte{"sub/copied.bin": data}, coreTree(t, ts.fs, "/davfs"))
}
