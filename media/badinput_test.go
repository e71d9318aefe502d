package media_test

import (
	"context"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/clusterf/clusterf/media"
)

// TestBadInput: hostile paths, directories, missing files, text files and
// truncated videos get clear errors, never a hung request or a process
// left behind.
func TestBadInput(t *testing.T) {
	e := newEnv(t, media.Config{})
	before := children()
	e.put("h264-aac-mkv", "d/film.mkv")
	if _, err := e.fs.MkdirAll(t.Context(), "empty", 0o755, replicaOwner()); err != nil {
		t.Fatal(err)
	}

	t.Run("traversal", func(t *testing.T) {
		e := e.with(t)
		probes := e.svc.Stats().Probes.Load()
		for _, p := range []string{
			"/api/media/%2e%2e/etc/passwd", "/api/media/d/%252e%252e/film.mkv",
			"/api/stream/%2e%2e/d/film.mkv/master.m3u8", "/api/stream/d/..%2f..%2ffilm.mkv/master.m3u8",
			"/api/thumbnail/d/%2e%2e/%2e%2e/film.mkv", "/api/stream/d/film.mkv%00/master.m3u8",
		} {
			e.wantErr(400, p)
		}
		if n := e.svc.Stats().Probes.Load() - probes; n != 0 {
			t.Errorf("%d ffprobe runs for refused paths", n)
		}
	})
	t.Run("directory", func(t *testing.T) {
		e := e.with(t)
		for _, p := range []string{"/api/media/d", "/api/stream/d/master.m3u8", "/api/thumbnail/empty", "/api/media/"} {
			msg := e.wantErr(409, p)
			if !strings.Contains(msg, "directory") {
				t.Errorf("%s: %q does not say it is a directory", p, msg)
			}
		}
	})
	t.Run("missing", func(t *testing.T) {
		e := e.with(t)
		for _, p := range []string{"/api/media/d/nope.mkv", "/api/stream/nope.mkv/master.m3u8", "/api/thumbnail/nope.jpg", "/api/media/d/film.mkv/x"} {
			e.wantErr(404, p)
		}
	})
	t.Run("bad stream paths", func(t *testing.T) {
		e := e.with(t)
		st := e.open("d/film.mkv", "")
		e.wantErr(400, "/api/stream/d/film.mkv")
		e.wantErr(400, strings.Replace(st.segs[0], "0.m4s", "x.m4s", 1))
		e.wantErr(404, strings.Replace(st.segs[0], "/0.m4s", "/99.m4s", 1))
		e.wantErr(404, "/api/stream/d/film.mkv/master.m3u8?rendition=4k")
		e.wantErr(400, st.segs[0]+"%20x") // a bad session
	})
	t.Run("changed file", func(t *testing.T) {
		e := e.with(t)
		st := e.open("d/film.mkv", "")
		e.put("h264-aac-mp4", "d/film.mkv") // replaced: a new version
		msg := e.wantErr(410, st.segs[0])
		if !strings.Contains(msg, "reload") {
			t.Errorf("410 says %q", msg)
		}
	})
	t.Run("text file", func(t *testing.T) {
		e := e.with(t)
		if _, err := e.fs.PutFile(t.Context(), "notes.txt", strings.NewReader("shopping list: eggs, milk\n"), replicaPut()); err != nil {
			t.Fatal(err)
		}
		for _, p := range []string{"/api/media/notes.txt", "/api/stream/notes.txt/master.m3u8", "/api/thumbnail/notes.txt"} {
			msg := e.wantErr(415, p)
			if !strings.Contains(msg, "Invalid data") && !strings.Contains(msg, "not media") {
				t.Errorf("%s: %q has no reason", p, msg)
			}
		}
	})
	t.Run("truncated", func(t *testing.T) {
		e := e.with(t)
		local, _ := media.GenSource(t, "h264-long")
		b, err := os.ReadFile(local)
		if err != nil {
			t.Fatal(err)
		}
		media.PutFileBytes(t, e.fs, "cut.mkv", b[:len(b)/2])
		// The header still says 20 s: the playlist has every segment, the
		// ones past the cut get 415 with the reason.
		st := e.open("cut.mkv", "rendition=240p") // encoded: segments at fixed times
		e.want(200, st.segs[0])
		msg := e.wantErr(415, st.segs[len(st.segs)-1])
		if !strings.Contains(msg, "truncated") {
			t.Errorf("415 for a segment past the end says %q", msg)
		}
		// An MP4 whose index (moov, at the end) was cut off is not playable.
		local, _ = media.GenSource(t, "mpeg4-avi")
		if b, err = os.ReadFile(local); err != nil {
			t.Fatal(err)
		}
		media.PutFileBytes(t, e.fs, "cut.avi", b[:2000])
		e.wantErr(415, "/api/media/cut.avi")
	})
	waitNoChildren(t)
	if after := children(); after != before {
		t.Errorf("%d children before, %d after", before, after)
	}
}

// TestFFmpegKilledMidSegment: ffmpeg dies (SIGKILL from outside) while a
// request waits for its segment: the request gets 502 saying so, the next
// request starts ffmpeg again and succeeds, and no process is left.
func TestFFmpegKilledMidSegment(t *testing.T) {
	e := newEnv(t, media.Config{})
	media.SetSeekGap(e.svc, 30) // the request waits for the (paused, stopped) run
	e.put("mpeg4-2min", "v/k.avi")
	st := e.open("v/k.avi", "")
	e.want(200, st.segs[0])
	var pid int
	eventually(t, 10*time.Second, "the paused ffmpeg", func() bool {
		kids := media.Children()
		if len(kids) != 1 {
			return false
		}
		pid, _ = strconv.Atoi(strings.Fields(kids[0])[0])
		return true
	})
	if err := syscall.Kill(pid, syscall.SIGSTOP); err != nil { // it must not finish the segment first
		t.Fatal(err)
	}
	done := make(chan int, 1)
	var body []byte
	go func() {
		resp, b, err := e.get(context.Background(), st.segs[len(st.segs)-1]) // beyond what the pipe holds
		if err != nil {
			done <- 0
			return
		}
		body = b
		done <- resp.StatusCode
	}()
	eventually(t, 10*time.Second, "the request waits", func() bool { return media.InFlight(e.svc) > 0 })
	syscall.Kill(pid, syscall.SIGKILL)
	select {
	case code := <-done:
		if code != 502 || !strings.Contains(string(body), "killed") {
			t.Errorf("request during the kill: %d (%d bytes) %.200q, want 502 saying ffmpeg was killed", code, len(body), body)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the request hangs after ffmpeg was killed")
	}
	e.want(200, st.segs[len(st.segs)-1])
	waitNoChildren(t)
}

// TestNoFFmpeg: without ffmpeg the media endpoints answer 501 and the
// status says why; image thumbnails are decoded in Go and still work.
func TestNoFFmpeg(t *testing.T) {
	e := newEnv(t, media.Config{FFmpeg: "/nonexistent/ffmpeg", FFprobe: "/nonexistent/ffprobe"})
	e.put("h264-aac-mkv", "v.mkv")
	media.PutFileBytes(t, e.fs, "p.png", testPNG(t, 300, 200))
	for _, p := range []string{"/api/media/v.mkv", "/api/stream/v.mkv/master.m3u8", "/api/thumbnail/v.mkv"} {
		msg := e.wantErr(501, p)
		if !strings.Contains(msg, "ffmpeg") {
			t.Errorf("%s: 501 says %q", p, msg)
		}
	}
	e.want(200, "/api/thumbnail/p.png")
	st := e.svc.Status()
	if st.Available || !strings.Contains(st.Reason, "apt-get install ffmpeg") {
		t.Errorf("status %+v", st)
	}
	if children() != 0 {
		t.Errorf("processes started without ffmpeg: %v", media.Children())
	}
}
