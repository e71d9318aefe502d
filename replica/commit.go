package replica

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"syscall"

	"github.com/clusterf/clusterf/chunk"
	"github.com/clusterf/clusterf/chunk/lifecycle"
	"github.com/clusterf/clusterf/crdt"
)

// A commit turns the staged state of an open file into a new durable
// content version in three steps:
//
//  1. prepare (of.mu held): cut the staged bytes into chunks, store and
//     pin them locally (dedup trusts an existing chunk only after its bytes
//     verify);
//  2. replicate (of.mu released): push the new chunks to their holders,
//     which may take as long as the network needs, while stat, read and
//     write of the file go on;
//  3. record (of.mu held again): one metadata op names the new version;
//     writes made during step 2 stay staged for the next commit.
//
// of.commitMu serializes commits of one file. The chunks stay pinned from
// before step 1 until the metadata op is durable, so no garbage collection
// on any member can take them in between (docs/reliability.md).

// errUnlinked ends a commit of a file that has no name any more.
var errUnlinked = errors.New("file unlinked: nothing to commit")

// staged is what prepare took from the open file.
type staged struct {
	content crdt.Content
	fresh   []chunk.ID // new chunks to replicate
	gen     uint64     // of.gen when prepared
	mtime   int64
	pin     *lifecycle.Pin
}

// flush commits unflushed writes on this node (durable.go): when it
// returns nil they survive kill -9, and their chunks travel to their
// holders in the background. With durable (fsync) it returns only once
// they are durable here and on min(RF, 2) holders, like every earlier
// commit of the file.
func (of *openFile) flush(ctx context.Context, durable bool) error {
	of.commitMu.Lock()
	defer of.commitMu.Unlock()
	f := of.fs
	of.mu.Lock()
	of.waitEarly() // chunks the workers are storing (pipeline.go)
	st, err := of.prepare(ctx)
	if st == nil || err != nil {
		of.mu.Unlock()
		if errors.Is(err, errUnlinked) {
			err = nil
		}
		if err == nil && durable {
			err = f.waitDurable(ctx, of.id)
		}
		return err
	}
	if !durable || f.repl == nil || len(st.fresh) == 0 {
		err = of.record(st)
		of.mu.Unlock()
		f.releaseWhenDurable(st.pin)
		if err != nil {
			return err
		}
		f.replicateLater(of.id, st.fresh)
		if durable {
			return f.waitDurable(ctx, of.id)
		}
		return nil
	}
	// fsync: the chunks reach their holders before the version is
	// recorded, with the file lock released meanwhile.
	of.mu.Unlock()
	if err := f.repl.Replicate(ctx, st.fresh); err != nil {
		st.pin.Release()
		return fmt.Errorf("commit content: %w", err)
	}
	of.mu.Lock()
	err = of.record(st)
	of.mu.Unlock()
	f.releaseWhenDurable(st.pin)
	if err != nil {
		return err
	}
	return f.waitDurable(ctx, of.id)
}

// unlinked reports whether the file has no live name (or no record: it
// was deleted and compacted): POSIX lets a process
// write an open, unlinked file, but those bytes must never bring it back.
func (of *openFile) unlinked() bool {
	gone := false
	_ = of.fs.meta.View(func(v *crdt.View) error {
		ino, err := v.Inode(of.id)
		// No record at all: deleted, and compacted away since.
		gone = errors.Is(err, crdt.ErrNotFound) || (err == nil && ino.Nlink == 0)
		return nil
	})
	return gone
}

// prepare stores the staged chunks; nil when there is nothing to commit.
// Called with of.mu held. It costs O(chunks staged + chunks of the base),
// never O(size): chunks no write touched are the base's or holes.
func (of *openFile) prepare(ctx context.Context) (*staged, error) {
	if !of.changed {
		return nil, nil
	}
	if of.unlinked() {
		return nil, errUnlinked // the staging file keeps the bytes for reads
	}
	f := of.fs
	st := &staged{content: crdt.Content{Size: of.size}, gen: of.gen, mtime: of.mtime, pin: f.chunks.Pin()}
	of.truncSince = math.MaxInt64
	c := &st.content
	if of.size <= int64(f.inlineMax) {
		if of.size > 0 {
			c.Inline = make([]byte, of.size)
			if err := of.read(ctx, c.Inline, 0, chunk.ReadCached); err != nil {
				st.pin.Release()
				return nil, err
			}
		}
		return st, nil
	}
	kept, todo := of.commitPlan()
	stored := make([]crdt.SparseChunk, 0, len(kept)+len(todo))
	cs := of.cs()
	var buf []byte
	for _, idx := range todo {
		start := idx * cs
		end := chunkEnd(start, cs, of.size)
		if cap(buf) < int(end-start) {
			// What the chunk needs, not a whole chunk: a small file's
			// commit must not allocate (and zero) 4 MiB.
			buf = make([]byte, end-start)
		}
		if slot, ok := of.dirty[idx]; ok && slot < 0 && end-start == cs {
			// Stored (and being replicated) already, and pinned by the
			// file until a commit naming it is durable (pipeline.go).
			if id := of.earlyID(slot); !id.IsZero() {
				stored = append(stored, crdt.SparseChunk{Index: uint64(idx), ID: id})
			}
			continue
		}
		data := buf[:end-start]
		if err := of.read(ctx, data, start, chunk.ReadCached); err != nil {
			st.pin.Release()
			return nil, err
		}
		id, err := f.storeChunk(ctx, data, st.pin)
		if err != nil {
			st.pin.Release()
			return nil, err
		}
		if !id.IsZero() {
			stored = append(stored, crdt.SparseChunk{Index: uint64(idx), ID: id})
			st.fresh = append(st.fresh, chunk.ID(id))
		}
	}
	stored = mergeChunks(kept, stored)
	if len(stored) > crdt.MaxChunks {
		st.pin.Release()
		return nil, fmt.Errorf("commit: %d stored chunks, at most %d: %w", len(stored), crdt.MaxChunks, syscall.EFBIG)
	}
	*c = crdt.ChunkedContent(of.size, uint32(cs), stored)
	return st, nil
}

// commitPlan splits the chunks of the new version: kept are the base's
// chunks no write touched (pinned by of.pin), todo the indices to read and
// store (ascending): staged chunks, and chunks of a base that cannot be
// reused as it is (inline, or another chunk size).
func (of *openFile) commitPlan() (kept []crdt.SparseChunk, todo []int64) {
	cs := of.cs()
	limit := min(of.baseValid, of.size) // base bytes still shown
	todo = make([]int64, 0, len(of.dirty))
	for idx := range of.dirty {
		if idx*cs < of.size {
			todo = append(todo, idx)
		}
	}
	b := &of.base
	switch {
	case b.Chunked() && int64(b.ChunkSize) == cs:
		b.EachChunk(0, func(idx int64, id crdt.ChunkID) bool {
			if idx*cs >= limit {
				return false
			}
			if _, staged := of.dirty[idx]; !staged {
				kept = append(kept, crdt.SparseChunk{Index: uint64(idx), ID: id})
			}
			return true
		})
	case b.Chunked(): // another chunk size: re-cut what the base still shows
		bcs := int64(b.ChunkSize)
		seen := map[int64]bool{}
		b.EachChunk(0, func(j int64, _ crdt.ChunkID) bool {
			start := j * bcs
			if start >= limit {
				return false
			}
			for idx := start / cs; idx <= (chunkEnd(start, bcs, limit)-1)/cs; idx++ {
				if _, staged := of.dirty[idx]; !staged && !seen[idx] {
					seen[idx] = true
					todo = append(todo, idx)
				}
			}
			return true
		})
	case len(b.Inline) > 0 && limit > 0:
		if _, staged := of.dirty[0]; !staged {
			todo = append(todo, 0)
		}
	}
	slices.Sort(todo)
	return kept, todo
}

// mergeChunks merges two lists sorted by index with distinct indices.
func mergeChunks(a, b []crdt.SparseChunk) []crdt.SparseChunk {
	if len(a) == 0 {
		return b
	}
	out := make([]crdt.SparseChunk, 0, len(a)+len(b))
	for len(a) > 0 && len(b) > 0 {
		if a[0].Index < b[0].Index {
			out, a = append(out, a[0]), a[1:]
		} else {
			out, b = append(out, b[0]), b[1:]
		}
	}
	return append(append(out, a...), b...)
}

// record commits the metadata op of st and moves the open file onto the
// new version. Called with of.mu held.
func (of *openFile) record(st *staged) error {
	f := of.fs
	var ver crdt.OpID
	ops, err := f.update(func(tx *crdt.Tx) error {
		if ino, err := tx.Inode(of.id); errors.Is(err, crdt.ErrNotFound) || (err == nil && ino.Nlink == 0) {
			return errUnlinked // unlinked while the chunks travelled
		}
		var err error
		ver, err = tx.WriteContent(of.id, of.baseVer, st.content)
		if err != nil {
			return err
		}
		// The content changed at the time of the last write or truncate
		// (mtime), so the ctime is that time too (mtime == ctime, as on
		// ext4), unless a later metadata change set a later ctime. No
		// pending mtime: utimens set the times after the last write.
		if st.mtime == 0 {
			return nil
		}
		op := crdt.AttrOp{Inode: of.id, Set: crdt.AttrMtime | crdt.AttrCtime, Mtime: st.mtime, Ctime: st.mtime}
		if ino, err := tx.Inode(of.id); err == nil && ino.Ctime >= st.mtime {
			op.Set &^= crdt.AttrCtime
		}
		return tx.SetAttr(op)
	})
	if errors.Is(err, errUnlinked) {
		return nil
	}
	if !ver.IsZero() {
		of.earlyNamed() // the version names them: never dropped as unused
	}
	if err != nil {
		if len(ops) > 0 && !ver.IsZero() {
			// A store error (ENOSPC): the version is applied in memory and
			// a later flush writes it. What is staged stays staged, but on
			// top of this version, so that the retry supersedes it instead
			// of becoming a concurrent sibling (a conflict copy).
			of.base, of.baseVer = st.content, ver
			of.repin(chunkIDs(st.content))
			of.baseValid = min(st.content.Size, of.truncSince)
		}
		return fmt.Errorf("commit content: %w", err)
	}
	c := st.content
	of.base, of.baseVer = c, ver
	of.repin(chunkIDs(c))
	if of.gen != st.gen {
		// Written or truncated while the chunks travelled: what is staged
		// stays staged (dirty chunks are whole chunks in the staging file,
		// the others equal the new base up to the lowest truncation).
		of.baseValid = min(c.Size, of.truncSince)
		return nil
	}
	of.baseValid, of.changed, of.mtime = c.Size, false, 0
	if of.staging != nil {
		if err := of.staging.Truncate(0); err != nil {
			// Used slots may hold stale bytes: never hand them out again.
			of.dirty, of.freeSlots = make(map[int64]int64), nil
			return fmt.Errorf("reset staging: %w", err)
		}
		of.resetSlots()
	}
	return nil
}

// storeChunk stores data as a chunk (a hole if all zero), pinned under pin
// before anything trusts it, and returns its id. An existing copy is
// reused only after its bytes verify; a corrupt one is replaced.
func (f *FS) storeChunk(ctx context.Context, data []byte, pin *lifecycle.Pin) (crdt.ChunkID, error) {
	id, _, err := f.storeEncoded(ctx, data, func(id chunk.ID) (uint64, error) {
		return f.chunks.PutLazyFresh(ctx, id, chunk.Encode(data))
	}, pin)
	return id, err
}

// storeChunkIn is storeChunk for data in room[before+1:], before being the
// keeper's Room and room's capacity leaving its after bytes (FS.blobBufs
// are made so): an incompressible chunk is stored from where it lies
// (chunk.EncodeInPlace), and a sealing store seals it there
// (lifecycle.Keeper.PutLazyFreshInPlace); room's bytes mean nothing
// afterwards. fresh is the keeper's epoch of the store if it made the
// copy (lifecycle.Keeper.PutLazyFresh).
func (f *FS) storeChunkIn(ctx context.Context, room []byte, before int, pin *lifecycle.Pin) (id crdt.ChunkID, fresh uint64, err error) {
	buf := room[before:]
	return f.storeEncoded(ctx, buf[1:], func(id chunk.ID) (uint64, error) {
		blob := chunk.EncodeInPlace(buf)
		if &blob[0] == &buf[0] { // raw: stored where it lies
			return f.chunks.PutLazyFreshInPlace(ctx, id, room[:before+len(blob)])
		}
		return f.chunks.PutLazyFresh(ctx, id, blob)
	}, pin)
}

// storeEncoded pins and stores data unless a good copy is there; put
// stores the encoded chunk.
func (f *FS) storeEncoded(ctx context.Context, data []byte, put func(chunk.ID) (uint64, error), pin *lifecycle.Pin) (crdt.ChunkID, uint64, error) {
	if allZero(data) {
		return crdt.ChunkID{}, 0, nil
	}
	id := chunk.Sum(data)
	pin.Add(id)
	good, err := f.chunks.Verify(ctx, id)
	if err != nil {
		return crdt.ChunkID{}, 0, fmt.Errorf("store chunk %s: %w", id, err)
	}
	var fresh uint64
	if good == nil {
		// Durable before the op naming it (the replica's BeforeDurable).
		if fresh, err = put(id); err != nil {
			return crdt.ChunkID{}, 0, fmt.Errorf("store chunk %s: %w", id, err)
		}
	}
	return crdt.ChunkID(id), fresh, nil
}

func allZero(p []byte) bool {
	for _, b := range p {
		if b != 0 {
			return false
		}
	}
	return true
}
