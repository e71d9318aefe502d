package media

import (
	"bytes"
	"context"
	"fmt"
	"math"
	"strconv"
	"sync"
	"time"
)

// cacheFormat is part of every cache name: bump it when segments made by
// a new version of this package would not fit with old ones.
const cacheFormat = "m1"

// Pacing of a transcode.
const (
	// aheadSeconds: a run pauses (stops reading ffmpeg's output, so ffmpeg
	// blocks and uses no CPU) when it is this far ahead of every viewer.
	aheadSeconds = 60.0
	// memLimit bounds the segments a job keeps in memory for its viewers
	// (beyond it the run pauses too).
	memLimit = 96 << 20
)

// job is one (source version, rendition): the segments made so far, the
// viewers and the ffmpeg runs making segments for them. Runs start where
// a viewer needs a segment nobody makes; a viewer that seeks far restarts
// its run there (once: later requests find the new run), unless others
// share that run, in which case it gets a run of its own.
type job struct {
	s   *Service
	key string
	src source
	p   *plan

	mu       sync.Mutex
	changed  chan struct{} // closed and replaced on every change
	init     []byte
	mem      map[int][]byte // segments kept for the viewers
	memBytes int
	runs     map[*run]bool
	viewers  map[string]*viewer
	failed   map[int]error // segments no run can make (the source is bad or shorter)
	starting bool          // a request is starting a run (others wait for it)
	last     time.Time
}

type viewer struct {
	pos     int       // the last segment asked for
	seen    time.Time // when
	run     *run      // the run making segments for it
	waiting int       // requests of it in flight: it has not left
	seq     int       // segment requests so far: the newest one steers
}

func segName(ver, rend string, i int) string {
	return ver + "-" + cacheFormat + "-" + rend + "-" + strconv.Itoa(i) + ".m4s"
}

func initName(ver, rend string) string { return ver + "-" + cacheFormat + "-" + rend + "-init.mp4" }

// getJob returns the job of (src, rendition), making its plan first.
func (s *Service) getJob(ctx context.Context, src source, info *Info, r Rendition) (*job, error) {
	key := src.ver + "/" + r.Name
	s.mu.Lock()
	j, ok := s.jobs[key]
	s.mu.Unlock()
	if ok {
		return j, nil
	}
	var kf []float64
	if r.Video == "copy" {
		var err error
		if kf, err = s.keyframes(ctx, src, info); err != nil {
			return nil, err
		}
	}
	p, err := newPlan(info, r, kf)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, ErrClosed
	}
	if j, ok := s.jobs[key]; ok {
		return j, nil
	}
	j = &job{s: s, key: key, src: src, p: p, changed: make(chan struct{}), mem: map[int][]byte{},
		runs: map[*run]bool{}, viewers: map[string]*viewer{}, failed: map[int]error{}, last: time.Now()}
	s.jobs[key] = j
	return j, nil
}

// broadcastLocked wakes everybody waiting for a change.
func (j *job) broadcastLocked() {
	close(j.changed)
	j.changed = make(chan struct{})
}

// viewerLocked returns the viewer of session, created at pos.
func (j *job) viewerLocked(session string, pos int) *viewer {
	v, ok := j.viewers[session]
	if !ok {
		v = &viewer{pos: pos}
		j.viewers[session] = v
	}
	now := time.Now()
	v.seen, j.last = now, now
	return v
}

// waiting counts a request of session in flight until the returned
// function is called: a viewer waiting for a slow segment has not left.
// It returns the request's sequence number (segment requests only).
func (j *job) waiting(session string, pos int, segment bool) (int, func()) {
	j.mu.Lock()
	v := j.viewerLocked(session, pos)
	v.waiting++
	if segment {
		v.seq++
	}
	seq := v.seq
	j.mu.Unlock()
	return seq, func() {
		j.mu.Lock()
		v.waiting--
		v.seen = time.Now()
		j.mu.Unlock()
	}
}

// segment returns segment n for session, waiting while a run makes it.
func (j *job) segment(ctx context.Context, n int, session string) ([]byte, error) {
	if n < 0 || n >= j.p.count() {
		return nil, fmt.Errorf("%w: %d (the playlist has %d)", ErrNoSegment, n, j.p.count())
	}
	timeout := time.NewTimer(j.s.cfg.SegmentWait)
	defer timeout.Stop()
	seq, done := j.waiting(session, n, true)
	defer done()
	name := segName(j.src.ver, j.p.r.Name, n)
	for {
		j.mu.Lock()
		v := j.viewerLocked(session, n)
		newest := v.seq == seq
		if v.pos != n && newest {
			v.pos = n
			j.broadcastLocked() // a paused run may go on
		}
		b, ok := j.mem[n]
		ferr := j.failed[n]
		j.mu.Unlock()
		switch {
		case ok:
			return b, nil
		case ferr != nil:
			return nil, ferr
		}
		if b, ok := j.s.cache.get(name); ok {
			return b, nil
		}
		r, ch, err := j.ensure(ctx, n, session, newest)
		if err != nil {
			return nil, err
		}
		var rdone <-chan struct{}
		if r != nil {
			rdone = r.done
		}
		select {
		case <-ch:
		case <-rdone:
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-timeout.C:
			return nil, fmt.Errorf("%w: segment %d not ready after %s", ErrTimeout, n, j.s.cfg.SegmentWait)
		}
		if r != nil {
			// The run this request waited for died without the segment:
			// say why (the next request starts ffmpeg again).
			if err := j.runErr(r, n); err != nil {
				return nil, err
			}
		}
	}
}

// runErr is the error a request for segment n gets from a run that
// ended without making it (nil: it was made, or the next try may work).
func (j *job) runErr(r *run, n int) error {
	j.mu.Lock()
	defer j.mu.Unlock()
	if _, ok := j.mem[n]; ok || r.err == nil {
		return nil
	}
	if r.start <= n && n >= r.next {
		return r.err
	}
	return nil
}

// ensure makes sure a run will make segment n: an existing run close
// enough, else a restart of this viewer's run (when nobody else uses it),
// else a new run. It returns that run (nil while another request starts
// one) and the channel closed at the next change. Only the viewer's
// newest request (steer) may start or restart a run: an older one still
// waiting after a seek must not pull the run back (ErrSuperseded).
func (j *job) ensure(ctx context.Context, n int, session string, steer bool) (*run, <-chan struct{}, error) {
	if j.s.ctx.Err() != nil {
		return nil, nil, ErrClosed
	}
	j.mu.Lock()
	v := j.viewerLocked(session, n)
	for r := range j.runs {
		if r.coversLocked(n) {
			v.run = r
			r.auto = false // somebody watches it now: paced like any other
			ch := j.changed
			j.mu.Unlock()
			return r, ch, nil
		}
	}
	if j.starting {
		ch := j.changed
		j.mu.Unlock()
		return nil, ch, nil
	}
	if !steer {
		j.mu.Unlock()
		return nil, nil, fmt.Errorf("%w: segment %d", ErrSuperseded, n)
	}
	var stop *run
	if old := v.run; old != nil && j.runs[old] && j.soleViewerLocked(old, v) {
		stop = old
	}
	j.starting = true
	j.mu.Unlock()

	if stop != nil {
		stop.cancel()
		<-stop.done
		j.s.stats.Restarts.Add(1)
	}
	err := j.s.acquireSlot(ctx, false)
	j.mu.Lock()
	defer j.mu.Unlock()
	j.starting = false
	if err != nil {
		j.broadcastLocked()
		return nil, nil, err
	}
	r := j.startRunLocked(n, false)
	v.run = r
	j.broadcastLocked()
	return r, j.changed, nil
}

// soleViewerLocked reports whether v is the only viewer of r.
func (j *job) soleViewerLocked(r *run, v *viewer) bool {
	for _, o := range j.viewers {
		if o != v && o.run == r {
			return false
		}
	}
	return true
}

// initSegment returns the init segment, starting a run when none is
// making it (at the viewer's position).
func (j *job) initSegment(ctx context.Context, session string) ([]byte, error) {
	name := initName(j.src.ver, j.p.r.Name)
	timeout := time.NewTimer(j.s.cfg.SegmentWait)
	defer timeout.Stop()
	_, done := j.waiting(session, 0, false)
	defer done()
	for {
		j.mu.Lock()
		v := j.viewerLocked(session, 0)
		b, pos := j.init, v.pos
		j.mu.Unlock()
		if b != nil {
			return b, nil
		}
		if b, ok := j.s.cache.get(name); ok {
			j.mu.Lock()
			if j.init == nil {
				j.init = b
			}
			j.mu.Unlock()
			return b, nil
		}
		r, ch, err := j.ensure(ctx, pos, session, true)
		if err != nil {
			return nil, err
		}
		var rdone <-chan struct{}
		if r != nil {
			rdone = r.done
		}
		select {
		case <-ch:
		case <-rdone:
			j.mu.Lock()
			err, ok := r.err, j.init != nil
			j.mu.Unlock()
			if !ok && err != nil {
				return nil, err
			}
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-timeout.C:
			return nil, fmt.Errorf("%w: init segment not ready after %s", ErrTimeout, j.s.cfg.SegmentWait)
		}
	}
}

// setInit records a run's init segment; every run of a job must produce
// the same one (the playlist names one EXT-X-MAP).
func (j *job) setInit(b []byte) error {
	j.mu.Lock()
	cur := j.init
	if cur == nil {
		j.init = b
		j.broadcastLocked()
	}
	j.mu.Unlock()
	if cur == nil {
		j.s.cache.put(initName(j.src.ver, j.p.r.Name), b)
		return nil
	}
	if !bytes.Equal(cur, b) {
		return fmt.Errorf("%w: this run's init segment differs from the first run's", ErrTranscode)
	}
	return nil
}

// stored records segment i made by r and trims what the viewers no
// longer need.
func (j *job) stored(r *run, i int, data []byte) {
	j.s.cache.put(segName(j.src.ver, j.p.r.Name, i), data)
	j.mu.Lock()
	defer j.mu.Unlock()
	if _, ok := j.mem[i]; !ok {
		j.mem[i] = data
		j.memBytes += len(data)
	}
	r.next = i + 1
	r.made++
	j.trimLocked()
	j.broadcastLocked()
}

// trimLocked drops kept segments behind every viewer.
func (j *job) trimLocked() {
	low := math.MaxInt
	for _, v := range j.viewers {
		low = min(low, v.pos)
	}
	for i, b := range j.mem {
		if i < low {
			delete(j.mem, i)
			j.memBytes -= len(b)
		}
	}
}

// sweep ends viewers that went quiet and stops runs nobody watches. It
// reports whether the job is idle and may be forgotten.
func (j *job) sweep(now time.Time) bool {
	j.mu.Lock()
	defer j.mu.Unlock()
	changed := false
	for id, v := range j.viewers {
		if v.waiting == 0 && now.Sub(v.seen) > j.s.cfg.ViewerTimeout {
			delete(j.viewers, id)
			changed = true
		}
	}
	for r := range j.runs {
		if r.auto || j.starting {
			continue
		}
		watched := false
		for _, v := range j.viewers {
			watched = watched || v.run == r
		}
		if !watched {
			r.cancel() // the last viewer left
		}
	}
	if changed {
		j.trimLocked()
		j.broadcastLocked()
	}
	return len(j.runs) == 0 && len(j.viewers) == 0 && now.Sub(j.last) > j.s.cfg.ViewerTimeout
}

// idle reports whether nothing runs or watches (call with s.mu held).
func (j *job) idle() bool {
	j.mu.Lock()
	defer j.mu.Unlock()
	return len(j.runs) == 0 && len(j.viewers) == 0 && !j.starting
}

// stopAuto stops a background run of this job.
func (j *job) stopAuto() bool {
	j.mu.Lock()
	defer j.mu.Unlock()
	for r := range j.runs {
		if r.auto {
			r.cancel()
			return true
		}
	}
	return false
}
