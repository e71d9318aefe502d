package media

import (
	"math"
	"testing"
	"time"
)

// TestRunPausesAheadOfViewers: a run makes segments up to aheadSeconds
// past its viewer, then stops reading ffmpeg (ffmpeg blocks, alive); when
// the viewer moves on, it goes on and pauses again as far ahead.
func TestRunPausesAheadOfViewers(t *testing.T) {
	s := NewTestService(t, Config{ViewerTimeout: time.Hour}) // the viewer never leaves, however slow the machine
	local, _ := GenSource(t, "mpeg4-2min")
	PutFile(t, s.fs, "v.avi", local)
	ctx := t.Context()
	src, err := s.resolve(ctx, "v.avi")
	if err != nil {
		t.Fatal(err)
	}
	ahead := int(math.Ceil(aheadSeconds / encodeSegment))
	state := func() (next, pos int, running bool) {
		s.mu.Lock()
		j := s.jobs[src.ver+"/240p"]
		s.mu.Unlock()
		j.mu.Lock()
		defer j.mu.Unlock()
		for r := range j.runs {
			next, running = r.next, true
		}
		return next, j.viewers["viewer1"].pos, running
	}
	for round, seg := range []int{0, 10} {
		if _, err := s.Stream(ctx, "v.avi", Resource{Kind: Segment, Rendition: "240p", Version: src.ver, Segment: seg}, "viewer1"); err != nil {
			t.Fatal(err)
		}
		Eventually(t, 60*time.Second, "the run paused", func() bool { return s.stats.Pauses.Load() > int64(round) })
		next, pos, running := state()
		if !running || next != pos+ahead+1 || len(Children()) != 1 {
			t.Fatalf("paused with next %d, viewer at %d (ahead %d), running %v, children %v", next, pos, ahead, running, Children())
		}
	}
	if n := s.stats.RunsStarted.Load(); n != 1 {
		t.Errorf("%d runs, want 1", n)
	}
}
