package api

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"io"
	"mime"
	"net/http"
	"os"
	"path"
	"strings"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"github.com/clusterf/clusterf/crdt"
	"github.com/clusterf/clusterf/replica"
)

// Metadata describes a file or directory. The first eight fields are the
// original clusterF's; the rest are ours.
type Metadata struct {
	Name        string    `json:"name"`
	Path        string    `json:"path"` // "/a/b", "/" for the root
	Size        int64     `json:"size"`
	ContentType string    `json:"content_type"`
	CreatedAt   time.Time `json:"created_at"`
	ModifiedAt  time.Time `json:"modified_at"`
	IsDirectory bool      `json:"is_directory"`
	// Checksum is the hex SHA-256 of the content. Only GET /api/metadata
	// and PUT fill it, and only for files up to checksumMax bytes (or
	// whose sum is cached from an upload); listings and search leave it "".
	Checksum string `json:"checksum"`

	Kind    string `json:"kind"`              // "file", "directory", "symlink", "fifo", "socket", "char-device", "block-device"
	Mode    string `json:"mode"`              // permission bits, octal ("0644")
	Inode   string `json:"inode"`             // cluster inode id (hex)
	Version string `json:"version,omitempty"` // content version "node:seq" (files)
	ETag    string `json:"etag,omitempty"`    // as the ETag header of GET (files)
	Target  string `json:"target,omitempty"`  // symlink target
	Device  string `json:"device,omitempty"`  // "major:minor" of a device node
	// ConflictCopy marks a concurrent version shown under a conflict name
	// (read-only).
	ConflictCopy bool `json:"conflict_copy,omitempty"`
	// ConflictOf names what the entry is a conflict copy of (a concurrent
	// version or the loser of a name clash); listings and details fill it.
	ConflictOf string `json:"conflict_of,omitempty"`
}

// checksumMax bounds the files whose SHA-256 GET and metadata compute by
// reading them (uploads hash while streaming, at any size).
const checksumMax = 16 << 20

// dirContentType is the content_type of directories.
const dirContentType = "inode/directory"

// inodeInfo is what Attr lacks: the content version and creation time.
type inodeInfo struct {
	version crdt.OpID
	created time.Time
	target  string
}

// inodeInfos reads the inode records of attrs in one view.
func (s *Server) inodeInfos(attrs ...replica.Attr) []inodeInfo {
	out := make([]inodeInfo, len(attrs))
	_ = s.fs.Meta().View(func(v *crdt.View) error {
		for i, a := range attrs {
			ino, err := v.Inode(a.Ref.Inode)
			if err != nil {
				continue
			}
			out[i].version = ino.Version
			if !a.Ref.Version.IsZero() {
				out[i].version = a.Ref.Version
			}
			if !ino.Created.IsZero() {
				out[i].created = ino.Created.Time()
			}
			out[i].target = ino.Symlink
		}
		return nil
	})
	return out
}

// etagOf is the strong ETag of a file: a hash of the inode id, the content
// version, the size and the mtime (the size and mtime catch unflushed FUSE
// writes, which have no version yet). Uploads make a new inode, so every
// PUT changes it.
func etagOf(a replica.Attr, info inodeInfo) string {
	h := sha256.New()
	h.Write(a.Ref.Inode[:])
	h.Write([]byte(info.version.Node))
	var b [24]byte
	binary.BigEndian.PutUint64(b[0:], info.version.Seq)
	binary.BigEndian.PutUint64(b[8:], uint64(a.Size))
	binary.BigEndian.PutUint64(b[16:], uint64(a.Mtime.UnixNano()))
	h.Write(b[:])
	return `"` + hex.EncodeToString(h.Sum(nil)[:16]) + `"`
}

func kindName(k crdt.Kind) string {
	if k == 0 {
		return "file" // an inode whose record has not arrived yet
	}
	return k.String()
}

// specialContentType is the shared-mime-info type of a special file.
func specialContentType(k crdt.Kind) string {
	switch k {
	case crdt.KindFIFO:
		return "inode/fifo"
	case crdt.KindSocket:
		return "inode/socket"
	case crdt.KindCharDev:
		return "inode/chardevice"
	}
	return "inode/blockdevice"
}

// specialErr is the 409 for reading or writing a FIFO, socket or device.
func specialErr(p string, k crdt.Kind) error {
	return httpErr(http.StatusConflict, "/"+p+" is a "+k.String()+": special files have no content to read or write")
}

// contentTypeByName guesses from the extension only.
func contentTypeByName(name string) string {
	if t := mime.TypeByExtension(path.Ext(name)); t != "" {
		return t
	}
	return "application/octet-stream"
}

// metadataOf builds the metadata of the entry at cluster path p (cleaned).
func metadataOf(p string, a replica.Attr, info inodeInfo) Metadata {
	m := Metadata{
		Name:         path.Base("/" + p),
		Path:         "/" + p,
		Size:         a.Size,
		CreatedAt:    info.created.UTC(),
		ModifiedAt:   a.Mtime.UTC(),
		IsDirectory:  a.Kind == crdt.KindDir,
		Kind:         kindName(a.Kind),
		Mode:         fmt.Sprintf("%04o", a.Mode),
		Inode:        a.Ref.Inode.String(),
		ConflictCopy: !a.Ref.Version.IsZero(),
	}
	if p == "" {
		m.Name = "/"
	}
	if m.CreatedAt.IsZero() {
		m.CreatedAt = a.Ctime.UTC()
	}
	switch a.Kind {
	case crdt.KindDir:
		m.ContentType = dirContentType
		m.Size = 0
	case crdt.KindSymlink:
		m.ContentType = "inode/symlink"
		m.Target = info.target
	case crdt.KindFIFO, crdt.KindSocket, crdt.KindCharDev, crdt.KindBlockDev:
		m.ContentType = specialContentType(a.Kind)
		if a.Kind == crdt.KindCharDev || a.Kind == crdt.KindBlockDev {
			m.Device = fmt.Sprintf("%d:%d", unix.Major(uint64(a.Rdev)), unix.Minor(uint64(a.Rdev)))
		}
	default:
		m.ContentType = contentTypeByName(m.Name)
		m.ETag = etagOf(a, info)
		if !info.version.IsZero() {
			m.Version = fmt.Sprintf("%s:%d", info.version.Node, info.version.Seq)
		}
	}
	return m
}

// isUploadTemp reports whether name is an upload in progress
// (replica.PutFile's hidden temporary); listings and search hide them.
func isUploadTemp(name string) bool { return strings.HasPrefix(name, replica.UploadPrefix) }

// checksumCache remembers SHA-256 sums by ETag (bounded; any entry may be
// dropped when full).
type checksumCache struct {
	mu  sync.Mutex
	max int
	m   map[string]string
}

func newChecksumCache(max int) *checksumCache {
	return &checksumCache{max: max, m: make(map[string]string)}
}

func (c *checksumCache) get(etag string) (string, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	s, ok := c.m[etag]
	return s, ok
}

func (c *checksumCache) put(etag, sum string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.m) >= c.max {
		for k := range c.m {
			delete(c.m, k)
			if len(c.m) < c.max*3/4 {
				break
			}
		}
	}
	c.m[etag] = sum
}

// checksum returns the hex SHA-256 of a file's content: from the cache, or
// by reading it when it is at most checksumMax bytes, else "".
func (s *Server) checksum(ctx context.Context, a replica.Attr, etag string) (string, error) {
	if sum, ok := s.sums.get(etag); ok {
		return sum, nil
	}
	if a.Kind != crdt.KindFile || a.Size > checksumMax {
		return "", nil
	}
	h, err := s.fs.Open(ctx, a.Ref, os.O_RDONLY)
	if err != nil {
		return "", err
	}
	defer h.Release()
	sha := sha256.New()
	if _, err := io.Copy(sha, io.NewSectionReader(replica.NewReader(ctx, h), 0, h.Size())); err != nil {
		return "", fmt.Errorf("checksum: %w", err)
	}
	sum := hex.EncodeToString(sha.Sum(nil))
	s.sums.put(etag, sum)
	return sum, nil
}

// sniff returns the content type of a file by extension, else from its
// first 512 bytes.
func (s *Server) sniff(ctx context.Context, name string, a replica.Attr) string {
	if t := mime.TypeByExtension(path.Ext(name)); t != "" {
		return t
	}
	h, err := s.fs.Open(ctx, a.Ref, os.O_RDONLY)
	if err != nil {
		return "application/octet-stream"
	}
	defer h.Release()
	buf := make([]byte, 512)
	n, _ := h.ReadAt(ctx, buf, 0)
	return http.DetectContentType(buf[:n])
}
