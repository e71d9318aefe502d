package search

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"time"
)

// Durations of audio and video files, read from their headers: FLAC
// STREAMINFO, the MP4/QuickTime movie header (mvhd), MP3 Xing/Info/VBRI
// frame counts or, for constant bit rate files, size over bit rate.

var errNoDuration = errors.New("no duration found")

// maxDuration bounds a believable duration (a week).
const maxDuration = 7 * 24 * time.Hour

func duration(r io.ReadSeeker, size int64) (time.Duration, error) {
	ra, ok := r.(io.ReaderAt)
	if !ok {
		return 0, errNoDuration
	}
	var head [12]byte
	if n, _ := ra.ReadAt(head[:], 0); n < len(head) {
		return 0, errNoDuration
	}
	var d time.Duration
	var err error
	switch {
	case string(head[:4]) == "fLaC":
		d, err = flacDuration(ra)
	case string(head[4:8]) == "ftyp":
		d, err = mp4Duration(ra, size)
	case string(head[:3]) == "ID3" || head[0] == 0xFF && head[1]&0xE0 == 0xE0:
		d, err = mp3Duration(ra, size)
	default:
		return 0, errNoDuration
	}
	if err != nil {
		return 0, err
	}
	if d <= 0 || d > maxDuration {
		return 0, errNoDuration
	}
	return d, nil
}

func seconds(units, perSecond uint64) time.Duration {
	if perSecond == 0 {
		return 0
	}
	return time.Duration(float64(units) / float64(perSecond) * float64(time.Second))
}

func flacDuration(r io.ReaderAt) (time.Duration, error) {
	var b [4 + 4 + 34]byte // magic, block header, STREAMINFO
	if _, err := r.ReadAt(b[:], 0); err != nil {
		return 0, fmt.Errorf("flac: %w", err)
	}
	if b[4]&0x7F != 0 {
		return 0, errors.New("flac: first metadata block is not STREAMINFO")
	}
	si := b[8:]
	rate := uint64(si[10])<<12 | uint64(si[11])<<4 | uint64(si[12])>>4
	samples := uint64(si[13]&0x0F)<<32 | uint64(binary.BigEndian.Uint32(si[14:18]))
	return seconds(samples, rate), nil
}

// mp4Duration finds moov/mvhd among the top-level boxes.
func mp4Duration(r io.ReaderAt, size int64) (time.Duration, error) {
	off, end, ok, err := findBox(r, 0, size, "moov")
	if err != nil || !ok {
		return 0, errOr(err, errNoDuration)
	}
	off, _, ok, err = findBox(r, off, end, "mvhd")
	if err != nil || !ok {
		return 0, errOr(err, errNoDuration)
	}
	var b [32]byte
	if _, err := r.ReadAt(b[:], off); err != nil {
		return 0, fmt.Errorf("mp4 mvhd: %w", err)
	}
	if b[0] == 1 { // version 1: 64-bit times
		return seconds(binary.BigEndian.Uint64(b[24:32]), uint64(binary.BigEndian.Uint32(b[20:24]))), nil
	}
	return seconds(uint64(binary.BigEndian.Uint32(b[16:20])), uint64(binary.BigEndian.Uint32(b[12:16]))), nil
}

func errOr(err, def error) error {
	if err != nil {
		return err
	}
	return def
}

// findBox scans the boxes in [off, end) for typ and returns its payload
// range. At most 4096 boxes are looked at.
func findBox(r io.ReaderAt, off, end int64, typ string) (int64, int64, bool, error) {
	for i := 0; i < 4096 && off+8 <= end; i++ {
		var h [16]byte
		if _, err := r.ReadAt(h[:8], off); err != nil {
			return 0, 0, false, fmt.Errorf("mp4 box at %d: %w", off, err)
		}
		n, hdr := int64(binary.BigEndian.Uint32(h[:4])), int64(8)
		switch n {
		case 0:
			n = end - off
		case 1:
			if _, err := r.ReadAt(h[8:16], off+8); err != nil {
				return 0, 0, false, fmt.Errorf("mp4 box at %d: %w", off, err)
			}
			n, hdr = int64(binary.BigEndian.Uint64(h[8:16])), 16
		}
		if n < hdr || off+n > end || n < 0 {
			return 0, 0, false, fmt.Errorf("mp4 box at %d: bad size %d", off, n)
		}
		if string(h[4:8]) == typ {
			return off + hdr, off + n, true, nil
		}
		off += n
	}
	return 0, 0, false, nil
}

var (
	mp3Bitrates = [2][16]uint64{ // kbit/s, layer III: MPEG-1, MPEG-2/2.5
		{0, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320, 0},
		{0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160, 0},
	}
	mp3Rates = [4][3]uint64{{11025, 12000, 8000}, {}, {22050, 24000, 16000}, {44100, 48000, 32000}} // by version bits
)

func mp3Duration(r io.ReaderAt, size int64) (time.Duration, error) {
	var start int64
	var id3 [10]byte
	if _, err := r.ReadAt(id3[:], 0); err == nil && string(id3[:3]) == "ID3" {
		n := int64(id3[6]&0x7F)<<21 | int64(id3[7]&0x7F)<<14 | int64(id3[8]&0x7F)<<7 | int64(id3[9]&0x7F)
		start = 10 + n
		if id3[5]&0x10 != 0 {
			start += 10 // footer
		}
	}
	buf := make([]byte, 4096)
	n, _ := r.ReadAt(buf, start)
	buf = buf[:n]
	i := 0
	for ; i+4 <= len(buf); i++ {
		if buf[i] == 0xFF && buf[i+1]&0xE0 == 0xE0 && buf[i+1]&0x06 == 0x02 { // sync, layer III
			break
		}
	}
	if i+4 > len(buf) {
		return 0, errNoDuration
	}
	h := buf[i:]
	ver := (h[1] >> 3) & 3 // 3: MPEG-1, 2: MPEG-2, 0: MPEG-2.5
	if ver == 1 {
		return 0, errNoDuration
	}
	rateIdx, brIdx := (h[2]>>2)&3, h[2]>>4
	if rateIdx == 3 {
		return 0, errNoDuration
	}
	rate := mp3Rates[ver][rateIdx]
	mono := h[3]>>6 == 3
	samplesPerFrame, sideInfo := uint64(1152), 32
	table := 0
	if ver != 3 {
		samplesPerFrame, table = 576, 1
		sideInfo = 17
		if mono {
			sideInfo = 9
		}
	} else if mono {
		sideInfo = 17
	}
	if x := 4 + sideInfo; i+x+12 <= len(buf) {
		tagAt := buf[i+x:]
		if string(tagAt[:4]) == "Xing" || string(tagAt[:4]) == "Info" {
			if flags := binary.BigEndian.Uint32(tagAt[4:8]); flags&1 != 0 {
				return seconds(uint64(binary.BigEndian.Uint32(tagAt[8:12]))*samplesPerFrame, rate), nil
			}
		}
	}
	if v := i + 4 + 32; v+18 <= len(buf) && string(buf[v:v+4]) == "VBRI" {
		return seconds(uint64(binary.BigEndian.Uint32(buf[v+14:v+18]))*samplesPerFrame, rate), nil
	}
	br := mp3Bitrates[table][brIdx] * 1000
	if br == 0 {
		return 0, errNoDuration
	}
	audio := size - start - int64(i)
	return seconds(uint64(audio)*8, br), nil
}
