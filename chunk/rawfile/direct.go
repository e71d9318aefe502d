package rawfile

import (
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/clusterf/clusterf/chunk"
)

// Large blobs skip the page cache on their way to disk (docs/perf.md,
// "Direct writes"). A buffered write(2) copies every byte into a page of
// the page cache, and on a VM whose host backs guest memory lazily that
// copy into fresh pages cost 0.25-2.7 CPU s per GiB here; an O_DIRECT
// write of the same 4 MiB files cost 0.15 s per GiB, every time. The
// bytes are not cached after the write, so the first read of a chunk
// written this way goes to the disk (the page cache keeps it from then on,
// as for any file); writes were most of the node's CPU on the mount's
// sequential write path, reads of a just-written chunk are rare (a push to
// other holders, a read-back).
const (
	// directMin is the smallest blob written with O_DIRECT: small blobs
	// would wait for the device on every write and gain little.
	directMin = 1 << 20
	// directAlign is the alignment O_DIRECT asks of offsets, lengths and
	// memory: 4 KiB covers 512-byte and 4 KiB logical blocks.
	directAlign = 4096
)

// alignedBufs recycles the aligned copies of blobs whose memory is not
// aligned (rare: large Go allocations start on a page).
var alignedBufs = sync.Pool{New: func() any { return new([]byte) }}

// writeBlob writes blob to f, a new empty file. A blob of directMin bytes
// or more goes in two parts: its whole 4 KiB blocks with O_DIRECT, the
// rest through the page cache. A file system that refuses O_DIRECT
// (tmpfs before Linux 6.6, some network and FUSE file systems) turns it
// off for the store, and the blob is written as any other.
func (s *Store) writeBlob(f *os.File, blob []byte) error {
	n := len(blob) &^ (directAlign - 1)
	if len(blob) < directMin || s.noDirect.Load() {
		_, err := f.Write(blob)
		return err
	}
	src := blob[:n]
	if !isAligned(src) {
		bp := alignedBufs.Get().(*[]byte)
		defer alignedBufs.Put(bp)
		*bp = aligned(*bp, n)
		copy(*bp, src)
		src = *bp
	}
	if err := setDirect(f, true); err != nil {
		s.noDirect.Store(true)
		_, err := f.Write(blob)
		return err
	}
	if _, err := f.Write(src); err != nil {
		if !errors.Is(err, syscall.EINVAL) {
			return err
		}
		// The file system wants another alignment: buffered from now on,
		// from the start of the file.
		s.noDirect.Store(true)
		if err := setDirect(f, false); err != nil {
			return err
		}
		if err := f.Truncate(0); err != nil {
			return err
		}
		_, err := f.WriteAt(blob, 0)
		return err
	}
	s.directWrites.Add(1)
	if err := setDirect(f, false); err != nil {
		return err
	}
	_, err := f.Write(blob[n:])
	return err
}

// aligned returns a slice of n bytes starting on a directAlign boundary,
// reusing b's memory when it is such a slice and large enough.
func aligned(b []byte, n int) []byte {
	if cap(b) >= n && isAligned(b) {
		return b[:n]
	}
	nb := make([]byte, n+directAlign)
	off := int(directAlign-uintptr(unsafe.Pointer(&nb[0]))%directAlign) % directAlign
	return nb[off : off+n : off+n]
}

// isAligned reports whether b's memory starts on a directAlign boundary.
func isAligned(b []byte) bool {
	return uintptr(unsafe.Pointer(unsafe.SliceData(b)))%directAlign == 0
}

// setDirect turns O_DIRECT on or off for f.
func setDirect(f *os.File, on bool) error {
	rc, err := f.SyscallConn()
	if err != nil {
		return err
	}
	var serr error
	if err := rc.Control(func(fd uintptr) {
		fl, err := unix.FcntlInt(fd, unix.F_GETFL, 0)
		if err != nil {
			serr = err
			return
		}
		if on {
			fl |= unix.O_DIRECT
		} else {
			fl &^= unix.O_DIRECT
		}
		_, serr = unix.FcntlInt(fd, unix.F_SETFL, fl)
	}); err != nil {
		return err
	}
	if serr != nil {
		return fmt.Errorf("set O_DIRECT %v: %w", on, serr)
	}
	return nil
}

// DirectWrites reports how many blobs went to disk with O_DIRECT (tests).
func (s *Store) DirectWrites() int64 { return s.directWrites.Load() }

// Large blobs a caller caches above the store (chunk.ReadUncached: the
// FUSE mount, whose kernel page cache keeps the plain bytes) are read
// with O_DIRECT (docs/perf.md, "Direct reads under the mount"): through
// the page cache a cold read cost the node 2.2-2.3 CPU s per GiB, 0.7 s
// of it in the chunk files' read(2), which fills fresh page-cache pages
// and copies them out; with O_DIRECT the disk fills the caller's buffer,
// and the page cache does not hold a second, encoded copy of what the
// mount's cache holds.

// readDirect reads all of f, a chunk file of len(b) bytes, into b with
// O_DIRECT when it can: b must start on a directAlign boundary with room
// for the last block in its capacity, be directMin bytes or more, and
// not end on a block boundary (so a short read proves the end of the
// file). false, nil: it did not, and the caller reads as usual.
func (s *Store) readDirect(f *os.File, b []byte) (bool, error) {
	size := len(b)
	full := (size + directAlign - 1) &^ (directAlign - 1)
	if size < directMin || size == full || cap(b) < full || s.noDirect.Load() ||
		!isAligned(b) {
		return false, nil
	}
	if err := setDirect(f, true); err != nil {
		s.noDirect.Store(true)
		return false, nil
	}
	n, err := f.Read(b[:full]) // one read(2) from offset 0
	switch {
	case err == nil && n == size:
		s.directReads.Add(1)
		return true, nil // fewer than asked: the end of the file
	case err == nil && n > size:
		return false, fmt.Errorf("%w: grew while read", chunk.ErrCorrupt)
	case errors.Is(err, io.EOF):
		return false, fmt.Errorf("%w: shorter than when opened", chunk.ErrCorrupt)
	case err != nil && !errors.Is(err, syscall.EINVAL):
		return false, err
	}
	if err != nil { // the file system wants another alignment
		s.noDirect.Store(true)
	}
	// A refused or short read: the caller reads buffered, from the start.
	if err := setDirect(f, false); err != nil {
		return false, err
	}
	_, err = f.Seek(0, io.SeekStart)
	return false, err
}

// DirectReads reports how many blobs were read with O_DIRECT (tests).
func (s *Store) DirectReads() int64 { return s.directReads.Load() }
