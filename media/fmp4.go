package media

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// This file splits ffmpeg's fragmented MP4 output (one continuous stream
// on a pipe) into the init segment (ftyp + moov) and fragments (moof +
// mdat), and reads each fragment's start time from its tfdt box. The
// package groups fragments into HLS segments by that time, so segments
// land exactly on the plan whatever ffmpeg's seek did.

// maxBox bounds one box (a corrupt stream must not make us allocate
// without limit).
const maxBox = 512 << 20

var errBadMP4 = errors.New("malformed fragmented MP4 from ffmpeg")

// track is what the init segment says about one track.
type track struct {
	timescale   uint32
	video       bool
	defDuration uint32 // trex default_sample_duration
}

// fragment is one moof + mdat (and any boxes between them).
type fragment struct {
	data []byte
	time float64 // start on the output timeline, seconds (reference track's tfdt)
	end  float64 // time + the reference track's sample durations
}

// fmp4Reader reads boxes from ffmpeg's stdout.
type fmp4Reader struct {
	r      *bufio.Reader
	tracks map[uint32]track
	ref    uint32 // the reference track: video if there is one
	held   []byte // a box read ahead (the first moof)
}

func newFMP4Reader(r io.Reader) *fmp4Reader {
	return &fmp4Reader{r: bufio.NewReaderSize(r, 256<<10), tracks: map[uint32]track{}}
}

// readBox reads one whole box. At a clean end of stream it returns io.EOF.
func (f *fmp4Reader) readBox() (typ string, box []byte, err error) {
	if f.held != nil {
		box, f.held = f.held, nil
		return string(box[4:8]), box, nil
	}
	var hdr [16]byte
	if _, err := io.ReadFull(f.r, hdr[:8]); err != nil {
		if err == io.ErrUnexpectedEOF {
			return "", nil, fmt.Errorf("%w: truncated box header", errBadMP4)
		}
		return "", nil, err
	}
	size, hlen := uint64(binary.BigEndian.Uint32(hdr[:4])), 8
	if size == 1 {
		if _, err := io.ReadFull(f.r, hdr[8:16]); err != nil {
			return "", nil, fmt.Errorf("%w: truncated box header", errBadMP4)
		}
		size, hlen = binary.BigEndian.Uint64(hdr[8:16]), 16
	}
	if size < uint64(hlen) || size > maxBox {
		return "", nil, fmt.Errorf("%w: box %q of %d bytes", errBadMP4, hdr[4:8], size)
	}
	box = make([]byte, size)
	copy(box, hdr[:hlen])
	if _, err := io.ReadFull(f.r, box[hlen:]); err != nil {
		return "", nil, fmt.Errorf("%w: truncated %q box", errBadMP4, hdr[4:8])
	}
	return string(hdr[4:8]), box, nil
}

// readInit returns the init segment: every box before the first moof.
func (f *fmp4Reader) readInit() ([]byte, error) {
	var init []byte
	for {
		typ, box, err := f.readBox()
		if err == io.EOF {
			return nil, fmt.Errorf("%w: no fragment in the output", errBadMP4)
		}
		if err != nil {
			return nil, err
		}
		if typ == "moof" {
			f.held = box
			break
		}
		if typ == "moov" {
			if err := f.parseMoov(box); err != nil {
				return nil, err
			}
		}
		init = append(init, box...)
	}
	if len(f.tracks) == 0 {
		return nil, fmt.Errorf("%w: no track in moov", errBadMP4)
	}
	return init, nil
}

// next returns the next fragment, or io.EOF after the last one.
func (f *fmp4Reader) next() (fragment, error) {
	var fr fragment
	found := false
	for {
		typ, box, err := f.readBox()
		if err == io.EOF && !found {
			return fr, io.EOF
		}
		if err == io.EOF {
			return fr, fmt.Errorf("%w: moof without mdat", errBadMP4)
		}
		if err != nil {
			return fr, err
		}
		switch typ {
		case "moof":
			if found {
				return fr, fmt.Errorf("%w: moof without mdat", errBadMP4)
			}
			t, e, err := f.fragmentTimes(box)
			if err != nil {
				return fr, err
			}
			fr.time, fr.end, found = t, e, true
		case "mfra":
			continue // the random-access index at the end
		}
		if !found {
			continue // boxes between fragments we do not need (styp, sidx)
		}
		fr.data = append(fr.data, box...)
		if typ == "mdat" {
			return fr, nil
		}
	}
}

// children calls fn for each child box in b (the payload of a container).
func children(b []byte, fn func(typ string, box []byte) error) error {
	for len(b) > 0 {
		if len(b) < 8 {
			return fmt.Errorf("%w: short box", errBadMP4)
		}
		size, hlen := uint64(binary.BigEndian.Uint32(b[:4])), uint64(8)
		if size == 1 {
			if len(b) < 16 {
				return fmt.Errorf("%w: short box", errBadMP4)
			}
			size, hlen = binary.BigEndian.Uint64(b[8:16]), 16
		}
		if size < hlen || size > uint64(len(b)) {
			return fmt.Errorf("%w: box size %d", errBadMP4, size)
		}
		if err := fn(string(b[4:8]), b[hlen:size]); err != nil {
			return err
		}
		b = b[size:]
	}
	return nil
}

// parseMoov reads each track's id, timescale, kind and default sample
// duration.
func (f *fmp4Reader) parseMoov(box []byte) error {
	trex := map[uint32]uint32{}
	err := children(box[8:], func(typ string, trak []byte) error {
		if typ == "mvex" {
			return children(trak, func(typ string, b []byte) error {
				if typ == "trex" && len(b) >= 16 {
					trex[binary.BigEndian.Uint32(b[4:8])] = binary.BigEndian.Uint32(b[12:16])
				}
				return nil
			})
		}
		if typ != "trak" {
			return nil
		}
		var id, scale uint32
		var video bool
		err := children(trak, func(typ string, b []byte) error {
			switch typ {
			case "tkhd":
				if len(b) < 1 {
					return fmt.Errorf("%w: tkhd", errBadMP4)
				}
				off := 12
				if b[0] == 1 {
					off = 20
				}
				if len(b) < off+4 {
					return fmt.Errorf("%w: tkhd", errBadMP4)
				}
				id = binary.BigEndian.Uint32(b[off:])
			case "mdia":
				return children(b, func(typ string, b []byte) error {
					switch typ {
					case "mdhd":
						if len(b) < 1 {
							return fmt.Errorf("%w: mdhd", errBadMP4)
						}
						off := 12
						if b[0] == 1 {
							off = 20
						}
						if len(b) < off+4 {
							return fmt.Errorf("%w: mdhd", errBadMP4)
						}
						scale = binary.BigEndian.Uint32(b[off:])
					case "hdlr":
						if len(b) >= 12 {
							video = string(b[8:12]) == "vide"
						}
					}
					return nil
				})
			}
			return nil
		})
		if err != nil {
			return err
		}
		if id == 0 || scale == 0 {
			return fmt.Errorf("%w: track without id or timescale", errBadMP4)
		}
		f.tracks[id] = track{timescale: scale, video: video}
		if f.ref == 0 || video && !f.tracks[f.ref].video {
			f.ref = id
		}
		return nil
	})
	for id, d := range trex {
		if tr, ok := f.tracks[id]; ok {
			tr.defDuration = d
			f.tracks[id] = tr
		}
	}
	return err
}

// fragmentTimes returns the reference track's start (tfdt) and end (start
// plus its samples' durations) in seconds, or the first track's when the
// reference track is absent from this fragment.
func (f *fmp4Reader) fragmentTimes(moof []byte) (float64, float64, error) {
	var start, end float64
	found := false
	err := children(moof[8:], func(typ string, traf []byte) error {
		if typ != "traf" {
			return nil
		}
		t, err := f.parseTraf(traf)
		if err != nil {
			return err
		}
		if !found || t.id == f.ref {
			start, end, found = t.start, t.end, true
		}
		return nil
	})
	if err != nil {
		return 0, 0, err
	}
	if !found {
		return 0, 0, fmt.Errorf("%w: moof without traf", errBadMP4)
	}
	return start, end, nil
}

type trafTimes struct {
	id         uint32
	start, end float64
}

// parseTraf reads tfhd, tfdt and the durations in trun.
func (f *fmp4Reader) parseTraf(traf []byte) (trafTimes, error) {
	var id, defDur uint32
	var base, dur uint64
	var haveBase, haveID bool
	err := children(traf, func(typ string, b []byte) error {
		switch typ {
		case "tfhd":
			if len(b) < 8 {
				return fmt.Errorf("%w: tfhd", errBadMP4)
			}
			flags := binary.BigEndian.Uint32(b[0:4]) & 0xffffff
			id, haveID = binary.BigEndian.Uint32(b[4:8]), true
			off := 8
			if flags&0x01 != 0 {
				off += 8
			}
			if flags&0x02 != 0 {
				off += 4
			}
			if flags&0x08 != 0 {
				if len(b) < off+4 {
					return fmt.Errorf("%w: tfhd", errBadMP4)
				}
				defDur = binary.BigEndian.Uint32(b[off:])
			}
		case "tfdt":
			switch {
			case len(b) >= 12 && b[0] == 1:
				base = binary.BigEndian.Uint64(b[4:12])
			case len(b) >= 8 && b[0] == 0:
				base = uint64(binary.BigEndian.Uint32(b[4:8]))
			default:
				return fmt.Errorf("%w: tfdt", errBadMP4)
			}
			haveBase = true
		case "trun":
			d, err := trunDuration(b, defDur, f.tracks[id].defDuration)
			if err != nil {
				return err
			}
			dur += d
		}
		return nil
	})
	if err != nil {
		return trafTimes{}, err
	}
	tr, ok := f.tracks[id]
	if !haveID || !ok || !haveBase {
		return trafTimes{}, fmt.Errorf("%w: traf of unknown track %d or without tfdt", errBadMP4, id)
	}
	sc := float64(tr.timescale)
	start := float64(int64(base)) / sc
	return trafTimes{id: id, start: start, end: start + float64(dur)/sc}, nil
}

// trunDuration sums a trun's sample durations (per sample, else the
// tfhd default, else trex's).
func trunDuration(b []byte, tfhdDef, trexDef uint32) (uint64, error) {
	if len(b) < 8 {
		return 0, fmt.Errorf("%w: trun", errBadMP4)
	}
	flags := binary.BigEndian.Uint32(b[0:4]) & 0xffffff
	n := uint64(binary.BigEndian.Uint32(b[4:8]))
	off := 8
	if flags&0x01 != 0 {
		off += 4
	}
	if flags&0x04 != 0 {
		off += 4
	}
	per := 0
	for _, bit := range []uint32{0x100, 0x200, 0x400, 0x800} {
		if flags&bit != 0 {
			per += 4
		}
	}
	if flags&0x100 == 0 {
		def := tfhdDef
		if def == 0 {
			def = trexDef
		}
		return n * uint64(def), nil
	}
	if uint64(len(b)-min(off, len(b))) < n*uint64(per) || off > len(b) {
		return 0, fmt.Errorf("%w: trun of %d samples", errBadMP4, n)
	}
	var sum uint64
	for i := range int(n) {
		sum += uint64(binary.BigEndian.Uint32(b[off+i*per:]))
	}
	return sum, nil
}
