package media

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/clusterf/clusterf/crdt"
	"github.com/clusterf/clusterf/replica"
)

// sourceServer lets ffmpeg and ffprobe read cluster files: an HTTP server
// on a random loopback port, started on first use, that serves each
// registered source under an unguessable token with Range support, read
// through replica.FS like any other read (a node that holds no copy
// fetches the chunks from the cluster). Seeking in the source (an MP4
// whose index is at its end, a seek in a film) is a Range request.
type sourceServer struct {
	svc  *Service
	once sync.Once
	err  error
	base string // http://127.0.0.1:port/
	srv  *http.Server
	ln   net.Listener

	mu      sync.Mutex
	entries map[string]sourceEntry
}

type sourceEntry struct {
	ref  crdt.Ref
	rate int64 // bytes per second (0: unlimited), background work
}

// start binds the listener once.
func (ss *sourceServer) start() error {
	ss.once.Do(func() {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			ss.err = fmt.Errorf("media source server: %w", err)
			return
		}
		ss.ln = ln
		ss.base = "http://" + ln.Addr().String() + "/"
		ss.entries = map[string]sourceEntry{}
		ss.srv = &http.Server{
			Handler:           ss,
			ReadHeaderTimeout: 10 * time.Second,
			BaseContext:       func(net.Listener) context.Context { return ss.svc.ctx },
			ErrorLog:          nil,
		}
		if !ss.svc.goFunc(func() {
			if err := ss.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
				ss.svc.log.Error("media source server stopped", "err", err)
			}
		}) {
			ln.Close()
			ss.err = ErrClosed
		}
	})
	return ss.err
}

// close stops the server and its connections (Serve returns).
func (ss *sourceServer) close() {
	ss.once.Do(func() { ss.err = ErrClosed }) // never start after Close
	if ss.srv != nil {
		ss.srv.Close()
	}
}

// register makes ref readable at the returned URL until release is called.
func (ss *sourceServer) register(ref crdt.Ref, rate int64) (string, func(), error) {
	if err := ss.start(); err != nil {
		return "", nil, err
	}
	var b [16]byte
	rand.Read(b[:])
	tok := hex.EncodeToString(b[:])
	ss.mu.Lock()
	ss.entries[tok] = sourceEntry{ref: ref, rate: rate}
	ss.mu.Unlock()
	return ss.base + tok, func() {
		ss.mu.Lock()
		delete(ss.entries, tok)
		ss.mu.Unlock()
	}, nil
}

// ServeHTTP serves GET and HEAD of a registered source.
func (ss *sourceServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	tok := strings.TrimPrefix(r.URL.Path, "/")
	ss.mu.Lock()
	e, ok := ss.entries[tok]
	ss.mu.Unlock()
	if !ok {
		http.NotFound(w, r)
		return
	}
	ctx := r.Context()
	h, err := ss.svc.fs.Open(ctx, e.ref, os.O_RDONLY)
	if err != nil {
		ss.svc.log.Debug("media source open failed", "err", err)
		http.Error(w, "cannot open source", http.StatusNotFound)
		return
	}
	defer h.Release()
	var rs io.ReadSeeker = replica.NewReader(ctx, h)
	if e.rate > 0 {
		rs = &throttled{ctx: ctx, r: rs, rate: e.rate}
	}
	w.Header().Set("Content-Type", "application/octet-stream")
	http.ServeContent(w, r, "", time.Time{}, rs)
}

// throttled limits reads to rate bytes per second (the background
// pre-transcoding must leave disk and network to everybody else).
type throttled struct {
	ctx   context.Context
	r     io.ReadSeeker
	rate  int64
	start time.Time
	n     int64
}

func (t *throttled) Read(p []byte) (int, error) {
	if t.start.IsZero() {
		t.start = time.Now()
	}
	if max := t.rate / 4; int64(len(p)) > max && max > 0 {
		p = p[:max]
	}
	n, err := t.r.Read(p)
	t.n += int64(n)
	due := t.start.Add(time.Duration(float64(t.n) / float64(t.rate) * float64(time.Second)))
	if d := time.Until(due); d > 0 {
		tm := time.NewTimer(d)
		defer tm.Stop()
		select {
		case <-tm.C:
		case <-t.ctx.Done():
			return n, t.ctx.Err()
		}
	}
	return n, err
}

func (t *throttled) Seek(off int64, whence int) (int64, error) { return t.r.Seek(off, whence) }
