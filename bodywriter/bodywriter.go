package bodywriter

import (
	"io"
	"net/http"
	"sync"
)

// BufSize is the size of the writes Large makes.
const BufSize = 256 << 10

// Large wraps w so that copies into it write BufSize at a time.
func Large(w http.ResponseWriter) http.ResponseWriter { return large{w} }

type large struct{ http.ResponseWriter }

// ReadFrom implements io.ReaderFrom, which io.Copy prefers.
func (w large) ReadFrom(r io.Reader) (int64, error) {
	bp := bufs.Get().(*[]byte)
	defer bufs.Put(bp)
	return io.CopyBuffer(struct{ io.Writer }{w.ResponseWriter}, r, *bp)
}

// Unwrap returns the wrapped ResponseWriter (http.ResponseController).
func (w large) Unwrap() http.ResponseWriter { return w.ResponseWriter }

var bufs = sync.Pool{New: func() any { b := make([]byte, BufSize); return &b }}
