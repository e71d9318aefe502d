package webdav

import (
	"bytes"
	"context"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"path"
	"strings"
	"syscall"

	xwebdav "golang.org/x/net/webdav"

	"github.com/clusterf/clusterf/bodywriter"
	"github.com/clusterf/clusterf/crdt"
	"github.com/clusterf/clusterf/replica"
)

// maxPropBody bounds the XML body of PROPFIND and PROPPATCH, which is
// read into memory (x/net/webdav decodes it whole anyway).
const maxPropBody = 8 << 20

// New returns a WebDAV handler serving the cluster path root of fsys
// (created when missing) under the URL path prefix ("/webdav", or "" to
// serve at "/"; a trailing slash is ignored). Locks live in memory
// (webdav.NewMemLS): they are per node and do not survive a restart.
// logger gets one debug record per request, or a warning for a 5xx.
func New(fsys *replica.FS, root string, prefix string, logger *slog.Logger) (http.Handler, error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	prefix = strings.TrimRight(prefix, "/")
	if prefix != "" && (!strings.HasPrefix(prefix, "/") || path.Clean(prefix) != prefix) {
		return nil, fmt.Errorf("webdav prefix %q: must be an absolute, clean URL path", prefix)
	}
	fs, err := NewFileSystem(context.Background(), fsys, root, logger)
	if err != nil {
		return nil, err
	}
	h := &handler{prefix: prefix, fs: fs, log: logger, locks: newLockSystem(fs)}
	h.dav = &xwebdav.Handler{
		Prefix:     prefix,
		FileSystem: fs,
		LockSystem: h.locks,
		Logger: func(r *http.Request, err error) {
			if st := stateOf(r.Context()); st != nil {
				st.handlerErr = err
			}
		},
	}
	return h, nil
}

// handler wraps the x/net/webdav handler: it refuses bad names before they
// reach it, gives each request a reqState, and corrects the few status
// codes x/net/webdav cannot know (rewriteStatus).
type handler struct {
	prefix string
	fs     *FileSystem
	dav    *xwebdav.Handler
	locks  *lockSystem
	log    *slog.Logger
}

// reqState is what one request's file operations report to the handler.
// It is used by the request's goroutine only.
type reqState struct {
	err        error // last core error returned to x/net/webdav
	ioErr      error // first failed read or write (body, source, core)
	handlerErr error // what x/net/webdav reported
}

type stateKey struct{}

func stateOf(ctx context.Context) *reqState {
	st, _ := ctx.Value(stateKey{}).(*reqState)
	return st
}

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	st := &reqState{}
	sw := &statusWriter{ResponseWriter: w, method: r.Method, st: st}
	if code, err := h.check(r); err != nil {
		st.handlerErr = err
		http.Error(sw, err.Error(), code)
	} else {
		r = r.WithContext(context.WithValue(r.Context(), stateKey{}, st))
		if r.Body != nil && r.Body != http.NoBody {
			r.Body = &bodyReader{ReadCloser: r.Body, st: st}
		}
		h.serve(sw, r)
	}
	level := slog.LevelDebug
	if sw.code >= 500 && r.Context().Err() == nil { // not a client that left
		level = slog.LevelWarn
	}
	if h.log.Enabled(r.Context(), level) {
		h.log.Log(r.Context(), level, "webdav request", "method", r.Method, "path", r.URL.Path,
			"status", sw.code, "err", st.handlerErr, "core_err", st.err)
	}
}

// serve passes the request to x/net/webdav, except a LOCK asking for a
// shared lock and reads or writes of special files.
func (h *handler) serve(w *statusWriter, r *http.Request) {
	if err := h.refuseSpecial(r); err != nil {
		w.st.handlerErr = err
		http.Error(w, err.Error(), http.StatusConflict)
		return
	}
	if r.Method == "LOCK" {
		li, shared, err := sharedLockRequest(r)
		if err != nil {
			w.st.handlerErr = err
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		if shared {
			code, err := h.handleSharedLock(w, r, li)
			w.st.handlerErr = err
			if code != 0 {
				w.WriteHeader(code)
				io.WriteString(w, xwebdav.StatusText(code))
			}
			return
		}
	}
	h.dav.ServeHTTP(bodywriter.Large(w), r) // GET bodies in large writes
}

// refuseSpecial refuses GET, HEAD, POST and PUT of a FIFO, socket or
// device, and COPY from one: they are listed (with their type as the
// content type) but have no content (docs/posix.md).
func (h *handler) refuseSpecial(r *http.Request) error {
	switch r.Method {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, "COPY":
	default:
		return nil
	}
	rel, _ := h.strip(r.URL.Path)
	p, err := mapPath(h.fs.root, rel)
	if err != nil {
		return nil // check refused it already
	}
	a, err := h.fs.fs.Walk(r.Context(), p)
	if err != nil || !a.Kind.Special() {
		return nil
	}
	return fmt.Errorf("%s is a %v: special files have no content to read or write", rel, a.Kind)
}

// check refuses requests outside the prefix (404) and names mapPath
// refuses (400), in the URL and in the Destination header, before anything
// is touched. PROPFIND and PROPPATCH bodies declaring an empty namespace
// prefix (xmlns:p="", not allowed by XML Namespaces 1.0) get 400 as well:
// encoding/xml accepts them.
func (h *handler) check(r *http.Request) (int, error) {
	rel, ok := h.strip(r.URL.Path)
	if !ok {
		return http.StatusNotFound, errors.New("not under the WebDAV prefix")
	}
	if _, err := mapPath(h.fs.root, rel); err != nil {
		return http.StatusBadRequest, err
	}
	if d := r.Header.Get("Destination"); d != "" {
		if u, err := url.Parse(d); err == nil {
			if rel, ok := h.strip(u.Path); ok {
				if _, err := mapPath(h.fs.root, rel); err != nil {
					return http.StatusBadRequest, fmt.Errorf("destination: %w", err)
				}
			}
		}
	}
	if (r.Method == "PROPFIND" || r.Method == "PROPPATCH") && r.Body != nil && r.Body != http.NoBody {
		body, err := io.ReadAll(io.LimitReader(r.Body, maxPropBody+1))
		r.Body.Close()
		if err != nil {
			return http.StatusBadRequest, fmt.Errorf("read body: %w", err)
		}
		if len(body) > maxPropBody {
			return http.StatusRequestEntityTooLarge, errors.New("XML body too large")
		}
		if emptyPrefixDecl(body) {
			return http.StatusBadRequest, errors.New("empty namespace prefix declaration")
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
	}
	return 0, nil
}

// strip returns the path below the prefix; "/webdavx" is not below
// "/webdav".
func (h *handler) strip(p string) (string, bool) {
	switch {
	case h.prefix == "":
		return p, true
	case p == h.prefix:
		return "/", true
	case strings.HasPrefix(p, h.prefix+"/"):
		return p[len(h.prefix):], true
	}
	return "", false
}

// emptyPrefixDecl reports whether an XML document declares a namespace
// prefix with an empty name. Malformed XML is left to the handler.
func emptyPrefixDecl(body []byte) bool {
	d := xml.NewDecoder(bytes.NewReader(body))
	for {
		tok, err := d.RawToken()
		if err != nil {
			return false
		}
		if se, ok := tok.(xml.StartElement); ok {
			for _, a := range se.Attr {
				if a.Name.Space == "xmlns" && a.Value == "" {
					return true
				}
			}
		}
	}
}

// bodyReader records a failed read of the request body, so an upload that
// did not receive all its bytes is discarded at Close instead of committed.
type bodyReader struct {
	io.ReadCloser
	st *reqState
}

func (b *bodyReader) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if err != nil && err != io.EOF && b.st.ioErr == nil {
		b.st.ioErr = fmt.Errorf("read request body: %w", err)
	}
	return n, err
}

// statusWriter records the status and applies rewriteStatus.
type statusWriter struct {
	http.ResponseWriter
	method    string
	st        *reqState
	code      int
	rewritten bool // replace the status text x/net/webdav writes next
}

func (w *statusWriter) WriteHeader(code int) {
	if w.code == 0 {
		if c := rewriteStatus(w.method, code, w.st.err); c != code {
			code, w.rewritten = c, true
		}
		w.code = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(p []byte) (int, error) {
	if w.code == 0 {
		w.code = http.StatusOK
	}
	if w.rewritten {
		w.rewritten = false
		_, err := io.WriteString(w.ResponseWriter, xwebdav.StatusText(w.code))
		return len(p), err
	}
	return w.ResponseWriter.Write(p)
}

// Unwrap lets http.ResponseController reach the connection.
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// rewriteStatus corrects an error status x/net/webdav chose without
// knowing the core error err:
//   - a full disk is 507 Insufficient Storage, whatever the method;
//   - PUT on a collection is 405, not 404 (RFC 4918 9.7.2);
//   - LOCK of a new resource whose parent is missing is 409, not 500;
//   - a PUT whose commit failed (I/O, corruption) is 500, not 405.
func rewriteStatus(method string, code int, err error) int {
	if err == nil || code < 400 {
		return code
	}
	_, mapped := errnoOf(err)
	switch {
	case errors.Is(err, syscall.ENOSPC):
		return http.StatusInsufficientStorage
	case method == http.MethodPut && code == http.StatusNotFound && errors.Is(err, crdt.ErrIsDir):
		return http.StatusMethodNotAllowed
	case method == "LOCK" && code == http.StatusInternalServerError && (errors.Is(err, crdt.ErrNotFound) || errors.Is(err, crdt.ErrNotDir)):
		return http.StatusConflict
	case method == http.MethodPut && code == http.StatusMethodNotAllowed && !mapped:
		return http.StatusInternalServerError
	}
	return code
}
