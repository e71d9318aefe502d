package media_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
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
	"github.com/clusterf/clusterf/web"
)

// env is the REST API (package api, with the dashboard) over a media
// service over a real filesystem core, on a loopback HTTP server: the
// tests talk HTTP like a player does.
type env struct {
	t   *testing.T
	svc *media.Service
	fs  *replica.FS
	ts  *httptest.Server
}

func newEnv(t *testing.T, cfg media.Config) *env {
	t.Helper()
	svc := media.NewTestService(t, cfg)
	srv, err := api.New(api.Config{FS: svc.FS(), Media: svc, Registry: prometheus.NewRegistry(), UI: web.Handler()})
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(srv.Handler())
	t.Cleanup(ts.Close)
	return &env{t: t, svc: svc, fs: svc.FS(), ts: ts}
}

// with returns e for subtest t (failures belong to the subtest).
func (e *env) with(t *testing.T) *env {
	c := *e
	c.t = t
	return &c
}

// put stores a generated source at cluster path p.
func (e *env) put(key, p string) media.Source {
	e.t.Helper()
	local, src := media.GenSource(e.t, key)
	media.PutFile(e.t, e.fs, p, local)
	return src
}

func (e *env) get(ctx context.Context, path string, hdr ...string) (*http.Response, []byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, e.ts.URL+path, nil)
	if err != nil {
		return nil, nil, err
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := e.ts.Client().Do(req)
	if err != nil {
		return nil, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp, b, err
}

// want GETs path and checks the status.
func (e *env) want(status int, path string, hdr ...string) ([]byte, *http.Response) {
	e.t.Helper()
	resp, b, err := e.get(e.t.Context(), path, hdr...)
	if err != nil {
		e.t.Fatalf("GET %s: %v", path, err)
	}
	if resp.StatusCode != status {
		e.t.Fatalf("GET %s: status %d, want %d: %s", path, resp.StatusCode, status, b)
	}
	return b, resp
}

// wantErr checks an error status and returns the JSON error message.
func (e *env) wantErr(status int, path string) string {
	e.t.Helper()
	b, _ := e.want(status, path)
	var eb struct{ Error string }
	if err := json.Unmarshal(b, &eb); err != nil || eb.Error == "" {
		e.t.Fatalf("GET %s: error body %q is not {\"error\": ...}", path, b)
	}
	return eb.Error
}

func (e *env) info(p string) api.MediaInfo {
	e.t.Helper()
	b, _ := e.want(200, "/api/media/"+p)
	var mi api.MediaInfo
	if err := json.Unmarshal(b, &mi); err != nil {
		e.t.Fatal(err)
	}
	return mi
}

// stream is one viewer's HLS playlist.
type stream struct {
	dir  string   // URL path of the variant directory
	init string   // init segment URL path
	segs []string // segment URL paths
	durs []float64
}

// open fetches the master playlist (with query) and its media playlist.
func (e *env) open(p, query string) *stream {
	e.t.Helper()
	master := "/api/stream/" + p + "/master.m3u8"
	if query != "" {
		master += "?" + query
	}
	b, _ := e.want(200, master)
	variant := lastURI(string(b))
	if variant == "" {
		e.t.Fatalf("master playlist without a variant: %s", b)
	}
	base := "/api/stream/" + p + "/"
	u, _ := url.Parse(base + variant)
	st := &stream{dir: base + variant[:strings.IndexByte(variant, '/')+1]}
	b, _ = e.want(200, u.String())
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		l := sc.Text()
		switch {
		case strings.HasPrefix(l, "#EXT-X-MAP:URI=\""):
			st.init = st.dir + strings.TrimSuffix(strings.TrimPrefix(l, "#EXT-X-MAP:URI=\""), "\"")
		case strings.HasPrefix(l, "#EXTINF:"):
			d, _ := strconv.ParseFloat(strings.TrimSuffix(strings.TrimPrefix(l, "#EXTINF:"), ","), 64)
			st.durs = append(st.durs, d)
		case l != "" && !strings.HasPrefix(l, "#"):
			st.segs = append(st.segs, st.dir+l)
		}
	}
	if st.init == "" || len(st.segs) == 0 || len(st.segs) != len(st.durs) {
		e.t.Fatalf("bad media playlist: %s", b)
	}
	return st
}

func lastURI(pl string) string {
	var last string
	for _, l := range strings.Split(pl, "\n") {
		if l = strings.TrimSpace(l); l != "" && !strings.HasPrefix(l, "#") {
			last = l
		}
	}
	return last
}

// fetchAll fetches the init segment and every segment and joins them.
func (e *env) fetchAll(st *stream) []byte {
	e.t.Helper()
	b, _ := e.want(200, st.init)
	out := append([]byte(nil), b...)
	for _, s := range st.segs {
		b, _ := e.want(200, s)
		out = append(out, b...)
	}
	return out
}

// probed is what ffprobe says about a joined stream.
type probed struct {
	duration     float64 // end - start
	start        float64
	videoFrames  int
	audioFrames  int
	video, audio string // codecs
}

// probeBytes writes b to a file and probes it with counted frames, after
// checking that ffmpeg decodes all of it without an error.
func probeBytes(t *testing.T, b []byte) probed {
	t.Helper()
	f := filepath.Join(t.TempDir(), "joined.mp4")
	if err := os.WriteFile(f, b, 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("ffmpeg", "-v", "error", "-xerror", "-i", f, "-f", "null", "-").CombinedOutput(); err != nil || len(bytes.TrimSpace(out)) > 0 {
		t.Fatalf("decoding the joined stream: %v: %s", err, out)
	}
	out, err := exec.Command("ffprobe", "-v", "error", "-count_frames", "-show_entries",
		"format=duration,start_time:stream=codec_type,codec_name,nb_read_frames", "-of", "json", f).Output()
	if err != nil {
		t.Fatalf("ffprobe: %v", err)
	}
	var pj struct {
		Streams []struct {
			CodecType string `json:"codec_type"`
			CodecName string `json:"codec_name"`
			Frames    string `json:"nb_read_frames"`
		}
		Format struct {
			Duration  string
			StartTime string `json:"start_time"`
		}
	}
	if err := json.Unmarshal(out, &pj); err != nil {
		t.Fatal(err)
	}
	var p probed
	p.start, _ = strconv.ParseFloat(pj.Format.StartTime, 64)
	end, _ := strconv.ParseFloat(pj.Format.Duration, 64)
	p.duration = end - p.start // the mov demuxer reports the end time for streams that start late
	for _, s := range pj.Streams {
		n, _ := strconv.Atoi(s.Frames)
		switch s.CodecType {
		case "video":
			p.video, p.videoFrames = s.CodecName, n
		case "audio":
			p.audio, p.audioFrames = s.CodecName, n
		}
	}
	return p
}

// packetHashes returns the MD5 of every video packet of a file.
func packetHashes(t *testing.T, path string) string {
	t.Helper()
	out, err := exec.Command("ffprobe", "-v", "error", "-select_streams", "v:0", "-show_entries", "packet=data_hash",
		"-show_data_hash", "MD5", "-of", "csv=p=0", path).Output()
	if err != nil {
		t.Fatalf("ffprobe packets of %s: %v", path, err)
	}
	return string(out)
}

func writeTemp(t *testing.T, b []byte) string {
	t.Helper()
	f := filepath.Join(t.TempDir(), "out.mp4")
	if err := os.WriteFile(f, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return f
}

// children counts our ffmpeg/ffprobe children.
func children() int { return len(media.Children()) }

// waitNoChildren waits until no ffmpeg or ffprobe child is left.
func waitNoChildren(t *testing.T) {
	t.Helper()
	media.NoChildrenLeft(t)
}

func eventually(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	media.Eventually(t, d, what, cond)
}

func fmtSecs(f float64) string { return fmt.Sprintf("%.2f s", f) }

func replicaOwner() replica.Owner    { return replica.Owner{} }
func replicaPut() replica.PutOptions { return replica.PutOptions{} }

// testPNG encodes a w×h gradient.
func testPNG(t *testing.T, w, h int) []byte {
	t.Helper()
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			img.Set(x, y, color.RGBA{uint8(x), uint8(y), 128, 255})
		}
	}
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}
