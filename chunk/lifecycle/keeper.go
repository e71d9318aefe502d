package lifecycle

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"

	"github.com/clusterf/clusterf/chunk"
)

// Keeper guards a chunk.Store (see the package doc). Safe for concurrent use.
type Keeper struct {
	store         chunk.Store
	authenticated bool // store is a chunk.AuthenticatedStore
	log           *slog.Logger

	mu      sync.Mutex // guards everything below; held across Collect's deletes
	epoch   uint64
	pins    map[chunk.ID]int
	touched map[chunk.ID]uint64 // last epoch id was pinned, unpinned or stored
	pinGen  uint64              // epoch of the last change of the pinned set

	vmu      sync.Mutex // leaf lock
	verified map[chunk.ID]struct{}
}

// New returns a Keeper over store. It takes ownership of nothing: the
// caller still closes store.
func New(store chunk.Store, log *slog.Logger) *Keeper {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	_, authenticated := store.(chunk.AuthenticatedStore)
	return &Keeper{
		store:         store,
		authenticated: authenticated,
		log:           log,
		pins:          map[chunk.ID]int{},
		touched:       map[chunk.ID]uint64{},
		verified:      map[chunk.ID]struct{}{},
	}
}

// touchLocked records that id changed state now.
func (k *Keeper) touchLocked(id chunk.ID) {
	k.epoch++
	k.touched[id] = k.epoch
}

// Epoch returns the current epoch. A garbage collector reads it before it
// decides which chunks are unreferenced and passes it to Collect.
func (k *Keeper) Epoch() uint64 {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.epoch
}

// Forget drops the bookkeeping of ids touched before epoch: no Collect
// with an older epoch may follow. It keeps the memory bounded.
func (k *Keeper) Forget(before uint64) {
	k.mu.Lock()
	defer k.mu.Unlock()
	for id, e := range k.touched {
		if e < before && k.pins[id] == 0 {
			delete(k.touched, id)
		}
	}
}

// Pin is a set of pinned chunks owned by one user (an open file, a commit).
// The zero Pin pins nothing. Not safe for concurrent use.
type Pin struct {
	k   *Keeper
	ids []chunk.ID
}

// Pin pins ids (holes and duplicates are fine) until the returned Pin is
// released or replaced.
func (k *Keeper) Pin(ids ...chunk.ID) *Pin {
	p := &Pin{k: k}
	p.Add(ids...)
	return p
}

// Add pins more ids under p.
func (p *Pin) Add(ids ...chunk.ID) {
	if p == nil || p.k == nil || len(ids) == 0 {
		return
	}
	k := p.k
	k.mu.Lock()
	defer k.mu.Unlock()
	for _, id := range ids {
		if id == (chunk.ID{}) {
			continue
		}
		if k.pins[id] == 0 {
			k.pinGen = k.epoch + 1
		}
		k.pins[id]++
		k.touchLocked(id)
		p.ids = append(p.ids, id)
	}
}

// Release unpins everything p pins. Releasing twice is harmless.
func (p *Pin) Release() {
	if p == nil || p.k == nil || len(p.ids) == 0 {
		return
	}
	k := p.k
	k.mu.Lock()
	defer k.mu.Unlock()
	for _, id := range p.ids {
		k.pins[id]--
		if k.pins[id] <= 0 {
			delete(k.pins, id)
			k.pinGen = k.epoch + 1
		}
		k.touchLocked(id)
	}
	p.ids = nil
}

// Replace pins ids and then releases what p pinned before, so a chunk in
// both sets is never unpinned in between.
func (p *Pin) Replace(ids ...chunk.ID) {
	if p == nil || p.k == nil {
		return
	}
	old := p.ids
	p.ids = nil
	p.Add(ids...)
	(&Pin{k: p.k, ids: old}).Release()
}

// Pinned reports whether id is pinned on this node.
func (k *Keeper) Pinned(id chunk.ID) bool {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.pins[id] > 0
}

// Pins returns the generation of the pinned set (it changes whenever a
// chunk becomes pinned or unpinned) and, unless the caller already has
// that generation (known), the set itself.
func (k *Keeper) Pins(known uint64) (gen uint64, ids []chunk.ID) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.pinGen == known {
		return k.pinGen, nil
	}
	ids = make([]chunk.ID, 0, len(k.pins))
	for id := range k.pins {
		ids = append(ids, id)
	}
	return k.pinGen, ids
}

// ---- reads ----

// Get returns the stored blob of id, unverified (pass it through
// Decode); a copy that fails to decode should be reported with
// DropCorrupt or Replace.
func (k *Keeper) Get(ctx context.Context, id chunk.ID) ([]byte, error) {
	return k.store.Get(ctx, id)
}

// GetBuffer is Get into memory from alloc (chunk.GetBuffer): the store's
// blob, unverified, aliasing what alloc returned when the store is a
// chunk.BufferStore.
func (k *Keeper) GetBuffer(ctx context.Context, id chunk.ID, hint chunk.ReadHint, alloc func(n int) []byte) ([]byte, error) {
	return chunk.GetBuffer(ctx, k.store, id, hint, alloc)
}

// Decode decodes a blob Get returned for id: chunk.Decode, or, when the
// store authenticates what it returns (chunk.AuthenticatedStore),
// chunk.DecodeAuthenticated, which skips the content hash. Every blob a
// Put stored was checked against its id by Put's caller; the scrub and the
// copy counting (Verify, Present) still hash, so a caller that broke that
// contract is found there.
func (k *Keeper) Decode(id chunk.ID, blob []byte) ([]byte, error) {
	if k.authenticated {
		return chunk.DecodeAuthenticated(id, blob)
	}
	return chunk.Decode(id, blob)
}

// List calls fn for every stored id (chunk.Store.List).
func (k *Keeper) List(ctx context.Context, fn func(chunk.ID) error) error {
	return k.store.List(ctx, fn)
}

// Usage reports what the store holds.
func (k *Keeper) Usage(ctx context.Context) (chunk.Usage, error) { return k.store.Usage(ctx) }

// Verify reads the stored copy of id and checks it. It returns the
// decoded bytes, or (nil, nil) when no copy is stored, or an error. A
// corrupt copy is forgotten as verified and reported as absent (so the
// caller writes or fetches a good one); it is not deleted here.
func (k *Keeper) Verify(ctx context.Context, id chunk.ID) ([]byte, error) {
	_, data, err := k.GetDecoded(ctx, id)
	switch {
	case errors.Is(err, chunk.ErrNotFound):
		k.unverify(id)
		return nil, nil
	case errors.Is(err, chunk.ErrCorrupt):
		k.unverify(id)
		k.log.Error("corrupt chunk: stored bytes do not match its id; not trusting this copy", "chunk", id, "err", err)
		return nil, nil
	case err != nil:
		return nil, err
	}
	k.markVerified(id)
	return data, nil
}

// GetDecoded reads and decodes the stored copy of id: its blob and plain
// bytes, or an error wrapping chunk.ErrNotFound, chunk.ErrCorrupt (a bad
// copy: bytes that do not decode to id, or a file the store found
// damaged before reading it, such as one larger than any chunk) or
// another failure (the copy could not be read). blob is set when the
// store returned one, even if it did not decode. Unlike Verify it
// changes nothing (the integrity check reports what it finds).
func (k *Keeper) GetDecoded(ctx context.Context, id chunk.ID) (blob, data []byte, err error) {
	if blob, err = k.store.Get(ctx, id); err != nil {
		return nil, nil, err
	}
	if data, err = chunk.Decode(id, blob); err != nil {
		return blob, nil, err
	}
	return blob, data, nil
}

// Present reports whether a good copy of id is stored. A copy verified
// since this process started counts without reading it again; others are
// read and checked, as long as *budget (bytes, nil: no limit) allows;
// beyond it they count as absent, which is always the safe answer.
func (k *Keeper) Present(ctx context.Context, id chunk.ID, budget *int64) (bool, error) {
	k.vmu.Lock()
	_, ok := k.verified[id]
	k.vmu.Unlock()
	if ok {
		has, err := k.store.Has(ctx, id)
		if err != nil || !has {
			if !has {
				k.unverify(id)
			}
			return false, err
		}
		return true, nil
	}
	if budget != nil && *budget <= 0 {
		return false, nil
	}
	blob, _, err := k.GetDecoded(ctx, id)
	if budget != nil {
		*budget -= int64(len(blob))
	}
	switch {
	case errors.Is(err, chunk.ErrNotFound):
		return false, nil
	case errors.Is(err, chunk.ErrCorrupt):
		k.log.Error("corrupt chunk: stored bytes do not match its id; not counting this copy", "chunk", id, "err", err)
		return false, nil
	case err != nil:
		return false, err
	}
	k.markVerified(id)
	return true, nil
}

// StoredUnverified reports whether some copy of id is stored, good or not.
// Only for decisions where a bad copy costs nothing but time (whether to
// fetch a chunk now or leave it to the scrub); never for counting copies.
func (k *Keeper) StoredUnverified(ctx context.Context, id chunk.ID) (bool, error) {
	return k.store.Has(ctx, id)
}

func (k *Keeper) markVerified(id chunk.ID) {
	k.vmu.Lock()
	k.verified[id] = struct{}{}
	k.vmu.Unlock()
}

func (k *Keeper) unverify(id chunk.ID) {
	k.vmu.Lock()
	delete(k.verified, id)
	k.vmu.Unlock()
}

// ---- writes ----

// Put stores blob, which the caller has checked against id (chunk.Decode,
// or it encoded the bytes itself). If a copy is already stored it is
// verified, and replaced when it is corrupt; so after Put returns nil a
// good copy is stored. Storing touches id: a collection that decided
// before leaves it alone.
func (k *Keeper) Put(ctx context.Context, id chunk.ID, blob []byte) error {
	k.mu.Lock()
	k.touchLocked(id)
	k.mu.Unlock()
	if data, err := k.Verify(ctx, id); err != nil {
		return fmt.Errorf("check stored chunk %s: %w", id, err)
	} else if data != nil {
		if _, lazy := k.store.(chunk.LazyStore); lazy {
			// The good copy may be one a PutLazy left unsynced: the
			// store's Put of a present id makes it durable.
			if err := k.store.Put(ctx, id, blob); err != nil {
				return fmt.Errorf("store chunk %s: %w", id, err)
			}
		}
		return nil
	}
	return k.replace(ctx, id, blob)
}

// PutLazy is Put that may leave the new copy not durable until the next
// Sync (chunk.LazyStore; a store without it makes every Put durable). A
// commit stores its chunks this way and syncs them all at once before its
// metadata becomes durable.
func (k *Keeper) PutLazy(ctx context.Context, id chunk.ID, blob []byte) error {
	_, err := k.PutLazyFresh(ctx, id, blob)
	return err
}

// PutLazyFresh is PutLazy that also tells whether this call stored the
// copy: fresh is then the epoch of the store (DropFresh), else 0 (a good
// copy was there already).
func (k *Keeper) PutLazyFresh(ctx context.Context, id chunk.ID, blob []byte) (fresh uint64, err error) {
	return k.putLazyFresh(ctx, id, func() error {
		if ls, ok := k.store.(chunk.LazyStore); ok {
			return ls.PutLazy(ctx, id, blob)
		}
		return k.store.Put(ctx, id, blob)
	})
}

// Room is the free space PutLazyFreshInPlace wants before and after a
// blob (chunk.InPlaceStore); 0, 0 when the store frames nothing in place.
func (k *Keeper) Room() (before, after int) {
	if ip, ok := k.store.(chunk.InPlaceStore); ok {
		return ip.Room()
	}
	return 0, 0
}

// PutLazyFreshInPlace is PutLazyFresh of buf[before:], before being
// Room's, with the after bytes free in cap(buf): the store may frame the
// blob where it lies (seal it in place), so buf's bytes mean nothing
// once it returns.
func (k *Keeper) PutLazyFreshInPlace(ctx context.Context, id chunk.ID, buf []byte) (fresh uint64, err error) {
	ip, ok := k.store.(chunk.InPlaceStore)
	if !ok {
		return k.PutLazyFresh(ctx, id, buf)
	}
	return k.putLazyFresh(ctx, id, func() error { return ip.PutLazyInPlace(ctx, id, buf) })
}

// putLazyFresh is PutLazyFresh with the store's write in put.
func (k *Keeper) putLazyFresh(ctx context.Context, id chunk.ID, put func() error) (fresh uint64, err error) {
	k.mu.Lock()
	k.touchLocked(id)
	k.mu.Unlock()
	if data, err := k.Verify(ctx, id); err != nil {
		return 0, fmt.Errorf("check stored chunk %s: %w", id, err)
	} else if data != nil {
		return 0, nil
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	if err := k.dropCorruptLocked(ctx, id); err != nil {
		return 0, err
	}
	if err := put(); err != nil {
		return 0, fmt.Errorf("store chunk %s: %w", id, err)
	}
	k.touchLocked(id)
	k.markVerified(id)
	return k.epoch, nil
}

// DropFresh deletes a copy that PutLazyFresh stored at epoch fresh for a
// caller who gives it up unused (a file's chunk stored while it was being
// written, abandoned before any commit named it), if nothing else can
// rely on it: since that store nobody pinned, unpinned or stored id (every
// local commit pins its chunks first, every push and repair stores), and
// the only pin left is the caller's, who still holds it. Otherwise the
// copy stays for garbage collection. It reports whether it deleted.
func (k *Keeper) DropFresh(ctx context.Context, id chunk.ID, fresh uint64) (bool, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if fresh == 0 || k.touched[id] != fresh || k.pins[id] != 1 {
		return false, nil
	}
	if _, err := k.deleteLocked(ctx, id); err != nil {
		return false, err
	}
	return true, nil
}

// Sync makes every chunk stored so far durable (chunk.LazyStore).
func (k *Keeper) Sync(ctx context.Context) error {
	if ls, ok := k.store.(chunk.LazyStore); ok {
		return ls.Sync(ctx)
	}
	return nil
}

// Replace puts the good blob of id in place of a corrupt or missing copy
// (Put under another name: a good copy already stored is kept).
func (k *Keeper) Replace(ctx context.Context, id chunk.ID, blob []byte) error {
	return k.Put(ctx, id, blob)
}

// replace deletes a corrupt copy (if one is stored) and puts blob.
func (k *Keeper) replace(ctx context.Context, id chunk.ID, blob []byte) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	if err := k.dropCorruptLocked(ctx, id); err != nil {
		return err
	}
	if err := k.store.Put(ctx, id, blob); err != nil {
		return fmt.Errorf("store chunk %s: %w", id, err)
	}
	k.touchLocked(id)
	k.markVerified(id)
	return nil
}

// DropCorrupt deletes the stored copy of id if, read again now, it does
// not match its id. It reports whether it deleted one.
func (k *Keeper) DropCorrupt(ctx context.Context, id chunk.ID) (bool, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	had, _ := k.store.Has(ctx, id)
	if err := k.dropCorruptLocked(ctx, id); err != nil {
		return false, err
	}
	has, _ := k.store.Has(ctx, id)
	return had && !has, nil
}

func (k *Keeper) dropCorruptLocked(ctx context.Context, id chunk.ID) error {
	switch _, _, err := k.GetDecoded(ctx, id); {
	case err == nil:
		return nil // good after all: never delete good bytes
	case errors.Is(err, chunk.ErrNotFound):
		return nil
	case !errors.Is(err, chunk.ErrCorrupt):
		return fmt.Errorf("read chunk %s: %w", id, err)
	}
	k.unverify(id)
	if err := k.store.Delete(ctx, id); err != nil {
		return fmt.Errorf("remove corrupt chunk %s: %w", id, err)
	}
	k.touchLocked(id)
	k.log.Info("corrupt chunk copy removed", "chunk", id)
	return nil
}

// ---- deletes ----

// CollectResult is what Collect did.
type CollectResult struct {
	Deleted []chunk.ID // gone
	Busy    []chunk.ID // pinned, or pinned/unpinned/stored since the epoch: ask again later
	Bytes   int64      // stored bytes freed (blob sizes)
}

// Collect deletes the ids that are garbage: the caller found them
// unreferenced (and every other condition of docs/reliability.md met) in
// a decision that began at epoch since. An id that is pinned, or was
// pinned, unpinned or stored after since, is kept and returned as Busy.
func (k *Keeper) Collect(ctx context.Context, ids []chunk.ID, since uint64) (CollectResult, error) {
	var res CollectResult
	k.mu.Lock()
	defer k.mu.Unlock()
	for _, id := range ids {
		if err := ctx.Err(); err != nil {
			return res, err
		}
		if k.pins[id] > 0 || k.touched[id] > since {
			res.Busy = append(res.Busy, id)
			continue
		}
		n, err := k.deleteLocked(ctx, id)
		if err != nil {
			return res, err
		}
		res.Deleted = append(res.Deleted, id)
		res.Bytes += n
	}
	return res, nil
}

// Drop deletes copies this node need not keep (other holders confirmed
// them); pinned ids are kept. It returns the ids deleted and their bytes.
func (k *Keeper) Drop(ctx context.Context, ids []chunk.ID) ([]chunk.ID, int64, error) {
	var done []chunk.ID
	var bytes int64
	k.mu.Lock()
	defer k.mu.Unlock()
	for _, id := range ids {
		if k.pins[id] > 0 {
			continue
		}
		n, err := k.deleteLocked(ctx, id)
		if err != nil {
			return done, bytes, err
		}
		done = append(done, id)
		bytes += n
	}
	return done, bytes, nil
}

func (k *Keeper) deleteLocked(ctx context.Context, id chunk.ID) (int64, error) {
	// Every store and delete goes through k.mu, so the usage difference
	// is this delete's (and costs no read of the chunk).
	before, _ := k.store.Usage(ctx)
	if err := k.store.Delete(ctx, id); err != nil {
		return 0, fmt.Errorf("delete chunk %s: %w", id, err)
	}
	after, _ := k.store.Usage(ctx)
	k.unverify(id)
	k.touchLocked(id)
	return max(before.Bytes-after.Bytes, 0), nil
}
