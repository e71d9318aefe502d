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
// TEMPORARY: new files are found by a periodic scan of the paths
// (Config.AutoInterval) until replica's namespace change feed lands; then
// the scan becomes a subscription.

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

func (s *Service) autoLoop() {
	done := map[string]bool{} // versions prepared, or refused for good
	t := time.NewTimer(time.Second)
	defer t.Stop()
	for {
		select {
		case <-s.ctx.Done():
			return
		case <-t.C:
		}
		s.autoScan(done)
		t.Reset(s.cfg.AutoInterval)
	}
}

// autoScan prepares what is new under every configured path.
func (s *Service) autoScan(done map[string]bool) {
	for _, root := range s.cfg.Auto {
		for _, p := range s.scanFiles(strings.Trim(root, "/")) {
			if s.ctx.Err() != nil {
				return
			}
			src, err := s.resolve(s.ctx, p)
			if err != nil || done[src.ver] {
				continue
			}
			err = s.prepare(src)
			var busy *BusyError
			switch {
			case errors.As(err, &busy), errors.Is(err, ErrClosed), errors.Is(err, context.Canceled):
				// try again at the next scan
			case err != nil:
				s.log.Debug("media auto: not prepared", "path", "/"+p, "err", err)
				done[src.ver] = true
			default:
				s.stats.AutoPrepared.Add(1)
				done[src.ver] = true
			}
		}
	}
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
