package media_test

import (
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/clusterf/clusterf/media"
)

// niceOf reads a process's nice value (field 19 of /proc/pid/stat).
func niceOf(pid string) (int, bool) {
	b, err := os.ReadFile("/proc/" + pid + "/stat")
	if err != nil {
		return 0, false
	}
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
	if len(f) < 17 {
		return 0, false
	}
	n, err := strconv.Atoi(f[16])
	return n, err == nil
}

// TestAutoPrepare: with --media-auto, files appearing under the path are
// prepared in the background by ffmpeg at nice 19, found through the
// change feed (the backstop walk is an hour away): afterwards the file
// that needs encoding streams from the cache without any ffmpeg run,
// and thumbnails are there. Files elsewhere are left alone.
func TestAutoPrepare(t *testing.T) {
	e := newEnv(t, media.Config{Auto: []string{"/videos"}, AutoInterval: time.Hour})
	for _, k := range []string{"mpeg4-long", "h264-aac-mkv", "mpeg4-avi"} {
		media.GenSource(t, k) // before the watch: the generator is an ffmpeg child too
	}
	var mu sync.Mutex
	nices := map[int]bool{}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { // watch the niceness of every ffmpeg child
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			case <-time.After(5 * time.Millisecond):
			}
			for _, c := range media.Children() {
				f := strings.Fields(c)
				if f[1] != "ffmpeg" {
					continue
				}
				if n, ok := niceOf(f[0]); ok {
					mu.Lock()
					nices[n] = true
					mu.Unlock()
				}
			}
		}
	}()
	e.put("mpeg4-long", "videos/trip/old.avi")
	e.put("h264-aac-mkv", "videos/film.mkv")
	e.put("mpeg4-avi", "elsewhere/other.avi")
	eventually(t, 5*time.Minute, "both files under /videos prepared", func() bool { return e.svc.Stats().AutoPrepared.Load() >= 2 })
	close(stop)
	wg.Wait()
	if e.svc.Stats().AutoPrepared.Load() != 2 {
		t.Errorf("%d files prepared, want 2", e.svc.Stats().AutoPrepared.Load())
	}
	mu.Lock()
	if !nices[19] || len(nices) != 1 {
		t.Errorf("background ffmpeg ran at nice %v, want only 19", nices)
	}
	mu.Unlock()
	runs := e.svc.Stats().RunsStarted.Load()
	thumbs := e.svc.Stats().Thumbnails.Load()
	st := e.open("videos/trip/old.avi", "")
	e.fetchAll(st)
	e.want(200, "/api/thumbnail/videos/trip/old.avi")
	if n := e.svc.Stats().RunsStarted.Load() - runs; n != 0 {
		t.Errorf("playing a prepared file started %d ffmpeg runs", n)
	}
	if e.svc.Stats().Thumbnails.Load() != thumbs {
		t.Errorf("the thumbnail was not prepared")
	}
	if s := e.svc.Status(); len(s.AutoPaths) != 1 || !strings.Contains(s.AutoScanMethod, "change feed") {
		t.Errorf("status %+v", s)
	}
	if e.svc.Stats().AutoWakes.Load() == 0 {
		t.Error("no walk was started by the change feed")
	}
	waitNoChildren(t)
}
