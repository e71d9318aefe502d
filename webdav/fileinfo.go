package webdav

import (
	"context"
	"fmt"
	"mime"
	"os"
	"path"
	"time"

	xwebdav "golang.org/x/net/webdav"

	"github.com/clusterf/clusterf/crdt"
	"github.com/clusterf/clusterf/replica"
)

// fileInfo is the os.FileInfo of an entry. Sys returns the core's
// replica.Attr.
type fileInfo struct {
	name string
	attr replica.Attr
}

func (fi *fileInfo) Name() string       { return fi.name }
func (fi *fileInfo) Size() int64        { return fi.attr.Size }
func (fi *fileInfo) ModTime() time.Time { return fi.attr.Mtime }
func (fi *fileInfo) IsDir() bool        { return fi.attr.Kind == crdt.KindDir }
func (fi *fileInfo) Sys() any           { return fi.attr }

func (fi *fileInfo) Mode() os.FileMode {
	m := os.FileMode(fi.attr.Mode & 0o777)
	switch fi.attr.Kind {
	case crdt.KindDir:
		m |= os.ModeDir
	case crdt.KindSymlink:
		m |= os.ModeSymlink
	case crdt.KindFIFO:
		m |= os.ModeNamedPipe
	case crdt.KindSocket:
		m |= os.ModeSocket
	case crdt.KindCharDev:
		m |= os.ModeDevice | os.ModeCharDevice
	case crdt.KindBlockDev:
		m |= os.ModeDevice
	}
	return m
}

// ETag is a strong entity tag from the identity of the content: the inode,
// the conflict version it shows (zero for the file itself), the size and
// the mtime in nanoseconds. Every commit of new content sets the mtime, so
// a changed file gets a new tag; dead properties do not change it. It is
// computed from the same Attr before and after an upload's commit, so the
// ETag a PUT answers is the one a later GET sends.
func (fi *fileInfo) ETag(ctx context.Context) (string, error) {
	r := fi.attr.Ref
	if r.Version.IsZero() {
		return fmt.Sprintf(`"%s-%x-%x"`, r.Inode, fi.attr.Size, fi.attr.Mtime.UnixNano()), nil
	}
	return fmt.Sprintf(`"%s.%x.%x-%x-%x"`, r.Inode, r.Version.Node, r.Version.Seq, fi.attr.Size, fi.attr.Mtime.UnixNano()), nil
}

// ContentType comes from the extension when it is known, which saves
// PROPFIND from opening every file to sniff it; otherwise x/net/webdav
// sniffs the first 512 bytes.
func (fi *fileInfo) ContentType(ctx context.Context) (string, error) {
	if t := specialType(fi.attr.Kind); t != "" {
		return t, nil // a FIFO, socket or device: listed with its type
	}
	if t := mime.TypeByExtension(path.Ext(fi.name)); t != "" {
		return t, nil
	}
	return "", xwebdav.ErrNotImplemented
}

// specialType is the shared-mime-info type of a special file ("" for
// others).
func specialType(k crdt.Kind) string {
	switch k {
	case crdt.KindFIFO:
		return "inode/fifo"
	case crdt.KindSocket:
		return "inode/socket"
	case crdt.KindCharDev:
		return "inode/chardevice"
	case crdt.KindBlockDev:
		return "inode/blockdevice"
	}
	return ""
}
