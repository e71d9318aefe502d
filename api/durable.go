package api

import (
	"context"
	"net/http"
)

// Syncer makes every change committed so far durable (replica.FS.Sync).
type Syncer interface {
	Sync(ctx context.Context) error
}

// DurableWrites wraps the HTTP handler of REST and WebDAV so that a
// request that may change something (any method but GET, HEAD, OPTIONS
// and PROPFIND) is answered only once its changes are durable: the first
// byte of the response (or its end, when it has none) waits for s.Sync.
// The filesystem core returns once a change is journaled (it survives
// kill -9) and makes it durable within milliseconds; an HTTP client's 2xx
// promises more, as an fsync does. Uploads are also replicated before
// they answer (replica.FS.PutFile and WebDAV's commit use Fsync).
func DurableWrites(next http.Handler, s Syncer) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.Method {
		case http.MethodGet, http.MethodHead, http.MethodOptions, "PROPFIND":
			next.ServeHTTP(w, r)
			return
		}
		dw := &durableWriter{ResponseWriter: w, ctx: r.Context(), s: s}
		next.ServeHTTP(dw, r)
		dw.sync()
	})
}

type durableWriter struct {
	http.ResponseWriter
	ctx    context.Context
	s      Syncer
	synced bool
	failed bool
}

// sync runs once, before anything reaches the client. If it fails, the
// response becomes a 503: the change happened but is not known durable.
func (w *durableWriter) sync() {
	if w.synced {
		return
	}
	w.synced = true
	if err := w.s.Sync(context.WithoutCancel(w.ctx)); err != nil {
		w.failed = true
		http.Error(w.ResponseWriter, "change not durable: "+err.Error(), http.StatusServiceUnavailable)
	}
}

func (w *durableWriter) WriteHeader(code int) {
	w.sync()
	if !w.failed {
		w.ResponseWriter.WriteHeader(code)
	}
}

func (w *durableWriter) Write(p []byte) (int, error) {
	w.sync()
	if w.failed {
		return len(p), nil
	}
	return w.ResponseWriter.Write(p)
}

func (w *durableWriter) Flush() {
	w.sync()
	if f, ok := w.ResponseWriter.(http.Flusher); ok && !w.failed {
		f.Flush()
	}
}

// Unwrap lets http.ResponseController reach the underlying writer.
func (w *durableWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
