package api

import (
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/clusterf/clusterf/crdt"
	"github.com/clusterf/clusterf/media"
	"github.com/clusterf/clusterf/replica"
)

// newMediaEnv is a server with a media service (ffmpeg as given: "" finds
// it on PATH, a missing path makes the service unavailable).
func newMediaEnv(t *testing.T, ffmpeg string) *testEnv {
	t.Helper()
	fs := replica.TestFS(t, 64<<10)
	svc, err := media.New(media.Config{FS: fs, CacheDir: t.TempDir(), FFmpeg: ffmpeg, FFprobe: ffmpeg})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { svc.Close() })
	return newEnv(t, Config{FS: fs, Media: svc, Cluster: &fakeCluster{rf: 1}})
}

// TestMediaStatus: /status and /api/cluster-stats carry the media part;
// without ffmpeg it says media is unavailable and why, in warnings too.
func TestMediaStatus(t *testing.T) {
	e := newMediaEnv(t, "/nonexistent/ffmpeg")
	for _, p := range []string{"/status", "/api/cluster-stats"} {
		st := decode[Status](t, e.want(200, "GET", p, nil))
		if st.Media == nil || st.Media.Available || !strings.Contains(st.Media.Reason, "ffmpeg") {
			t.Fatalf("%s: media %+v", p, st.Media)
		}
		if !strings.Contains(strings.Join(st.Warnings, "\n"), "media unavailable") {
			t.Errorf("%s: warnings %v", p, st.Warnings)
		}
	}
	e.put("/api/files/v.mkv", []byte("not really a video"))
	for _, p := range []string{"/api/media/v.mkv", "/api/stream/v.mkv/master.m3u8", "/api/thumbnail/v.mkv"} {
		if msg := e.wantErr(501, "GET", p, nil); !strings.Contains(msg, "apt-get install ffmpeg") {
			t.Errorf("%s: %q", p, msg)
		}
	}
	ok := newMediaEnv(t, "")
	st := decode[Status](t, ok.want(200, "GET", "/status", nil))
	if st.Media == nil || !st.Media.Available || st.Media.CacheCapBytes != media.DefaultCacheSize {
		t.Errorf("with ffmpeg: media %+v", st.Media)
	}
}

// TestMediaNotConfigured: a server without a media service answers 501
// on every media route, and /status has no media part.
func TestMediaNotConfigured(t *testing.T) {
	e := newEnv(t, Config{Cluster: &fakeCluster{rf: 1}})
	for _, p := range []string{"/api/media/a.mkv", "/api/stream/a.mkv/master.m3u8", "/api/thumbnail/a.jpg"} {
		e.wantErr(501, "GET", p, nil)
	}
	if st := decode[Status](t, e.want(200, "GET", "/status", nil)); st.Media != nil {
		t.Errorf("media %+v without a media service", st.Media)
	}
	e.wantErr(400, "GET", "/api/media/%2e%2e/x", nil) // paths are checked first
}

// TestMediaErrorStatuses: the one mapping of the media package's errors.
func TestMediaErrorStatuses(t *testing.T) {
	for _, c := range []struct {
		err    error
		status int
	}{
		{&media.BusyError{Limit: 2, RetryAfter: 10 * time.Second}, 503},
		{fmt.Errorf("x: %w", media.ErrUnavailable), 501},
		{fmt.Errorf("%w: moov atom not found", media.ErrNotMedia), 415},
		{media.ErrNoRendition, 404},
		{media.ErrNoSegment, 404},
		{media.ErrNoThumbnail, 404},
		{media.ErrChanged, 410},
		{media.ErrSuperseded, 409},
		{media.ErrBadRequest, 400},
		{fmt.Errorf("%w: ffmpeg was killed", media.ErrTranscode), 502},
		{media.ErrTimeout, 504},
		{media.ErrClosed, 503},
		{fmt.Errorf("walk: %w", crdt.ErrNotFound), 404},
		{fmt.Errorf("/d: %w", crdt.ErrIsDir), 409},
	} {
		c2 := echo.New().NewContext(httptest.NewRequest("GET", "/", nil), httptest.NewRecorder())
		got, msg := statusOf(mediaErr(c2, c.err))
		if got != c.status {
			t.Errorf("%v: %d, want %d", c.err, got, c.status)
		}
		if c.status != 500 && !strings.Contains(msg, strings.SplitN(c.err.Error(), ":", 2)[0]) {
			t.Errorf("%v: message %q", c.err, msg)
		}
		var busy *media.BusyError
		if errors.As(c.err, &busy) && c2.Response().Header().Get("Retry-After") != "10" {
			t.Errorf("busy: Retry-After %q", c2.Response().Header().Get("Retry-After"))
		}
	}
}

// TestPlayerPage: the page and its embedded assets, with a CSP; nothing
// else below it.
func TestPlayerPage(t *testing.T) {
	e := newEnv(t, Config{})
	resp, b := e.do("GET", "/media/player?path=/v/a.mkv", nil)
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") ||
		!strings.Contains(resp.Header.Get("Content-Security-Policy"), "script-src 'self'") || !strings.Contains(string(b), "<video") {
		t.Fatalf("player page: %d %v %.100s", resp.StatusCode, resp.Header, b)
	}
	for _, a := range []string{"player.js", "hls.light.min.js", "LICENSE.hls.js"} {
		if resp, b := e.do("GET", "/media/player/"+a, nil); resp.StatusCode != 200 || len(b) == 0 {
			t.Errorf("%s: %d", a, resp.StatusCode)
		}
	}
	for _, p := range []string{"/media/player/nope.js", "/media/player/..%2fplayer.go", "/media/player/.hidden"} {
		if resp, _ := e.do("GET", p, nil); resp.StatusCode != http.StatusNotFound {
			t.Errorf("%s: %d, want 404", p, resp.StatusCode)
		}
	}
}

// TestMediaVersionIsETag: the media cache key and the REST API's ETag are
// one notion (inode, content version, size, mtime).
func TestMediaVersionIsETag(t *testing.T) {
	e := newEnv(t, Config{})
	e.put("/api/files/v.mkv", []byte("content"))
	a, err := e.fs.Walk(t.Context(), "v.mkv")
	if err != nil {
		t.Fatal(err)
	}
	info := e.srv.inodeInfos(a)[0]
	if etag := etagOf(a, info); !strings.HasPrefix(etag, `"`+media.VersionKey(a, info.version)) {
		t.Errorf("ETag %s, media version %s", etag, media.VersionKey(a, info.version))
	}
}
