package media

import (
	"fmt"
	"math"
	"sort"
	"strings"
)

// Rendition is one HLS variant of a source.
type Rendition struct {
	Name      string  `json:"name"`            // "remux", "1080p", "720p", "480p", "360p", "aac"
	Video     string  `json:"video,omitempty"` // "copy" (remuxed), "h264" (encoded) or "" (none)
	Audio     string  `json:"audio,omitempty"` // "copy", "aac" or "" (none)
	Width     int     `json:"width,omitempty"`
	Height    int     `json:"height,omitempty"`
	Bandwidth int64   `json:"bandwidth"`       // bits per second, estimated
	Segment   float64 `json:"segment_seconds"` // target segment length
	Codecs    string  `json:"codecs"`          // RFC 6381, for the master playlist
}

// Segment lengths. Encoded streams get keyframes forced at every multiple
// of encodeSegment, so every segment is exactly that long (the last one
// shorter). Remuxed streams are cut at the source's keyframes: the first
// keyframe at least remuxSegment after the previous cut.
const (
	encodeSegment = 4.0
	remuxSegment  = 4.0
	audioFragment = 0.5 // fragment length of audio-only streams (grouped into segments)
	// tsOffset shifts every output timestamp (ffmpeg -output_ts_offset), so
	// that no run, from the start or after a seek, writes a negative
	// decode time (B-frames, AAC priming) and every run's timestamps line
	// up exactly.
	tsOffset = 10.0
)

// ladder is the encode ladder, by the short side of the picture.
var ladder = []struct {
	short     int
	bandwidth int64
}{{1080, 6_000_000}, {720, 3_500_000}, {480, 1_600_000}, {360, 1_000_000}}

// remuxableVideo: H.264 that browsers decode (8-bit 4:2:0, common profiles).
func remuxableVideo(v Stream) bool {
	if v.Codec != "h264" || v.PixFmt != "yuv420p" && v.PixFmt != "yuvj420p" || v.Width > 4096 || v.Height > 4096 {
		return false
	}
	switch v.Profile {
	case "Baseline", "Constrained Baseline", "Main", "High":
		return true
	}
	return false
}

// copyableAudio: AAC that every HLS player decodes.
func copyableAudio(a Stream) bool {
	return a.Codec == "aac" && (a.Profile == "LC" || a.Profile == "HE-AAC" || a.Profile == "HE-AACv2") && a.Channels <= 8
}

// directPlay: a browser (Chrome, Firefox, Safari) plays the file as it is.
func directPlay(info *Info) bool {
	c := info.Container
	ext := strings.ToLower(info.name[strings.LastIndexByte(info.name, '.')+1:])
	okAudio := func(codecs ...string) bool {
		if info.audio < 0 {
			return true
		}
		a := info.Streams[info.audio].Codec
		for _, x := range codecs {
			if a == x {
				return true
			}
		}
		return false
	}
	if info.Kind == "audio" {
		switch {
		case c == "mp3":
			return true
		case c == "flac", c == "wav", c == "ogg" && okAudio("vorbis", "opus", "flac"):
			return true
		case strings.Contains(c, "mp4") && okAudio("aac", "mp3", "flac", "opus"):
			return true
		}
		return false
	}
	v := info.Streams[info.video]
	switch {
	case strings.Contains(c, "mp4") && (ext == "mp4" || ext == "m4v" || ext == "mov"):
		return (remuxableVideo(v) || v.Codec == "vp9" || v.Codec == "av1") && okAudio("aac", "mp3", "opus", "flac")
	case strings.Contains(c, "webm") && ext == "webm":
		return (v.Codec == "vp8" || v.Codec == "vp9" || v.Codec == "av1") && okAudio("vorbis", "opus")
	}
	return false
}

// renditionsOf lists the variants of a probed source, the default first:
// a remux when the codecs allow it, then the encode ladder up to the
// source's size (never upscaled, at most 1080p).
func renditionsOf(info *Info) []Rendition {
	var out []Rendition
	audio, acodec := "", ""
	if info.audio >= 0 {
		audio, acodec = "aac", "mp4a.40.2"
		if copyableAudio(info.Streams[info.audio]) {
			audio, acodec = "copy", aacCodec(info.Streams[info.audio].Profile)
		}
	}
	if info.Kind == "audio" {
		r := Rendition{Name: "aac", Audio: "aac", Bandwidth: 192_000, Segment: encodeSegment, Codecs: "mp4a.40.2"}
		if audio == "copy" {
			r.Name, r.Audio, r.Codecs = "remux", "copy", acodec
			r.Bandwidth = max(info.BitRate, 64_000)
		}
		return []Rendition{r}
	}
	if info.Kind != "video" {
		return nil
	}
	v := info.Streams[info.video]
	join := func(vc string) string {
		if acodec == "" {
			return vc
		}
		return vc + "," + acodec
	}
	if remuxableVideo(v) {
		bw := info.BitRate
		if bw <= 0 {
			bw = 8_000_000
		}
		out = append(out, Rendition{Name: "remux", Video: "copy", Audio: audio, Width: v.Width, Height: v.Height,
			Bandwidth: bw, Segment: remuxSegment, Codecs: join(avcCodec(v.Profile, v.Level))})
	}
	short := min(v.Width, v.Height)
	steps := []int{}
	for _, l := range ladder {
		if l.short <= short {
			steps = append(steps, l.short)
		}
	}
	if len(steps) == 0 {
		steps = append(steps, max(short&^1, 2)) // smaller than the ladder: its own size
	}
	for _, st := range steps {
		w, h := scaled(v.Width, v.Height, st)
		out = append(out, Rendition{Name: fmt.Sprintf("%dp", st), Video: "h264", Audio: audio, Width: w, Height: h,
			Bandwidth: bandwidthOf(st) + 160_000, Segment: encodeSegment, Codecs: join(encodeCodec(v.FrameRate))})
	}
	return dedupe(out)
}

// bandwidthOf is the ladder's bit rate for a short side.
func bandwidthOf(short int) int64 {
	for _, l := range ladder {
		if short >= l.short {
			return l.bandwidth
		}
	}
	return ladder[len(ladder)-1].bandwidth
}

// dedupe drops renditions with a name already listed.
func dedupe(rs []Rendition) []Rendition {
	seen := map[string]bool{}
	out := rs[:0]
	for _, r := range rs {
		if !seen[r.Name] {
			seen[r.Name] = true
			out = append(out, r)
		}
	}
	return out
}

// scaled returns the size of a w×h picture whose short side becomes s
// (even numbers).
func scaled(w, h, s int) (int, int) {
	if w <= 0 || h <= 0 {
		return 0, s
	}
	if w >= h {
		return int(math.Round(float64(w)*float64(s)/float64(h)/2)) * 2, s
	}
	return s, int(math.Round(float64(h)*float64(s)/float64(w)/2)) * 2
}

func avcCodec(profile string, level int) string {
	p := map[string]string{"Baseline": "4200", "Constrained Baseline": "42E0", "Main": "4D40", "High": "6400"}[profile]
	if p == "" {
		p = "6400"
	}
	if level <= 0 || level > 0xff {
		level = 40
	}
	return fmt.Sprintf("avc1.%s%02X", p, level)
}

// encodeCodec is the codec string of our x264 output (High, level 4.1, or
// 4.2 above 30 frames per second).
func encodeCodec(fps float64) string {
	if fps > 30.5 {
		return "avc1.64002A"
	}
	return "avc1.640029"
}

func aacCodec(profile string) string {
	switch profile {
	case "HE-AAC":
		return "mp4a.40.5"
	case "HE-AACv2":
		return "mp4a.40.29"
	}
	return "mp4a.40.2"
}

// findRendition returns the named rendition of info.
func findRendition(info *Info, name string) (Rendition, error) {
	for _, r := range info.Renditions {
		if r.Name == name {
			return r, nil
		}
	}
	return Rendition{}, fmt.Errorf("%w: %q (this file has %s)", ErrNoRendition, name, renditionNames(info))
}

func renditionNames(info *Info) string {
	var names []string
	for _, r := range info.Renditions {
		names = append(names, r.Name)
	}
	if len(names) == 0 {
		return "none"
	}
	return strings.Join(names, ", ")
}

// plan is how one rendition of one source is cut into segments.
type plan struct {
	r      Rendition
	info   *Info
	bounds []float64 // segment start times on the source's timeline, ascending
	end    float64   // end of the last segment
	tol    float64   // a fragment starting up to tol before a bound belongs to its segment
}

// newPlan cuts the source: at multiples of the segment length when
// encoding, at keyframes (kf: presentation times, ascending) when the
// video is copied.
func newPlan(info *Info, r Rendition, kf []float64) (*plan, error) {
	start := info.StartTime
	p := &plan{r: r, info: info, end: start + info.Duration}
	switch {
	case r.Video == "copy":
		if len(kf) == 0 {
			return nil, fmt.Errorf("%w: no keyframes found in the video", ErrNotMedia)
		}
		last, minGap := kf[0], math.Inf(1)
		p.bounds = append(p.bounds, last)
		for i, t := range kf {
			if i > 0 {
				minGap = min(minGap, t-kf[i-1])
			}
			if t >= last+r.Segment && t < p.end-0.1 {
				p.bounds = append(p.bounds, t)
				last = t
			}
		}
		p.tol = min(0.25, minGap/2)
	case r.Video == "" && r.Audio != "":
		for t := start; t < p.end-0.05 || len(p.bounds) == 0; t += r.Segment {
			p.bounds = append(p.bounds, t)
		}
		p.tol = audioFragment/2 + 0.05
	default:
		for t := start; t < p.end-0.05 || len(p.bounds) == 0; t += r.Segment {
			p.bounds = append(p.bounds, t)
		}
		p.tol = r.Segment / 4
	}
	return p, nil
}

// count is the number of segments.
func (p *plan) count() int { return len(p.bounds) }

// duration of segment i.
func (p *plan) duration(i int) float64 {
	if i+1 < len(p.bounds) {
		return p.bounds[i+1] - p.bounds[i]
	}
	return max(p.end-p.bounds[i], 0.001)
}

// index returns the segment a fragment starting at source time t belongs to.
func (p *plan) index(t float64) int {
	i := sort.Search(len(p.bounds), func(i int) bool { return p.bounds[i] > t+p.tol })
	return max(i-1, 0)
}

// seek is the -ss value that starts ffmpeg at segment i (relative to the
// source's start time, as ffmpeg's -ss is).
func (p *plan) seek(i int) float64 { return max(p.bounds[i]-p.info.StartTime, 0) }
