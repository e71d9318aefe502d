package media_test

import (
	"bytes"
	"fmt"
	"io/fs"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/clusterf/clusterf/media"
)

// diskUsage is what the cache's files take on disk (allocated blocks).
func diskUsage(t *testing.T, dir string) int64 {
	t.Helper()
	var n int64
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return nil // evicted meanwhile
		}
		n += info.Sys().(*syscall.Stat_t).Blocks * 512
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// cacheFiles lists the names of the cache's files.
func cacheFiles(t *testing.T, dir string) map[string]bool {
	t.Helper()
	names := map[string]bool{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			names[p] = true
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return names
}

// TestCacheNeverExceedsCap streams many files through a small cache: after
// every request the cache's files take no more than the cap on disk (and
// the accounted size no more either), the first file's entries were
// evicted (gone from disk), and an evicted segment is simply made again,
// byte for byte (a remux).
func TestCacheNeverExceedsCap(t *testing.T) {
	const cap = 400 << 10
	e := newEnv(t, media.Config{CacheSize: cap})
	keys := []string{"h264-aac-mkv", "mpeg4-avi", "flac"}
	var (
		first      *stream
		firstSeg   []byte
		firstFiles map[string]bool
	)
	requests, peak := 0, int64(0)
	for i := range 9 {
		p := fmt.Sprintf("lib/f%d-%s", i, keys[i%len(keys)])
		e.put(keys[i%len(keys)], p)
		st := e.open(p, "")
		for k, u := range append([]string{st.init}, st.segs...) {
			b, _ := e.want(200, u)
			if i == 0 && k == 1 {
				firstSeg = b
			}
			requests++
			used := diskUsage(t, e.svc.CacheDir())
			acct := e.svc.Status().CacheBytes
			peak = max(peak, used)
			if used > cap || acct > cap {
				t.Fatalf("after %d requests the cache takes %d bytes on disk (%d accounted), cap %d", requests, used, acct, cap)
			}
		}
		if first == nil {
			first, firstFiles = st, cacheFiles(t, e.svc.CacheDir())
		}
	}
	if ev := e.svc.Status().CacheEntries; ev == 0 {
		t.Fatal("nothing cached")
	}
	t.Logf("%d requests, peak %d of %d bytes on disk", requests, peak, cap)
	if len(firstFiles) == 0 {
		t.Fatal("the first file left nothing in the cache")
	}
	now := cacheFiles(t, e.svc.CacheDir())
	evicted := 0
	for name := range firstFiles {
		if !now[name] {
			evicted++
		}
	}
	if evicted == 0 {
		t.Errorf("all %d cache files of the first file are still on disk: the cap evicted nothing", len(firstFiles))
	}
	// The first file's segments were evicted long ago: made again (or
	// still in its job's memory), the same bytes.
	if b, _ := e.want(200, first.segs[0]); !bytes.Equal(b, firstSeg) {
		t.Errorf("the first segment made again differs: %d bytes, first %d", len(b), len(firstSeg))
	}
	waitNoChildren(t)
}
