package media

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
	"strings"
)

// ffmpeg command lines. Every run writes one continuous fragmented MP4 to
// stdout: a fragment at every video keyframe (audio only: every
// audioFragment seconds), timestamps kept from the source (-copyts) and
// shifted by tsOffset, the moov delayed until the first fragment so that
// the first tfdt is absolute (delay_moov+frag_discont). Runs started at
// different points of one source therefore produce identical init
// segments and fragments whose times line up, and the package cuts them
// into the plan's segments by those times.

func ftoa(f float64) string { return strconv.FormatFloat(f, 'f', 6, 64) }

// args is the command line of a run of p making segments from first on.
// preroll starts the input that much earlier (a copy whose demuxer
// landed after the wanted keyframe). A background run uses one thread.
func (p *plan) args(url string, first int, preroll float64, background bool) []string {
	info, r := p.info, p.r
	a := []string{"-nostdin", "-hide_banner", "-loglevel", "error", "-nostats"}
	if background {
		a = append(a, "-threads", "1", "-filter_threads", "1")
	}
	if ss := p.seek(first) - preroll; first > 0 && ss > 0 {
		a = append(a, "-ss", ftoa(ss))
	}
	a = append(a, "-copyts", "-i", url)
	if r.Video != "" {
		a = append(a, "-map", "0:"+strconv.Itoa(info.Streams[info.video].Index))
	}
	if r.Audio != "" {
		a = append(a, "-map", "0:"+strconv.Itoa(info.Streams[info.audio].Index))
	}
	switch r.Video {
	case "copy":
		a = append(a, "-c:v", "copy")
	case "h264":
		a = append(a, p.videoEncoder(background)...)
	}
	switch r.Audio {
	case "copy":
		a = append(a, "-c:a", "copy")
	case "aac":
		a = append(a, "-c:a", "aac", "-b:a", "160k", "-ac", "2")
		if sr := info.Streams[info.audio].SampleRate; sr != 44100 && sr != 48000 {
			a = append(a, "-ar", "48000")
		}
	}
	a = append(a, "-sn", "-dn", "-map_metadata", "-1", "-map_chapters", "-1",
		"-max_muxing_queue_size", "4096", "-output_ts_offset", ftoa(tsOffset), "-f", "mp4")
	if r.Video == "" {
		a = append(a, "-frag_duration", strconv.Itoa(int(audioFragment*1e6)),
			"-movflags", "empty_moov+default_base_moof+delay_moov+frag_discont")
	} else {
		a = append(a, "-movflags", "frag_keyframe+empty_moov+default_base_moof+delay_moov+frag_discont")
	}
	return append(a, "pipe:1")
}

// videoEncoder is x264 at the rendition's size with a keyframe forced at
// every segment boundary and none elsewhere (no scene-cut keyframes), so
// each segment is one fragment.
func (p *plan) videoEncoder(background bool) []string {
	v := p.info.Streams[p.info.video]
	level := "4.1"
	if v.FrameRate > 30.5 {
		level = "4.2"
	}
	short := min(p.r.Width, p.r.Height)
	maxrate := bandwidthOf(short)
	// superfast from 720p up: on 2 cores veryfast needs ~0.8 s of CPU per
	// second of 1080p, too slow for a first segment within 3 s of a seek
	// (docs/media.md, BenchmarkMedia); below, veryfast is cheap enough.
	preset := "veryfast"
	if short >= 720 {
		preset = "superfast"
	}
	a := []string{"-c:v", "libx264", "-preset", preset, "-profile:v", "high", "-level:v", level,
		"-crf", "23", "-maxrate", strconv.FormatInt(maxrate, 10), "-bufsize", strconv.FormatInt(2*maxrate, 10),
		"-pix_fmt", "yuv420p", "-vf", p.videoFilter(), "-fpsmax", "60",
		"-x264-params", "scenecut=0:open_gop=0:keyint=1000",
		"-force_key_frames", "expr:gte(t,n_forced*" + ftoa(p.r.Segment) + ")"}
	if background {
		a = append(a, "-threads", "1")
	}
	return a
}

// videoFilter deinterlaces, tone-maps HDR to SDR and scales.
func (p *plan) videoFilter() string {
	v := p.info.Streams[p.info.video]
	var f []string
	if v.Interlaced {
		f = append(f, "yadif")
	}
	if v.HDR {
		f = append(f, "zscale=t=linear:npl=100", "format=gbrpf32le", "zscale=p=bt709",
			"tonemap=hable:desat=0", "zscale=t=bt709:m=bt709:r=tv")
	}
	f = append(f, fmt.Sprintf("scale=%d:%d", p.r.Width, p.r.Height), "format=yuv420p")
	return strings.Join(f, ",")
}

// keyframes returns the presentation times of the source's video
// keyframes (cached by version): ffprobe reads the packets (no decoding).
func (s *Service) keyframes(ctx context.Context, src source, info *Info) ([]float64, error) {
	name := src.ver + "-" + cacheFormat + "-keyframes.json"
	if b, ok := s.cache.get(name); ok {
		var kf []float64
		if json.Unmarshal(b, &kf) == nil && len(kf) > 0 {
			return kf, nil
		}
	}
	v, err := s.once(ctx, name, func(ctx context.Context) (any, error) {
		url, release, err := s.src.register(src.attr.Ref, 0)
		if err != nil {
			return nil, err
		}
		defer release()
		args := []string{"-v", "error", "-hide_banner", "-select_streams", strconv.Itoa(info.Streams[info.video].Index),
			"-show_entries", "packet=pts_time,dts_time,flags", "-of", "csv=p=0", "-i", url}
		s.stats.Probes.Add(1)
		out, p, err := s.output(ctx, ffprobe, args, 256<<20)
		if err != nil {
			if p != nil && ctx.Err() == nil {
				return nil, notMedia(src.path, cleanReason(p.stderr.String(), url, src.path))
			}
			return nil, err
		}
		kf := parseKeyframes(string(out))
		if b, err := json.Marshal(kf); err == nil && len(kf) > 0 {
			s.cache.put(name, b)
		}
		return kf, nil
	})
	if err != nil {
		return nil, err
	}
	return v.([]float64), nil
}

// parseKeyframes reads ffprobe's "pts,dts,flags" lines.
func parseKeyframes(out string) []float64 {
	var kf []float64
	for _, line := range strings.Split(out, "\n") {
		f := strings.Split(strings.TrimSpace(line), ",")
		if len(f) < 3 || !strings.Contains(f[len(f)-1], "K") {
			continue
		}
		t, err := strconv.ParseFloat(f[0], 64)
		if err != nil {
			if t, err = strconv.ParseFloat(f[1], 64); err != nil {
				continue
			}
		}
		kf = append(kf, t)
	}
	sort.Float64s(kf)
	out2 := kf[:0]
	for i, t := range kf {
		if i == 0 || t-out2[len(out2)-1] > 0.0005 {
			out2 = append(out2, t)
		}
	}
	return out2
}
