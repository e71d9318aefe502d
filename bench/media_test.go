//go:build bench

package bench

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/clusterf/clusterf/api"
	"github.com/clusterf/clusterf/media"
	"github.com/clusterf/clusterf/replica"
)

// BenchmarkMedia measures media streaming on this machine for a 1080p
// source of MEDIA_SECONDS (default 60) seconds, remuxed (H.264/AAC in
// MKV) and encoded (HEVC/AAC in MKV, as phones record, to the 1080p
// H.264 rendition): the time to the first segment of a cold start (probe,
// keyframe scan for the remux, playlist, init, segment 0), the time to
// the first segment at 80% when a player opens the file there (keyframe
// index and init segment cached from an earlier play) and when a viewer
// that played the start seeks there (its run restarted there), and
// the transcode speed in × real time (every segment fetched in order as
// fast as they come). A player starts once it has the first segment, so
// these times are when playback can start. Nothing is asserted.
func BenchmarkMedia(b *testing.B) {
	secs := 60
	if v, err := strconv.Atoi(os.Getenv("MEDIA_SECONDS")); err == nil && v > 0 {
		secs = v
	}
	dir := b.TempDir()
	sources := []struct{ name, file, what string }{
		{"remux", "h264.mkv", "H.264/AAC MKV, remuxed"},
		{"encode", "hevc.mkv", "HEVC/AAC MKV, encoded to 1080p H.264"},
	}
	gen := map[string][]string{
		"h264.mkv": {"-c:v", "libx264", "-preset", "veryfast", "-g", "48", "-pix_fmt", "yuv420p", "-b:v", "8M"},
		"hevc.mkv": {"-c:v", "libx265", "-preset", "ultrafast", "-x265-params", "log-level=error:keyint=48", "-pix_fmt", "yuv420p", "-b:v", "6M"},
	}
	for _, s := range sources {
		start := time.Now()
		d := strconv.Itoa(secs)
		args := append([]string{"-v", "error", "-f", "lavfi", "-i", "testsrc2=size=1920x1080:rate=24:duration=" + d,
			"-f", "lavfi", "-i", "sine=frequency=440:duration=" + d}, gen[s.file]...)
		args = append(args, "-c:a", "aac", "-b:a", "128k", "-shortest", filepath.Join(dir, s.file))
		if out, err := exec.Command("ffmpeg", args...).CombinedOutput(); err != nil {
			b.Fatalf("generate %s: %v %s", s.file, err, out)
		}
		b.Logf("generated %s (%d s 1080p) in %s", s.file, secs, time.Since(start).Round(time.Second))
	}
	type result struct {
		what                           string
		cold, seek, seekPlaying, total time.Duration
		segments, seekIndex            int
		restarts                       int64 // of the seek while playing
		bytes                          int64
	}
	var results []result
	for range b.N {
		results = results[:0]
		for _, s := range sources {
			r := result{what: s.what}
			fs := benchFS(b, filepath.Join(dir, s.file))
			cold := b.TempDir()
			e := newMediaBench(b, fs, cold)
			start := time.Now()
			st := e.open()
			e.fetch(st.init)
			r.bytes += e.fetch(st.segs[0])
			r.cold = time.Since(start)
			r.segments = len(st.segs)
			e.close()
			// Seek: what a viewer's jump to 80% costs once the file was
			// opened before (its keyframe index and init segment cached,
			// as after any earlier play): an ffmpeg started at 80%.
			warm := b.TempDir()
			copyCache(b, cold, warm, "-keyframes.json", "-init.mp4")
			e = newMediaBench(b, fs, warm)
			st = e.open()
			e.fetch(st.init)
			r.seekIndex = len(st.segs) * 8 / 10
			start = time.Now()
			e.fetch(st.segs[r.seekIndex])
			r.seek = time.Since(start)
			e.close()
			// Seek while playing: the same viewer played the start first,
			// so the seek stops its ffmpeg and starts one at 80% (or waits
			// for it when it makes that segment sooner than a restart).
			warm = b.TempDir()
			copyCache(b, cold, warm, "-keyframes.json", "-init.mp4")
			e = newMediaBench(b, fs, warm)
			st = e.open()
			e.fetch(st.init)
			e.fetch(st.segs[0])
			restarts := e.svc.Stats().Restarts.Load()
			start = time.Now()
			e.fetch(st.segs[r.seekIndex])
			r.seekPlaying = time.Since(start)
			r.restarts = e.svc.Stats().Restarts.Load() - restarts
			e.close()
			// Speed: a fresh service, every segment in order.
			e = newMediaBench(b, fs, b.TempDir())
			start = time.Now()
			st = e.open()
			e.fetch(st.init)
			for _, u := range st.segs {
				r.bytes += e.fetch(u)
			}
			r.total = time.Since(start)
			e.close()
			results = append(results, r)
		}
	}
	fmt.Printf("\nmedia: %d s 1080p source, %d cores; a player starts with the first segment\n", secs, runtimeCPUs())
	fmt.Printf("%-40s %14s %14s %24s %12s %9s\n", "source", "first segment", "opened at 80%", "seek to 80% while playing", "× real time", "segments")
	for _, r := range results {
		speed := float64(secs) / r.total.Seconds()
		fmt.Printf("%-40s %14s %14s %13s (%d restart) %11.1f× %9d\n", r.what, r.cold.Round(time.Millisecond), r.seek.Round(time.Millisecond),
			r.seekPlaying.Round(time.Millisecond), r.restarts, speed, r.segments)
		mode := map[bool]string{true: "remux", false: "encode"}[strings.Contains(r.what, "remuxed")]
		b.ReportMetric(float64(r.cold.Milliseconds()), mode+"-first-ms")
		b.ReportMetric(float64(r.seek.Milliseconds()), mode+"-seek-ms")
		b.ReportMetric(float64(r.seekPlaying.Milliseconds()), mode+"-seek-playing-ms")
		b.ReportMetric(speed, mode+"-x-realtime")
	}
}

func runtimeCPUs() int {
	out, _ := exec.Command("nproc").Output()
	n, _ := strconv.Atoi(strings.TrimSpace(string(out)))
	return n
}

// mediaBench is a media service behind the REST API on loopback.
type mediaBench struct {
	b   *testing.B
	svc *media.Service
	ts  *httptest.Server
}

// copyCache copies the cache entries whose names end in one of suffixes.
func copyCache(b *testing.B, from, to string, suffixes ...string) {
	ents, err := os.ReadDir(from)
	if err != nil {
		b.Fatal(err)
	}
	for _, e := range ents {
		for _, suf := range suffixes {
			if strings.HasSuffix(e.Name(), suf) {
				data, err := os.ReadFile(filepath.Join(from, e.Name()))
				if err != nil {
					b.Fatal(err)
				}
				if err := os.WriteFile(filepath.Join(to, e.Name()), data, 0o600); err != nil {
					b.Fatal(err)
				}
			}
		}
	}
}

// benchFS is a filesystem core holding local at v/source.mkv.
func benchFS(b *testing.B, local string) *replica.FS {
	fs := replica.TestFS(b, 0)
	f, err := os.Open(local)
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	if _, err := fs.PutFile(b.Context(), "v/source.mkv", f, replica.PutOptions{}); err != nil {
		b.Fatal(err)
	}
	return fs
}

func newMediaBench(b *testing.B, fs *replica.FS, cacheDir string) *mediaBench {
	b.Helper()
	svc, err := media.New(media.Config{FS: fs, CacheDir: cacheDir})
	if err != nil {
		b.Fatal(err)
	}
	srv, err := api.New(api.Config{FS: fs, Media: svc, Registry: prometheus.NewRegistry()})
	if err != nil {
		b.Fatal(err)
	}
	return &mediaBench{b: b, svc: svc, ts: httptest.NewServer(srv.Handler())}
}

func (e *mediaBench) close() {
	e.ts.Close()
	e.svc.Close()
}

func (e *mediaBench) fetch(path string) int64 {
	e.b.Helper()
	resp, err := e.ts.Client().Get(e.ts.URL + path)
	if err != nil {
		e.b.Fatal(err)
	}
	defer resp.Body.Close()
	n, err := io.Copy(io.Discard, resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		e.b.Fatalf("GET %s: %d %v", path, resp.StatusCode, err)
	}
	return n
}

type benchStream struct {
	init string
	segs []string
}

// open loads the master playlist (a new session) and its media playlist.
func (e *mediaBench) open() benchStream {
	e.b.Helper()
	get := func(p string) []byte {
		resp, err := e.ts.Client().Get(e.ts.URL + p)
		if err != nil {
			e.b.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != 200 {
			e.b.Fatalf("GET %s: %d %s", p, resp.StatusCode, body)
		}
		return body
	}
	base := "/api/stream/v/source.mkv/"
	master := get(base + "master.m3u8")
	var variant string
	for _, l := range strings.Split(string(master), "\n") {
		if l != "" && !strings.HasPrefix(l, "#") {
			variant = l
		}
	}
	dir := base + variant[:strings.IndexByte(variant, '/')+1]
	var st benchStream
	sc := bufio.NewScanner(bytes.NewReader(get(base + variant)))
	for sc.Scan() {
		l := sc.Text()
		switch {
		case strings.HasPrefix(l, "#EXT-X-MAP:URI=\""):
			st.init = dir + strings.TrimSuffix(strings.TrimPrefix(l, "#EXT-X-MAP:URI=\""), "\"")
		case l != "" && !strings.HasPrefix(l, "#"):
			st.segs = append(st.segs, dir+l)
		}
	}
	return st
}
