package replica

import (
	"errors"
	"io"
	"os"
	"syscall"

	"golang.org/x/sys/unix"
)

// StagingFile holds an open file's touched chunks until they are committed
// (staging.go). It is never read after a restart. The default is an
// unlinked temporary file in Config.StagingDir; with encryption at rest
// the node passes atrest.NewStagingFile, which encrypts it.
type StagingFile interface {
	// ReadAt fills p from off; bytes never written read as zeros (an
	// io.EOF with a short count past the end is allowed, as for *os.File).
	io.ReaderAt
	io.WriterAt
	Truncate(size int64) error
	// Zero makes [off, off+n) read as zeros (a hole where it can).
	Zero(off, n int64) error
	// Stat describes the file on disk (its size is what the data dir pays).
	Stat() (os.FileInfo, error)
	Close() error
}

// plainStaging is the default StagingFile.
type plainStaging struct{ *os.File }

func openPlainStaging(dir, pattern string) (StagingFile, error) {
	f, err := os.CreateTemp(dir, pattern)
	if err != nil {
		return nil, err
	}
	// The name is not needed: the file lives until its handle closes.
	if err := os.Remove(f.Name()); err != nil {
		f.Close()
		return nil, err
	}
	return plainStaging{f}, nil
}

// Zero punches a hole, or writes zeros where the file system cannot.
func (p plainStaging) Zero(off, n int64) error {
	err := unix.Fallocate(int(p.Fd()), unix.FALLOC_FL_PUNCH_HOLE|unix.FALLOC_FL_KEEP_SIZE, off, n)
	if err == nil {
		return nil
	}
	if !errors.Is(err, syscall.EOPNOTSUPP) && !errors.Is(err, syscall.ENOSYS) {
		return err
	}
	zeros := make([]byte, min(n, 1<<20))
	for n > 0 {
		w := min(n, int64(len(zeros)))
		if _, err := p.WriteAt(zeros[:w], off); err != nil {
			return err
		}
		off, n = off+w, n-w
	}
	return nil
}
