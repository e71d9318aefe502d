package media

import (
	"errors"
	"fmt"
	"time"
)

// ErrUnavailable: ffmpeg or ffprobe is not installed on this node (501).
var ErrUnavailable = errors.New("media streaming is unavailable on this node: ffmpeg/ffprobe not found (Debian: apt-get install ffmpeg)")

// ErrNotMedia: the file is not audio, video or an image ffmpeg can read;
// the error text carries ffprobe's reason (415).
var ErrNotMedia = errors.New("not a media file")

// ErrNoRendition: the stream names a rendition the source does not have,
// or the file has no streamable audio or video (404).
var ErrNoRendition = errors.New("no such rendition")

// ErrNoSegment: a segment index outside the playlist (404).
var ErrNoSegment = errors.New("no such segment")

// ErrNoThumbnail: the file has no picture to make a thumbnail of (an
// audio file without cover art) (404).
var ErrNoThumbnail = errors.New("no picture to make a thumbnail of")

// ErrChanged: a playlist or segment URL names a version of the file that
// is no longer current; reload master.m3u8 (410).
var ErrChanged = errors.New("the file changed since this playlist was made: reload master.m3u8")

// ErrTranscode: ffmpeg failed or was killed while producing what was asked
// for; the error text says why (502).
var ErrTranscode = errors.New("transcoding failed")

// ErrTimeout: a segment was not ready in time (504).
var ErrTimeout = errors.New("timed out waiting for the transcoder")

// ErrSuperseded: the viewer asked for another segment meanwhile (a seek)
// and no run makes this one (409): the newest request steers the
// viewer's transcode.
var ErrSuperseded = errors.New("the viewer asked for another segment since (a seek): this request no longer steers the transcode")

// ErrClosed: the service is shutting down (503).
var ErrClosed = errors.New("media service is shutting down")

// ErrBadRequest: a malformed stream path or parameter (400).
var ErrBadRequest = errors.New("bad media request")

// BusyError: the limit of concurrent transcodes is reached (503 with
// Retry-After). It wraps nothing; test with errors.As.
type BusyError struct {
	Limit      int
	RetryAfter time.Duration
}

func (e *BusyError) Error() string {
	return fmt.Sprintf("all %d transcode slots of this node are busy: retry in %d s", e.Limit, int(e.RetryAfter.Seconds()))
}

// notMedia wraps ErrNotMedia with a reason.
func notMedia(path, reason string) error {
	return fmt.Errorf("%w: /%s: %s", ErrNotMedia, path, reason)
}
