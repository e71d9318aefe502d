package media_test

import (
	"math"
	"strings"
	"testing"

	"github.com/clusterf/clusterf/media"
)

// TestFormats streams every generated source over HTTP: the probe, the
// master and media playlists, the init segment and every segment; the
// joined result must decode without an error, last as long as the
// source (within one segment) and carry the source's kinds of streams.
// H.264/AAC in MKV is remuxed: no encoder runs and the video packets are
// the source's, byte for byte. Audio files (FLAC, ALAC in M4A, Ogg
// Vorbis, WAV) stream as AAC; direct_play says which a browser plays.
func TestFormats(t *testing.T) {
	cases := []struct {
		key, name  string
		kind       string
		rendition  string // the default
		directPlay bool
		remux      bool
		video      string // output codecs
		audio      string
	}{
		{key: "h264-aac-mkv", name: "movies/film.mkv", kind: "video", rendition: "remux", remux: true, video: "h264", audio: "aac"},
		{key: "h264-aac-mp4", name: "movies/film.mp4", kind: "video", rendition: "remux", directPlay: true, remux: true, video: "h264", audio: "aac"},
		{key: "hevc-mkv", name: "phone/VID_0001.mkv", kind: "video", rendition: "240p", video: "h264", audio: "aac"},
		{key: "vp9-webm", name: "web/clip.webm", kind: "video", rendition: "240p", directPlay: true, video: "h264", audio: "aac"},
		{key: "mpeg4-avi", name: "old/home video.avi", kind: "video", rendition: "240p", video: "h264", audio: "aac"},
		{key: "flac", name: "music/song.flac", kind: "audio", rendition: "aac", directPlay: true, audio: "aac"},
		{key: "alac-m4a", name: "music/lossless.m4a", kind: "audio", rendition: "aac", audio: "aac"},
		{key: "vorbis-ogg", name: "music/song.ogg", kind: "audio", rendition: "aac", directPlay: true, audio: "aac"},
		{key: "wav", name: "music/song.wav", kind: "audio", rendition: "aac", directPlay: true, audio: "aac"},
	}
	e := newEnv(t, media.Config{})
	for _, c := range cases {
		t.Run(c.key, func(t *testing.T) {
			local, src := media.GenSource(t, c.key)
			media.PutFile(t, e.fs, c.name, local)
			mi := e.info(c.name)
			if mi.Kind != c.kind || mi.DirectPlay != c.directPlay || len(mi.Renditions) == 0 || mi.Renditions[0].Name != c.rendition {
				t.Fatalf("probe: kind %s direct %v renditions %+v; want %s %v %s", mi.Kind, mi.DirectPlay, mi.Renditions, c.kind, c.directPlay, c.rendition)
			}
			if math.Abs(mi.Duration-src.Duration) > 0.5 || mi.StreamURL == "" || mi.ThumbnailURL == "" {
				t.Fatalf("probe: duration %.2f (source %.2f), urls %q %q", mi.Duration, src.Duration, mi.StreamURL, mi.ThumbnailURL)
			}
			enc0, remux0 := e.svc.Stats().EncodeRuns.Load(), e.svc.Stats().RemuxRuns.Load()
			st := e.open(strings.ReplaceAll(c.name, " ", "%20"), "")
			joined := e.fetchAll(st)
			p := probeBytes(t, joined)
			seg := mi.Renditions[0].Segment
			if math.Abs(p.duration-src.Duration) > seg {
				t.Errorf("joined stream lasts %s, the source %s (segment %s)", fmtSecs(p.duration), fmtSecs(src.Duration), fmtSecs(seg))
			}
			if p.video != c.video || p.audio != c.audio {
				t.Errorf("joined stream has video %q audio %q, want %q %q", p.video, p.audio, c.video, c.audio)
			}
			if c.video != "" && math.Abs(float64(p.videoFrames)-24*src.Duration) > 24*seg {
				t.Errorf("%d video frames decoded, source has %.0f", p.videoFrames, 24*src.Duration)
			}
			if c.audio != "" && p.audioFrames == 0 {
				t.Errorf("no audio frames decoded")
			}
			encoded := e.svc.Stats().EncodeRuns.Load() - enc0
			if c.remux {
				if encoded != 0 || e.svc.Stats().RemuxRuns.Load()-remux0 == 0 {
					t.Errorf("remux expected: %d encoding runs, %d remux runs", encoded, e.svc.Stats().RemuxRuns.Load()-remux0)
				}
				if got, want := packetHashes(t, writeTemp(t, joined)), packetHashes(t, local); got != want {
					t.Errorf("remuxed video packets differ from the source's")
				}
			} else if encoded == 0 {
				t.Errorf("no encoding run for a source that needs one")
			}
			t.Logf("%s: %d segments, %s, %d video / %d audio frames, %d bytes", c.key, len(st.segs), fmtSecs(p.duration), p.videoFrames, p.audioFrames, len(joined))
		})
	}
	waitNoChildren(t)
}
