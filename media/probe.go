package media

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/clusterf/clusterf/crdt"
	"github.com/clusterf/clusterf/replica"
)

// Info is what GET /api/media/<path> answers: what the file is and how it
// can be played.
type Info struct {
	Path          string   `json:"path"`
	Kind          string   `json:"kind"` // "video", "audio" or "image"
	Container     string   `json:"container"`
	ContainerLong string   `json:"container_long_name,omitempty"`
	Duration      float64  `json:"duration_seconds"`
	StartTime     float64  `json:"start_time_seconds"`
	BitRate       int64    `json:"bit_rate,omitempty"`
	Size          int64    `json:"size"`
	Streams       []Stream `json:"streams"`
	// DirectPlay: a browser plays the file as it is (GET /api/files/<path>),
	// no transcoding needed.
	DirectPlay bool `json:"direct_play"`
	// Renditions are the HLS variants GET /api/stream/<path>/master.m3u8
	// can serve, best first (the default one).
	Renditions []Rendition `json:"renditions"`
	// Version identifies the content probed (the cache key): inode,
	// content version, size and mtime, as the REST API's ETag.
	Version string `json:"version"`

	video, audio int // chosen stream indexes into Streams (-1: none)
	name         string
}

// Stream is one stream of a media file.
type Stream struct {
	Index         int     `json:"index"`
	Type          string  `json:"type"` // video, audio, subtitle, data, attachment
	Codec         string  `json:"codec"`
	CodecLong     string  `json:"codec_long_name,omitempty"`
	Profile       string  `json:"profile,omitempty"`
	Level         int     `json:"level,omitempty"`
	Width         int     `json:"width,omitempty"`
	Height        int     `json:"height,omitempty"`
	PixFmt        string  `json:"pix_fmt,omitempty"`
	FrameRate     float64 `json:"frame_rate,omitempty"`
	BitRate       int64   `json:"bit_rate,omitempty"`
	Channels      int     `json:"channels,omitempty"`
	ChannelLayout string  `json:"channel_layout,omitempty"`
	SampleRate    int     `json:"sample_rate,omitempty"`
	Language      string  `json:"language,omitempty"`
	Title         string  `json:"title,omitempty"`
	Default       bool    `json:"default,omitempty"`
	AttachedPic   bool    `json:"attached_pic,omitempty"` // cover art
	Interlaced    bool    `json:"interlaced,omitempty"`
	HDR           bool    `json:"hdr,omitempty"` // PQ or HLG transfer: tone-mapped when encoding
}

// VersionKey is the cache key of a file's content: a hash of the inode
// id, the content version (the crdt.OpID of the winning version, or of
// the conflict copy), the size and the mtime — the same notion as the
// REST API's ETag, so an edited file never serves stale segments.
func VersionKey(a replica.Attr, version crdt.OpID) string {
	h := sha256.New()
	h.Write(a.Ref.Inode[:])
	h.Write([]byte(version.Node))
	var b [24]byte
	binary.BigEndian.PutUint64(b[0:], version.Seq)
	binary.BigEndian.PutUint64(b[8:], uint64(a.Size))
	binary.BigEndian.PutUint64(b[16:], uint64(a.Mtime.UnixNano()))
	h.Write(b[:])
	return hex.EncodeToString(h.Sum(nil)[:8])
}

// source is a resolved cluster file.
type source struct {
	path string
	attr replica.Attr
	ver  string
}

// resolve walks p to a regular file and computes its version key.
func (s *Service) resolve(ctx context.Context, p string) (source, error) {
	a, err := s.fs.Walk(ctx, p)
	if err != nil {
		return source{}, err
	}
	switch {
	case a.Kind == crdt.KindDir:
		return source{}, fmt.Errorf("/%s: %w", p, crdt.ErrIsDir)
	case a.Kind == crdt.KindSymlink:
		return source{}, notMedia(p, "a symbolic link (open its target)")
	case a.Kind.Special():
		return source{}, fmt.Errorf("/%s: %w", p, replica.ErrSpecial)
	}
	var ver crdt.OpID
	err = s.fs.Meta().View(func(v *crdt.View) error {
		ino, err := v.Inode(a.Ref.Inode)
		if err != nil {
			return err
		}
		ver = ino.Version
		return nil
	})
	if err != nil {
		return source{}, err
	}
	if !a.Ref.Version.IsZero() {
		ver = a.Ref.Version
	}
	return source{path: p, attr: a, ver: VersionKey(a, ver)}, nil
}

// Probe describes the media file at the cluster path p (cached by
// version).
func (s *Service) Probe(ctx context.Context, p string) (*Info, error) {
	src, err := s.resolve(ctx, p)
	if err != nil {
		return nil, err
	}
	if !s.Available() {
		return nil, ErrUnavailable
	}
	info, err := s.probe(ctx, src)
	if err != nil {
		return nil, err
	}
	out := *info
	out.Path = "/" + p
	return &out, nil
}

// probe runs ffprobe once per version (concurrent callers share the run).
func (s *Service) probe(ctx context.Context, src source) (*Info, error) {
	if info, ok := s.probes.get(src.ver); ok {
		return info, nil
	}
	v, err := s.once(ctx, "probe-"+src.ver, func(ctx context.Context) (any, error) {
		if info, ok := s.probes.get(src.ver); ok {
			return info, nil
		}
		info, err := s.runProbe(ctx, src)
		if err != nil {
			return nil, err
		}
		s.probes.put(src.ver, info)
		return info, nil
	})
	if err != nil {
		return nil, err
	}
	return v.(*Info), nil
}

func (s *Service) runProbe(ctx context.Context, src source) (*Info, error) {
	url, release, err := s.src.register(src.attr.Ref, 0)
	if err != nil {
		return nil, err
	}
	defer release()
	ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	s.stats.Probes.Add(1)
	args := []string{"-v", "error", "-hide_banner", "-print_format", "json", "-show_format", "-show_streams", "-i", url}
	out, p, err := s.output(ctx, ffprobe, args, 4<<20)
	if err != nil {
		if ctx.Err() != nil || p == nil {
			return nil, err
		}
		return nil, notMedia(src.path, cleanReason(p.stderr.String(), url, src.path))
	}
	info, err := parseProbe(out)
	if err != nil {
		return nil, notMedia(src.path, err.Error())
	}
	info.Size, info.Version, info.name = src.attr.Size, src.ver, baseName(src.path)
	if err := classify(info); err != nil {
		return nil, notMedia(src.path, err.Error())
	}
	info.Renditions = renditionsOf(info)
	return info, nil
}

var ffAddr = regexp.MustCompile(` @ 0x[0-9a-f]+\]`)

// cleanReason turns ffmpeg's stderr into a reason for a client: the last
// lines, the loopback URL replaced by the cluster path, no pointers.
func cleanReason(stderr, url, path string) string {
	r := lastLines(stderr, 2)
	r = strings.ReplaceAll(r, url, "/"+path)
	r = ffAddr.ReplaceAllString(r, "]")
	if r == "" {
		r = "ffprobe could not read it"
	}
	return r
}

func baseName(p string) string { return p[strings.LastIndexByte(p, '/')+1:] }

// probeJSON is the part of ffprobe's JSON we read.
type probeJSON struct {
	Streams []struct {
		Index         int    `json:"index"`
		CodecName     string `json:"codec_name"`
		CodecLongName string `json:"codec_long_name"`
		CodecType     string `json:"codec_type"`
		Profile       string `json:"profile"`
		Level         int    `json:"level"`
		Width         int    `json:"width"`
		Height        int    `json:"height"`
		PixFmt        string `json:"pix_fmt"`
		FieldOrder    string `json:"field_order"`
		ColorTransfer string `json:"color_transfer"`
		AvgFrameRate  string `json:"avg_frame_rate"`
		RFrameRate    string `json:"r_frame_rate"`
		BitRate       string `json:"bit_rate"`
		Channels      int    `json:"channels"`
		ChannelLayout string `json:"channel_layout"`
		SampleRate    string `json:"sample_rate"`
		Disposition   struct {
			Default     int `json:"default"`
			AttachedPic int `json:"attached_pic"`
			StillImage  int `json:"still_image"`
		} `json:"disposition"`
		Tags map[string]string `json:"tags"`
	} `json:"streams"`
	Format struct {
		FormatName     string `json:"format_name"`
		FormatLongName string `json:"format_long_name"`
		Duration       string `json:"duration"`
		StartTime      string `json:"start_time"`
		BitRate        string `json:"bit_rate"`
	} `json:"format"`
}

// parseProbe decodes ffprobe's JSON.
func parseProbe(b []byte) (*Info, error) {
	var pj probeJSON
	if err := json.Unmarshal(b, &pj); err != nil {
		return nil, fmt.Errorf("ffprobe output: %w", err)
	}
	info := &Info{
		Container: pj.Format.FormatName, ContainerLong: pj.Format.FormatLongName,
		Duration: parseFloat(pj.Format.Duration), StartTime: parseFloat(pj.Format.StartTime),
		BitRate: int64(parseFloat(pj.Format.BitRate)), video: -1, audio: -1,
	}
	for _, st := range pj.Streams {
		fr := parseRate(st.AvgFrameRate)
		if fr <= 0 || fr > 1000 {
			fr = parseRate(st.RFrameRate)
		}
		s := Stream{
			Index: st.Index, Type: st.CodecType, Codec: st.CodecName, CodecLong: st.CodecLongName,
			Profile: st.Profile, Level: st.Level, Width: st.Width, Height: st.Height, PixFmt: st.PixFmt,
			BitRate: int64(parseFloat(st.BitRate)), Channels: st.Channels, ChannelLayout: st.ChannelLayout,
			SampleRate: int(parseFloat(st.SampleRate)), Default: st.Disposition.Default == 1,
			AttachedPic: st.Disposition.AttachedPic == 1 || st.Disposition.StillImage == 1,
			Interlaced:  st.FieldOrder != "" && st.FieldOrder != "progressive" && st.FieldOrder != "unknown",
			HDR:         st.ColorTransfer == "smpte2084" || st.ColorTransfer == "arib-std-b67",
		}
		if st.CodecType == "video" && fr > 0 && fr <= 1000 {
			s.FrameRate = fr
		}
		s.Language, s.Title = st.Tags["language"], st.Tags["title"]
		info.Streams = append(info.Streams, s)
	}
	return info, nil
}

// maxDuration bounds what a probe may claim (a week; a corrupt header
// must not make a playlist of billions of segments).
const maxDuration = 7 * 24 * 3600

func parseFloat(s string) float64 {
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
		return 0
	}
	return f
}

// parseRate parses ffprobe's "30000/1001".
func parseRate(s string) float64 {
	n, d, ok := strings.Cut(s, "/")
	if !ok {
		return parseFloat(s)
	}
	den := parseFloat(d)
	if den == 0 {
		return 0
	}
	return parseFloat(n) / den
}

// imageCodecs are still-image codecs: a file whose only picture is one of
// them is an image.
var imageCodecs = map[string]bool{"mjpeg": true, "png": true, "webp": true, "bmp": true, "tiff": true, "gif": true, "jpegxl": true, "jpeg2000": true, "ppm": true, "pam": true, "pgm": true, "pbm": true}

// classify sets Kind, the chosen streams and DirectPlay, or says why the
// file is not media.
func classify(info *Info) error {
	if info.Container == "tty" {
		return fmt.Errorf("a text file, not media")
	}
	pickStreams(info)
	switch {
	case info.video >= 0:
		v := info.Streams[info.video]
		if strings.HasSuffix(info.Container, "_pipe") || info.Container == "image2" || (imageCodecs[v.Codec] && info.audio < 0 && info.Duration < 1) {
			info.Kind = "image"
			return nil
		}
		info.Kind = "video"
	case info.audio >= 0:
		info.Kind = "audio"
	case len(info.Streams) > 0 && hasPicture(info):
		info.Kind = "image"
		return nil
	default:
		return fmt.Errorf("no audio or video stream")
	}
	if info.Duration <= 0 {
		return fmt.Errorf("no duration (a stream that never ends cannot be segmented)")
	}
	if info.Duration > maxDuration || math.Abs(info.StartTime) > maxDuration {
		return fmt.Errorf("a duration of %.0f s (starting at %.0f s) is not plausible", info.Duration, info.StartTime)
	}
	info.DirectPlay = directPlay(info)
	return nil
}

func hasPicture(info *Info) bool {
	for _, st := range info.Streams {
		if st.Type == "video" {
			return true
		}
	}
	return false
}

// pickStreams chooses the video stream (not cover art) and the audio
// stream, the default ones first.
func pickStreams(info *Info) {
	for _, typ := range []string{"video", "audio"} {
		best := -1
		for i, st := range info.Streams {
			if st.Type != typ || st.AttachedPic || st.Codec == "" {
				continue
			}
			if best < 0 || st.Default && !info.Streams[best].Default {
				best = i
			}
		}
		if typ == "video" {
			info.video = best
		} else {
			info.audio = best
		}
	}
}

// probeCache keeps recent probe results by version (any entry may be
// dropped when full).
type probeCache struct {
	mu  sync.Mutex
	max int
	m   map[string]*Info
}

func newProbeCache(max int) *probeCache { return &probeCache{max: max, m: map[string]*Info{}} }

func (c *probeCache) get(ver string) (*Info, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	i, ok := c.m[ver]
	return i, ok
}

func (c *probeCache) put(ver string, i *Info) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.m) >= c.max {
		for k := range c.m {
			delete(c.m, k)
			break
		}
	}
	c.m[ver] = i
}
