package search

import (
	"context"
	"time"
)

// The index must not starve the mount (issue 13's profile of `cp -a` of
// Go's source tree: with one bleve batch per change-feed delivery, bleve's
// segment merges and batches took ~85% of the node's CPU and the copy ran
// 4.5x slower than without the index). A pacer spaces the batches: the
// next one starts no sooner than minBatchGap after the last one started,
// nor before the index has been idle for as long as the last one took,
// so under a stream of writes the changes gather into fewer, larger
// batches (fewer segments to merge) and indexing takes at most about half
// of a core's time while its batches are short; a write after a quiet
// spell is applied at once. No wait is longer than maxBatchGap, so a
// write is searchable within that plus two batches even when batches are
// slow (issue 15's goal is 1 s).
const (
	minBatchGap = 100 * time.Millisecond
	maxBatchGap = 300 * time.Millisecond
)

// pacer spaces the index's batches (used by Run's goroutine only).
type pacer struct {
	start, end time.Time
	waits      int // times a batch waited (for tests)
}

// wait blocks until the next batch may start.
func (p *pacer) wait(ctx context.Context) error {
	if p.start.IsZero() {
		return nil
	}
	gap := max(minBatchGap, p.end.Sub(p.start))
	gap = min(gap, maxBatchGap)
	d := time.Until(p.start.Add(gap))
	if idle := time.Until(p.end.Add(p.end.Sub(p.start))); idle > d {
		d = min(idle, maxBatchGap)
	}
	if d <= 0 {
		return nil
	}
	p.waits++
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// began and ended bracket a batch.
func (p *pacer) began() { p.start = time.Now() }
func (p *pacer) ended() { p.end = time.Now() }

// Content extraction also yields to writers, which names do not: while
// the namespace keeps changing (a cp -a, an rsync, an unpacked archive),
// a batch of extractions waits for a quietPoll without changes, at most
// maxDefer, so the copy has the CPU (issue 13: a cp -a of Go's src/net
// into a fresh node took 3.2-4.4 CPU-seconds with the index, 0.7
// without, most of it bleve analysing and merging file text). Names are
// searchable as soon as ever; content lags while the writes go on
// (pending_extractions says how far) and is caught up after. A queue of
// maxDeferredJobs or more is worked on without waiting, as before.
const (
	quietPoll       = 50 * time.Millisecond
	maxDefer        = 2 * time.Second
	maxDeferredJobs = 4096
)

// deferExtraction reports whether a batch of extractions waits once more:
// the namespace changed during the last quietPoll (busy), fewer than
// maxDeferredJobs wait, and the batch has waited less than maxDefer.
func deferExtraction(busy bool, queued int, waited time.Duration) bool {
	return busy && queued < maxDeferredJobs && waited < maxDefer
}

// awaitQuiet blocks until a batch of extractions may run
// (deferExtraction), counting each extra wait in the stats.
func (x *Index) awaitQuiet(ctx context.Context) error {
	feed := x.fs.Changes()
	start := time.Now()
	for {
		if queued, _ := x.queue.sizes(); queued == 0 {
			return nil // nothing to extract: nothing to wait for
		}
		last := feed.Last()
		t := time.NewTimer(quietPoll)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
		queued, _ := x.queue.sizes()
		if !deferExtraction(feed.Last() != last, queued, time.Since(start)) {
			return nil
		}
		x.stats.extractDeferrals.Add(1)
	}
}
