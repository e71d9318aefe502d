package search_test

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"image"
	"image/color"
	"image/jpeg"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// Real media for the tests: JPEGs with EXIF built here (image/jpeg plus
// an APP1 segment), MP3/FLAC/MP4/MOV with tags made by ffmpeg, and a PDF
// written by hand.

type exifTag struct {
	tag, typ uint16
	count    uint32
	data     []byte
}

func asciiTag(tag uint16, s string) exifTag {
	return exifTag{tag, 2, uint32(len(s) + 1), append([]byte(s), 0)}
}

func longTag(tag uint16, v uint32) exifTag {
	return exifTag{tag, 4, 1, binary.LittleEndian.AppendUint32(nil, v)}
}

func rationals(tag uint16, vs ...[2]uint32) exifTag {
	var b []byte
	for _, v := range vs {
		b = binary.LittleEndian.AppendUint32(b, v[0])
		b = binary.LittleEndian.AppendUint32(b, v[1])
	}
	return exifTag{tag, 5, uint32(len(vs)), b}
}

func ifdSize(tags []exifTag) uint32 {
	n := uint32(2 + 12*len(tags) + 4)
	for _, t := range tags {
		if len(t.data) > 4 {
			n += uint32(len(t.data)+1) &^ 1
		}
	}
	return n
}

// appendIFD writes an IFD at offset off (from the TIFF header), its
// out-of-line values right after it.
func appendIFD(b []byte, off uint32, tags []exifTag) []byte {
	data := off + uint32(2+12*len(tags)+4)
	b = binary.LittleEndian.AppendUint16(b, uint16(len(tags)))
	var extra []byte
	for _, t := range tags {
		b = binary.LittleEndian.AppendUint16(b, t.tag)
		b = binary.LittleEndian.AppendUint16(b, t.typ)
		b = binary.LittleEndian.AppendUint32(b, t.count)
		if len(t.data) <= 4 {
			v := make([]byte, 4)
			copy(v, t.data)
			b = append(b, v...)
			continue
		}
		b = binary.LittleEndian.AppendUint32(b, data+uint32(len(extra)))
		extra = append(extra, t.data...)
		if len(extra)%2 == 1 {
			extra = append(extra, 0)
		}
	}
	b = binary.LittleEndian.AppendUint32(b, 0)
	return append(b, extra...)
}

// jpegWithExif encodes a small real JPEG carrying EXIF: make, model,
// lens, date taken and, if gps, a position.
func jpegWithExif(t testing.TB, mk, model, lens, taken string, gps bool) []byte {
	t.Helper()
	img := image.NewRGBA(image.Rect(0, 0, 32, 24))
	for x := range 32 {
		for y := range 24 {
			img.Set(x, y, color.RGBA{uint8(x * 8), uint8(y * 10), 128, 255})
		}
	}
	var enc bytes.Buffer
	if err := jpeg.Encode(&enc, img, nil); err != nil {
		t.Fatal(err)
	}
	exifIFD := []exifTag{asciiTag(0x9003, taken), asciiTag(0xA434, lens)}
	gpsIFD := []exifTag{asciiTag(1, "N"), rationals(2, [2]uint32{47, 1}, [2]uint32{22, 1}, [2]uint32{0, 1}),
		asciiTag(3, "E"), rationals(4, [2]uint32{8, 1}, [2]uint32{32, 1}, [2]uint32{0, 1})}
	ifd0 := []exifTag{asciiTag(0x010F, mk), asciiTag(0x0110, model), longTag(0x8769, 0)}
	if gps {
		ifd0 = append(ifd0, longTag(0x8825, 0))
	}
	off0 := uint32(8)
	offExif := off0 + ifdSize(ifd0)
	offGPS := offExif + ifdSize(exifIFD)
	ifd0[2] = longTag(0x8769, offExif)
	if gps {
		ifd0[3] = longTag(0x8825, offGPS)
	}
	tiff := []byte("II*\x00\x08\x00\x00\x00")
	tiff = appendIFD(tiff, off0, ifd0)
	tiff = appendIFD(tiff, offExif, exifIFD)
	if gps {
		tiff = appendIFD(tiff, offGPS, gpsIFD)
	}
	app1 := append([]byte("Exif\x00\x00"), tiff...)
	out := []byte{0xFF, 0xD8, 0xFF, 0xE1}
	out = binary.BigEndian.AppendUint16(out, uint16(len(app1)+2))
	out = append(out, app1...)
	return append(out, enc.Bytes()[2:]...)
}

// ffmpegMedia makes a real media file with ffmpeg (listed in
// deps/deps.txt) and returns its bytes.
func ffmpegMedia(t testing.TB, name string, seconds float64, video bool, meta map[string]string) []byte {
	t.Helper()
	if _, err := exec.LookPath("ffmpeg"); err != nil {
		t.Fatalf("the search tests need ffmpeg (deps/deps.txt; apt-get install ffmpeg): %v", err)
	}
	out := filepath.Join(t.TempDir(), name)
	dur := fmt.Sprint(seconds)
	args := []string{"-hide_banner", "-loglevel", "error", "-y", "-f", "lavfi", "-i", "sine=frequency=440:duration=" + dur}
	if video {
		args = append(args, "-f", "lavfi", "-i", "testsrc=duration="+dur+":size=64x48:rate=10", "-c:v", "mpeg4")
	}
	for k, v := range meta {
		args = append(args, "-metadata", k+"="+v)
	}
	args = append(args, "-t", dur, out)
	if b, err := exec.Command("ffmpeg", args...).CombinedOutput(); err != nil {
		t.Fatalf("ffmpeg %v: %v\n%s", args, err, b)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// pdfWithText writes a one-page PDF showing text (Helvetica).
func pdfWithText(text string) []byte {
	var b bytes.Buffer
	var offs []int
	obj := func(s string) {
		offs = append(offs, b.Len())
		fmt.Fprintf(&b, "%d 0 obj\n%s\nendobj\n", len(offs), s)
	}
	b.WriteString("%PDF-1.4\n")
	obj("<< /Type /Catalog /Pages 2 0 R >>")
	obj("<< /Type /Pages /Kids [3 0 R] /Count 1 >>")
	obj("<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R /Resources << /Font << /F1 5 0 R >> >> >>")
	stream := fmt.Sprintf("BT /F1 12 Tf 72 720 Td (%s) Tj ET", text)
	obj(fmt.Sprintf("<< /Length %d >>\nstream\n%s\nendstream", len(stream), stream))
	obj("<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>")
	xref := b.Len()
	fmt.Fprintf(&b, "xref\n0 %d\n0000000000 65535 f \n", len(offs)+1)
	for _, o := range offs {
		fmt.Fprintf(&b, "%010d 00000 n \n", o)
	}
	fmt.Fprintf(&b, "trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n", len(offs)+1, xref)
	return b.Bytes()
}
