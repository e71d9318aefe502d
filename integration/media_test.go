package integration

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// mediaSource generates a test video with the real ffmpeg.
func mediaSource(t *testing.T, name string, seconds int, codec ...string) []byte {
	t.Helper()
	out := filepath.Join(t.TempDir(), name)
	d := strconv.Itoa(seconds)
	args := append([]string{"-v", "error", "-f", "lavfi", "-i", "testsrc=size=320x240:rate=24:duration=" + d,
		"-f", "lavfi", "-i", "sine=duration=" + d}, codec...)
	if b, err := exec.Command("ffmpeg", append(args, "-shortest", out)...).CombinedOutput(); err != nil {
		t.Fatalf("ffmpeg: %v %s", err, b)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// childPIDs returns the pids of pid's children named comm.
func childPIDs(pid int, comm string) []int {
	var out []int
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		c, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", c))
		if err != nil {
			continue
		}
		s := string(b)
		i := strings.LastIndexByte(s, ')')
		f := strings.Fields(s[i+2:])
		if len(f) > 1 && s[strings.IndexByte(s, '(')+1:i] == comm && f[1] == strconv.Itoa(pid) {
			out = append(out, c)
		}
	}
	return out
}

// TestMediaBinary: the real binary with its mount. Videos copied into the
// mount are probed, streamed as HLS (every segment fetched and decoded)
// and thumbnailed over the node's HTTP port; /status describes media;
// the cache is in the node's data dir; stopping the node stops the
// ffmpeg it was running.
func TestMediaBinary(t *testing.T) {
	port := freeTCPPort(t)
	n := StartNode(t, NodeOptions{ExtraArgs: []string{"--http-port", strconv.Itoa(port), "--media-cache-size", "64M"}})
	base := "http://127.0.0.1:" + strconv.Itoa(port)
	mnt := n.Mountpoint()
	if err := os.Mkdir(filepath.Join(mnt, "videos"), 0o755); err != nil {
		t.Fatal(err)
	}
	writeFileSync(t, filepath.Join(mnt, "videos", "phone.mkv"), mediaSource(t, "phone.mkv", 8,
		"-c:v", "libx265", "-preset", "ultrafast", "-x265-params", "log-level=error", "-c:a", "aac"), 0o644)
	writeFileSync(t, filepath.Join(mnt, "videos", "long.avi"), mediaSource(t, "long.avi", 150, "-c:v", "mpeg4", "-q:v", "8", "-c:a", "libmp3lame"), 0o644)

	code, body := httpDo(t, "GET", base+"/api/media/videos/phone.mkv", nil)
	var info struct {
		Kind       string
		Renditions []struct{ Name, Video string }
		StreamURL  string `json:"stream_url"`
	}
	if code != 200 || json.Unmarshal(body, &info) != nil || info.Kind != "video" || len(info.Renditions) == 0 || info.Renditions[0].Video != "h264" {
		t.Fatalf("probe: %d %s", code, body)
	}
	joined := fetchHLS(t, base, info.StreamURL)
	f := filepath.Join(t.TempDir(), "joined.mp4")
	os.WriteFile(f, joined, 0o644)
	if out, err := exec.Command("ffmpeg", "-v", "error", "-xerror", "-i", f, "-f", "null", "-").CombinedOutput(); err != nil || len(out) > 0 {
		t.Fatalf("the streamed HEVC does not decode: %v %s", err, out)
	}
	if code, body := httpDo(t, "GET", base+"/api/thumbnail/videos/phone.mkv?size=128", nil); code != 200 || len(body) < 4 || body[0] != 0xFF || body[1] != 0xD8 {
		t.Errorf("thumbnail: %d, %d bytes", code, len(body))
	}
	code, body = httpDo(t, "GET", base+"/status", nil)
	var st struct {
		Media struct {
			Available  bool
			CacheDir   string `json:"cache_dir"`
			CacheBytes int64  `json:"cache_bytes"`
			CacheCap   int64  `json:"cache_cap_bytes"`
		}
	}
	if code != 200 || json.Unmarshal(body, &st) != nil || !st.Media.Available || st.Media.CacheDir != filepath.Join(n.NodeDir(), "media-cache") ||
		st.Media.CacheBytes == 0 || st.Media.CacheCap != 64<<20 {
		t.Errorf("status: %d %s", code, body)
	}

	// A stream in progress: its ffmpeg (paused, far ahead) dies with the node.
	fetchHLSSegments(t, base, "/api/stream/videos/long.avi/master.m3u8", 1)
	n.mu.Lock()
	pid := n.proc.cmd.Process.Pid
	n.mu.Unlock()
	var kids []int
	eventually(t, 10*time.Second, "ffmpeg running for the stream", func() string {
		if kids = childPIDs(pid, "ffmpeg"); len(kids) == 0 {
			return "no ffmpeg child"
		}
		return ""
	})
	n.Stop()
	for _, k := range kids {
		if _, err := os.Stat(fmt.Sprintf("/proc/%d", k)); err == nil {
			if b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/comm", k)); strings.TrimSpace(string(b)) == "ffmpeg" {
				t.Errorf("ffmpeg %d survived the node", k)
			}
		}
	}
}

// TestMediaFromNonHolder: two nodes keeping one copy of every chunk; the
// node that lacks some of a video's chunks probes, streams and thumbnails
// it anyway: ffprobe and ffmpeg read through the core, which fetches the
// missing chunks from the other node like any read.
func TestMediaFromNonHolder(t *testing.T) {
	net := NewNet(t, 2)
	n0 := startReplNode(t, net.Hosts[0], "m0")
	n1 := startReplNode(t, net.Hosts[1], "m1")
	apiCall(t, net.Hosts[0], "PUT", "/api/partition-sync-interval", `{"partition_sync_interval_seconds": 1}`)
	apiCall(t, net.Hosts[0], "PUT", "/api/replication-factor", `{"replication_factor": 1}`)
	video := mediaSource(t, "home.avi", 10, "-c:v", "mpeg4", "-q:v", "2", "-c:a", "libmp3lame")
	writeFileSync(t, filepath.Join(n0.Mountpoint(), "home.avi"), video, 0o644)
	eventually(t, 30*time.Second, "the file listed on m1", func() string {
		if st, err := os.Stat(filepath.Join(n1.Mountpoint(), "home.avi")); err != nil || st.Size() != int64(len(video)) {
			return fmt.Sprintf("stat: %v", err) // a stat, not a read: m1 must not fetch the chunks yet
		}
		return ""
	})
	all := chunkCopies(n0, n1)
	eventually(t, 60*time.Second, "every chunk on its one holder", onHolders(all, 1, n0, n1))
	missing := 0
	for id := range all {
		missing += 1 - chunkCopiesOf(n1, id)
	}
	if missing == 0 {
		t.Fatalf("m1 holds all %d chunks: nothing to fetch", len(all))
	}
	t.Logf("m1 lacks %d of the %d chunks of a %d-byte video", missing, len(all), len(video))

	base := NSProxy(t, net.Hosts[1], "127.0.0.1:8080")
	code, body := httpDo(t, "GET", base+"/api/media/home.avi", nil)
	var info struct {
		Kind      string
		Duration  float64 `json:"duration_seconds"`
		StreamURL string  `json:"stream_url"`
	}
	if code != 200 || json.Unmarshal(body, &info) != nil || info.Kind != "video" || info.Duration < 9.5 {
		t.Fatalf("probe on m1: %d %s", code, body)
	}
	f := filepath.Join(t.TempDir(), "joined.mp4")
	if err := os.WriteFile(f, fetchHLS(t, base, info.StreamURL), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("ffmpeg", "-v", "error", "-xerror", "-i", f, "-f", "null", "-").CombinedOutput(); err != nil || len(out) > 0 {
		t.Fatalf("the stream m1 made does not decode: %v %s", err, out)
	}
	if code, body := httpDo(t, "GET", base+"/api/thumbnail/home.avi?size=128", nil); code != 200 || len(body) < 4 || body[0] != 0xFF || body[1] != 0xD8 {
		t.Errorf("thumbnail on m1: %d, %d bytes", code, len(body))
	}
}

// fetchHLS fetches a master playlist, its media playlist, the init segment
// and every segment, and returns init + segments.
func fetchHLS(t *testing.T, base, master string) []byte {
	t.Helper()
	return fetchHLSSegments(t, base, master, -1)
}

// fetchHLSSegments fetches the first n segments (-1: all).
func fetchHLSSegments(t *testing.T, base, master string, n int) []byte {
	t.Helper()
	code, body := httpDo(t, "GET", base+master, nil)
	if code != 200 {
		t.Fatalf("GET %s: %d %s", master, code, body)
	}
	dir := master[:strings.LastIndexByte(master, '/')+1]
	variant := lastLine(string(body))
	code, body = httpDo(t, "GET", base+dir+variant, nil)
	if code != 200 {
		t.Fatalf("GET %s: %d %s", variant, code, body)
	}
	vdir := dir + variant[:strings.IndexByte(variant, '/')+1]
	var urls []string
	for _, l := range strings.Split(string(body), "\n") {
		switch {
		case strings.HasPrefix(l, "#EXT-X-MAP:URI=\""):
			urls = append(urls, vdir+strings.TrimSuffix(strings.TrimPrefix(l, "#EXT-X-MAP:URI=\""), "\""))
		case l != "" && !strings.HasPrefix(l, "#"):
			if n >= 0 && len(urls) > n {
				continue
			}
			urls = append(urls, vdir+l)
		}
	}
	var out []byte
	for _, u := range urls {
		code, b := httpDo(t, "GET", base+u, nil)
		if code != 200 {
			t.Fatalf("GET %s: %d %s", u, code, b)
		}
		out = append(out, b...)
	}
	return out
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return strings.TrimSpace(lines[len(lines)-1])
}
