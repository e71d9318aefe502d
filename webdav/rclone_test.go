package webdav

import (
	"path/filepath"
	"testing"
	"time"
)

// TestRclone copies a tree in and out with rclone's webdav backend:
// copy local→remote, check, sync remote→local, copy remote→local, and
// compares every tree, the cluster's included (read through the core).
func TestRclone(t *testing.T) {
	rclone := needTool(t, "rclone", "rclone")
	ts := newTestServer(t, nil, "/share")
	tmp := t.TempDir()
	env := []string{
		"HOME=" + tmp,
		"RCLONE_CONFIG=" + filepath.Join(tmp, "rclone.conf"),
		"RCLONE_CONFIG_DAV_TYPE=webdav",
		"RCLONE_CONFIG_DAV_URL=" + ts.url,
		"RCLONE_CONFIG_DAV_VENDOR=other",
	}
	rc := func(args ...string) {
		t.Helper()
		out, err := run(t, time.Minute, "", env, rclone, append(args, "--retries", "1", "--low-level-retries", "1")...)
		if err != nil {
			t.Fatalf("rclone %v: %v\n%s", args, err, out)
		}
		t.Logf("rclone %v: ok", args)
	}
	tree := testTree(t)
	src := filepath.Join(tmp, "src")
	writeTree(t, src, tree)

	rc("copy", src, "dav:tree")
	compareTrees(t, "cluster after rclone copy", tree, coreTree(t, ts.fs, "/share/tree"))
	rc("check", src, "dav:tree")

	synced := filepath.Join(tmp, "synced")
	writeTree(t, synced, map[string][]byte{"stale.txt": []byte("removed by sync")})
	rc("sync", "dav:tree", synced)
	compareTrees(t, "rclone sync remote→local", tree, readTree(t, synced))

	copied := filepath.Join(tmp, "copied")
	rc("copy", "dav:tree", copied)
	compareTrees(t, "rclone copy remote→local", tree, readTree(t, copied))

	// A changed file goes up again, and check sees the change.
	writeTree(t, src, map[string][]byte{"hello.txt": []byte("changed\n")})
	tree["hello.txt"] = []byte("changed\n")
	rc("copy", src, "dav:tree")
	rc("check", src, "dav:tree")
	compareTrees(t, "cluster after second copy", tree, coreTree(t, ts.fs, "/share/tree"))
}
