package media_test

import (
	"bytes"
	"encoding/binary"
	"image"
	"image/color"
	"image/jpeg"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/clusterf/clusterf/media"
)

// exifJPEG encodes a w×h JPEG carrying EXIF orientation o (an APP1 segment
// after SOI, as cameras write it).
func exifJPEG(t *testing.T, w, h, o int) []byte {
	t.Helper()
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			img.Set(x, y, color.RGBA{uint8(x), uint8(y), 0, 255})
		}
	}
	var b bytes.Buffer
	if err := jpeg.Encode(&b, img, nil); err != nil {
		t.Fatal(err)
	}
	// TIFF: little endian, IFD0 at 8 with one entry: 0x0112 SHORT 1 = o.
	tiff := []byte("II*\x00\x08\x00\x00\x00\x01\x00")
	tiff = binary.LittleEndian.AppendUint16(tiff, 0x0112)
	tiff = binary.LittleEndian.AppendUint16(tiff, 3)
	tiff = binary.LittleEndian.AppendUint32(tiff, 1)
	tiff = binary.LittleEndian.AppendUint16(tiff, uint16(o))
	tiff = append(tiff, 0, 0, 0, 0, 0, 0) // value padding, next IFD 0
	seg := append([]byte("Exif\x00\x00"), tiff...)
	app1 := []byte{0xFF, 0xE1, byte((len(seg) + 2) >> 8), byte(len(seg) + 2)}
	j := b.Bytes()
	return append(append(append([]byte{}, j[:2]...), append(app1, seg...)...), j[2:]...)
}

func decodeJPEG(t *testing.T, b []byte) image.Config {
	t.Helper()
	c, err := jpeg.DecodeConfig(bytes.NewReader(b))
	if err != nil {
		t.Fatalf("thumbnail is not a JPEG: %v", err)
	}
	return c
}

// TestThumbnails: images (decoded in Go, EXIF orientation applied, never
// upscaled), a video's keyframe, an audio file's cover art; no cover is a
// 404; sizes are checked; ETags give 304.
func TestThumbnails(t *testing.T) {
	e := newEnv(t, media.Config{})
	media.PutFileBytes(t, e.fs, "pics/portrait.jpg", exifJPEG(t, 300, 200, 6))
	media.PutFileBytes(t, e.fs, "pics/wide.png", testPNG(t, 300, 200))
	media.PutFileBytes(t, e.fs, "pics/tiny.png", testPNG(t, 50, 40))
	e.put("h264-aac-mkv", "v/film.mkv")
	e.put("flac", "music/song.flac")
	cover := filepath.Join(t.TempDir(), "cover.mp3")
	png := filepath.Join(t.TempDir(), "cover.png")
	os.WriteFile(png, testPNG(t, 120, 120), 0o644)
	if b, err := exec.Command("ffmpeg", "-v", "error", "-f", "lavfi", "-i", "sine=duration=2", "-i", png, "-map", "0", "-map", "1",
		"-c:a", "libmp3lame", "-c:v", "mjpeg", "-disposition:v", "attached_pic", cover).CombinedOutput(); err != nil {
		t.Fatalf("mp3 with cover: %v %s", err, b)
	}
	b, _ := os.ReadFile(cover)
	media.PutFileBytes(t, e.fs, "music/cover.mp3", b)

	for _, c := range []struct {
		path string
		w, h int
	}{
		{"/api/thumbnail/pics/portrait.jpg?size=100", 66, 100}, // stored 300×200, turned 90°
		{"/api/thumbnail/pics/wide.png?size=100", 100, 66},
		{"/api/thumbnail/pics/tiny.png", 50, 40}, // never upscaled
		{"/api/thumbnail/v/film.mkv?size=160", 160, 120},
		{"/api/thumbnail/music/cover.mp3?size=64", 64, 64},
	} {
		body, resp := e.want(200, c.path)
		if ct := resp.Header.Get("Content-Type"); ct != "image/jpeg" {
			t.Errorf("%s: Content-Type %q", c.path, ct)
		}
		if cfg := decodeJPEG(t, body); cfg.Width != c.w || cfg.Height != c.h {
			t.Errorf("%s: %d×%d, want %d×%d", c.path, cfg.Width, cfg.Height, c.w, c.h)
		}
		etag := resp.Header.Get("ETag")
		if etag == "" {
			t.Errorf("%s: no ETag", c.path)
			continue
		}
		e.want(http.StatusNotModified, c.path, "If-None-Match", etag)
	}
	made := e.svc.Stats().Thumbnails.Load()
	e.want(200, "/api/thumbnail/v/film.mkv?size=160") // from the cache
	if e.svc.Stats().Thumbnails.Load() != made {
		t.Errorf("a cached thumbnail was made again")
	}
	e.wantErr(404, "/api/thumbnail/music/song.flac")
	for _, q := range []string{"0", "15", "2049", "big", "-1"} {
		e.wantErr(400, "/api/thumbnail/pics/wide.png?size="+q)
	}
	waitNoChildren(t)
}
