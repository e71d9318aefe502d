package replica

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/clusterf/clusterf/chunk"
	"github.com/clusterf/clusterf/crdt"
)

// IntegrityReport is the result of CheckIntegrity.
type IntegrityReport struct {
	Checked      int           // chunks read and re-hashed
	Bytes        int64         // stored bytes read
	Corrupt      []chunk.ID    // stored chunks whose bytes do not match their id
	Missing      []chunk.ID    // chunks referenced by metadata but not stored here
	Duration     time.Duration // how long the scan took
	Unreferenced int           // stored chunks no content version refers to (collected by GC later)
}

// CheckIntegrity re-hashes every locally stored chunk and lists the corrupt
// ones and the referenced chunks that are missing. It changes nothing:
// repair (fetching good copies from other holders) is the cluster layer's.
func (f *FS) CheckIntegrity(ctx context.Context) (IntegrityReport, error) {
	start := time.Now()
	var rep IntegrityReport
	refs := make(map[chunk.ID]bool)
	_ = f.meta.View(func(v *crdt.View) error {
		v.ChunkRefs(func(id crdt.ChunkID) { refs[chunk.ID(id)] = true })
		return nil
	})
	stored := make(map[chunk.ID]bool)
	err := f.chunks.List(ctx, func(id chunk.ID) error {
		stored[id] = true
		return nil
	})
	if err != nil {
		return rep, fmt.Errorf("integrity check: list chunks: %w", err)
	}
	for id := range stored {
		if err := ctx.Err(); err != nil {
			return rep, err
		}
		blob, _, err := f.chunks.GetDecoded(ctx, id)
		if errors.Is(err, chunk.ErrNotFound) {
			continue // deleted meanwhile
		}
		if err != nil && !errors.Is(err, chunk.ErrCorrupt) {
			return rep, fmt.Errorf("integrity check: read %s: %w", id, err)
		}
		rep.Checked++
		rep.Bytes += int64(len(blob))
		if err != nil {
			f.log.Error("corrupt chunk found by integrity check", "chunk", id, "err", err)
			rep.Corrupt = append(rep.Corrupt, id)
		}
		if !refs[id] {
			rep.Unreferenced++
		}
	}
	for id := range refs {
		if !stored[id] {
			rep.Missing = append(rep.Missing, id)
		}
	}
	rep.Duration = time.Since(start)
	return rep, nil
}
