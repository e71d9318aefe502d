package integration

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
)

// TestFsyncSurvivesKill9: what was fsynced before kill -9 is there after a
// restart, for inline (≤ 4 KiB) and chunked files, and for a rename made
// durable by fsync of the directory.
func TestFsyncSurvivesKill9(t *testing.T) {
	n := StartNode(t, NodeOptions{})
	mnt := n.Mountpoint()

	files := map[string][]byte{
		"small.txt":         randomBytes(100, 1),
		"inline-4096":       randomBytes(4096, 2),
		"d/e/chunked-10MiB": randomBytes(10<<20, 3),
	}
	if err := os.MkdirAll(filepath.Join(mnt, "d/e"), 0o755); err != nil {
		t.Fatal(err)
	}
	syncDir(t, filepath.Join(mnt, "d/e"))
	syncDir(t, filepath.Join(mnt, "d"))
	for name, data := range files {
		writeFileSync(t, filepath.Join(mnt, name), data, 0o644)
	}
	syncDir(t, mnt)

	// The write-to-temp, fsync, rename, fsync(dir) idiom.
	renamed := randomBytes(6000, 4)
	writeFileSync(t, filepath.Join(mnt, "d/.final.tmp"), renamed, 0o600)
	if err := os.Rename(filepath.Join(mnt, "d/.final.tmp"), filepath.Join(mnt, "d/final")); err != nil {
		t.Fatal(err)
	}
	syncDir(t, filepath.Join(mnt, "d"))

	n.Kill9()
	n.Restart()

	for name, data := range files {
		requireContent(t, filepath.Join(mnt, name), data)
	}
	requireContent(t, filepath.Join(mnt, "d/final"), renamed)
	fi, err := os.Stat(filepath.Join(mnt, "d/final"))
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("d/final: mode %v after restart, want 0600", fi.Mode())
	}
	if _, err := os.Lstat(filepath.Join(mnt, "d/.final.tmp")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("d/.final.tmp after rename and restart: got %v, want ENOENT", err)
	}
	n.Stop()
}
