package media_test

import (
	"context"
	"math"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/clusterf/clusterf/media"
)

// TestSeek80Percent: a viewer plays the start, then seeks to 80%: the
// segment there comes from one new ffmpeg run (the viewer's run restarted
// once), decodes, starts where the playlist says, and the segments after
// it come from that same run. Run for an encoded and a remuxed stream.
// The small test sources transcode so fast that waiting for the paused
// run would beat a restart; SetSeekGap(1) makes the seek far, as it is
// for a real film.
func TestSeek80Percent(t *testing.T) {
	for _, key := range []string{"mpeg4-2min", "h264-2min"} {
		t.Run(key, func(t *testing.T) {
			e := newEnv(t, media.Config{})
			media.SetSeekGap(e.svc, 1)
			src := e.put(key, "v/"+key)
			st := e.open("v/"+key, "")
			init, _ := e.want(200, st.init)
			e.want(200, st.segs[0])
			runs0, restarts0 := e.svc.Stats().RunsStarted.Load(), e.svc.Stats().Restarts.Load()

			var at float64
			k := 0
			for at+st.durs[k] <= 0.8*src.Duration {
				at += st.durs[k]
				k++
			}
			start := time.Now()
			seg, _ := e.want(200, st.segs[k])
			took := time.Since(start)
			if got := e.svc.Stats().RunsStarted.Load() - runs0; got != 1 {
				t.Errorf("the seek started %d runs, want 1", got)
			}
			if got := e.svc.Stats().Restarts.Load() - restarts0; got != 1 {
				t.Errorf("the seek restarted %d runs, want 1 (the viewer's own)", got)
			}
			p := probeBytes(t, append(append([]byte(nil), init...), seg...))
			if p.start < 10+at-0.1 || p.start > 10+at+0.2 { // timestamps are shifted by 10 s (tsOffset)
				t.Errorf("segment %d starts at %.3f s, the playlist says %.3f s", k, p.start-10, at)
			}
			if math.Abs(p.duration-st.durs[k]) > 0.3 {
				t.Errorf("segment %d lasts %s, the playlist says %s", k, fmtSecs(p.duration), fmtSecs(st.durs[k]))
			}
			for _, s := range st.segs[k+1:] {
				e.want(200, s)
			}
			if got := e.svc.Stats().RunsStarted.Load() - runs0; got != 1 {
				t.Errorf("playing on after the seek started %d runs in all, want 1", got)
			}
			t.Logf("%s: segment %d of %d (at %s) in %s after the seek", key, k, len(st.segs), fmtSecs(at), took)
		})
	}
	waitNoChildren(t)
}

// TestTwoViewersShareOneRun: two viewers (two master playlist loads)
// play the same file at the same time: one ffmpeg makes the segments for
// both, and both get every segment.
func TestTwoViewersShareOneRun(t *testing.T) {
	e := newEnv(t, media.Config{})
	e.put("mpeg4-long", "v/shared.avi")
	a, b := e.open("v/shared.avi", ""), e.open("v/shared.avi", "")
	if a.segs[0] == b.segs[0] {
		t.Fatalf("two master loads gave the same session: %s", a.segs[0])
	}
	var maxKids atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			default:
			}
			if n := int64(children()); n > maxKids.Load() {
				maxKids.Store(n)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}()
	runs0 := e.svc.Stats().RunsStarted.Load()
	var viewers sync.WaitGroup
	var sizes [2]int
	for i, st := range []*stream{a, b} {
		viewers.Add(1)
		go func() {
			defer viewers.Done()
			ctx := t.Context()
			for _, s := range append([]string{st.init}, st.segs...) {
				resp, body, err := e.get(ctx, s)
				if err != nil || resp.StatusCode != 200 {
					t.Errorf("viewer %d: GET %s: %v %v", i, s, err, resp)
					return
				}
				sizes[i] += len(body)
			}
		}()
	}
	viewers.Wait()
	close(stop)
	wg.Wait()
	if got := e.svc.Stats().RunsStarted.Load() - runs0; got != 1 {
		t.Errorf("two viewers started %d ffmpeg runs, want 1", got)
	}
	if maxKids.Load() > 1 {
		t.Errorf("%d ffmpeg processes at once, want 1", maxKids.Load())
	}
	if sizes[0] != sizes[1] || sizes[0] == 0 {
		t.Errorf("the viewers got %d and %d bytes", sizes[0], sizes[1])
	}
	waitNoChildren(t)
}

// TestClientKilledMidStream: a real client process (curl) is killed with
// SIGKILL while it waits for a segment; once its viewer times out, no
// ffmpeg is left.
func TestClientKilledMidStream(t *testing.T) {
	e := newEnv(t, media.Config{ViewerTimeout: time.Second})
	e.put("mpeg4-2min", "v/two.avi")
	st := e.open("v/two.avi", "")
	e.want(200, st.init)
	before := children()
	cmd := exec.Command("curl", "-s", "-o", "/dev/null", e.ts.URL+st.segs[len(st.segs)/2])
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, "ffmpeg running for the client", func() bool { return children() > 0 })
	cmd.Process.Signal(syscall.SIGKILL)
	cmd.Wait()
	waitNoChildren(t)
	if before > 0 {
		t.Logf("%d children before the client (the init run)", before)
	}
}

// TestTranscodeLimit: with one slot, a second file's stream is refused
// with 503 and Retry-After while the first plays; once the first viewer
// left, the second plays. The first viewer keeps asking for its segment
// while the second is refused, so it cannot time out meanwhile however
// slow the machine (CI: a loaded 2-core box).
func TestTranscodeLimit(t *testing.T) {
	e := newEnv(t, media.Config{MaxTranscodes: 1, ViewerTimeout: 3 * time.Second})
	e.put("mpeg4-2min", "v/a.avi")
	e.put("mpeg4-long", "v/b.avi")
	a := e.open("v/a.avi", "")
	b := e.open("v/b.avi", "") // probed before the slot is taken
	e.want(200, a.segs[0])
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { // viewer a watches on
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			case <-time.After(100 * time.Millisecond):
			}
			e.get(context.Background(), a.segs[0])
		}
	}()
	msg, resp := e.want(503, b.segs[0])
	close(stop)
	wg.Wait()
	if ra := resp.Header.Get("Retry-After"); ra == "" {
		t.Errorf("503 without Retry-After")
	}
	if !strings.Contains(string(msg), "transcode slots") {
		t.Errorf("503 says %s", msg)
	}
	if n := e.svc.Status().Transcodes; n != 1 {
		t.Errorf("%d transcodes running, the limit is 1", n)
	}
	eventually(t, 60*time.Second, "the first viewer timed out and its slot came back", func() bool {
		r, _, err := e.get(context.Background(), b.segs[0])
		return err == nil && r.StatusCode == 200
	})
	waitNoChildren(t)
}

// TestStaleRequestDoesNotPullBack: a viewer's request still waiting after
// the viewer asked for another segment (a seek) gets 409 instead of
// restarting the transcode back where it was: one restart per seek, even
// when the player does not abort its old request.
func TestStaleRequestDoesNotPullBack(t *testing.T) {
	e := newEnv(t, media.Config{ViewerTimeout: 2 * time.Second})
	media.SetSeekGap(e.svc, 1)
	e.put("mpeg4-2min", "v/s.avi")
	st := e.open("v/s.avi", "")
	e.want(200, st.segs[0])
	runs := e.svc.Stats().RunsStarted.Load()
	stale := make(chan int, 1)
	go func() {
		resp, _, err := e.get(context.Background(), st.segs[25])
		if err != nil {
			stale <- 0
			return
		}
		stale <- resp.StatusCode
	}()
	eventually(t, 10*time.Second, "the first seek restarted the run", func() bool { return e.svc.Stats().RunsStarted.Load() == runs+1 })
	e.want(200, st.segs[5]) // the viewer seeks again before segment 25 came
	select {
	case code := <-stale:
		t.Logf("the older request: %d", code)
		if code != 409 && code != 200 { // 200: segment 25 was made before the second seek stopped its run
			t.Errorf("the older request got %d, want 409", code)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the older request hangs")
	}
	if n := e.svc.Stats().RunsStarted.Load() - runs; n != 2 {
		t.Errorf("%d runs after two seeks, want 2 (no run pulled back)", n)
	}
	waitNoChildren(t)
}
