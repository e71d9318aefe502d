package media_test

import (
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

// TestCacheNeverExceedsCap streams many files through a small cache: after
// every request the cache's files take no more than the cap on disk (and
// the accounted size no more either), old entries were evicted, and an
// evicted segment is simply made again.
func TestCacheNeverExceedsCap(t *testing.T) {
	const cap = 400 << 10
	e := newEnv(t, media.Config{CacheSize: cap})
	keys := []string{"h264-aac-mkv", "mpeg4-avi", "flac"}
	var first *stream
	requests, peak := 0, int64(0)
	for i := range 9 {
		p := fmt.Sprintf("lib/f%d-%s", i, keys[i%len(keys)])
		e.put(keys[i%len(keys)], p)
		st := e.open(p, "")
		if first == nil {
			first = st
		}
		for _, u := range append([]string{st.init}, st.segs...) {
			e.want(200, u)
			requests++
			used := diskUsage(t, e.svc.CacheDir())
			acct := e.svc.Status().CacheBytes
			peak = max(peak, used)
			if used > cap || acct > cap {
				t.Fatalf("after %d requests the cache takes %d bytes on disk (%d accounted), cap %d", requests, used, acct, cap)
			}
		}
	}
	if ev := e.svc.Status().CacheEntries; ev == 0 {
		t.Fatal("nothing cached")
	}
	t.Logf("%d requests, peak %d of %d bytes on disk", requests, peak, cap)
	// The first file's segments were evicted long ago: made again.
	runs := e.svc.Stats().RunsStarted.Load()
	e.want(200, first.segs[0])
	if e.svc.Stats().RunsStarted.Load() == runs {
		t.Errorf("the first file's first segment was still cached: the cap evicted nothing")
	}
	waitNoChildren(t)
}
