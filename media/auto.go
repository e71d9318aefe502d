package media

import (
	"context"
	"errors"
	"path"
	"strings"
	"time"

	"github.com/clusterf/clusterf/crdt"
	"github.com/clusterf/clusterf/replica"
)

// Background preparation (--media-auto PATH,...): new audio and video
// files under the configured paths are probed, get a thumbnail and (when
// their video is copied) a keyframe index, and those that need encoding
// are transcoded whole into the cache, one at a time, at the lowest CPU
// and I/O priority, on one thread, reading at most autoReadRate, and only
// with a free transcode slot (a viewer takes the slot back at once).
//
// New files are found through the core's change feed: a content write, a
// new name, a move or a reset wakes the loop, which waits until the
// changes settle (autoSettle) and then walks the configured paths,
// skipping every version it prepared or refused before. A walk also runs
// at start and every Config.AutoInterval as a backstop (a missed event
// costs one interval, never a file).

// mediaExts are the extensions the scan looks at (probing every file of
// a tree would be wasteful).
var mediaExts = map[string]bool{
	"mp4": true, "m4v": true, "mov": true, "mkv": true, "webm": true, "avi": true, "wmv": true, "flv": true,
	"ts": true, "m2ts": true, "mts": true, "mpg": true, "mpeg": true, "3gp": true, "ogv": true, "mxf": true,
	"mp3": true, "flac": true, "m4a": true, "aac": true, "ogg": true, "oga": true, "opus": true, "wav": true,
	"wma": true, "aiff": true, "aif": true, "ape": true, "wv": true, "mka": true, "alac": true,
}

// maxScan bounds the entries one scan visits.
const maxScan = 200_000

// autoSettle is how long the loop waits after a change for more before it
// walks (a copy of a folder is one walk, not one per file).
const autoSettle = 500 * time.Millisecond

// autoRetry is when a walk that left files waiting (no free transcode
// slot) runs again.
const autoRetry = 30 * time.Second

func (s *Service) autoLoop() {
	done := map[string]bool{} // versions prepared, or refused for good
	feed := s.cfg.FS.Changes()
	after := feed.Last()
	if !sleepCtx(s.ctx, time.Second) {
		return
	}
	for {
		wait := s.cfg.AutoInterval
		if s.autoScan(done) {
			wait = min(wait, autoRetry) // a file waits for a transcode slot
		}
		woken, ok := s.waitForMedia(feed, &after, wait)
		if !ok {
			return
		}
		if woken {
			s.stats.AutoWakes.Add(1)
			if !sleepCtx(s.ctx, autoSettle) {
				return
			}
			after = feed.Last() // the walk sees what came meanwhile
		}
	}
}

// waitForMedia waits for a change that may bring a media file (woken) or
// for d; ok is false once the service closes.
func (s *Service) waitForMedia(feed *replica.Feed, after *uint64, d time.Duration) (woken, ok bool) {
	deadline := time.Now().Add(d)
	for {
		ctx, cancel := context.WithDeadline(s.ctx, deadline)
		err := feed.Wait(ctx, *after)
		cancel()
		if s.ctx.Err() != nil {
			return false, false
		}
		if err != nil {
			return false, true // the backstop
		}
		changes, missed := feed.Since(*after, 0)
		if len(changes) > 0 {
			*after = changes[len(changes)-1].Seq
		}
		if missed {
			return true, true
		}
		for _, c := range changes {
			switch c.Kind {
			case replica.ChangeCreated, replica.ChangeMoved, replica.ChangeWritten, replica.ChangeReset:
				return true, true
			}
		}
	}
}

// sleepCtx waits d; false when ctx ended first.
func sleepCtx(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// autoScan prepares what is new under every configured path. It reports
// whether a file was left for later (no free slot).
func (s *Service) autoScan(done map[string]bool) (retry bool) {
	for _, root := range s.cfg.Auto {
		for _, p := range s.scanFiles(strings.Trim(root, "/")) {
			if s.ctx.Err() != nil {
				return false
			}
			src, err := s.resolve(s.ctx, p)
			if err != nil || done[src.ver] {
				continue
			}
			err = s.prepare(src)
			var busy *BusyError
			switch {
			case errors.As(err, &busy), errors.Is(err, ErrClosed), errors.Is(err, context.Canceled):
				retry = true // try again at the next scan
			case err != nil:
				s.log.Debug("media auto: not prepared", "path", "/"+p, "err", err)
				done[src.ver] = true
			default:
				s.stats.AutoPrepared.Add(1)
				done[src.ver] = true
			}
		}
	}
	return retry
}

// scanFiles lists the media files below root.
func (s *Service) scanFiles(root string) []string {
	var out []string
	seen := 0
	a, err := s.fs.Walk(s.ctx, root)
	if err != nil {
		s.log.Debug("media auto: path not found", "path", "/"+root, "err", err)
		return nil
	}
	if a.Kind != crdt.KindDir {
		return []string{root}
	}
	var walk func(dir crdt.InodeID, p string)
	walk = func(dir crdt.InodeID, p string) {
		ents, err := s.fs.ReadDir(s.ctx, dir)
		if err != nil {
			return
		}
		for _, e := range ents {
			if seen++; seen > maxScan || s.ctx.Err() != nil {
				return
			}
			cp := path.Join(p, e.Name)
			switch {
			case strings.HasPrefix(e.Name, replica.UploadPrefix):
			case e.Attr.Kind == crdt.KindDir:
				walk(e.Attr.Ref.Inode, cp)
			case e.Attr.Kind == crdt.KindFile && mediaExts[strings.ToLower(strings.TrimPrefix(path.Ext(e.Name), "."))]:
				out = append(out, cp)
			}
		}
	}
	walk(a.Ref.Inode, root)
	return out
}

// prepare makes one file ready to play at once.
func (s *Service) prepare(src source) error {
	ctx := withBackground(s.ctx) // probes, thumbnails and scans at low priority too
	info, err := s.probe(ctx, src)
	if err != nil {
		return err
	}
	if info.Kind != "video" && info.Kind != "audio" {
		return nil
	}
	if _, err := s.Thumbnail(ctx, src.path, DefaultThumbSize); err != nil && !errors.Is(err, ErrNoThumbnail) {
		s.log.Debug("media auto: thumbnail failed", "path", "/"+src.path, "err", err)
	}
	if info.DirectPlay || len(info.Renditions) == 0 {
		return nil
	}
	r := info.Renditions[0]
	j, err := s.getJob(ctx, src, info, r) // a copy's keyframe index is made here
	if err != nil {
		return err
	}
	if r.Video == "copy" {
		return nil // remuxing on demand is fast
	}
	if est := int64(float64(r.Bandwidth) / 8 * info.Duration); est > s.cache.cap/4 {
		s.log.Info("media auto: not pre-transcoding, the result would take more than a quarter of the cache", "path", "/"+src.path, "estimate_bytes", est)
		return nil
	}
	return j.fill(ctx)
}

// fill transcodes every segment missing from the cache with background
// runs, one after the other.
func (j *job) fill(ctx context.Context) error {
	prev := -1
	for {
		first := -1
		for i := range j.p.count() {
			if !j.s.cache.has(segName(j.src.ver, j.p.r.Name, i)) {
				first = i
				break
			}
		}
		if first < 0 || first == prev {
			return nil // done, or the cache does not keep what we make
		}
		prev = first
		if err := j.s.acquireSlot(ctx, true); err != nil {
			return err
		}
		j.mu.Lock()
		r := j.startRunLocked(first, true)
		j.mu.Unlock()
		select {
		case <-r.done:
		case <-ctx.Done():
			return ctx.Err()
		}
		j.mu.Lock()
		err, stopped := r.err, r.ctx.Err() != nil
		j.mu.Unlock()
		switch {
		case err != nil:
			return err
		case stopped: // a viewer took the slot
			return &BusyError{Limit: cap(j.s.slots)}
		}
	}
}
