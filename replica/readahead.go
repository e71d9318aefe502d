package replica

import (
	"context"
	"slices"

	"github.com/clusterf/clusterf/chunk"
	"github.com/clusterf/clusterf/crdt"
)

// Sequential reads load the next chunks ahead (issue 13 and 18's profiles
// of cold reads: a read loaded one chunk at a time, read, decrypted where
// sealed, BLAKE3-verified and copied out, with the second core idle).
// When a read of chunk idx of the base follows one of chunk idx-1 (or
// starts the file), background loads of the next readAheadDepth chunks
// start, so their disk reads, opening and hashing overlap with each other
// and with the copying out of idx; the read that needs one takes it from
// there. Random reads load none. A chunk loaded ahead is verified like
// any load (FS.loadChunk), and a failed one is simply loaded again by the
// reader, which reports the error.

// readAheadDepth is how many chunks a sequential reader has loaded ahead
// at most: two keep the disk and both cores busy (docs/perf.md).
const readAheadDepth = 2

// ahead is one chunk being loaded ahead; guarded by its openFile's mu,
// except data and err, which are set before done closes.
type ahead struct {
	id   crdt.ChunkID
	done chan struct{}
	data []byte
	buf  *chunkBuf // data's pooled buffer, if any (chunkbufs.go)
	err  error
}

// readAhead starts loading the base's chunks idx+1 .. idx+readAheadDepth
// that are neither cached nor being loaded already, and forgets loads
// outside that window (they end by themselves). Called with of.mu held.
func (of *openFile) readAhead(idx int64, hint chunk.ReadHint) {
	b := &of.base
	if !b.Chunked() {
		return
	}
	end := min(of.baseValid, of.size)
	var want []crdt.ChunkID
	for k := int64(1); k <= readAheadDepth && (idx+k)*int64(b.ChunkSize) < end; k++ {
		if id := b.ChunkAt(idx + k); !id.IsZero() && (of.cacheData == nil || of.cacheID != id) {
			want = append(want, id)
		}
	}
	kept := of.aheads[:0]
	for _, a := range of.aheads {
		if slices.Contains(want, a.id) {
			kept = append(kept, a)
		}
	}
	clear(of.aheads[len(kept):])
	of.aheads = kept
	f := of.fs
	for _, id := range want {
		if slices.ContainsFunc(of.aheads, func(a *ahead) bool { return a.id == id }) {
			continue
		}
		a := &ahead{id: id, done: make(chan struct{})}
		if !f.pipe.spawn(func(ctx context.Context) {
			defer close(a.done)
			a.data, a.buf, a.err = f.loadChunk(ctx, id, of.id, hint)
		}) {
			return
		}
		of.aheads = append(of.aheads, a)
	}
}

// takeAhead returns the chunk id, and its buffer, if it was loaded ahead
// (waiting for the load under way); false if it was not, or the load
// failed. A load forgotten before it is taken leaves its buffer to the
// collector: its goroutine may still be filling it.
func (of *openFile) takeAhead(ctx context.Context, id crdt.ChunkID) ([]byte, *chunkBuf, bool) {
	i := slices.IndexFunc(of.aheads, func(a *ahead) bool { return a.id == id })
	if i < 0 {
		return nil, nil, false
	}
	a := of.aheads[i]
	select {
	case <-a.done:
	case <-ctx.Done():
		return nil, nil, false
	}
	of.aheads = slices.Delete(of.aheads, i, i+1)
	return a.data, a.buf, a.err == nil
}
