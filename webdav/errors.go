package webdav

import (
	"context"
	"errors"
	"os"
	"syscall"

	"github.com/clusterf/clusterf/crdt"
	"github.com/clusterf/clusterf/replica"
)

// toOSError is the one place core errors become the errors x/net/webdav
// understands. The handler tests them with os.IsNotExist, os.IsExist and
// errors.Is(err, os.ErrPermission), which only look through one
// *os.PathError to an os sentinel or a syscall.Errno, so the core error is
// replaced by the matching errno; the original is recorded in the request
// state (for the status rewrite in handler.go) and logged at debug level.
// Errors without an errno (I/O, corruption, a failed commit) keep their
// chain and make the handler fail the request.
func (s *FileSystem) toOSError(ctx context.Context, op, name string, err error) error {
	if err == nil {
		return nil
	}
	if st := stateOf(ctx); st != nil && st.err == nil {
		st.err = err
	}
	errno, ok := errnoOf(err)
	if !ok {
		s.log.DebugContext(ctx, "webdav: core error", "op", op, "name", name, "err", err)
		return &os.PathError{Op: op, Path: name, Err: err}
	}
	s.log.DebugContext(ctx, "webdav: core error", "op", op, "name", name, "err", err, "errno", errno)
	return &os.PathError{Op: op, Path: name, Err: errno}
}

// errnoOf maps a core error to the errno a local filesystem would give.
func errnoOf(err error) (syscall.Errno, bool) {
	var errno syscall.Errno
	switch {
	case errors.Is(err, errBadName), errors.Is(err, crdt.ErrInvalid):
		return syscall.EINVAL, true
	case errors.Is(err, crdt.ErrNotFound), errors.Is(err, os.ErrNotExist):
		return syscall.ENOENT, true
	case errors.Is(err, crdt.ErrNotDir):
		// "a/b" where a is a file: WebDAV wants 404 (PROPFIND) or 409
		// (PUT, MKCOL: "parent is not a collection"), which is what the
		// handler gives for a missing path.
		return syscall.ENOENT, true
	case errors.Is(err, crdt.ErrExist):
		return syscall.EEXIST, true
	case errors.Is(err, crdt.ErrIsDir):
		return syscall.EISDIR, true
	case errors.Is(err, crdt.ErrNotEmpty):
		return syscall.ENOTEMPTY, true
	case errors.Is(err, crdt.ErrNameTooLong):
		return syscall.ENAMETOOLONG, true
	case errors.Is(err, replica.ErrReadOnly), errors.Is(err, crdt.ErrCrossDevice):
		// Conflict copies are read-only and cannot be renamed.
		return syscall.EPERM, true
	case errors.As(err, &errno):
		return errno, true
	}
	return 0, false
}
