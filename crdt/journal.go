package crdt

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"

	"golang.org/x/sys/unix"

	"github.com/clusterf/clusterf/dirsync"
)

// Journal is the metadata journal in front of the Store: an append-only
// log of checksummed records in numbered segment files (<base>.<n>). A
// record is written with one write(2), so once Append returns it survives
// a crash of the process; Sync (fdatasync) makes it durable. The Replica
// moves durable ops into the Store in batches (checkpoints, one bbolt
// transaction each) and then removes the segments they came from, so the
// Store (meta.db) is only ever changed by complete, synced transactions
// and stays consistent after a power loss.
//
// Record layout (little endian): payload length u32, CRC-32C u32 of the
// bytes after it (type, number, payload), type u8, record number u64,
// payload. Record numbers are consecutive across segments. Types: ops (an
// EncodeOps payload: the ops of whole transactions) and mark (a record
// number: every record up to it was durable, with whatever it relies on,
// before this mark was written).
//
// Replay reads the records in order and stops at the first one that is
// torn, fails its checksum or breaks the numbering; the rest of that
// segment and every later segment are dropped (nothing after a torn
// record was ever durable).
type Journal struct {
	base   string     // path prefix: segments are base.<n>
	seal   Sealer     // nil: ops records are plain
	syncMu sync.Mutex // serializes Sync and Rotate; taken before mu

	mu      sync.Mutex // guards everything below
	seg     uint64     // current segment number
	f       *os.File   // current segment, positioned at its end
	size    int64      // bytes in the current segment
	recno   uint64     // last record number written
	unsyncd []*os.File // segments written since the last sync (f included when dirty)
	old     []uint64   // older segments still on disk, ascending
	closed  bool
	buf     []byte
	replay  []journalRecord // read by OpenJournal, until start
}

const (
	recOps  byte = 1
	recMark byte = 2

	recHeader = 17
	// maxRecord bounds one record's payload (EncodeOps refuses more).
	maxRecord = MaxOpsBytes
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// journalRecord is one record found by replay: its segment and offset
// there, so that replay can cut the journal at it.
type journalRecord struct {
	typ   byte
	recno uint64
	data  []byte
	seg   uint64
	off   int64
}

// JournalOption configures OpenJournal.
type JournalOption func(*Journal)

// JournalSealer seals every ops record with s (at-rest encryption, like
// WithSealer for meta.db), its record number as associated data. A record
// whose checksum holds but that fails to open is an error (wrong key or
// tampering), never a torn tail to cut.
func JournalSealer(s Sealer) JournalOption { return func(j *Journal) { j.seal = s } }

// OpenJournal opens (creating if needed) the journal whose segments are
// base.<n>, reads every valid record and truncates a torn tail (a record
// cut short or failing its checksum, and everything after it). The
// Replica replays records() and then calls start, which may cut more.
func OpenJournal(base string, opts ...JournalOption) (*Journal, error) {
	segs, err := listSegments(base)
	if err != nil {
		return nil, fmt.Errorf("crdt: journal %s: %w", base, err)
	}
	j := &Journal{base: base, seg: 1}
	for _, o := range opts {
		o(j)
	}
	for i, n := range segs {
		path := j.segPath(n)
		got, valid, torn, err := readSegment(path, n, j.recno)
		if err != nil {
			return nil, fmt.Errorf("crdt: journal: read %s: %w", path, err)
		}
		if err := j.unseal(got); err != nil {
			return nil, fmt.Errorf("crdt: journal %s: %w", path, err)
		}
		j.replay = append(j.replay, got...)
		if len(got) > 0 {
			j.recno = got[len(got)-1].recno
		}
		j.seg = n
		if torn {
			if err := j.cut(n, valid, segs[i+1:]); err != nil {
				return nil, err
			}
			break
		}
		if i < len(segs)-1 {
			j.old = append(j.old, n)
		}
	}
	return j, nil
}

// cut truncates segment n at off and removes the later segments.
func (j *Journal) cut(n uint64, off int64, later []uint64) error {
	if err := truncateSync(j.segPath(n), off); err != nil {
		return fmt.Errorf("crdt: journal: truncate %s: %w", j.segPath(n), err)
	}
	for _, m := range later {
		if err := os.Remove(j.segPath(m)); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("crdt: journal: drop %s: %w", j.segPath(m), err)
		}
	}
	return nil
}

// journalAD is the associated data of ops record recno.
func journalAD(recno uint64) []byte {
	ad := append([]byte("crdt.journal"), 0, 0, 0, 0, 0, 0, 0, 0, 0)
	binary.LittleEndian.PutUint64(ad[len(ad)-8:], recno)
	return ad
}

// unseal replaces the sealed payloads of ops records by their plain text.
func (j *Journal) unseal(recs []journalRecord) error {
	if j.seal == nil {
		return nil
	}
	for i := range recs {
		if recs[i].typ != recOps {
			continue
		}
		p, err := j.seal.Open(nil, recs[i].data, journalAD(recs[i].recno))
		if err != nil {
			return fmt.Errorf("record %d: %w", recs[i].recno, err)
		}
		recs[i].data = p
	}
	return nil
}

// records returns what OpenJournal read, in order.
func (j *Journal) records() []journalRecord { return j.replay }

// start opens the journal for appending after replay. A non-zero cut
// drops that record and everything after it first (replay found it
// unusable). Everything kept is synced: a previous process that was
// killed left its last records in the page cache only.
func (j *Journal) start(cut uint64) error {
	if cut > 0 {
		i := slices.IndexFunc(j.replay, func(r journalRecord) bool { return r.recno == cut })
		if i < 0 {
			return fmt.Errorf("crdt: journal: no record %d to cut at", cut)
		}
		r := j.replay[i]
		var later []uint64
		for _, n := range append(slices.Clone(j.old), j.seg) {
			if n > r.seg {
				later = append(later, n)
			}
		}
		if err := j.cut(r.seg, r.off, later); err != nil {
			return err
		}
		j.old = slices.DeleteFunc(j.old, func(n uint64) bool { return n >= r.seg })
		j.seg, j.recno = r.seg, cut-1
	}
	j.replay = nil
	if err := j.openSegment(); err != nil {
		return err
	}
	for _, n := range j.old {
		if err := fsyncPath(j.segPath(n)); err != nil {
			j.f.Close()
			return fmt.Errorf("crdt: journal: sync %s: %w", j.segPath(n), err)
		}
	}
	if err := j.f.Sync(); err != nil {
		j.f.Close()
		return fmt.Errorf("crdt: journal: sync: %w", err)
	}
	return nil
}

func (j *Journal) segPath(n uint64) string { return j.base + "." + strconv.FormatUint(n, 10) }

// openSegment opens j.seg for appending, creating it, and syncs the
// directory so that a new segment's name is durable.
func (j *Journal) openSegment() error {
	path := j.segPath(j.seg)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return fmt.Errorf("crdt: journal: %w", err)
	}
	end, err := f.Seek(0, io.SeekEnd)
	if err != nil {
		f.Close()
		return fmt.Errorf("crdt: journal: %w", err)
	}
	if err := dirsync.Dir(filepath.Dir(path)); err != nil {
		f.Close()
		return fmt.Errorf("crdt: journal: sync dir: %w", err)
	}
	j.f, j.size = f, end
	return nil
}

// listSegments returns the segment numbers of base, ascending.
func listSegments(base string) ([]uint64, error) {
	ents, err := os.ReadDir(filepath.Dir(base))
	if err != nil {
		return nil, err
	}
	prefix := filepath.Base(base) + "."
	var out []uint64
	for _, e := range ents {
		rest, ok := strings.CutPrefix(e.Name(), prefix)
		if !ok || !e.Type().IsRegular() {
			continue
		}
		if n, err := strconv.ParseUint(rest, 10, 64); err == nil && n > 0 {
			out = append(out, n)
		}
	}
	slices.Sort(out)
	return out, nil
}

// readSegment reads the valid records of one segment; prev is the number
// of the record before its first one (0: any). torn reports a bad record
// at byte valid (everything from there on is to be dropped).
func readSegment(path string, seg, prev uint64) (recs []journalRecord, valid int64, torn bool, err error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, 0, false, err
	}
	for off := 0; off < len(b); {
		rec, n, ok := parseRecord(b[off:], prev)
		if !ok {
			return recs, int64(off), true, nil
		}
		rec.seg, rec.off = seg, int64(off)
		recs = append(recs, rec)
		prev = rec.recno
		off += n
	}
	return recs, int64(len(b)), false, nil
}

// parseRecord decodes the record at the start of b; ok is false for a
// torn, corrupt or out-of-sequence record.
func parseRecord(b []byte, prev uint64) (journalRecord, int, bool) {
	if len(b) < recHeader {
		return journalRecord{}, 0, false
	}
	n := binary.LittleEndian.Uint32(b[0:4])
	if n > maxRecord || int64(len(b)) < recHeader+int64(n) {
		return journalRecord{}, 0, false
	}
	end := recHeader + int(n)
	if crc32.Checksum(b[8:end], castagnoli) != binary.LittleEndian.Uint32(b[4:8]) {
		return journalRecord{}, 0, false
	}
	rec := journalRecord{typ: b[8], recno: binary.LittleEndian.Uint64(b[9:17]), data: b[recHeader:end]}
	if (prev != 0 && rec.recno != prev+1) || rec.recno == 0 || (rec.typ != recOps && rec.typ != recMark) {
		return journalRecord{}, 0, false
	}
	return rec, end, true
}

// appendRecords writes one record per payload with a single write. On an
// error nothing is taken as written: the segment is cut back to where it
// was (a short write must not leave half a record before later ones).
// Called with j.mu held.
func (j *Journal) appendRecords(typ byte, payloads ...[]byte) (uint64, error) {
	if j.closed {
		return 0, errors.New("crdt: journal closed")
	}
	buf := j.buf[:0]
	recno := j.recno
	for _, p := range payloads {
		recno++
		if typ == recOps && j.seal != nil {
			p = j.seal.Seal(nil, p, journalAD(recno))
		}
		if len(p) > maxRecord {
			return 0, fmt.Errorf("crdt: journal record of %d bytes exceeds %d", len(p), maxRecord)
		}
		var h [recHeader]byte
		binary.LittleEndian.PutUint32(h[0:4], uint32(len(p)))
		h[8] = typ
		binary.LittleEndian.PutUint64(h[9:17], recno)
		crc := crc32.Update(crc32.Checksum(h[8:], castagnoli), castagnoli, p)
		binary.LittleEndian.PutUint32(h[4:8], crc)
		buf = append(append(buf, h[:]...), p...)
	}
	if _, err := j.f.WriteAt(buf, j.size); err != nil {
		if terr := j.f.Truncate(j.size); terr != nil {
			err = errors.Join(err, terr)
		}
		return 0, fmt.Errorf("crdt: journal append: %w", err)
	}
	if cap(buf) <= 1<<20 {
		j.buf = buf
	}
	j.size += int64(len(buf))
	j.recno = recno
	if len(j.unsyncd) == 0 || j.unsyncd[len(j.unsyncd)-1] != j.f {
		j.unsyncd = append(j.unsyncd, j.f)
	}
	return recno, nil
}

// Append writes payloads as ops records and returns the last record's
// number.
func (j *Journal) Append(payloads ...[]byte) (uint64, error) {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.appendRecords(recOps, payloads...)
}

// Mark appends a mark saying that every record up to recno is durable.
func (j *Journal) Mark(recno uint64) error {
	j.mu.Lock()
	defer j.mu.Unlock()
	var p [8]byte
	binary.LittleEndian.PutUint64(p[:], recno)
	_, err := j.appendRecords(recMark, p[:])
	return err
}

// Recno returns the number of the last record written.
func (j *Journal) Recno() uint64 {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.recno
}

// Sync makes every record written before it durable (fdatasync of each
// segment written since the last Sync).
func (j *Journal) Sync() error {
	j.syncMu.Lock()
	defer j.syncMu.Unlock()
	j.mu.Lock()
	files := j.unsyncd
	j.unsyncd = nil
	j.mu.Unlock()
	for i, f := range files {
		if err := fdatasync(f); err != nil {
			j.mu.Lock()
			j.unsyncd = append(files[i:], j.unsyncd...)
			j.mu.Unlock()
			return fmt.Errorf("crdt: journal sync: %w", err)
		}
		if f != j.current() {
			f.Close()
		}
	}
	return nil
}

func (j *Journal) current() *os.File {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.f
}

// Rotate starts a new segment: records written before it are in older
// segments, which Remove drops once they are checkpointed. It returns the
// number of the segment just ended.
func (j *Journal) Rotate() (uint64, error) {
	j.syncMu.Lock()
	defer j.syncMu.Unlock()
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.closed {
		return 0, errors.New("crdt: journal closed")
	}
	ended, f, size := j.seg, j.f, j.size
	j.seg++
	if err := j.openSegment(); err != nil {
		j.seg, j.f, j.size = ended, f, size
		return 0, err
	}
	j.old = append(j.old, ended)
	if !slices.Contains(j.unsyncd, f) {
		f.Close() // synced: nothing left to do with it
	}
	return ended, nil
}

// Remove deletes the segments up to and including upto (checkpointed).
func (j *Journal) Remove(upto uint64) error {
	j.mu.Lock()
	var gone []uint64
	for len(j.old) > 0 && j.old[0] <= upto {
		gone = append(gone, j.old[0])
		j.old = j.old[1:]
	}
	j.mu.Unlock()
	if len(gone) == 0 {
		return nil
	}
	var errs []error
	for _, n := range gone {
		if err := os.Remove(j.segPath(n)); err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, err)
		}
	}
	// Removals are made durable: record numbers start again at 1 in an
	// empty journal, so an old segment must not come back after a power
	// loss in front of newer records.
	return errors.Join(append(errs, dirsync.Dir(filepath.Dir(j.base)))...)
}

// Size returns the bytes written to the current segment.
func (j *Journal) Size() int64 {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.size
}

// Close closes the segment files (without syncing).
func (j *Journal) Close() error {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.closed {
		return nil
	}
	j.closed = true
	for _, f := range j.unsyncd {
		if f != j.f {
			f.Close()
		}
	}
	j.unsyncd = nil
	return j.f.Close()
}

func truncateSync(path string, size int64) error {
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return err
	}
	defer f.Close()
	if err := f.Truncate(size); err != nil {
		return err
	}
	return f.Sync()
}

func fsyncPath(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	return f.Sync()
}

func fdatasync(f *os.File) error { return unix.Fdatasync(int(f.Fd())) }
