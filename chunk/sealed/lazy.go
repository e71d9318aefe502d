package sealed

import (
	"context"
	"fmt"

	"github.com/clusterf/clusterf/atrest"
	"github.com/clusterf/clusterf/chunk"
)

var _ chunk.LazyStore = (*Store)(nil)

// PutLazy implements chunk.LazyStore: Put, left undurable until Sync when
// the engine below is a LazyStore (else it is Put).
func (s *Store) PutLazy(ctx context.Context, id chunk.ID, blob []byte) error {
	ls, ok := s.inner.(chunk.LazyStore)
	if !ok {
		return s.Put(ctx, id, blob)
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("sealed: put %s: %w", id, err)
	}
	if len(blob) == 0 {
		return fmt.Errorf("sealed: put %s: empty blob", id)
	}
	bp := bufs.Get().(*[]byte)
	defer bufs.Put(bp)
	*bp = s.blobs.Seal((*bp)[:0], blob, id[:]) // engines do not retain the blob
	if err := ls.PutLazy(ctx, s.names.encrypt(id), *bp); err != nil {
		return fmt.Errorf("sealed: put %s: %w", id, err)
	}
	return nil
}

var _ chunk.InPlaceStore = (*Store)(nil)

// Room implements chunk.InPlaceStore: the seal's version and nonce before
// the blob, its tag after.
func (s *Store) Room() (before, after int) { return atrest.SealRoomBefore, atrest.SealRoomAfter }

// PutLazyInPlace implements chunk.InPlaceStore: PutLazy (Put for an engine
// that is no LazyStore), sealing the blob where it lies instead of into a
// copy: 4.9 GB/s instead of 3.6-3.8 for 4 MiB chunks in memory the cache
// does not hold (atrest's BenchmarkSealInPlace).
func (s *Store) PutLazyInPlace(ctx context.Context, id chunk.ID, buf []byte) error {
	if len(buf) <= atrest.SealRoomBefore {
		return fmt.Errorf("sealed: put %s: empty blob", id)
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("sealed: put %s: %w", id, err)
	}
	put := s.inner.Put
	if ls, ok := s.inner.(chunk.LazyStore); ok {
		put = ls.PutLazy
	}
	if err := put(ctx, s.names.encrypt(id), s.blobs.SealInPlace(buf, id[:])); err != nil {
		return fmt.Errorf("sealed: put %s: %w", id, err)
	}
	return nil
}

// Sync implements chunk.LazyStore.
func (s *Store) Sync(ctx context.Context) error {
	if ls, ok := s.inner.(chunk.LazyStore); ok {
		return ls.Sync(ctx)
	}
	return nil
}
