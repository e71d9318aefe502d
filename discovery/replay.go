package discovery

import "time"

// maxNodes bounds the node table (node ids are at most 256 bytes, so the
// table stays below ~5 MiB).
const maxNodes = 16384

// nodeTable remembers, per node id, the timestamp of the newest accepted
// announcement. An announcement is accepted only if it is newer, so a
// captured one can never be replayed, from any address, however many
// others arrive in between (a nonce cache of fixed size forgets).
//
// An entry whose timestamp is more than MaxSkew in the past may be
// forgotten: every replay of it is stale and dropped by the skew check.
// When the table is full of entries still inside the window, a new node is
// refused (DroppedFull) rather than an entry forgotten.
type nodeTable struct {
	max  int
	last map[string]int64 // node id -> unix ms of its newest accepted announcement
	// sweepAt: no entry can be forgotten before this time (the oldest
	// entry's timestamp + MaxSkew, as of the last sweep), so a flood of new
	// nodes against a full table does not rescan it for every packet.
	sweepAt time.Time
}

func newNodeTable(max int) *nodeTable {
	return &nodeTable{max: max, last: make(map[string]int64)}
}

// Results of nodeTable.accept.
const (
	fresh  = iota // newer than the last accepted: recorded
	replay        // not newer than the last accepted from that node
	full          // a new node, and the table holds only live entries
)

// accept checks announcement (node, ts) received at now and records it if
// it is fresh.
func (t *nodeTable) accept(node string, ts int64, now time.Time) int {
	if last, ok := t.last[node]; ok {
		if ts <= last {
			return replay
		}
		t.last[node] = ts
		return fresh
	}
	if len(t.last) >= t.max {
		if now.Before(t.sweepAt) {
			return full
		}
		t.sweep(now)
		if len(t.last) >= t.max {
			return full
		}
	}
	t.last[node] = ts
	return fresh
}

// sweep forgets the entries outside the skew window.
func (t *nodeTable) sweep(now time.Time) {
	horizon := now.Add(-MaxSkew).UnixMilli()
	oldest := int64(0)
	for n, ts := range t.last {
		switch {
		case ts < horizon:
			delete(t.last, n)
		case oldest == 0 || ts < oldest:
			oldest = ts
		}
	}
	t.sweepAt = time.UnixMilli(oldest).Add(MaxSkew)
}
