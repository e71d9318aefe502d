package media

import (
	"errors"
	"math"
	"reflect"
	"strings"
	"testing"
)

func video(codec, pix, profile string, w, h int, fps float64) Stream {
	return Stream{Type: "video", Codec: codec, PixFmt: pix, Profile: profile, Width: w, Height: h, FrameRate: fps, Level: 40}
}

func audio(codec, profile string) Stream {
	return Stream{Type: "audio", Codec: codec, Profile: profile, Channels: 2, SampleRate: 48000}
}

func infoOf(name, container string, dur float64, streams ...Stream) *Info {
	i := &Info{name: name, Container: container, Duration: dur, Streams: streams}
	if err := classify(i); err != nil {
		panic(err)
	}
	i.Renditions = renditionsOf(i)
	return i
}

func names(rs []Rendition) []string {
	var out []string
	for _, r := range rs {
		out = append(out, r.Name+":"+r.Video+"/"+r.Audio)
	}
	return out
}

func TestRenditions(t *testing.T) {
	cases := []struct {
		info *Info
		want []string
	}{
		{infoOf("a.mkv", "matroska,webm", 60, video("h264", "yuv420p", "High", 1920, 1080, 24), audio("aac", "LC")),
			[]string{"remux:copy/copy", "1080p:h264/copy", "720p:h264/copy", "480p:h264/copy", "360p:h264/copy"}},
		{infoOf("a.mkv", "matroska,webm", 60, video("h264", "yuv420p10le", "High 10", 1280, 720, 24), audio("ac3", "")),
			[]string{"720p:h264/aac", "480p:h264/aac", "360p:h264/aac"}},
		{infoOf("phone.mp4", "mov,mp4,m4a,3gp,3g2,mj2", 10, video("hevc", "yuv420p", "Main", 1080, 1920, 30), audio("aac", "LC")),
			[]string{"1080p:h264/copy", "720p:h264/copy", "480p:h264/copy", "360p:h264/copy"}},
		{infoOf("small.avi", "avi", 10, video("mpeg4", "yuv420p", "", 160, 120, 15)),
			[]string{"120p:h264/"}},
		{infoOf("s.flac", "flac", 200, audio("flac", "")), []string{"aac:/aac"}},
		{infoOf("s.m4a", "mov,mp4,m4a,3gp,3g2,mj2", 200, audio("aac", "LC")), []string{"remux:/copy"}},
	}
	for _, c := range cases {
		if got := names(c.info.Renditions); !reflect.DeepEqual(got, c.want) {
			t.Errorf("%s: renditions %v, want %v", c.info.name, got, c.want)
		}
	}
	phone := cases[2].info.Renditions[1]
	if phone.Width != 720 || phone.Height != 1280 {
		t.Errorf("portrait 720p is %d×%d, want 720×1280", phone.Width, phone.Height)
	}
}

func TestDirectPlay(t *testing.T) {
	cases := []struct {
		info *Info
		want bool
	}{
		{infoOf("a.mp4", "mov,mp4,m4a,3gp,3g2,mj2", 5, video("h264", "yuv420p", "High", 640, 360, 30), audio("aac", "LC")), true},
		{infoOf("a.mkv", "matroska,webm", 5, video("h264", "yuv420p", "High", 640, 360, 30), audio("aac", "LC")), false},
		{infoOf("a.webm", "matroska,webm", 5, video("vp9", "yuv420p", "", 640, 360, 30), audio("opus", "")), true},
		{infoOf("a.mp4", "mov,mp4,m4a,3gp,3g2,mj2", 5, video("hevc", "yuv420p", "Main", 640, 360, 30), audio("aac", "LC")), false},
		{infoOf("a.mp4", "mov,mp4,m4a,3gp,3g2,mj2", 5, video("h264", "yuv420p", "High", 640, 360, 30), audio("ac3", "")), false},
		{infoOf("a.flac", "flac", 5, audio("flac", "")), true},
		{infoOf("a.mp3", "mp3", 5, audio("mp3", "")), true},
		{infoOf("a.m4a", "mov,mp4,m4a,3gp,3g2,mj2", 5, audio("alac", "")), false},
		{infoOf("a.wma", "asf", 5, audio("wmav2", "")), false},
	}
	for _, c := range cases {
		if got := c.info.DirectPlay; got != c.want {
			t.Errorf("%s %s %v: direct play %v, want %v", c.info.name, c.info.Container, names(c.info.Renditions), got, c.want)
		}
	}
}

func TestClassify(t *testing.T) {
	for _, c := range []struct {
		info *Info
		kind string
		err  string
	}{
		{&Info{name: "x.txt", Container: "tty", Duration: 1, Streams: []Stream{video("ansi", "", "", 640, 400, 25)}}, "", "text file"},
		{&Info{name: "x.png", Container: "png_pipe", Streams: []Stream{video("png", "rgb24", "", 64, 48, 25)}}, "image", ""},
		{&Info{name: "x.mp3", Container: "mp3", Duration: 3, Streams: []Stream{audio("mp3", ""), {Type: "video", Codec: "mjpeg", AttachedPic: true}}}, "audio", ""},
		{&Info{name: "x.bin", Container: "data", Duration: 3, Streams: []Stream{{Type: "data", Codec: "bin_data"}}}, "", "no audio or video"},
		{&Info{name: "x.ts", Container: "mpegts", Streams: []Stream{video("h264", "yuv420p", "High", 64, 48, 25)}}, "", "no duration"},
	} {
		err := classify(c.info)
		if c.err != "" {
			if err == nil || !strings.Contains(err.Error(), c.err) {
				t.Errorf("%s: err %v, want %q", c.info.name, err, c.err)
			}
			continue
		}
		if err != nil || c.info.Kind != c.kind {
			t.Errorf("%s: kind %q err %v, want %q", c.info.name, c.info.Kind, err, c.kind)
		}
	}
}

func TestPlanEncode(t *testing.T) {
	info := infoOf("a.avi", "avi", 10, video("mpeg4", "yuv420p", "", 640, 480, 25))
	p, err := newPlan(info, info.Renditions[0], nil)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(p.bounds, []float64{0, 4, 8}) || math.Abs(p.duration(2)-2) > 1e-9 {
		t.Fatalf("bounds %v, last %.3f", p.bounds, p.duration(2))
	}
	for _, c := range []struct {
		t    float64
		want int
	}{{0, 0}, {0.04, 0}, {3.5, 1}, {4.033, 1}, {7.9, 2}, {9.99, 2}, {-0.02, 0}} {
		if got := p.index(c.t); got != c.want {
			t.Errorf("index(%.3f) = %d, want %d", c.t, got, c.want)
		}
	}
	if p.seek(2) != 8 {
		t.Errorf("seek(2) = %v", p.seek(2))
	}
}

func TestPlanRemux(t *testing.T) {
	info := infoOf("a.mkv", "matroska,webm", 10.5, video("h264", "yuv420p", "High", 640, 480, 25), audio("aac", "LC"))
	kf := []float64{0.023, 1.523, 3.023, 4.523, 6.023, 7.523, 9.023, 10.4}
	p, err := newPlan(info, info.Renditions[0], kf)
	if err != nil {
		t.Fatal(err)
	}
	want := []float64{0.023, 4.523, 9.023} // first keyframe at least 4 s after the previous cut; none in the last 0.1 s
	if !reflect.DeepEqual(p.bounds, want) {
		t.Fatalf("bounds %v, want %v", p.bounds, want)
	}
	if p.tol > 0.75 || p.tol <= 0 {
		t.Errorf("tolerance %v", p.tol)
	}
	if got := p.index(4.5232); got != 1 {
		t.Errorf("index at the keyframe = %d", got)
	}
	if got := p.index(3.023); got != 0 {
		t.Errorf("index of a keyframe inside segment 0 = %d", got)
	}
	if _, err := newPlan(info, info.Renditions[0], nil); !errors.Is(err, ErrNotMedia) {
		t.Errorf("no keyframes: %v", err)
	}
}

func TestParseKeyframes(t *testing.T) {
	out := "0.023000,N/A,K_\n0.156000,N/A,__\n1.523000,1.490000,K_\nN/A,3.000000,K_\n3.000000,3.000000,K_\ngarbage\n"
	if got := parseKeyframes(out); !reflect.DeepEqual(got, []float64{0.023, 1.523, 3}) {
		t.Errorf("keyframes %v", got)
	}
}

func TestParseStreamPath(t *testing.T) {
	for _, c := range []struct {
		in   string
		src  string
		kind int
		rend string
		seg  int
		bad  bool
	}{
		{in: "videos/a.mkv/master.m3u8", src: "videos/a.mkv", kind: Master},
		{in: "a.mkv/remux.0123456789abcdef/index.m3u8", src: "a.mkv", kind: Playlist, rend: "remux"},
		{in: "x/y z.avi/720p.0123456789abcdef/init.mp4", src: "x/y z.avi", kind: Init, rend: "720p"},
		{in: "a.mkv/720p.0123456789abcdef/17.m4s", src: "a.mkv", kind: Segment, rend: "720p", seg: 17},
		{in: "master.m3u8/master.m3u8", src: "master.m3u8", kind: Master},
		{in: "master.m3u8", bad: true},
		{in: "a.mkv", bad: true},
		{in: "a.mkv/720p.0123456789abcdef/017.m4s", bad: true},
		{in: "a.mkv/720p.0123456789abcdef/-1.m4s", bad: true},
		{in: "a.mkv/720p.0123456789abcdef/1.ts", bad: true},
		{in: "a.mkv/720P.0123456789ABCDEF/1.m4s", bad: true},
		{in: "a.mkv/720p.012345/1.m4s", bad: true},
		{in: "a.mkv/720p.0123456789abcdef/99999999999.m4s", bad: true},
	} {
		src, res, err := ParseStreamPath(c.in)
		if c.bad {
			if !errors.Is(err, ErrBadRequest) {
				t.Errorf("%q: %v, want ErrBadRequest", c.in, err)
			}
			continue
		}
		if err != nil || src != c.src || res.Kind != c.kind || res.Rendition != c.rend || res.Segment != c.seg {
			t.Errorf("%q: %q %+v %v", c.in, src, res, err)
		}
	}
}

func TestCleanReason(t *testing.T) {
	url := "http://127.0.0.1:4567/0123abcd"
	stderr := "[mov,mp4,m4a,3gp,3g2,mj2 @ 0x55d0c0a1b2c0] moov atom not found\n" + url + ": Invalid data found when processing input\n"
	got := cleanReason(stderr, url, "v/a.mp4")
	if strings.Contains(got, "127.0.0.1") || strings.Contains(got, "0x55") || !strings.Contains(got, "/v/a.mp4: Invalid data") || !strings.Contains(got, "moov atom not found") {
		t.Errorf("reason %q", got)
	}
}

func TestMasterPlaylist(t *testing.T) {
	r := Rendition{Name: "720p", Width: 1280, Height: 720, Bandwidth: 3_660_000, Codecs: "avc1.640029,mp4a.40.2"}
	got := string(masterPlaylist(r, "0123456789abcdef", "s1"))
	want := "#EXTM3U\n#EXT-X-VERSION:7\n#EXT-X-INDEPENDENT-SEGMENTS\n#EXT-X-STREAM-INF:BANDWIDTH=3660000,CODECS=\"avc1.640029,mp4a.40.2\",RESOLUTION=1280x720\n720p.0123456789abcdef/index.m3u8?s=s1\n"
	if got != want {
		t.Errorf("master:\n%s\nwant:\n%s", got, want)
	}
	info := infoOf("a.avi", "avi", 9, video("mpeg4", "yuv420p", "", 640, 480, 25))
	p, _ := newPlan(info, info.Renditions[0], nil)
	mp := string(mediaPlaylist(p, "s1"))
	for _, w := range []string{"#EXT-X-TARGETDURATION:4\n", "#EXT-X-PLAYLIST-TYPE:VOD\n", "#EXT-X-MAP:URI=\"init.mp4?s=s1\"\n", "#EXTINF:1.000000,\n2.m4s?s=s1\n", "#EXT-X-ENDLIST\n"} {
		if !strings.Contains(mp, w) {
			t.Errorf("media playlist lacks %q:\n%s", w, mp)
		}
	}
}

// FuzzParseStreamPath: any path parses or is refused with ErrBadRequest;
// what parses names a resource below the source's path.
func FuzzParseStreamPath(f *testing.F) {
	for _, s := range []string{"a/b.mkv/master.m3u8", "a.mkv/720p.0123456789abcdef/3.m4s", "x/remux.0123456789abcdef/init.mp4", "/", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, p string) {
		src, res, err := ParseStreamPath(p)
		if err != nil {
			if !errors.Is(err, ErrBadRequest) {
				t.Fatalf("%q: %v", p, err)
			}
			return
		}
		if !strings.HasPrefix(p, src+"/") || res.Segment < 0 || res.Kind < Master || res.Kind > Segment {
			t.Fatalf("%q: source %q resource %+v", p, src, res)
		}
	})
}

// FuzzProbeJSON: whatever ffprobe prints, parsing and classifying it never
// panics, and a file classified as audio or video has a duration and the
// stream its kind says.
func FuzzProbeJSON(f *testing.F) {
	f.Add([]byte(`{"streams":[{"index":0,"codec_name":"h264","codec_type":"video","profile":"High","width":1920,"height":1080,"pix_fmt":"yuv420p","avg_frame_rate":"24000/1001","disposition":{"default":1}},{"index":1,"codec_name":"aac","codec_type":"audio","profile":"LC","channels":2,"sample_rate":"48000"}],"format":{"format_name":"matroska,webm","duration":"60.000","start_time":"0.000","bit_rate":"8000000"}}`))
	f.Add([]byte(`{"streams":[{"codec_type":"audio","codec_name":"flac"}],"format":{"format_name":"flac","duration":"nan"}}`))
	f.Add([]byte(`{}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		info, err := parseProbe(b)
		if err != nil {
			return
		}
		info.name = "f.mp4"
		if classify(info) != nil {
			return
		}
		switch info.Kind {
		case "video":
			if info.video < 0 || info.Duration <= 0 {
				t.Fatalf("video without a video stream or duration: %+v", info)
			}
		case "audio":
			if info.audio < 0 || info.Duration <= 0 {
				t.Fatalf("audio without an audio stream or duration: %+v", info)
			}
		}
		for _, r := range renditionsOf(info) {
			p, err := newPlan(info, r, []float64{0, 1, 2})
			if err == nil && p.count() == 0 {
				t.Fatalf("a plan without segments: %+v", r)
			}
		}
	})
}
