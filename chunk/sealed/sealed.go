package sealed

import (
	"context"
	"fmt"
	"sync"

	"github.com/clusterf/clusterf/atrest"
	"github.com/clusterf/clusterf/chunk"
)

var _ chunk.AuthenticatedStore = (*Store)(nil)

// Store seals the blobs and ids of the chunk.Store below it.
type Store struct {
	inner chunk.Store
	names *nameCipher
	blobs *atrest.Sealer
}

// New returns a Store that keeps sealed chunks in inner. Closing it closes
// inner.
func New(inner chunk.Store, keys *atrest.Keys) *Store {
	return &Store{inner: inner, names: newNameCipher(keys), blobs: keys.Sealer("chunk-data")}
}

// Name returns the id the chunk id is stored under in the engine below
// (tests use it to find and damage a chunk on disk).
func (s *Store) Name(id chunk.ID) chunk.ID { return s.names.encrypt(id) }

// Put implements chunk.Store.
func (s *Store) Put(ctx context.Context, id chunk.ID, blob []byte) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("sealed: put %s: %w", id, err)
	}
	if len(blob) == 0 {
		return fmt.Errorf("sealed: put %s: empty blob", id)
	}
	bp := bufs.Get().(*[]byte)
	defer bufs.Put(bp)
	*bp = s.blobs.Seal((*bp)[:0], blob, id[:]) // engines do not retain the blob
	if err := s.inner.Put(ctx, s.names.encrypt(id), *bp); err != nil {
		return fmt.Errorf("sealed: put %s: %w", id, err)
	}
	return nil
}

// bufs recycles the sealed copies Put hands to the engine.
var bufs = sync.Pool{New: func() any { return new([]byte) }}

// unopenable is what Get returns for a copy that fails to open.
var unopenable = []byte{chunk.FormatUnopenable}

// Get implements chunk.Store. A stored copy that fails authentication comes
// back as a blob chunk.Decode reports as corrupt.
func (s *Store) Get(ctx context.Context, id chunk.ID) ([]byte, error) {
	return s.GetBuffer(ctx, id, chunk.ReadCached, chunk.NewBuffer)
}

var _ chunk.BufferStore = (*Store)(nil)

// GetBuffer implements chunk.BufferStore: the engine's GetBuffer (its Get
// when it has none), opened in place, so the plaintext aliases alloc's
// memory too.
func (s *Store) GetBuffer(ctx context.Context, id chunk.ID, hint chunk.ReadHint, alloc func(n int) []byte) ([]byte, error) {
	b, err := chunk.GetBuffer(ctx, s.inner, s.names.encrypt(id), hint, alloc)
	if err != nil {
		return nil, fmt.Errorf("sealed: get %s: %w", id, err)
	}
	plain, err := s.blobs.OpenInPlace(b, id[:])
	if err != nil {
		return append([]byte(nil), unopenable...), nil
	}
	return plain, nil
}

// AuthenticatesGets implements chunk.AuthenticatedStore: Get opens every
// blob with the id as associated data.
func (s *Store) AuthenticatesGets() {}

// Has implements chunk.Store.
func (s *Store) Has(ctx context.Context, id chunk.ID) (bool, error) {
	ok, err := s.inner.Has(ctx, s.names.encrypt(id))
	if err != nil {
		return false, fmt.Errorf("sealed: has %s: %w", id, err)
	}
	return ok, nil
}

// Delete implements chunk.Store.
func (s *Store) Delete(ctx context.Context, id chunk.ID) error {
	if err := s.inner.Delete(ctx, s.names.encrypt(id)); err != nil {
		return fmt.Errorf("sealed: delete %s: %w", id, err)
	}
	return nil
}

// List implements chunk.Store: the engine's names, mapped back to ids.
func (s *Store) List(ctx context.Context, fn func(chunk.ID) error) error {
	return s.inner.List(ctx, func(name chunk.ID) error { return fn(s.names.decrypt(name)) })
}

// Usage implements chunk.Store: plain blob bytes (the engine's bytes less
// the constant sealing overhead of each chunk).
func (s *Store) Usage(ctx context.Context) (chunk.Usage, error) {
	u, err := s.inner.Usage(ctx)
	if err != nil {
		return chunk.Usage{}, err
	}
	u.Bytes -= u.Chunks * atrest.Overhead
	return u, nil
}

// Close implements chunk.Store.
func (s *Store) Close() error { return s.inner.Close() }
