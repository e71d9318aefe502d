package replica

import (
	"context"
	"errors"
	"fmt"
	"math"

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

// flush commits unflushed writes: when it returns nil they are durable.
func (of *openFile) flush(ctx context.Context) error {
	of.commitMu.Lock()
	defer of.commitMu.Unlock()
	of.mu.Lock()
	st, err := of.prepare(ctx)
	of.mu.Unlock()
	if st == nil || err != nil {
		if errors.Is(err, errUnlinked) {
			err = nil
		}
		return err
	}
	defer st.pin.Release()
	f := of.fs
	if f.repl != nil && len(st.fresh) > 0 {
		if err := f.repl.Replicate(ctx, st.fresh); err != nil {
			return fmt.Errorf("commit content: %w", err)
		}
	}
	of.mu.Lock()
	defer of.mu.Unlock()
	return of.record(st)
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
// Called with of.mu held.
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
			if err := of.read(ctx, c.Inline, 0); err != nil {
				return nil, err
			}
		}
		return st, nil
	}
	cs := of.cs()
	c.ChunkSize = uint32(cs)
	c.Chunks = make([]crdt.ChunkID, (of.size+cs-1)/cs)
	reuse := len(of.base.Chunks) > 0 && int64(of.base.ChunkSize) == cs
	var buf []byte
	for idx := range c.Chunks {
		i := int64(idx)
		if !of.dirty[i] && reuse && idx < len(of.base.Chunks) && i*cs < of.baseValid { // unchanged base chunk (pinned by of.pin)
			c.Chunks[idx] = of.base.Chunks[idx]
			continue
		}
		start := i * cs
		end := min(start+cs, of.size)
		if cap(buf) < int(end-start) {
			buf = make([]byte, cs)
		}
		data := buf[:end-start]
		if err := of.read(ctx, data, start); err != nil {
			st.pin.Release()
			return nil, err
		}
		id, err := f.storeChunk(ctx, data, st.pin)
		if err != nil {
			st.pin.Release()
			return nil, err
		}
		c.Chunks[idx] = id
		if !id.IsZero() {
			st.fresh = append(st.fresh, chunk.ID(id))
		}
	}
	return st, nil
}

// record commits the metadata op of st and moves the open file onto the
// new version. Called with of.mu held.
func (of *openFile) record(st *staged) error {
	f := of.fs
	now := f.now().UnixNano()
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
		op := crdt.AttrOp{Inode: of.id, Set: crdt.AttrCtime, Ctime: now}
		if st.mtime != 0 {
			op.Set |= crdt.AttrMtime
			op.Mtime = st.mtime
		}
		return tx.SetAttr(op)
	})
	if errors.Is(err, errUnlinked) {
		return nil
	}
	if err != nil {
		if len(ops) > 0 && !ver.IsZero() {
			// A store error (ENOSPC): the version is applied in memory and
			// a later flush writes it. What is staged stays staged, but on
			// top of this version, so that the retry supersedes it instead
			// of becoming a concurrent sibling (a conflict copy).
			of.base, of.baseVer = st.content, ver
			of.pin.Replace(chunkIDs(st.content)...)
			of.baseValid = min(st.content.Size, of.truncSince)
		}
		return fmt.Errorf("commit content: %w", err)
	}
	c := st.content
	of.base, of.baseVer = c, ver
	of.pin.Replace(chunkIDs(c)...)
	if of.gen != st.gen {
		// Written or truncated while the chunks travelled: what is staged
		// stays staged (dirty chunks are whole chunks in the staging file,
		// the others equal the new base up to the lowest truncation).
		of.baseValid = min(c.Size, of.truncSince)
		return nil
	}
	of.baseValid, of.changed, of.mtime = c.Size, false, 0
	if of.staging != nil {
		clear(of.dirty)
		if err := of.staging.Truncate(0); err != nil {
			return fmt.Errorf("reset staging: %w", err)
		}
	}
	return nil
}

// storeChunk stores data as a chunk (a hole if all zero), pinned under pin
// before anything trusts it, and returns its id. An existing copy is
// reused only after its bytes verify; a corrupt one is replaced.
func (f *FS) storeChunk(ctx context.Context, data []byte, pin *lifecycle.Pin) (crdt.ChunkID, error) {
	if allZero(data) {
		return crdt.ChunkID{}, nil
	}
	id := chunk.Sum(data)
	pin.Add(id)
	good, err := f.chunks.Verify(ctx, id)
	if err != nil {
		return crdt.ChunkID{}, fmt.Errorf("store chunk %s: %w", id, err)
	}
	if good == nil {
		if err := f.chunks.Put(ctx, id, chunk.Encode(data)); err != nil {
			return crdt.ChunkID{}, fmt.Errorf("store chunk %s: %w", id, err)
		}
	}
	return crdt.ChunkID(id), nil
}

func allZero(p []byte) bool {
	for _, b := range p {
		if b != 0 {
			return false
		}
	}
	return true
}
