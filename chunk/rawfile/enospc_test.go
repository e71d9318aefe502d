package rawfile_test

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/clusterf/clusterf/chunk"
	"github.com/clusterf/clusterf/chunk/chunktest"
)

// mountTinyTmpfs mounts a 1 MiB tmpfs on a fresh directory and unmounts it
// when the test ends. It skips unless running as root with /bin/mount; with
// CI=true a failed mount fails the test instead.
func mountTinyTmpfs(t *testing.T) string {
	t.Helper()
	// Tests run as root (FUSE needs it too): a failed mount is a failure.
	dir := t.TempDir()
	out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", dir).CombinedOutput()
	if err != nil {
		t.Fatalf("mount tmpfs (tests need root): %v: %s", err, out)
	}
	// Registered after TempDir, so it runs before TempDir's removal.
	t.Cleanup(func() {
		if err := syscall.Unmount(dir, 0); err != nil {
			t.Errorf("unmount %s: %v", dir, err)
			_ = syscall.Unmount(dir, syscall.MNT_DETACH)
		}
	})
	return dir
}

func TestENOSPC(t *testing.T) {
	mnt := mountTinyTmpfs(t)
	dir := filepath.Join(mnt, "chunks")
	s := open(t, dir)
	t.Cleanup(func() { s.Close() }) // before the unmount
	ctx := context.Background()

	kept := chunktest.RandomChunk(1, 64<<10)
	if err := s.Put(ctx, kept.ID, kept.Blob); err != nil {
		t.Fatal(err)
	}

	// Fill the file system.
	filler := filepath.Join(mnt, "filler")
	f, err := os.Create(filler)
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 64<<10)
	for {
		if _, err := f.Write(buf); err != nil {
			if !errors.Is(err, syscall.ENOSPC) {
				t.Fatalf("filling: %v", err)
			}
			break
		}
	}
	f.Close()

	big := chunktest.RandomChunk(2, 256<<10)
	err = s.Put(ctx, big.ID, big.Blob)
	if !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("Put on a full disk: err = %v, want ENOSPC", err)
	}
	t.Logf("Put on a full disk: %v", err)
	if _, err := os.Stat(chunkPath(dir, big.ID)); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("chunk file after failed Put: %v", err)
	}
	if tmps := tempFiles(t, dir); len(tmps) != 0 {
		t.Fatalf("temp files after failed Put: %v", tmps)
	}
	if ok, err := s.Has(ctx, big.ID); ok || err != nil {
		t.Fatalf("Has after failed Put = %v, %v", ok, err)
	}
	if u, _ := s.Usage(ctx); u != (chunk.Usage{Chunks: 1, Bytes: int64(len(kept.Blob))}) {
		t.Fatalf("Usage after failed Put = %+v", u)
	}

	// What was stored before still reads back and verifies.
	blob, err := s.Get(ctx, kept.ID)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := chunk.Decode(kept.ID, blob); err != nil {
		t.Fatal(err)
	}

	// Space freed: the same Put now works.
	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	if err := s.Put(ctx, big.ID, big.Blob); err != nil {
		t.Fatalf("Put after freeing space: %v", err)
	}
}
