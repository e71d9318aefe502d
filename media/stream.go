package media

import (
	"context"
	"fmt"
	"regexp"
	"strconv"
	"strings"
)

// The HLS tree of a source at cluster path P (below /api/stream/):
//
//	P/master.m3u8                 the master playlist (?rendition= picks one)
//	P/<rendition>.<version>/index.m3u8   its media playlist
//	P/<rendition>.<version>/init.mp4     the init segment (EXT-X-MAP)
//	P/<rendition>.<version>/<n>.m4s      segment n (fragmented MP4)
//
// The version in the path pins a playlist to the content it was made
// from: once the file changes, its old URLs answer ErrChanged instead of
// mixing segments of two versions. Every URI carries the session of the
// master playlist that named it (?s=): one session is one viewer.

// Kinds of stream resources.
const (
	Master = iota
	Playlist
	Init
	Segment
)

// Resource is one file of a source's HLS tree.
type Resource struct {
	Kind      int
	Rendition string // "" on Master: the default
	Version   string
	Segment   int
}

var (
	variantDir = regexp.MustCompile(`^([a-z0-9]{1,16})\.([0-9a-f]{16})$`)
	segFile    = regexp.MustCompile(`^(0|[1-9][0-9]{0,8})\.m4s$`)
	sessionRe  = regexp.MustCompile(`^[A-Za-z0-9_.:-]{1,64}$`)
)

// ParseStreamPath splits a cleaned path below /api/stream/ into the
// source's cluster path and the resource asked for.
func ParseStreamPath(p string) (string, Resource, error) {
	parts := strings.Split(p, "/")
	n := len(parts)
	if n >= 2 && parts[n-1] == "master.m3u8" {
		return strings.Join(parts[:n-1], "/"), Resource{Kind: Master}, nil
	}
	if n >= 3 {
		if m := variantDir.FindStringSubmatch(parts[n-2]); m != nil {
			res := Resource{Rendition: m[1], Version: m[2]}
			switch f := parts[n-1]; {
			case f == "index.m3u8":
				res.Kind = Playlist
			case f == "init.mp4":
				res.Kind = Init
			case segFile.MatchString(f):
				res.Kind = Segment
				res.Segment, _ = strconv.Atoi(strings.TrimSuffix(f, ".m4s"))
			default:
				return "", Resource{}, fmt.Errorf("%w: %q is not index.m3u8, init.mp4 or <n>.m4s", ErrBadRequest, f)
			}
			return strings.Join(parts[:n-2], "/"), res, nil
		}
	}
	return "", Resource{}, fmt.Errorf("%w: a stream path ends in /master.m3u8, /<rendition>.<version>/index.m3u8, init.mp4 or <n>.m4s", ErrBadRequest)
}

// Answer is a stream resource.
type Answer struct {
	Body        []byte
	ContentType string
	// Immutable: the URL names a version, so the answer never changes
	// (segments, init, media playlists).
	Immutable bool
}

// ValidSession reports whether s may be used as a session id.
func ValidSession(s string) bool { return sessionRe.MatchString(s) }

// Stream answers one resource of the HLS tree of the file at path p for
// the viewer session.
func (s *Service) Stream(ctx context.Context, p string, res Resource, session string) (*Answer, error) {
	if !ValidSession(session) {
		return nil, fmt.Errorf("%w: session id", ErrBadRequest)
	}
	src, err := s.resolve(ctx, p)
	if err != nil {
		return nil, err
	}
	if !s.Available() {
		return nil, ErrUnavailable
	}
	if res.Kind != Master && res.Version != src.ver {
		return nil, fmt.Errorf("%w (/%s)", ErrChanged, p)
	}
	info, err := s.probe(ctx, src)
	if err != nil {
		return nil, err
	}
	name := res.Rendition
	if name == "" && len(info.Renditions) > 0 {
		name = info.Renditions[0].Name
	}
	if len(info.Renditions) == 0 {
		return nil, fmt.Errorf("%w: /%s is %s %s, not audio or video", ErrNoRendition, p, article(info.Kind), info.Kind)
	}
	r, err := findRendition(info, name)
	if err != nil {
		return nil, err
	}
	if res.Kind == Master {
		return &Answer{Body: masterPlaylist(r, src.ver, session), ContentType: mpegURL}, nil
	}
	j, err := s.getJob(ctx, src, info, r)
	if err != nil {
		return nil, err
	}
	switch res.Kind {
	case Playlist:
		return &Answer{Body: mediaPlaylist(j.p, session), ContentType: mpegURL, Immutable: true}, nil
	case Init:
		b, err := j.initSegment(ctx, session)
		if err != nil {
			return nil, err
		}
		return &Answer{Body: b, ContentType: "video/mp4", Immutable: true}, nil
	}
	b, err := j.segment(ctx, res.Segment, session)
	if err != nil {
		return nil, err
	}
	s.metrics.segments.Inc()
	return &Answer{Body: b, ContentType: "video/iso.segment", Immutable: true}, nil
}

func article(kind string) string {
	if kind == "image" {
		return "an"
	}
	return "a"
}

const mpegURL = "application/vnd.apple.mpegurl"

// masterPlaylist names one variant: the rendition asked for. (Listing
// the whole ladder would let a player's bandwidth estimate start a second
// transcode of the same file; a player picks another rendition with
// ?rendition=.)
func masterPlaylist(r Rendition, ver, session string) []byte {
	var b strings.Builder
	b.WriteString("#EXTM3U\n#EXT-X-VERSION:7\n#EXT-X-INDEPENDENT-SEGMENTS\n")
	fmt.Fprintf(&b, "#EXT-X-STREAM-INF:BANDWIDTH=%d,CODECS=\"%s\"", r.Bandwidth, r.Codecs)
	if r.Width > 0 && r.Height > 0 {
		fmt.Fprintf(&b, ",RESOLUTION=%dx%d", r.Width, r.Height)
	}
	fmt.Fprintf(&b, "\n%s.%s/index.m3u8?s=%s\n", r.Name, ver, session)
	return []byte(b.String())
}

// mediaPlaylist lists every segment of the plan (a VOD playlist: the
// player can seek anywhere at once).
func mediaPlaylist(p *plan, session string) []byte {
	var b strings.Builder
	target := 1.0
	for i := range p.count() {
		target = max(target, p.duration(i))
	}
	fmt.Fprintf(&b, "#EXTM3U\n#EXT-X-VERSION:7\n#EXT-X-TARGETDURATION:%d\n#EXT-X-PLAYLIST-TYPE:VOD\n#EXT-X-MEDIA-SEQUENCE:0\n#EXT-X-INDEPENDENT-SEGMENTS\n", int(target+0.999))
	fmt.Fprintf(&b, "#EXT-X-MAP:URI=\"init.mp4?s=%s\"\n", session)
	for i := range p.count() {
		fmt.Fprintf(&b, "#EXTINF:%.6f,\n%d.m4s?s=%s\n", p.duration(i), i, session)
	}
	b.WriteString("#EXT-X-ENDLIST\n")
	return []byte(b.String())
}
