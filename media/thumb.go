package media

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"image"
	"image/jpeg"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"

	_ "image/gif" // decoders for image.Decode
	_ "image/png"

	_ "golang.org/x/image/bmp"
	"golang.org/x/image/draw"
	_ "golang.org/x/image/tiff"
	_ "golang.org/x/image/webp"

	"github.com/clusterf/clusterf/replica"
)

// Thumbnail sizes: the longest side, in pixels.
const (
	DefaultThumbSize = 256
	MinThumbSize     = 16
	MaxThumbSize     = 2048
	// maxDecodePixels bounds a picture decoded in memory (a 100
	// megapixel image takes 400 MB as RGBA).
	maxDecodePixels = 100_000_000
)

// Thumb is a thumbnail (JPEG).
type Thumb struct {
	Data []byte
	// ETag changes with the source's content and the size.
	ETag string
}

// goImageTypes are the sniffed types decoded in Go (no ffmpeg needed).
var goImageTypes = map[string]bool{"image/jpeg": true, "image/png": true, "image/gif": true, "image/webp": true, "image/bmp": true}

// Thumbnail returns a thumbnail of the image, video or audio cover art at
// path p whose longest side is size pixels (never larger than the
// source). Images are decoded in Go when possible (works without ffmpeg);
// videos are one keyframe decoded by ffmpeg at a tenth of the duration.
func (s *Service) Thumbnail(ctx context.Context, p string, size int) (*Thumb, error) {
	if size < MinThumbSize || size > MaxThumbSize {
		return nil, fmt.Errorf("%w: size must be %d-%d", ErrBadRequest, MinThumbSize, MaxThumbSize)
	}
	src, err := s.resolve(ctx, p)
	if err != nil {
		return nil, err
	}
	name := src.ver + "-" + cacheFormat + "-thumb-" + strconv.Itoa(size) + ".jpg"
	etag := `"` + src.ver + "-" + strconv.Itoa(size) + `"`
	if b, ok := s.cache.get(name); ok {
		return &Thumb{Data: b, ETag: etag}, nil
	}
	v, err := s.once(ctx, name, func(ctx context.Context) (any, error) {
		b, err := s.makeThumb(ctx, src, size)
		if err != nil {
			return nil, err
		}
		s.stats.Thumbnails.Add(1)
		s.cache.put(name, b)
		return b, nil
	})
	if err != nil {
		return nil, err
	}
	return &Thumb{Data: v.([]byte), ETag: etag}, nil
}

func (s *Service) makeThumb(ctx context.Context, src source, size int) ([]byte, error) {
	select {
	case s.thumb <- struct{}{}:
		defer func() { <-s.thumb }()
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	head, err := s.readHead(ctx, src, 256<<10)
	if err != nil {
		return nil, err
	}
	ct := http.DetectContentType(head)
	var goErr error
	if goImageTypes[ct] || strings.HasPrefix(ct, "image/tiff") || isTIFF(head) {
		img, err := s.decodeImage(ctx, src)
		if err == nil {
			if ct == "image/jpeg" {
				img = orient(img, jpegOrientation(head))
			}
			return encodeThumb(img, size)
		}
		goErr = err
	}
	if !s.Available() {
		if goErr != nil {
			return nil, notMedia(src.path, goErr.Error())
		}
		return nil, ErrUnavailable
	}
	return s.ffmpegThumb(ctx, src, size)
}

func isTIFF(b []byte) bool {
	return bytes.HasPrefix(b, []byte("II*\x00")) || bytes.HasPrefix(b, []byte("MM\x00*"))
}

// readHead returns the first n bytes of a source.
func (s *Service) readHead(ctx context.Context, src source, n int) ([]byte, error) {
	h, err := s.fs.Open(ctx, src.attr.Ref, os.O_RDONLY)
	if err != nil {
		return nil, err
	}
	defer h.Release()
	b := make([]byte, min(int64(n), src.attr.Size))
	k, err := h.ReadAt(ctx, b, 0)
	if err != nil && err != io.EOF {
		return nil, err
	}
	return b[:k], nil
}

// decodeImage decodes a picture in Go, refusing very large ones.
func (s *Service) decodeImage(ctx context.Context, src source) (image.Image, error) {
	h, err := s.fs.Open(ctx, src.attr.Ref, os.O_RDONLY)
	if err != nil {
		return nil, err
	}
	defer h.Release()
	rd := replica.NewReader(ctx, h)
	cfg, _, err := image.DecodeConfig(bufio.NewReaderSize(rd, 64<<10))
	if err != nil {
		return nil, fmt.Errorf("cannot decode the picture: %w", err)
	}
	if int64(cfg.Width)*int64(cfg.Height) > maxDecodePixels {
		return nil, fmt.Errorf("the picture is %d×%d, larger than %d pixels", cfg.Width, cfg.Height, maxDecodePixels)
	}
	if _, err := rd.Seek(0, io.SeekStart); err != nil {
		return nil, err
	}
	img, _, err := image.Decode(bufio.NewReaderSize(rd, 256<<10))
	if err != nil {
		return nil, fmt.Errorf("cannot decode the picture: %w", err)
	}
	return img, nil
}

// encodeThumb scales img into a size×size box (never up) and encodes it.
func encodeThumb(img image.Image, size int) ([]byte, error) {
	b := img.Bounds()
	w, h := b.Dx(), b.Dy()
	if w <= 0 || h <= 0 {
		return nil, fmt.Errorf("%w: empty picture", ErrNotMedia)
	}
	if w > size || h > size {
		if w >= h {
			w, h = size, max(h*size/w, 1)
		} else {
			w, h = max(w*size/h, 1), size
		}
		dst := image.NewRGBA(image.Rect(0, 0, w, h))
		draw.BiLinear.Scale(dst, dst.Bounds(), img, b, draw.Src, nil)
		img = dst
	}
	var out bytes.Buffer
	if err := jpeg.Encode(&out, onWhite(img), &jpeg.Options{Quality: 82}); err != nil {
		return nil, err
	}
	return out.Bytes(), nil
}

// ffmpegThumb decodes one picture with ffmpeg: a video's keyframe near a
// tenth of its length (keyframes only, no seek refinement), an audio
// file's cover art, or an image Go cannot decode.
func (s *Service) ffmpegThumb(ctx context.Context, src source, size int) ([]byte, error) {
	info, err := s.probe(ctx, src)
	if err != nil {
		return nil, err
	}
	pic := -1
	switch info.Kind {
	case "video":
		pic = info.video
	default:
		for i, st := range info.Streams {
			if st.Type == "video" {
				pic = i
				break
			}
		}
	}
	if pic < 0 {
		return nil, fmt.Errorf("%w: /%s has no cover art", ErrNoThumbnail, src.path)
	}
	url, release, err := s.src.register(src.attr.Ref, 0)
	if err != nil {
		return nil, err
	}
	defer release()
	ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	args := []string{"-nostdin", "-hide_banner", "-loglevel", "error"}
	if info.Kind == "video" {
		args = append(args, "-skip_frame", "nokey", "-noaccurate_seek")
		if pos := min(info.Duration*0.1, 60); pos >= 1 {
			args = append(args, "-ss", ftoa(pos))
		}
	}
	filter := fmt.Sprintf("scale=%d:%d:force_original_aspect_ratio=decrease", size, size)
	if st := info.Streams[pic]; st.Width > 0 && st.Height > 0 && st.Width <= size && st.Height <= size {
		filter = fmt.Sprintf("scale=%d:%d", st.Width, st.Height) // never upscale
	}
	if info.Streams[pic].HDR {
		filter = "zscale=t=linear:npl=100,format=gbrpf32le,zscale=p=bt709,tonemap=hable:desat=0,zscale=t=bt709:m=bt709:r=tv," + filter
	}
	args = append(args, "-i", url, "-map", "0:"+strconv.Itoa(info.Streams[pic].Index), "-frames:v", "1",
		"-vf", filter, "-an", "-sn", "-f", "image2pipe", "-c:v", "mjpeg", "-q:v", "3", "pipe:1")
	out, p, err := s.output(ctx, ffmpeg, args, 16<<20)
	if err != nil {
		if p != nil && ctx.Err() == nil {
			return nil, notMedia(src.path, cleanReason(p.stderr.String(), url, src.path))
		}
		return nil, err
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%w: ffmpeg decoded no picture from /%s", ErrNoThumbnail, src.path)
	}
	return out, nil
}
