package crdt

import (
	"math"
	"sync"
	"time"
)

// Clock is a hybrid logical clock. It never goes backwards, even across
// restarts (Observe the timestamps of persisted ops on start), and tolerates
// peers whose wall clocks are off by minutes: Observe of a timestamp ahead of
// the local wall clock moves the logical part forward without error.
// Safe for concurrent use.
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
// has returned or observed.
func (c *Clock) Now() Timestamp {
	wall := c.now().UnixNano()
	c.mu.Lock()
	defer c.mu.Unlock()
	switch {
	case wall > c.last.Wall:
		c.last = Timestamp{Wall: wall}
	case c.last.Logical == math.MaxUint32:
		c.last = Timestamp{Wall: c.last.Wall + 1}
	default:
		c.last.Logical++
	}
	return Timestamp{Wall: c.last.Wall, Logical: c.last.Logical, Node: c.node}
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
