package cluster

import (
	"context"
	"slices"
	"sync"
	"time"

	"github.com/clusterf/clusterf/chunk"
)

// lruTracker remembers when a client last used each cached chunk, so the
// read cache evicts the least recently used first.
type lruTracker struct {
	mu   sync.Mutex
	last map[chunk.ID]time.Time
}

func (l *lruTracker) touch(id chunk.ID) {
	l.mu.Lock()
	if l.last == nil {
		l.last = make(map[chunk.ID]time.Time)
	}
	l.last[id] = time.Now()
	l.mu.Unlock()
}

// evictable picks, among candidates (copies safe to drop), the least
// recently used ones until the cache fits in limit bytes.
func (l *lruTracker) evictable(candidates []chunk.ID, limit int64, store interface {
	Usage(context.Context) (chunk.Usage, error)
}, ctx context.Context) []chunk.ID {
	u, err := store.Usage(ctx)
	if err != nil || u.Bytes <= limit || u.Chunks == 0 {
		return nil
	}
	avg := u.Bytes / u.Chunks
	l.mu.Lock()
	sorted := slices.Clone(candidates)
	slices.SortFunc(sorted, func(a, b chunk.ID) int { return l.last[a].Compare(l.last[b]) })
	l.mu.Unlock()
	over := u.Bytes - limit
	var out []chunk.ID
	for _, id := range sorted {
		if over <= 0 {
			break
		}
		out = append(out, id)
		over -= avg
		l.mu.Lock()
		delete(l.last, id)
		l.mu.Unlock()
	}
	return out
}
