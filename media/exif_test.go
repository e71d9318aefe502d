package media

import (
	"bytes"
	"encoding/binary"
	"image"
	"image/color"
	"image/jpeg"
	"testing"
)

// jpegWithOrientation is a small JPEG whose APP1 carries orientation o
// (big-endian TIFF, after an APP0 segment, as many cameras write).
func jpegWithOrientation(t testing.TB, o int) []byte {
	img := image.NewGray(image.Rect(0, 0, 8, 4))
	var b bytes.Buffer
	if err := jpeg.Encode(&b, img, nil); err != nil {
		t.Fatal(err)
	}
	tiff := []byte("MM\x00*\x00\x00\x00\x08\x00\x02")
	entry := func(tag, typ uint16, v uint16) {
		tiff = binary.BigEndian.AppendUint16(tiff, tag)
		tiff = binary.BigEndian.AppendUint16(tiff, typ)
		tiff = binary.BigEndian.AppendUint32(tiff, 1)
		tiff = binary.BigEndian.AppendUint16(tiff, v)
		tiff = append(tiff, 0, 0)
	}
	entry(0x010F, 2, 0) // Make, before the orientation
	entry(0x0112, 3, uint16(o))
	tiff = append(tiff, 0, 0, 0, 0)
	seg := append([]byte("Exif\x00\x00"), tiff...)
	app0 := []byte{0xFF, 0xE0, 0, 4, 'J', 'F'}
	app1 := append([]byte{0xFF, 0xE1, byte((len(seg) + 2) >> 8), byte(len(seg) + 2)}, seg...)
	j := b.Bytes()
	out := append([]byte{}, j[:2]...)
	out = append(out, app0...)
	out = append(out, app1...)
	return append(out, j[2:]...)
}

func TestJPEGOrientation(t *testing.T) {
	for o := 1; o <= 8; o++ {
		if got := jpegOrientation(jpegWithOrientation(t, o)); got != o {
			t.Errorf("orientation %d read as %d", o, got)
		}
	}
	for _, b := range [][]byte{nil, []byte("not a jpeg"), jpegWithOrientation(t, 9), jpegWithOrientation(t, 0)} {
		if got := jpegOrientation(b); got != 1 {
			t.Errorf("%.20q: orientation %d, want 1", b, got)
		}
	}
}

func TestOrient(t *testing.T) {
	img := image.NewRGBA(image.Rect(0, 0, 3, 2))
	img.Set(0, 0, color.RGBA{255, 0, 0, 255}) // the top left corner, red
	for _, c := range []struct {
		o          int
		w, h, x, y int // size after, and where the red pixel goes
	}{{1, 3, 2, 0, 0}, {2, 3, 2, 2, 0}, {3, 3, 2, 2, 1}, {4, 3, 2, 0, 1}, {5, 2, 3, 0, 0}, {6, 2, 3, 1, 0}, {7, 2, 3, 1, 2}, {8, 2, 3, 0, 2}} {
		out := orient(img, c.o)
		if b := out.Bounds(); b.Dx() != c.w || b.Dy() != c.h {
			t.Errorf("orientation %d: %v", c.o, b)
			continue
		}
		if r, _, _, _ := out.At(c.x, c.y).RGBA(); r>>8 != 255 {
			t.Errorf("orientation %d: the top left pixel is not at %d,%d", c.o, c.x, c.y)
		}
	}
}

// FuzzOrientation: any bytes give an orientation in 1..8, never a panic.
func FuzzOrientation(f *testing.F) {
	f.Add(jpegWithOrientation(f, 6))
	f.Add([]byte{0xFF, 0xD8, 0xFF, 0xE1, 0x00, 0x10, 'E', 'x', 'i', 'f', 0, 0, 'I', 'I', '*', 0, 0xff, 0xff, 0xff, 0x7f})
	f.Fuzz(func(t *testing.T, b []byte) {
		if o := jpegOrientation(b); o < 1 || o > 8 {
			t.Fatalf("orientation %d", o)
		}
	})
}
