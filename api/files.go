package api

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"net/http"
	"net/url"
	"os"
	"path"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/clusterf/clusterf/bodywriter"
	"github.com/clusterf/clusterf/crdt"
	"github.com/clusterf/clusterf/replica"
)

// Header names of our own.
const (
	headerChecksum   = "X-ClusterF-Checksum"    // hex SHA-256 of the content
	headerModifiedAt = "X-ClusterF-Modified-At" // RFC 3339 mtime for PUT
	headerCreateDir  = "X-Create-Directory"     // "true" on POST: mkdir -p
)

// rawPath returns the request path after prefix, URL-decoded once. Echo
// matches routes on the raw (escaped) path when there is one, so the
// wildcard parameter is escaped or not depending on the request; the
// decoded URL.Path is the one reliable source.
func rawPath(c echo.Context, prefix string) (string, error) {
	p := c.Request().URL.Path
	if rest, ok := strings.CutPrefix(p, prefix); ok {
		return rest, nil
	}
	if p == strings.TrimSuffix(prefix, "/") {
		return "", nil
	}
	// The prefix itself was encoded ("/api/%66iles/x"): decode the raw
	// wildcard once.
	rest, err := url.PathUnescape(c.Param("*"))
	if err != nil {
		return "", httpErr(http.StatusBadRequest, "bad path: "+err.Error())
	}
	return rest, nil
}

// clusterPath returns the cleaned cluster path of the request.
func clusterPath(c echo.Context, prefix string) (string, error) {
	raw, err := rawPath(c, prefix)
	if err != nil {
		return "", err
	}
	return CleanPath(raw)
}

// readErr treats "a component is not a directory" as not found, as a
// client reading a path expects.
func readErr(err error) error {
	if errors.Is(err, crdt.ErrNotDir) {
		return httpErr(http.StatusNotFound, err.Error())
	}
	return err
}

// getFile serves GET and HEAD /api/files/<path>: file bytes or a
// directory listing.
func (s *Server) getFile(c echo.Context) error {
	p, err := clusterPath(c, filesPrefix)
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	a, err := s.fs.Walk(ctx, p)
	if err != nil {
		return readErr(err)
	}
	switch a.Kind {
	case crdt.KindDir:
		return s.listDir(c, p, a)
	case crdt.KindSymlink:
		return httpErr(http.StatusConflict, "/"+p+" is a symbolic link (see /api/metadata for its target)")
	}
	if a.Kind.Special() {
		return specialErr(p, a.Kind)
	}
	return s.serveFile(c, p, a)
}

// Listing is a directory listing.
type Listing struct {
	Path    string     `json:"path"`
	Entries []Metadata `json:"entries"`
	Count   int        `json:"count"`
}

func (s *Server) listDir(c echo.Context, p string, dir replica.Attr) error {
	ents, err := s.fs.ReadDir(c.Request().Context(), dir.Ref.Inode)
	if err != nil {
		return err
	}
	attrs := make([]replica.Attr, 0, len(ents))
	names := make([]string, 0, len(ents))
	for _, e := range ents {
		if isUploadTemp(e.Name) {
			continue
		}
		attrs = append(attrs, e.Attr)
		names = append(names, e.Name)
	}
	infos := s.inodeInfos(attrs...)
	l := Listing{Path: "/" + p, Entries: make([]Metadata, len(attrs)), Count: len(attrs)}
	for i := range attrs {
		l.Entries[i] = metadataOf(path.Join(p, names[i]), attrs[i], infos[i])
	}
	s.markConflicts(p, l.Entries, attrs)
	return c.JSON(http.StatusOK, l)
}

// serveFile answers with the bytes of a file through http.ServeContent:
// Range (also multi-range and suffix), If-Range, If-None-Match, If-Match,
// If-(Un)Modified-Since, 416, Content-Type by extension then sniffing.
func (s *Server) serveFile(c echo.Context, p string, a replica.Attr) error {
	ctx := c.Request().Context()
	info := s.inodeInfos(a)[0]
	etag := etagOf(a, info)
	h, err := s.fs.Open(ctx, a.Ref, os.O_RDONLY)
	if err != nil {
		return err
	}
	defer h.Release()
	sum, err := s.checksum(ctx, a, etag)
	if err != nil {
		return err
	}
	w := c.Response()
	w.Header().Set("ETag", etag)
	if sum != "" {
		w.Header().Set(headerChecksum, sum)
	}
	req := c.Request()
	if rng := req.Header.Get("Range"); rng != "" && !strings.HasPrefix(strings.TrimSpace(rng), "bytes=") {
		// RFC 9110 14.2: ignore a range unit we do not know (ServeContent
		// would answer 416).
		req.Header.Del("Range")
	}
	rd := &recordingReader{r: replica.NewReader(ctx, h)}
	http.ServeContent(bodywriter.Large(w), req, path.Base(p), a.Mtime, rd)
	if rd.err != nil && !errors.Is(rd.err, io.EOF) && ctx.Err() == nil {
		// The status line is sent; all we can do is cut the body and log.
		s.log.Error("read failed while serving file", "path", "/"+p, "err", rd.err)
	}
	return nil
}

// recordingReader remembers the first read error of a ReadSeeker.
type recordingReader struct {
	r   io.ReadSeeker
	err error
}

func (r *recordingReader) Read(p []byte) (int, error) {
	n, err := r.r.Read(p)
	if err != nil && r.err == nil {
		r.err = err
	}
	return n, err
}

func (r *recordingReader) Seek(off int64, whence int) (int64, error) { return r.r.Seek(off, whence) }

// countingReader counts bytes read.
type countingReader struct {
	r io.Reader
	n int64
}

func (r *countingReader) Read(p []byte) (int, error) {
	n, err := r.r.Read(p)
	r.n += int64(n)
	return n, err
}

// putFile serves PUT /api/files/<path>: a streaming, atomic create or
// replace. 201 with the metadata when the file is new, 204 when replaced.
func (s *Server) putFile(c echo.Context) error {
	req := c.Request()
	raw, err := rawPath(c, filesPrefix)
	if err != nil {
		return err
	}
	p, err := CleanPath(raw)
	if err != nil {
		return err
	}
	if p == "" {
		return httpErr(http.StatusConflict, "/ is a directory")
	}
	if strings.HasSuffix(raw, "/") {
		return httpErr(http.StatusBadRequest, "PUT needs a file path (no trailing slash); create directories with POST and X-Create-Directory: true")
	}
	var opts replica.PutOptions
	opts.Owner = s.cfg.Owner
	if v := req.Header.Get(headerModifiedAt); v != "" {
		t, err := time.Parse(time.RFC3339Nano, v)
		if err != nil {
			return httpErr(http.StatusBadRequest, headerModifiedAt+" is not RFC 3339: "+err.Error())
		}
		opts.Mtime = &t
	}
	ctx := req.Context()
	cur, err := s.fs.Walk(ctx, p)
	exists := err == nil
	switch {
	case err != nil && !errors.Is(err, crdt.ErrNotFound):
		return err
	case exists && cur.Kind == crdt.KindDir:
		return httpErr(http.StatusConflict, "/"+p+" is a directory")
	case exists && cur.Kind.Special():
		return specialErr(p, cur.Kind)
	}
	if err := s.checkPutPreconditions(req, exists, cur); err != nil {
		return err
	}
	body := io.Reader(req.Body)
	if max := s.cfg.MaxUpload; max > 0 {
		if req.ContentLength > max {
			return httpErr(http.StatusRequestEntityTooLarge, "upload of "+strconv.FormatInt(req.ContentLength, 10)+" bytes is larger than the limit of "+strconv.FormatInt(max, 10))
		}
		body = http.MaxBytesReader(c.Response(), req.Body, max)
	}
	sha := sha256.New()
	cr := &countingReader{r: io.TeeReader(body, sha)}
	a, err := s.fs.PutFile(ctx, p, cr, opts)
	s.metrics.upBytes.Add(float64(cr.n))
	if err != nil {
		return err
	}
	sum := hex.EncodeToString(sha.Sum(nil))
	info := s.inodeInfos(a)[0]
	m := metadataOf(p, a, info)
	m.Checksum = sum
	s.sums.put(m.ETag, sum)
	w := c.Response()
	w.Header().Set("ETag", m.ETag)
	w.Header().Set(headerChecksum, sum)
	w.Header().Set("Last-Modified", a.Mtime.UTC().Format(http.TimeFormat))
	if exists {
		return c.NoContent(http.StatusNoContent)
	}
	w.Header().Set("Location", (&url.URL{Path: filesPrefix + p}).EscapedPath())
	return c.JSON(http.StatusCreated, m)
}

// checkPutPreconditions applies If-None-Match: * (create only) and
// If-Match (replace only that version). The check and the rename are not
// one transaction: a concurrent writer between them wins silently.
func (s *Server) checkPutPreconditions(req *http.Request, exists bool, cur replica.Attr) error {
	if inm := req.Header.Get("If-None-Match"); inm != "" {
		if strings.TrimSpace(inm) == "*" && exists {
			return httpErr(http.StatusPreconditionFailed, "file exists (If-None-Match: *)")
		}
		if exists && etagListHas(inm, etagOf(cur, s.inodeInfos(cur)[0])) {
			return httpErr(http.StatusPreconditionFailed, "file has a matching ETag (If-None-Match)")
		}
	}
	if im := req.Header.Get("If-Match"); im != "" {
		if !exists {
			return httpErr(http.StatusPreconditionFailed, "file does not exist (If-Match)")
		}
		if strings.TrimSpace(im) != "*" && !etagListHas(im, etagOf(cur, s.inodeInfos(cur)[0])) {
			return httpErr(http.StatusPreconditionFailed, "file changed (If-Match)")
		}
	}
	return nil
}

// etagListHas reports whether a comma-separated ETag list holds etag
// (weak comparison of the W/ prefix is not needed: ours are strong).
func etagListHas(list, etag string) bool {
	for _, e := range strings.Split(list, ",") {
		if strings.TrimPrefix(strings.TrimSpace(e), "W/") == etag {
			return true
		}
	}
	return false
}

// deleteFile serves DELETE /api/files/<path>: a file, a symlink or an empty
// directory; ?recursive=true removes a directory tree.
func (s *Server) deleteFile(c echo.Context) error {
	p, err := clusterPath(c, filesPrefix)
	if err != nil {
		return err
	}
	if p == "" {
		return httpErr(http.StatusBadRequest, "cannot delete the root directory")
	}
	recursive := false
	if v := c.QueryParam("recursive"); v != "" {
		if recursive, err = strconv.ParseBool(v); err != nil {
			return httpErr(http.StatusBadRequest, "recursive must be true or false")
		}
	}
	ctx := c.Request().Context()
	a, err := s.fs.Walk(ctx, p)
	if err != nil {
		return readErr(err)
	}
	dir, name, err := s.fs.WalkParent(ctx, p)
	if err != nil {
		return err
	}
	switch {
	case a.Kind != crdt.KindDir:
		err = s.fs.Unlink(ctx, dir, name)
	case recursive:
		err = s.fs.RemoveTree(ctx, dir, name, a)
	default:
		err = s.fs.Rmdir(ctx, dir, name)
	}
	if err != nil {
		return err
	}
	return c.NoContent(http.StatusNoContent)
}

// postFile serves POST /api/files/<path> with X-Create-Directory: true
// (mkdir -p): 201 when created, 200 when the directory already existed.
func (s *Server) postFile(c echo.Context) error {
	if v := c.Request().Header.Get(headerCreateDir); !strings.EqualFold(strings.TrimSpace(v), "true") {
		return httpErr(http.StatusBadRequest, "POST /api/files/<path> needs the header "+headerCreateDir+": true (upload files with PUT)")
	}
	p, err := clusterPath(c, filesPrefix)
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	status := http.StatusCreated
	a, err := s.fs.Walk(ctx, p)
	switch {
	case err == nil && a.Kind == crdt.KindDir:
		status = http.StatusOK
	case err == nil:
		return httpErr(http.StatusConflict, "/"+p+" exists and is not a directory")
	case errors.Is(err, crdt.ErrNotFound):
		if a, err = s.fs.MkdirAll(ctx, p, 0o755, s.cfg.Owner); err != nil {
			return err
		}
	default:
		return err
	}
	if status == http.StatusCreated {
		c.Response().Header().Set("Location", (&url.URL{Path: filesPrefix + p + "/"}).EscapedPath())
	}
	return c.JSON(status, metadataOf(p, a, s.inodeInfos(a)[0]))
}

// getMetadata serves GET /api/metadata/<path>.
func (s *Server) getMetadata(c echo.Context) error {
	p, err := clusterPath(c, metadataPrefix)
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	a, err := s.fs.Walk(ctx, p)
	if err != nil {
		return readErr(err)
	}
	m := metadataOf(p, a, s.inodeInfos(a)[0])
	if a.Kind == crdt.KindFile {
		if m.Checksum, err = s.checksum(ctx, a, m.ETag); err != nil {
			return err
		}
		m.ContentType = s.sniff(ctx, m.Name, a)
		c.Response().Header().Set("ETag", m.ETag)
		if m.Checksum != "" {
			c.Response().Header().Set(headerChecksum, m.Checksum)
		}
	}
	return c.JSON(http.StatusOK, m)
}
