package media

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"strings"
	"time"
)

// autoReadRate bounds how fast a background run reads its source (bytes
// per second): it must leave the disk and the network to FUSE, REST and
// replication.
const autoReadRate = 8 << 20

// errLandedLate: ffmpeg's input seek (stream copy: to a keyframe the
// demuxer's index knows) started after the segment's first keyframe.
var errLandedLate = errors.New("ffmpeg started after the first keyframe of the segment")

// errKilled marks a run whose ffmpeg was killed by a signal we did not
// send: the next request tries again.
var errKilled = errors.New("killed")

// run is one ffmpeg process making the segments of a job from start on.
type run struct {
	j      *job
	start  int
	ctx    context.Context // cancel: stop (restart, last viewer gone, Close)
	cancel context.CancelFunc
	done   chan struct{} // closed after the process was reaped and the slot released
	began  time.Time

	// Guarded by j.mu.
	auto bool  // background pre-transcode: not paced, preemptible
	next int   // segments [start, next) are made; next is being made
	made int   // segments made
	err  error // why it ended without the rest (nil: it was stopped or finished)
}

// startRunLocked starts a run at segment first; the caller holds a slot,
// which the run releases when it ends.
func (j *job) startRunLocked(first int, auto bool) *run {
	ctx, cancel := context.WithCancel(j.s.ctx)
	r := &run{j: j, start: first, next: first, auto: auto, ctx: ctx, cancel: cancel, done: make(chan struct{}), began: time.Now()}
	j.runs[r] = true
	st := &j.s.stats
	st.RunsStarted.Add(1)
	if j.p.r.Video == "copy" {
		st.RemuxRuns.Add(1)
	}
	if j.p.r.Video == "h264" || j.p.r.Audio == "aac" {
		st.EncodeRuns.Add(1)
	}
	j.s.metrics.runs.WithLabelValues(j.p.mode()).Inc()
	if !j.s.goFunc(r.main) { // the service is closing: the run never starts
		delete(j.runs, r)
		r.err = ErrClosed
		j.s.releaseSlot()
		close(r.done)
	}
	return r
}

// mode names the kind of run for metrics and logs.
func (p *plan) mode() string {
	switch {
	case p.r.Video == "copy" && p.r.Audio != "aac":
		return "remux"
	case p.r.Video == "copy":
		return "remux-audio-encode"
	}
	return "encode"
}

func (r *run) main() {
	defer close(r.done)
	defer r.j.s.releaseSlot()
	var err error
	for _, pre := range []float64{0, 3, 10} {
		err = r.transcode(pre)
		if !errors.Is(err, errLandedLate) || r.j.p.r.Video != "copy" {
			break
		}
		r.j.s.log.Debug("media: input seek landed late, starting earlier", "path", r.j.src.path, "segment", r.start, "preroll", pre)
	}
	r.j.finish(r, err)
}

// coversLocked reports whether r will make segment n soon: it started at
// or before n and makes n within about restartCost (a restart would not
// be faster).
func (r *run) coversLocked(n int) bool {
	if r.ctx.Err() != nil || n < r.start {
		return false
	}
	return n <= r.next+r.gapLocked()
}

// gapLocked is how many segments beyond the one in the making the run
// produces in about the time a restart takes.
func (r *run) gapLocked() int {
	if g := r.j.s.seekGap; g > 0 {
		return g
	}
	seg := r.j.p.r.Segment
	cost, speed := 3.0, 1.0 // encode: restart cost in seconds, speed in × real time
	if r.j.p.r.Video == "copy" {
		cost, speed = 1.0, 20.0
	}
	if el := time.Since(r.began).Seconds(); r.made > 0 && el > 0 {
		speed = float64(r.made) * seg / el
	}
	return min(max(int(cost*speed/seg), 1), 30)
}

// aheadLocked reports whether the run should pause: far enough ahead of
// every viewer it serves (or serving none), or holding too much memory.
func (r *run) aheadLocked() bool {
	if r.auto {
		return false
	}
	j, hi := r.j, -1
	for _, v := range j.viewers {
		if v.run == r {
			hi = max(hi, v.pos)
		}
	}
	if hi < 0 {
		return true
	}
	ahead := int(math.Ceil(aheadSeconds / j.p.r.Segment))
	return r.next > hi+ahead || j.memBytes > memLimit && r.next > hi+1
}

// transcode runs ffmpeg once and turns its output into segments.
func (r *run) transcode(preroll float64) error {
	s, j := r.j.s, r.j
	var rate int64
	j.mu.Lock()
	if r.auto {
		rate = autoReadRate
	}
	background := r.auto
	j.mu.Unlock()
	url, release, err := s.src.register(j.src.attr.Ref, rate)
	if err != nil {
		return err
	}
	defer release()
	ctx, cancel := context.WithCancel(r.ctx)
	defer cancel()
	p, out, err := s.startProc(ctx, ffmpeg, j.p.args(url, r.start, preroll, background), procOptions{pipe: true, background: background})
	if err != nil {
		return err
	}
	cur, last, cerr := r.consume(newFMP4Reader(out))
	if cerr != nil {
		cancel() // stop ffmpeg: its output is of no use
	}
	out.Close()
	werr := scrub(p.wait(ctx), url, j.src.path)
	switch {
	case r.ctx.Err() != nil:
		return r.ctx.Err()
	case cerr != nil && (werr == nil || errors.Is(werr, context.Canceled)):
		return cerr
	case werr != nil:
		return werr
	}
	if cur >= 0 && len(last) > 0 { // a clean end completes the last segment
		r.complete(cur, last)
	}
	return nil
}

// consume reads ffmpeg's output: the init segment, then fragments grouped
// into segments by their times. A segment is complete as soon as a
// fragment reaches the next segment's start (the last one: at the end of
// the stream, and only if ffmpeg exits 0). It returns the segment still
// in the making when the stream ended.
func (r *run) consume(rd *fmp4Reader) (int, []byte, error) {
	j := r.j
	init, err := rd.readInit()
	if err != nil {
		return -1, nil, err
	}
	// A run that ends before its first fragment (started past the end of
	// a truncated source) may write a header without the encoder's
	// configuration: its init matters only once a fragment comes.
	initErr := j.setInit(init)
	cur, n := -1, j.p.count()
	var buf []byte
	for {
		fr, err := rd.next()
		if err == io.EOF {
			return cur, buf, nil
		}
		if err != nil {
			return -1, nil, err
		}
		t := fr.time - tsOffset
		idx := j.p.index(t)
		if cur < 0 {
			if idx < r.start {
				continue // the input seek landed early: skip to the segment
			}
			if idx > r.start || t > j.p.bounds[r.start]+j.p.tol {
				return -1, nil, errLandedLate
			}
			if initErr != nil {
				return -1, nil, initErr
			}
			cur = idx
		}
		if idx < cur {
			return -1, nil, fmt.Errorf("%w: fragment at %.3f s after segment %d", errBadMP4, t, cur)
		}
		if idx > cur {
			if len(buf) > 0 && !r.complete(cur, buf) {
				return -1, nil, r.ctx.Err()
			}
			if idx > cur+1 {
				j.markFailed(cur+1, idx, fmt.Errorf("%w: no frames between %.3f s and %.3f s", ErrTranscode, j.p.bounds[cur+1], t))
			}
			cur, buf = idx, nil
		}
		buf = append(buf, fr.data...)
		if cur+1 < n && fr.end-tsOffset >= j.p.bounds[cur+1]-j.p.tol {
			if !r.complete(cur, buf) {
				return -1, nil, r.ctx.Err()
			}
			cur, buf = cur+1, nil
		}
	}
}

// complete stores segment i, then pauses while the run is far ahead of
// its viewers (ffmpeg blocks on the full pipe). It returns false when the
// run was stopped meanwhile.
func (r *run) complete(i int, data []byte) bool {
	r.j.stored(r, i, data)
	paused := false
	for {
		r.j.mu.Lock()
		wait, ch := r.aheadLocked(), r.j.changed
		r.j.mu.Unlock()
		if !wait {
			return true
		}
		if !paused {
			paused = true
			r.j.s.stats.Pauses.Add(1)
		}
		select {
		case <-ch:
		case <-r.ctx.Done():
			return false
		}
	}
}

// scrub replaces the loopback source URL in err's text by the cluster
// path (clients see these messages), keeping what err wraps.
func scrub(err error, url, path string) error {
	if err == nil || !strings.Contains(err.Error(), url) {
		return err
	}
	return &scrubbed{msg: strings.ReplaceAll(err.Error(), url, "/"+path), err: err}
}

type scrubbed struct {
	msg string
	err error
}

func (e *scrubbed) Error() string { return e.msg }
func (e *scrubbed) Unwrap() error { return e.err }

// markFailed records that segments [from, to) cannot be made.
func (j *job) markFailed(from, to int, err error) {
	j.mu.Lock()
	defer j.mu.Unlock()
	for k := from; k < to && k < j.p.count(); k++ {
		if _, ok := j.mem[k]; !ok {
			j.failed[k] = err
		}
	}
	j.broadcastLocked()
}

// finish records how r ended and wakes its waiters.
func (j *job) finish(r *run, err error) {
	j.mu.Lock()
	defer j.mu.Unlock()
	delete(j.runs, r)
	n := j.p.count()
	switch {
	case j.s.ctx.Err() != nil:
		r.err = ErrClosed
	case r.ctx.Err() != nil && (err == nil || errors.Is(err, context.Canceled)):
		// Stopped by us: a restart, the last viewer left, a preemption.
	case err == nil:
		if r.next < n { // ffmpeg ended cleanly before the plan did: the source is shorter
			e := notMedia(j.src.path, fmt.Sprintf("the source ends at about %.1f s, before segment %d of %d (is the file truncated?)",
				j.p.bounds[r.next]-j.p.info.StartTime, r.next, n))
			for k := r.next; k < n; k++ {
				j.failed[k] = e
			}
			r.err = e
		}
	case errors.Is(err, errLandedLate):
		r.err = fmt.Errorf("%w: cannot start at segment %d: %v", ErrTranscode, r.start, err)
		j.failed[r.start] = r.err
	default:
		r.err = err
		if !errors.Is(err, errKilled) && r.next < n { // ffmpeg itself gave up here: the source is bad
			j.failed[r.next] = err
		}
		j.s.log.Warn("media: transcode failed", "path", "/"+j.src.path, "rendition", j.p.r.Name, "segment", r.next, "err", err)
	}
	j.broadcastLocked()
}
