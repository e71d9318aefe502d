package crdt

import (
	"math"
	"sync"
	"time"
)

// MaxClockSkew is how far ahead of the local wall clock a remote op's
// timestamp may be. Replica.Apply defers an op further ahead (it is not
// applied and its timestamp is not observed; the sync layer offers it again
// and it is applied once the local clock has caught up), so one crafted
// timestamp cannot drag every clock into the far future. It is three times
// the skew discovery tolerates (5 min) and far above the ±2 min offsets the
// fault tests inject; a node whose clock runs further ahead than this has
// its changes held back by its peers until their clocks catch up.
const MaxClockSkew = 15 * time.Minute

// Clock is a hybrid logical clock. It never goes backwards, even across
// restarts (Observe the timestamps of persisted ops on start), and tolerates
// peers whose wall clocks are off by minutes: Observe of a timestamp ahead of
// the local wall clock moves the logical part forward without error.
// At the largest timestamp (Wall MaxInt64, Logical MaxUint32) it saturates
// instead of overflowing. Safe for concurrent use.
type Clock struct {
	node NodeID
	now  func() time.Time

	mu   sync.Mutex
	last Timestamp // highest reading returned or observed (Node ignored)
}

// NewClock returns a clock for node; now is the wall clock (time.Now in
// production, a fake in tests).
func NewClock(node NodeID, now func() time.Time) *Clock {
	if now == nil {
		now = time.Now
	}
	return &Clock{node: node, now: now}
}

// Now returns a timestamp strictly greater than every timestamp this clock
// has returned or observed, except at saturation: once the clock holds the
// largest timestamp it returns that one again (never an overflowed one).
func (c *Clock) Now() Timestamp {
	wall := c.now().UnixNano()
	c.mu.Lock()
	defer c.mu.Unlock()
	switch {
	case wall > c.last.Wall:
		c.last = Timestamp{Wall: wall}
	case c.last.Logical < math.MaxUint32:
		c.last.Logical++
	case c.last.Wall < math.MaxInt64:
		c.last = Timestamp{Wall: c.last.Wall + 1}
	}
	return Timestamp{Wall: c.last.Wall, Logical: c.last.Logical, Node: c.node}
}

// Ahead reports whether ts is more than MaxClockSkew ahead of the local
// wall clock.
func (c *Clock) Ahead(ts Timestamp) bool {
	wall := c.now().UnixNano()
	if wall > math.MaxInt64-int64(MaxClockSkew) {
		return false // nothing is further ahead than the end of time
	}
	return ts.Wall > wall+int64(MaxClockSkew)
}

// Observe merges a remote timestamp into the clock.
func (c *Clock) Observe(ts Timestamp) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if ts.Wall > c.last.Wall || (ts.Wall == c.last.Wall && ts.Logical > c.last.Logical) {
		c.last = Timestamp{Wall: ts.Wall, Logical: ts.Logical}
	}
}

// Last returns the highest timestamp returned or observed so far.
func (c *Clock) Last() Timestamp {
	c.mu.Lock()
	defer c.mu.Unlock()
	return Timestamp{Wall: c.last.Wall, Logical: c.last.Logical, Node: c.node}
}

// Compare orders timestamps by (Wall, Logical, Node): -1, 0 or +1.
func (t Timestamp) Compare(u Timestamp) int {
	switch {
	case t.Wall < u.Wall:
		return -1
	case t.Wall > u.Wall:
		return 1
	case t.Logical < u.Logical:
		return -1
	case t.Logical > u.Logical:
		return 1
	case t.Node < u.Node:
		return -1
	case t.Node > u.Node:
		return 1
	}
	return 0
}

// IsZero reports whether t is the zero timestamp.
func (t Timestamp) IsZero() bool { return t == Timestamp{} }

// Compare orders op ids by (Node, Seq).
func (id OpID) Compare(o OpID) int {
	switch {
	case id.Node < o.Node:
		return -1
	case id.Node > o.Node:
		return 1
	case id.Seq < o.Seq:
		return -1
	case id.Seq > o.Seq:
		return 1
	}
	return 0
}
