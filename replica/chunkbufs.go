package replica

import "sync"

// Recycled read buffers (docs/perf.md, "Recycled read buffers"). Every
// chunk a read loads used to arrive in a new slice (os.ReadFile), which
// the runtime zeroes before the read overwrites it and the collector
// scans and frees afterwards: 1 MiB GETs spent 6% of the node's CPU
// zeroing and more in the collector. A chunk loaded for an open file now
// lands in a pooled buffer (chunk.BufferStore), owned by that file's
// one-chunk cache, and goes back to the pool when the cache moves on to
// another chunk or the file closes; a chunk whose decoded bytes do not
// alias the buffer (zstd) gives it back at once.

// Buffers come in size classes: minPooled << k plus bufSlack, so that a
// chunk of a power-of-two size with its header (and, on an encrypted
// node, its seal) fits the class of that size instead of the next one.
const (
	minPooled  = 64 << 10 // smaller blobs get a slice of their own
	bufSlack   = 4 << 10
	bufClasses = 10 // up to 32 MiB: every blob a store may hold
)

var chunkBufPools [bufClasses]sync.Pool

// chunkBuf is one pooled buffer; b has its class's full length.
type chunkBuf struct {
	class int
	b     []byte
}

// bufClass returns the smallest class holding n bytes, or -1 when n is
// below minPooled or above the largest class.
func bufClass(n int) int {
	if n < minPooled {
		return -1
	}
	for k := range bufClasses {
		if n <= minPooled<<k+bufSlack {
			return k
		}
	}
	return -1
}

// getChunkBuf returns a buffer of at least n bytes, or nil when n is not
// worth pooling (or too large for any class).
func getChunkBuf(n int) *chunkBuf {
	k := bufClass(n)
	if k < 0 {
		return nil
	}
	if b, ok := chunkBufPools[k].Get().(*chunkBuf); ok {
		return b
	}
	return &chunkBuf{class: k, b: make([]byte, minPooled<<k+bufSlack)}
}

// release returns b to its pool; nothing may use its bytes afterwards.
// A nil b is a no-op.
func (b *chunkBuf) release() {
	if b != nil {
		chunkBufPools[b.class].Put(b)
	}
}

// bufAlloc is an alloc for chunk.GetBuffer that takes a pooled buffer
// when the blob is worth one and records it in *got.
func bufAlloc(got **chunkBuf) func(n int) []byte {
	return func(n int) []byte {
		if b := getChunkBuf(n); b != nil {
			*got = b
			return b.b[:n]
		}
		return make([]byte, n)
	}
}
