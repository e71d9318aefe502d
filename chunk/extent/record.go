package extent

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/clusterf/clusterf/chunk"
)

// A record is a header and a payload, appended to a segment:
//
//	[4] CRC-32C of everything after it (kind, id, length, payload)
//	[1] kind: kindPut or kindDel
//	[32] chunk id
//	[4] payload length n (0 for kindDel)
//	[n] payload (the blob)
const (
	hdrSize = 4 + 1 + 32 + 4
	kindPut = 1
	kindDel = 2
	// maxPayload bounds a record's length field (a blob is at most a
	// 16 MiB chunk plus its header and any sealing overhead).
	maxPayload = 2 * chunk.MaxChunkSize
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

func recLen(n uint32) int64 { return hdrSize + int64(n) }

// header returns the record header of (kind, id, payload).
func header(kind byte, id chunk.ID, payload []byte) []byte {
	h := make([]byte, hdrSize)
	h[4] = kind
	copy(h[5:37], id[:])
	binary.BigEndian.PutUint32(h[37:41], uint32(len(payload)))
	c := crc32.Update(0, castagnoli, h[4:])
	c = crc32.Update(c, castagnoli, payload)
	binary.BigEndian.PutUint32(h[0:4], c)
	return h
}

// entry describes one record of a segment: what a hint file lists.
type entry struct {
	kind byte
	id   chunk.ID
	off  int64 // record start
	n    uint32
}

// segID orders segments: new segments get the next major; a compaction
// output takes its input's place (same major, next minor), so replaying
// segments in order always applies records in the order they were made.
type segID struct {
	major uint64
	minor uint32
}

func (a segID) less(b segID) bool {
	return a.major < b.major || a.major == b.major && a.minor < b.minor
}

func (a segID) name() string { return fmt.Sprintf("%016x-%08x.seg", a.major, a.minor) }

const (
	segExt  = ".seg"
	hintExt = ".hint"
	tmpExt  = ".tmp"
)

func parseSegName(name string) (segID, bool) {
	var id segID
	if len(name) != 16+1+8+len(segExt) || !strings.HasSuffix(name, segExt) {
		return id, false
	}
	if _, err := fmt.Sscanf(name, "%016x-%08x.seg", &id.major, &id.minor); err != nil {
		return id, false
	}
	return id, id.name() == name
}

// listSegments returns the segment ids in dir, in replay order, and
// removes leftover temporary files (an interrupted compaction or hint).
func listSegments(dir string) ([]segID, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var ids []segID
	segs := map[string]bool{}
	for _, e := range ents {
		segs[e.Name()] = true
	}
	for _, e := range ents {
		if strings.HasSuffix(e.Name(), hintExt) && !segs[strings.TrimSuffix(e.Name(), hintExt)] {
			// The hint of a segment a compaction removed.
			if err := os.Remove(filepath.Join(dir, e.Name())); err != nil && !errors.Is(err, os.ErrNotExist) {
				return nil, err
			}
			continue
		}
		if strings.HasSuffix(e.Name(), tmpExt) {
			if err := os.Remove(filepath.Join(dir, e.Name())); err != nil && !errors.Is(err, os.ErrNotExist) {
				return nil, err
			}
			continue
		}
		if id, ok := parseSegName(e.Name()); ok {
			ids = append(ids, id)
		}
	}
	// A compaction killed after its output took a segment's place but
	// before the old segment was removed: the output (same major, higher
	// minor) holds everything of it that counts.
	newest := map[uint64]uint32{}
	for _, id := range ids {
		newest[id.major] = max(newest[id.major], id.minor)
	}
	ids = slices.DeleteFunc(ids, func(id segID) bool {
		if id.minor == newest[id.major] {
			return false
		}
		os.Remove(filepath.Join(dir, id.name()))
		os.Remove(filepath.Join(dir, id.name()+hintExt))
		return true
	})
	slices.SortFunc(ids, func(a, b segID) int {
		switch {
		case a.less(b):
			return -1
		case b.less(a):
			return 1
		}
		return 0
	})
	return ids, nil
}

// scan reads the records of f from the start and returns them and the end
// of the last valid one. It stops at the first record that is cut short or
// fails its CRC (a torn tail after a crash).
func scan(f *os.File) ([]entry, int64, error) {
	fi, err := f.Stat()
	if err != nil {
		return nil, 0, err
	}
	size := fi.Size()
	r := bufio.NewReaderSize(io.NewSectionReader(f, 0, size), 1<<20)
	var out []entry
	var off int64
	hdr := make([]byte, hdrSize)
	var payload []byte
	for off+hdrSize <= size {
		if _, err := io.ReadFull(r, hdr); err != nil {
			return nil, 0, err
		}
		kind, n := hdr[4], binary.BigEndian.Uint32(hdr[37:41])
		if kind != kindPut && kind != kindDel || n > maxPayload || kind == kindDel && n != 0 || off+recLen(n) > size {
			break
		}
		payload = slices.Grow(payload[:0], int(n))[:n]
		if _, err := io.ReadFull(r, payload); err != nil {
			return nil, 0, err
		}
		c := crc32.Update(0, castagnoli, hdr[4:])
		if crc32.Update(c, castagnoli, payload) != binary.BigEndian.Uint32(hdr[0:4]) {
			break
		}
		out = append(out, entry{kind: kind, id: chunk.ID(hdr[5:37]), off: off, n: n})
		off += recLen(n)
	}
	return out, off, nil
}

// A hint file lists a sealed segment's records so Open need not read the
// segment: magic, the segment size it describes, the count, the entries
// (kind, id, offset, length) and a CRC-32C of all of it.
const (
	hintMagic     = "CFXHINT1"
	hintEntrySize = 1 + 32 + 8 + 4
)

func encodeHint(size int64, es []entry) []byte {
	b := make([]byte, 0, len(hintMagic)+16+len(es)*hintEntrySize+4)
	b = append(b, hintMagic...)
	b = binary.BigEndian.AppendUint64(b, uint64(size))
	b = binary.BigEndian.AppendUint64(b, uint64(len(es)))
	for _, e := range es {
		b = append(b, e.kind)
		b = append(b, e.id[:]...)
		b = binary.BigEndian.AppendUint64(b, uint64(e.off))
		b = binary.BigEndian.AppendUint32(b, e.n)
	}
	return binary.BigEndian.AppendUint32(b, crc32.Checksum(b, castagnoli))
}

// decodeHint returns the entries of a hint that describes a segment of
// size bytes, or ok == false if the hint is damaged or stale.
func decodeHint(b []byte, size int64) ([]entry, bool) {
	const fixed = len(hintMagic) + 16
	if len(b) < fixed+4 || string(b[:len(hintMagic)]) != hintMagic {
		return nil, false
	}
	body, sum := b[:len(b)-4], binary.BigEndian.Uint32(b[len(b)-4:])
	if crc32.Checksum(body, castagnoli) != sum {
		return nil, false
	}
	if int64(binary.BigEndian.Uint64(body[8:16])) != size {
		return nil, false
	}
	count := binary.BigEndian.Uint64(body[16:24])
	rest := body[fixed:]
	if uint64(len(rest)) != count*hintEntrySize {
		return nil, false
	}
	es := make([]entry, count)
	for i := range es {
		p := rest[i*hintEntrySize:]
		es[i] = entry{
			kind: p[0],
			id:   chunk.ID(p[1:33]),
			off:  int64(binary.BigEndian.Uint64(p[33:41])),
			n:    binary.BigEndian.Uint32(p[41:45]),
		}
		if e := es[i]; e.off < 0 || e.off+recLen(e.n) > size || e.kind != kindPut && e.kind != kindDel {
			return nil, false
		}
	}
	return es, true
}

// writeFileSync writes path durably through a temporary file and a rename
// (the directory is synced by the caller).
func writeFileSync(path string, data []byte) (err error) {
	tmp := path + tmpExt
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(tmp)
		}
	}()
	if _, err := f.Write(data); err != nil {
		return err
	}
	if err := f.Sync(); err != nil {
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}
