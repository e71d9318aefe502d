package media

import (
	"bytes"
	"errors"
	"io"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// ffmpegFragments remuxes a generated source the way a run does and
// returns ffmpeg's output.
func ffmpegFragments(t testing.TB) []byte {
	t.Helper()
	src, _ := GenSource(t, "h264-aac-mkv")
	out := filepath.Join(t.TempDir(), "out.mp4")
	args := []string{"-v", "error", "-copyts", "-i", src, "-map", "0:0", "-map", "0:1", "-c", "copy",
		"-output_ts_offset", "10", "-f", "mp4", "-movflags", "frag_keyframe+empty_moov+default_base_moof+delay_moov+frag_discont", out}
	if b, err := exec.Command("ffmpeg", args...).CombinedOutput(); err != nil {
		t.Fatalf("ffmpeg: %v %s", err, b)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestFMP4Reader splits real ffmpeg output: the init segment, one fragment
// per keyframe (the source has one a second), times that start at the
// offset and follow on (each fragment's end is the next one's start).
func TestFMP4Reader(t *testing.T) {
	b := ffmpegFragments(t)
	rd := newFMP4Reader(bytes.NewReader(b))
	init, err := rd.readInit()
	if err != nil {
		t.Fatal(err)
	}
	if string(init[4:8]) != "ftyp" || len(rd.tracks) != 2 || !rd.tracks[rd.ref].video {
		t.Fatalf("init %q tracks %+v ref %d", init[4:8], rd.tracks, rd.ref)
	}
	var frs []fragment
	total := len(init)
	for {
		fr, err := rd.next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		frs = append(frs, fr)
		total += len(fr.data)
	}
	if len(frs) != 6 {
		t.Fatalf("%d fragments, want 6 (one per keyframe)", len(frs))
	}
	for i, fr := range frs {
		if want := 10 + float64(i); math.Abs(fr.time-want) > 0.05 {
			t.Errorf("fragment %d starts at %.3f, want %.3f", i, fr.time, want)
		}
		if i > 0 && math.Abs(frs[i-1].end-fr.time) > 0.001 {
			t.Errorf("fragment %d ends at %.4f, the next starts at %.4f", i-1, frs[i-1].end, fr.time)
		}
		if string(fr.data[4:8]) != "moof" {
			t.Errorf("fragment %d starts with %q", i, fr.data[4:8])
		}
	}
	if total > len(b) || len(b)-total > 64<<10 { // all but the trailing index (mfra)
		t.Errorf("read %d of %d bytes", total, len(b))
	}
}

func TestFMP4ReaderErrors(t *testing.T) {
	b := ffmpegFragments(t)
	for _, c := range []struct {
		name string
		data []byte
	}{
		{"empty", nil},
		{"init only", b[:1000]},
		{"cut in a fragment", b[:len(b)/2]},
		{"huge box", append([]byte{0x7f, 0xff, 0xff, 0xff}, "moov"...)},
		{"tiny box", []byte{0, 0, 0, 4, 'f', 't', 'y', 'p'}},
	} {
		rd := newFMP4Reader(bytes.NewReader(c.data))
		_, err := rd.readInit()
		for err == nil {
			_, err = rd.next()
		}
		if err == io.EOF || !errors.Is(err, errBadMP4) {
			t.Errorf("%s: %v, want errBadMP4", c.name, err)
		}
	}
}

// FuzzFragments: the reader never panics and never reads boxes larger
// than maxBox, whatever ffmpeg (or a corrupt pipe) writes.
func FuzzFragments(f *testing.F) {
	b := ffmpegFragments(f)
	f.Add(b[:min(len(b), 4096)])
	f.Add(b[len(b)-2048:])
	f.Add([]byte{0, 0, 0, 1, 'm', 'o', 'o', 'f', 0, 0, 0, 0, 0, 0, 0, 16})
	f.Fuzz(func(t *testing.T, data []byte) {
		rd := newFMP4Reader(bytes.NewReader(data))
		if _, err := rd.readInit(); err != nil {
			return
		}
		for range 1000 {
			fr, err := rd.next()
			if err != nil {
				return
			}
			if len(fr.data) > len(data) {
				t.Fatalf("fragment of %d bytes from %d input bytes", len(fr.data), len(data))
			}
		}
	})
}
