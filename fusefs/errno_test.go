package fusefs

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"syscall"
	"testing"

	"github.com/clusterf/clusterf/chunk"
	"github.com/clusterf/clusterf/crdt"
	"github.com/clusterf/clusterf/replica"
)

func TestToErrnoUnwraps(t *testing.T) {
	log := slog.New(slog.DiscardHandler)
	wrap := func(err error) error { return fmt.Errorf("op %q: %w", "x", fmt.Errorf("inner: %w", err)) }
	cases := []struct {
		err  error
		want syscall.Errno
	}{
		{nil, 0},
		{wrap(crdt.ErrNotFound), syscall.ENOENT},
		{wrap(crdt.ErrExist), syscall.EEXIST},
		{wrap(crdt.ErrNotEmpty), syscall.ENOTEMPTY},
		{wrap(crdt.ErrIsDir), syscall.EISDIR},
		{wrap(crdt.ErrNotDir), syscall.ENOTDIR},
		{wrap(crdt.ErrInvalid), syscall.EINVAL},
		{wrap(crdt.ErrNameTooLong), syscall.ENAMETOOLONG},
		{wrap(crdt.ErrTooManyLinks), syscall.EMLINK},
		{wrap(replica.ErrSpecial), syscall.EINVAL},
		{wrap(syscall.ENXIO), syscall.ENXIO},
		{wrap(syscall.EOPNOTSUPP), syscall.EOPNOTSUPP},
		{wrap(crdt.ErrCrossDevice), syscall.EXDEV},
		{wrap(crdt.ErrNoAttr), syscall.ENODATA},
		{wrap(replica.ErrReadOnly), syscall.EACCES},
		{wrap(chunk.ErrCorrupt), syscall.EIO},
		{wrap(syscall.ENOSPC), syscall.ENOSPC},
		{wrap(context.Canceled), syscall.EINTR},
		{errors.New("something unexpected"), syscall.EIO},
	}
	for _, c := range cases {
		if got := toErrno(log, "test", c.err); got != c.want {
			t.Errorf("toErrno(%v) = %v, want %v", c.err, got, c.want)
		}
	}
}

func TestInodeNumbers(t *testing.T) {
	id := crdt.NewInodeID()
	main := inoOf(crdt.Ref{Inode: id})
	if main>>63 != 1 {
		t.Fatalf("inode number %x lacks the top bit", main)
	}
	if inoOf(crdt.Ref{Inode: id}) != main {
		t.Fatal("inode number not stable")
	}
	sib := inoOf(crdt.Ref{Inode: id, Version: crdt.OpID{Node: "n", Seq: 7}})
	if sib>>63 != 0 || sib < 2 || sib == main {
		t.Fatalf("sibling inode number %x", sib)
	}
	if inoOf(crdt.Ref{Inode: crdt.RootID}) != 1 {
		t.Fatal("root must be 1")
	}
}
