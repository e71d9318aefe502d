package crdt

import "sort"

// Chunk lists of content versions (docs/posix.md, "Huge sparse files").
//
// A chunked version is either dense (Content.Chunks: one id per chunk of
// the size, zero = hole) or sparse (Content.Sparse: only the stored chunks
// with their index). Both mean the same bytes; every reader goes through
// the methods below, which cost O(stored chunks) for a sparse version
// whatever its size. ChunkedContent picks the form: dense while it is not
// much larger than the sparse one (so ordinary files encode as before),
// sparse otherwise. Either form holds at most MaxChunks ids, so one op
// stays under the transport's frame (TestLargestOpFitsAFrame).

// NumChunks is the number of chunk slots the size spans (stored or hole).
func (c *Content) NumChunks() int64 {
	if c.ChunkSize == 0 || c.Size <= 0 || len(c.Inline) > 0 {
		return 0
	}
	return (c.Size-1)/int64(c.ChunkSize) + 1
}

// Chunked reports whether c names chunks (it is neither inline nor empty).
func (c *Content) Chunked() bool { return len(c.Chunks) > 0 || len(c.Sparse) > 0 }

// StoredChunks is the number of stored (non-hole) chunks.
func (c *Content) StoredChunks() int {
	if len(c.Sparse) > 0 {
		return len(c.Sparse)
	}
	n := 0
	for _, id := range c.Chunks {
		if !id.IsZero() {
			n++
		}
	}
	return n
}

// ChunkAt returns the id of chunk idx (zero: a hole, or beyond the list).
func (c *Content) ChunkAt(idx int64) ChunkID {
	if idx < 0 {
		return ChunkID{}
	}
	if len(c.Sparse) > 0 {
		i := sort.Search(len(c.Sparse), func(i int) bool { return c.Sparse[i].Index >= uint64(idx) })
		if i < len(c.Sparse) && c.Sparse[i].Index == uint64(idx) {
			return c.Sparse[i].ID
		}
		return ChunkID{}
	}
	if idx < int64(len(c.Chunks)) {
		return c.Chunks[idx]
	}
	return ChunkID{}
}

// EachChunk calls fn for every stored chunk in ascending index order,
// starting at index from, until fn returns false.
func (c *Content) EachChunk(from int64, fn func(idx int64, id ChunkID) bool) {
	from = max(from, 0)
	if len(c.Sparse) > 0 {
		i := sort.Search(len(c.Sparse), func(i int) bool { return c.Sparse[i].Index >= uint64(from) })
		for _, sc := range c.Sparse[i:] {
			if !fn(int64(sc.Index), sc.ID) {
				return
			}
		}
		return
	}
	for i := from; i < int64(len(c.Chunks)); i++ {
		if id := c.Chunks[i]; !id.IsZero() && !fn(i, id) {
			return
		}
	}
}

// ChunkedContent builds a chunked content version of size from its stored
// chunks (ascending, distinct indices below the slot count, no hole ids),
// in the dense form when that is at most about twice the sparse one.
func ChunkedContent(size int64, chunkSize uint32, stored []SparseChunk) Content {
	c := Content{Size: size, ChunkSize: chunkSize}
	if len(stored) == 0 {
		return c
	}
	n := c.NumChunks()
	if n <= MaxChunks && n <= 2*int64(len(stored))+64 {
		c.Chunks = make([]ChunkID, n)
		for _, sc := range stored {
			c.Chunks[sc.Index] = sc.ID
		}
		// A dense list ends with its last stored chunk: trailing holes
		// are implied by the size, as before.
		c.Chunks = c.Chunks[:stored[len(stored)-1].Index+1]
		return c
	}
	c.Sparse = append([]SparseChunk(nil), stored...)
	return c
}
