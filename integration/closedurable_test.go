package integration

import (
	"os"
	"path/filepath"
	"testing"
)

// TestCloseSurvivesKill9: what close() acknowledged (no fsync anywhere:
// the chunks are stored without fsync and the metadata is only
// journaled), and every create, rename, chmod and delete that returned,
// is there byte for byte after kill -9 right afterwards and a restart.
func TestCloseSurvivesKill9(t *testing.T) {
	n := StartNode(t, NodeOptions{})
	mnt := n.Mountpoint()
	files := map[string][]byte{
		"small.txt":           randomBytes(100, 11),
		"a/b/chunked-9MiB":    randomBytes(9<<20, 12),
		"a/overwritten":       randomBytes(70000, 13),
		"a/renamed-to":        randomBytes(5000, 14),
		"a/b/chmod-0600":      randomBytes(300, 15),
		"a/b/inline-4096.bin": randomBytes(4096, 16),
	}
	if err := os.MkdirAll(filepath.Join(mnt, "a/b"), 0o755); err != nil {
		t.Fatal(err)
	}
	for name, data := range files {
		src := name
		if name == "a/renamed-to" {
			src = "a/renamed-from"
		}
		if name == "a/overwritten" { // an older version first
			if err := os.WriteFile(filepath.Join(mnt, src), randomBytes(90000, 17), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		if err := os.WriteFile(filepath.Join(mnt, src), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Rename(filepath.Join(mnt, "a/renamed-from"), filepath.Join(mnt, "a/renamed-to")); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(filepath.Join(mnt, "a/b/chmod-0600"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(mnt, "deleted"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(filepath.Join(mnt, "deleted")); err != nil {
		t.Fatal(err)
	}

	n.Kill9()
	n.Restart()

	for name, data := range files {
		requireContent(t, filepath.Join(mnt, name), data)
	}
	if fi, err := os.Stat(filepath.Join(mnt, "a/b/chmod-0600")); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("a/b/chmod-0600 after kill -9: %v, %v; want mode 0600", fi, err)
	}
	for _, gone := range []string{"a/renamed-from", "deleted"} {
		if _, err := os.Lstat(filepath.Join(mnt, gone)); !os.IsNotExist(err) {
			t.Errorf("%s after kill -9: %v, want ENOENT", gone, err)
		}
	}
	n.Stop()
}
