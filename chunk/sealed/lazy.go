package sealed

import (
	"context"
	"fmt"

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

// Sync implements chunk.LazyStore.
func (s *Store) Sync(ctx context.Context) error {
	if ls, ok := s.inner.(chunk.LazyStore); ok {
		return ls.Sync(ctx)
	}
	return nil
}
