package crdt

import (
	"sync"
	"testing"
	"time"
)

// FakeWall is a settable wall clock for tests (safe for concurrent use).
type FakeWall struct {
	mu sync.Mutex
	t  time.Time
}

// NewFakeWall returns a wall clock stopped at t.
func NewFakeWall(t time.Time) *FakeWall { return &FakeWall{t: t} }

// Now returns the current fake time.
func (w *FakeWall) Now() time.Time {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.t
}

// Advance moves the fake time forward by d.
func (w *FakeWall) Advance(d time.Duration) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.t = w.t.Add(d)
}

// TestReplica opens an in-memory replica for node (no Store) and closes it
// when the test ends.
func TestReplica(tb testing.TB, node NodeID) *Replica {
	tb.Helper()
	r, err := Open(Options{Node: node})
	if err != nil {
		tb.Fatalf("crdt.TestReplica: %v", err)
	}
	tb.Cleanup(func() { r.Close() })
	return r
}
