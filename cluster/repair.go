package cluster

import (
	"bytes"
	"context"
	"errors"
	"slices"
	"time"

	"github.com/clusterf/clusterf/chunk"
	"github.com/clusterf/clusterf/crdt"
	"github.com/clusterf/clusterf/placement"
)

var (
	errForgetSelf = errors.New("a node cannot forget itself")
	errForgetUp   = errors.New("the member is up: stop it first")
)

// ErrForgetUp is returned (wrapped) by Forget for a member that is up.
var ErrForgetUp = errForgetUp

// RepairStats describe one repair round.
type RepairStats struct {
	Fetched, Dropped, Collected int
	CollectedBytes              int64 // stored bytes freed by garbage collection
	DroppedBytes                int64 // stored bytes freed by dropping extra copies
	Errors                      int
	Corrupt                     int // stored copies the scrub found corrupt (dropped, refetched when held here)
	// WaitingFor names a member that holds back garbage collection or
	// compaction (no fresh complete report from it), if any.
	WaitingFor crdt.NodeID
	Compacted  crdt.CompactStats
	Duration   time.Duration
}

// repairLoop runs RepairOnce every partition sync interval (re-read each
// round, so a change applies at once) and when kicked.
func (c *Cluster) repairLoop(ctx context.Context) {
	for {
		wait := c.SyncInterval()
		if c.cfg.RepairInterval > 0 {
			wait = c.cfg.RepairInterval
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		case <-c.repairKick:
		}
		st := c.RepairOnce(ctx)
		if st.Fetched+st.Dropped+st.Collected+st.Errors > 0 {
			c.log.Info("repair round", "fetched", st.Fetched, "dropped", st.Dropped,
				"collected", st.Collected, "collected_bytes", st.CollectedBytes, "errors", st.Errors, "took", st.Duration)
		}
	}
}

// KickRepair asks for a repair round soon (after membership or RF changes).
func (c *Cluster) KickRepair() {
	select {
	case c.repairKick <- struct{}{}:
	default:
	}
}

// LastRepair returns the stats of the latest repair round.
func (c *Cluster) LastRepair() RepairStats {
	c.lastMu.Lock()
	defer c.lastMu.Unlock()
	return c.last
}

// RepairTotals are the repair loop's counters since start.
type RepairTotals struct {
	Rounds                      int64
	Fetched                     int64
	Collected, CollectedBytes   int64 // garbage collection
	Dropped, DroppedBytes       int64 // extra copies
	CompactedOps, CompactedDead int64 // compaction: log ops, tombstones
}

// Totals returns the repair loop's counters since start.
func (c *Cluster) Totals() RepairTotals {
	c.lastMu.Lock()
	defer c.lastMu.Unlock()
	return c.totals
}

func (c *Cluster) recordRound(st RepairStats) {
	c.lastMu.Lock()
	defer c.lastMu.Unlock()
	c.last = st
	t := &c.totals
	t.Rounds++
	t.Fetched += int64(st.Fetched)
	t.Collected += int64(st.Collected)
	t.CollectedBytes += st.CollectedBytes
	t.Dropped += int64(st.Dropped)
	t.DroppedBytes += st.DroppedBytes
	t.CompactedOps += int64(st.Compacted.Ops)
	t.CompactedDead += int64(st.Compacted.Tombstones)
}

// RepairOnce brings this node's partitions to what placement says: pull
// referenced chunks it should hold but lacks (or holds corrupt); drop
// copies of partitions it does not hold once all current holders confirm
// them; collect garbage under the rule of gc.go; compact metadata.
func (c *Cluster) RepairOnce(ctx context.Context) RepairStats {
	c.repairMu.Lock()
	defer c.repairMu.Unlock()
	start := time.Now()
	var st RepairStats
	c.forgetStale(start)
	round := c.beginGCRound() // before the metadata is read
	pl := c.Placement()
	refs := c.referenced(pl.Partitions)
	self := string(c.cfg.Self)
	referenced := map[chunk.ID]bool{}
	for _, ids := range refs {
		for _, id := range ids {
			referenced[id] = true
		}
	}
	if c.testAfterReferenced != nil {
		c.testAfterReferenced()
	}
	var excess, garbage, stored []chunk.ID
	err := c.cfg.Chunks.List(ctx, func(id chunk.ID) error {
		stored = append(stored, id)
		switch {
		case !referenced[id]:
			garbage = append(garbage, id)
		case c.cfg.NoStore || !slices.Contains(pl.Holders(id), self):
			excess = append(excess, id)
		}
		return nil
	})
	if err != nil {
		st.Errors++
	}
	c.scrub(ctx, stored, referenced, &st)
	c.forgetReferenced(garbage)
	c.collectGarbage(ctx, round, garbage, &st)
	if len(excess) > 0 && len(pl.Members) > 0 {
		n, bytes := c.dropConfirmed(ctx, pl, excess)
		st.Dropped += n
		st.DroppedBytes += bytes
	}
	c.compact(&st)
	// Fetching what our partitions lack comes last and has a time budget,
	// so slow or dying holders never hold back collection and compaction.
	if !c.cfg.NoStore && ctx.Err() == nil {
		pctx, cancel := context.WithTimeout(ctx, repairPullBudget)
		c.pullMissing(pctx, pl, refs, &st)
		cancel()
	}
	st.Duration = time.Since(start)
	prev := c.LastRepair()
	c.recordRound(st)
	c.roundEvents(prev, st)
	return st
}

// Repair fetches: each chunk fetch gives up after repairFetchTimeout (a
// holder that died but is not marked down yet), and one round fetches for
// at most repairPullBudget; the next round goes on.
const (
	repairFetchTimeout = 15 * time.Second
	repairPullBudget   = 60 * time.Second
)

// pullVerifyBytes bounds what one repair round reads to verify copies of
// its partitions' chunks that were not verified since start.
const pullVerifyBytes = 256 << 20

// scrubBytes is how many stored bytes each repair round reads back and
// checks, round-robin over the store (about 2 MB/s at the default 30 s
// round): rot in a copy nobody reads is found, the copy dropped and, if
// this node holds the chunk, fetched again from another holder at once.
const scrubBytes = 64 << 20

// scrub verifies the next stored chunks after the cursor, within
// scrubBytes.
func (c *Cluster) scrub(ctx context.Context, stored []chunk.ID, referenced map[chunk.ID]bool, st *RepairStats) {
	if len(stored) == 0 {
		return
	}
	slices.SortFunc(stored, func(a, b chunk.ID) int { return bytes.Compare(a[:], b[:]) })
	i, _ := slices.BinarySearchFunc(stored, c.gc.scrubAt, func(a, b chunk.ID) int { return bytes.Compare(a[:], b[:]) })
	budget := int64(scrubBytes)
	for n := 0; n < len(stored) && budget > 0 && ctx.Err() == nil; n++ {
		id := stored[(i+n)%len(stored)]
		c.gc.scrubAt = id
		data, err := c.cfg.Chunks.Verify(ctx, id)
		budget -= int64(len(data)) + 1
		if err != nil || data != nil {
			continue
		}
		gone, _ := c.cfg.Chunks.DropCorrupt(ctx, id) // false: deleted meanwhile
		if !gone {
			continue
		}
		st.Corrupt++
		c.log.Error("scrub: stored chunk did not match its id; dropped", "chunk", id)
		ev := Event{Kind: EventCorrupt, Chunk: id}
		if referenced[id] && !c.cfg.NoStore {
			holders := c.Placement().Holders(id)
			if blob, err := c.fetchFrom(ctx, holders, id); err == nil && c.cfg.Chunks.Put(ctx, id, blob) == nil {
				st.Fetched++
				ev.Repaired = true
			}
		}
		c.emit(ev)
	}
	c.gc.scrubAt = nextID(c.gc.scrubAt)
}

// nextID is the id right after id (wrapping), the scrub's next start.
func nextID(id chunk.ID) chunk.ID {
	for i := len(id) - 1; i >= 0; i-- {
		id[i]++
		if id[i] != 0 {
			break
		}
	}
	return id
}

// forgetReferenced drops from the unreferenced table every chunk that is
// not garbage this round (referenced again, or no longer stored).
func (c *Cluster) forgetReferenced(garbage []chunk.ID) {
	now := make(map[chunk.ID]bool, len(garbage))
	for _, id := range garbage {
		now[id] = true
	}
	for id := range c.gc.unref {
		if !now[id] {
			delete(c.gc.unref, id)
		}
	}
}

// pullMissing fetches the referenced chunks of our partitions that we lack
// or hold corrupt.
func (c *Cluster) pullMissing(ctx context.Context, pl Placement, refs map[int][]chunk.ID, st *RepairStats) {
	self := string(c.cfg.Self)
	// Copies not verified since start are read and checked within a
	// budget per round; beyond it a stored copy is left to the scrub
	// rather than fetched again (after a restart that would refetch all).
	budget := int64(pullVerifyBytes)
	for p, ids := range refs {
		if ctx.Err() != nil {
			return
		}
		holders := placement.Holders(p, pl.Members, pl.RF)
		if !slices.Contains(holders, self) {
			continue
		}
		for _, id := range ids {
			var ok bool
			var err error
			if budget > 0 {
				ok, err = c.cfg.Chunks.Present(ctx, id, &budget)
			} else if ok, err = c.cfg.Chunks.Present(ctx, id, &budget); err == nil && !ok {
				ok, err = c.cfg.Chunks.StoredUnverified(ctx, id) // verified copies pass above
			}
			if err != nil || ok {
				continue
			}
			fctx, cancel := context.WithTimeout(ctx, repairFetchTimeout)
			blob, err := c.fetchFrom(fctx, holders, id)
			cancel()
			if err == nil {
				err = c.cfg.Chunks.Put(ctx, id, blob)
			}
			if err != nil {
				st.Errors++
				c.log.Debug("repair fetch failed", "chunk", id, "err", err)
				continue
			}
			st.Fetched++
		}
	}
}

// dropConfirmed deletes local copies that every current holder confirmed
// (and, with fewer storage members than RF, every member). A client keeps
// its copies as a read cache within its cache size. Pinned copies stay.
func (c *Cluster) dropConfirmed(ctx context.Context, pl Placement, ids []chunk.ID) (int, int64) {
	byHolder := map[string][]chunk.ID{}
	for _, id := range ids {
		for _, h := range pl.Holders(id) {
			byHolder[h] = append(byHolder[h], id)
		}
	}
	confirmed := map[chunk.ID]int{}
	for h, hids := range byHolder {
		if h == string(c.cfg.Self) {
			continue
		}
		have, err := c.peerHas(ctx, h, hids)
		if err != nil {
			continue
		}
		for i, ok := range have {
			if ok {
				confirmed[hids[i]]++
			}
		}
	}
	var drop []chunk.ID
	for _, id := range ids {
		if confirmed[id] >= len(pl.Holders(id)) && len(pl.Holders(id)) > 0 {
			drop = append(drop, id)
		}
	}
	if c.cfg.NoStore {
		drop = c.cache.evictable(drop, c.cfg.CacheSize, c.cfg.Chunks, ctx)
	}
	done, bytes, err := c.cfg.Chunks.Drop(ctx, drop)
	if err != nil {
		c.log.Warn("dropping extra copies failed", "err", err)
	}
	return len(done), bytes
}
