package replica

import (
	"context"

	"github.com/clusterf/clusterf/crdt"
)

// Sequential reads load the next chunk ahead (issue 13 and 18's profiles
// of cold reads: a read loaded one chunk at a time, read, decrypted where
// sealed, BLAKE3-verified and copied out, with the second core idle).
// When a read of chunk idx of the base follows one of chunk idx-1 (or
// starts the file), a background load of chunk idx+1 starts, so its disk read, opening and hashing overlap with the
// copying out of idx; the read that needs it takes it from there. At most
// one chunk per open file is loaded ahead, and random reads load none; it is verified like any load
// (FS.loadChunk), and a failed one is simply loaded again by the reader,
// which reports the error.

// ahead is one chunk being loaded ahead; guarded by its openFile's mu,
// except data and err, which are set before done closes.
type ahead struct {
	id   crdt.ChunkID
	done chan struct{}
	data []byte
	err  error
}

// readAhead starts loading the base's chunk idx+1 if there is one and no
// load ahead of the file is under way. Called with of.mu held.
func (of *openFile) readAhead(idx int64) {
	b := &of.base
	if !b.Chunked() || (idx+1)*int64(b.ChunkSize) >= min(of.baseValid, of.size) {
		return // no next chunk of the base
	}
	id := b.ChunkAt(idx + 1)
	if id.IsZero() || (of.cacheData != nil && of.cacheID == id) || (of.ahead != nil && of.ahead.id == id) {
		return
	}
	if of.ahead != nil {
		select {
		case <-of.ahead.done:
		default:
			return // one at a time
		}
	}
	a := &ahead{id: id, done: make(chan struct{})}
	f := of.fs
	if !f.pipe.spawn(func(ctx context.Context) {
		defer close(a.done)
		a.data, a.err = f.loadChunk(ctx, id, of.id)
	}) {
		return
	}
	of.ahead = a
}

// takeAhead returns the chunk id if it was loaded ahead (waiting for the
// load under way); false if it was not, or the load failed.
func (of *openFile) takeAhead(ctx context.Context, id crdt.ChunkID) ([]byte, bool) {
	a := of.ahead
	if a == nil || a.id != id {
		return nil, false
	}
	select {
	case <-a.done:
	case <-ctx.Done():
		return nil, false
	}
	of.ahead = nil
	return a.data, a.err == nil
}
