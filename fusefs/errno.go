package fusefs

import (
	"context"
	"errors"
	"log/slog"
	"syscall"

	"github.com/clusterf/clusterf/chunk"
	"github.com/clusterf/clusterf/crdt"
	"github.com/clusterf/clusterf/replica"
)

// errnoMap lists the core's sentinels with their errno, most specific first.
var errnoMap = []struct {
	err   error
	errno syscall.Errno
}{
	{crdt.ErrNotFound, syscall.ENOENT},
	{crdt.ErrExist, syscall.EEXIST},
	{crdt.ErrNotDir, syscall.ENOTDIR},
	{crdt.ErrIsDir, syscall.EISDIR},
	{crdt.ErrNotEmpty, syscall.ENOTEMPTY},
	{crdt.ErrInvalid, syscall.EINVAL},
	{crdt.ErrNoAttr, syscall.ENODATA},
	{crdt.ErrCrossDevice, syscall.EXDEV},
	{crdt.ErrNameTooLong, syscall.ENAMETOOLONG},
	{crdt.ErrTooManyLinks, syscall.EMLINK},
	{replica.ErrSpecial, syscall.EINVAL},
	{replica.ErrReadOnly, syscall.EACCES},
	{replica.ErrNotSymlink, syscall.EINVAL},
	{replica.ErrClosed, syscall.ESHUTDOWN},
	{chunk.ErrCorrupt, syscall.EIO},
	{chunk.ErrNotFound, syscall.EIO},
	{context.Canceled, syscall.EINTR},
	{context.DeadlineExceeded, syscall.ETIMEDOUT},
}

// toErrno maps err and counts it in the metrics.
func (m *mount) toErrno(op string, err error) syscall.Errno {
	e := toErrno(m.log, op, err)
	if e != 0 && m.opts.Metrics != nil {
		m.opts.Metrics.errors.WithLabelValues(op, e.Error()).Inc()
	}
	return e
}

// toErrno maps an error from the core to an errno. Unknown errors are logged
// and become EIO, never ENOSYS.
func toErrno(log *slog.Logger, op string, err error) syscall.Errno {
	if err == nil {
		return 0
	}
	for _, m := range errnoMap {
		if errors.Is(err, m.err) {
			return m.errno
		}
	}
	var errno syscall.Errno
	if errors.As(err, &errno) {
		return errno
	}
	log.Error("fuse op failed", "op", op, "err", err)
	return syscall.EIO
}
