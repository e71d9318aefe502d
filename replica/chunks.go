package replica

import (
	"context"
	"errors"
	"fmt"

	"github.com/clusterf/clusterf/chunk"
	"github.com/clusterf/clusterf/crdt"
)

// loadChunk reads one chunk from the store and verifies it: its hash, or
// on an encrypted node the authentication that proves it is the blob
// stored under its id (lifecycle.Keeper.Decode). A mismatch is logged as
// corruption and never returned as data: the chunk is fetched from
// another member instead and the bad local copy replaced (RepairChunk).
// The bytes may alias a pooled buffer (chunkbufs.go), returned with them:
// the caller releases it once it no longer uses the bytes (or drops it).
// hint says whether the reader caches them above (chunk.ReadHint).
func (f *FS) loadChunk(ctx context.Context, id crdt.ChunkID, inode crdt.InodeID, hint chunk.ReadHint) ([]byte, *chunkBuf, error) {
	cid := chunk.ID(id)
	var buf *chunkBuf
	blob, err := f.chunks.GetBuffer(ctx, cid, hint, bufAlloc(&buf))
	if err == nil {
		if u, ok := f.fetcher.(chunkUser); ok {
			u.ChunkUsed(cid)
		}
		data, derr := f.chunks.Decode(cid, blob)
		if derr == nil {
			if !chunk.DecodeAliases(blob) {
				buf.release()
				buf = nil
			}
			return data, buf, nil
		}
		f.log.Error("corrupt chunk: hash mismatch, refusing to return its bytes", "chunk", id, "inode", inode, "err", derr)
		err = derr
	} else if errors.Is(err, chunk.ErrCorrupt) {
		f.log.Error("corrupt chunk file, refusing to return its bytes", "chunk", id, "inode", inode, "err", err)
	}
	buf.release()
	switch {
	case errors.Is(err, chunk.ErrCorrupt): // a decode failure, or a store's own
	case errors.Is(err, chunk.ErrNotFound):
		if f.fetcher == nil {
			f.log.Error("chunk missing", "chunk", id, "inode", inode)
		}
	default:
		return nil, nil, fmt.Errorf("load chunk %s: %w", id, err)
	}
	if f.fetcher == nil {
		return nil, nil, fmt.Errorf("load chunk %s: %w", id, err)
	}
	data, ferr := f.fetchAndKeep(ctx, cid)
	if ferr != nil {
		f.log.Error("no good copy of chunk on any peer", "chunk", id, "inode", inode, "err", ferr)
		return nil, nil, fmt.Errorf("load chunk %s: %w (peers: %v)", id, err, ferr)
	}
	return data, nil, nil
}

// fetchAndKeep fetches a verified copy of id from other members and keeps
// it locally in place of a missing or corrupt one.
func (f *FS) fetchAndKeep(ctx context.Context, id chunk.ID) ([]byte, error) {
	good, err := f.fetcher.FetchChunk(ctx, id)
	if err != nil {
		return nil, err
	}
	data, err := chunk.Decode(id, good)
	if err != nil { // fetchers verify, but never trust
		return nil, err
	}
	if err := f.chunks.Replace(ctx, id, good); err != nil {
		f.log.Warn("cannot keep fetched chunk", "chunk", id, "err", err)
	}
	return data, nil
}

// RepairChunk replaces the local copy of id (corrupt or missing) by a
// verified copy from another member. It is the one place every frontend
// and the integrity check repair a chunk through.
func (f *FS) RepairChunk(ctx context.Context, id chunk.ID) error {
	if f.fetcher == nil {
		return fmt.Errorf("repair chunk %s: no other member to fetch from: %w", id, chunk.ErrNotFound)
	}
	if _, err := f.fetchAndKeep(ctx, id); err != nil {
		return fmt.Errorf("repair chunk %s: %w", id, err)
	}
	f.log.Info("chunk repaired with a verified copy from a peer", "chunk", id)
	return nil
}
