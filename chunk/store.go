package chunk

import (
	"context"
	"errors"
)

// Sentinel errors returned (wrapped) by Store implementations. Test them with
// errors.Is.
var (
	// ErrNotFound means the store holds no blob for the id.
	ErrNotFound = errors.New("chunk not found")
	// ErrClosed means the store was used after Close.
	ErrClosed = errors.New("chunk store closed")
	// ErrLocked means another Store (in this or another process) has the
	// directory open.
	ErrLocked = errors.New("chunk store directory in use")
)

// Usage is what a store holds: the number of chunks and the sum of their
// blob sizes (encoded bytes, not file-system blocks).
type Usage struct {
	Chunks int64
	Bytes  int64
}

// Store keeps encoded chunk blobs by id. Implementations live in the
// subpackages of chunk and are opened through chunk/engines.
//
// Concurrency: all methods are safe for concurrent use by multiple
// goroutines. Close must not race with other calls; after Close every method
// returns an error wrapping ErrClosed, and Close itself returns nil.
//
// Contexts: each method checks ctx before starting and returns ctx.Err()
// (possibly wrapped) if it is done; an operation that has started its write
// runs to completion, so a cancelled Put either stored the whole blob or
// nothing.
//
// Errors: returned errors may be wrapped; test with errors.Is. File-system
// errors keep their cause (errors.Is(err, syscall.ENOSPC) holds when the
// disk is full).
//
// Verification: stores do not check that a blob matches its id. The caller
// passes what Get returns through Decode, which does (or, for an
// AuthenticatedStore, through DecodeAuthenticated).
type Store interface {
	// Put stores blob under id. The blob must not be empty. Put of an id
	// that is already present is a no-op and returns nil, so to replace a
	// corrupt copy, Delete it first. When Put returns nil the blob is
	// durable (it survives a crash or power loss); when it returns an
	// error nothing partial is left behind. Put does not retain blob.
	Put(ctx context.Context, id ID, blob []byte) error

	// Get returns the blob stored under id, or an error wrapping
	// ErrNotFound. The caller owns the returned slice.
	Get(ctx context.Context, id ID) ([]byte, error)

	// Has reports whether a blob is stored under id.
	Has(ctx context.Context, id ID) (bool, error)

	// Delete removes the blob stored under id. Deleting an absent id is
	// not an error. A delete may be lost in a crash (the chunk comes back);
	// garbage collection runs again, so that is harmless.
	Delete(ctx context.Context, id ID) error

	// List calls fn for every stored id, in no particular order, in the
	// goroutine that called List. fn may call other methods of the Store;
	// ids put or deleted while List runs may or may not be seen. If fn
	// returns an error, List stops and returns that error unwrapped.
	List(ctx context.Context, fn func(ID) error) error

	// Usage returns what the store holds.
	Usage(ctx context.Context) (Usage, error)

	// Close releases the store. It is idempotent.
	Close() error
}

// LazyStore is implemented by stores that can store a blob without making
// it durable at once. PutLazy is Put except for durability: when it
// returns the blob survives a crash of the process (it is written to the
// operating system under its final name) but not a power loss, until the
// next Sync, which makes every blob stored so far durable in one batch.
// A Put of a blob PutLazy stored and no Sync covered yet makes it durable.
type LazyStore interface {
	PutLazy(ctx context.Context, id ID, blob []byte) error
	Sync(ctx context.Context) error
}

// AuthenticatedStore is implemented by stores whose Get authenticates
// every blob against the id it was stored under (chunk/sealed: an AEAD
// with the id as associated data). What Get returns is then either, bit
// for bit, a blob some Put stored under that id, or a blob Decode reports
// as corrupt (FormatUnopenable). Since Put's contract is that the caller
// checked blob against id first (lifecycle.Keeper.Put), the hot read path
// may skip hashing such a blob again: DecodeAuthenticated. Checks that
// must hold even if a Put's caller broke that contract (scrub, dedup,
// counting copies) still use Decode.
type AuthenticatedStore interface {
	Store
	// AuthenticatesGets marks the store; it does nothing.
	AuthenticatesGets()
}

// InPlaceStore is implemented by stores that can frame a blob where it
// lies when the caller leaves room around it (chunk/sealed seals it in
// place), which saves a copy of every chunk stored that way.
type InPlaceStore interface {
	// Room returns how many free bytes PutLazyInPlace needs before the
	// blob and after it.
	Room() (before, after int)
	// PutLazyInPlace is LazyStore.PutLazy of buf[before:], with
	// buf[:before] and buf[len(buf):cap(buf)] free for the store's use
	// (cap must leave the after bytes). It overwrites the blob: buf's
	// bytes mean nothing once it returns.
	PutLazyInPlace(ctx context.Context, id ID, buf []byte) error
}

// BufferStore is implemented by stores that can read a blob into memory
// the caller provides: a reader that recycles its chunk buffers spares
// the allocation, and the runtime's zeroing, of a new one per chunk read
// (docs/perf.md, "Recycled read buffers").
type BufferStore interface {
	// GetBuffer is Get, with the blob read into alloc(n)[:n], where n is
	// its stored size; alloc must return at least n bytes. The result
	// aliases that memory (or, for a store that frames blobs, a part of
	// it) and the caller owns it.
	GetBuffer(ctx context.Context, id ID, hint ReadHint, alloc func(n int) []byte) ([]byte, error)
}

// ReadHint says whether anything above a read keeps what it reads.
type ReadHint uint8

const (
	// ReadCached: nothing above caches the bytes, so the operating
	// system's cache of the store's files is what serves the next read
	// (REST, WebDAV, replication, scrub).
	ReadCached ReadHint = iota
	// ReadUncached: the caller's own cache keeps the plain bytes (the
	// kernel's page cache of a FUSE mount), so a second copy of the
	// encoded blob in the store's cache would only take memory; a store
	// may read past its cache (rawfile: O_DIRECT for large blobs).
	ReadUncached
)

// GetBuffer is s.GetBuffer when s is a BufferStore, else s.Get (alloc is
// not called).
func GetBuffer(ctx context.Context, s Store, id ID, hint ReadHint, alloc func(n int) []byte) ([]byte, error) {
	if bs, ok := s.(BufferStore); ok {
		return bs.GetBuffer(ctx, id, hint, alloc)
	}
	return s.Get(ctx, id)
}

// NewBuffer is the alloc of a GetBuffer whose caller recycles nothing: a
// new slice of n bytes.
func NewBuffer(n int) []byte { return make([]byte, n) }
