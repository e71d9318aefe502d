package rawfile

import (
	"errors"
	"fmt"
	"os"
	"sync"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
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
	if uintptr(unsafe.Pointer(&src[0]))%directAlign != 0 {
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
	if cap(b) >= n && uintptr(unsafe.Pointer(unsafe.SliceData(b)))%directAlign == 0 {
		return b[:n]
	}
	nb := make([]byte, n+directAlign)
	off := int(directAlign-uintptr(unsafe.Pointer(&nb[0]))%directAlign) % directAlign
	return nb[off : off+n : off+n]
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
