package search

import (
	"context"
	"time"

	"github.com/clusterf/clusterf/replica"
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
// the namespace takes a stream of changes (a cp -a, an rsync, an
// unpacked archive: streamChanges or more within quietPoll), a batch of
// extractions waits, at most maxDefer, so the copy has the CPU (issue
// 13: a cp -a of Go's src/net into a fresh node took 3.2-4.4 CPU-seconds
// with the index, 0.7 without, most of it bleve analysing and merging
// file text). A few writes are extracted at once, as before. Names are
// searchable as soon as ever; content lags while the stream goes on
// (pending_extractions says how far) and is caught up after. A queue of
// maxDeferredJobs or more is worked on without waiting, as before.
const (
	quietPoll       = 50 * time.Millisecond
	streamChanges   = 16
	maxDefer        = 2 * time.Second
	maxDeferredJobs = 4096
)

// deferExtraction reports whether a batch of extractions waits once more:
// the namespace is taking a stream of changes (busy), fewer than
// maxDeferredJobs wait, and the batch has waited less than maxDefer.
func deferExtraction(busy bool, queued int, waited time.Duration) bool {
	return busy && queued < maxDeferredJobs && waited < maxDefer
}

// streaming reports whether the feed published streamChanges changes
// within the last quietPoll (by the changes' times: a peer's skewed
// clock can only make a batch wait up to maxDefer, or not at all).
func streaming(feed *replica.Feed, now time.Time) bool {
	last := feed.Last()
	if last < streamChanges {
		return false
	}
	cs, _ := feed.Since(last-streamChanges, 1)
	return len(cs) == 1 && now.Sub(cs[0].At) < quietPoll
}

// awaitQuiet blocks until a batch of extractions may run
// (deferExtraction), counting each wait in the stats.
func (x *Index) awaitQuiet(ctx context.Context) error {
	feed := x.fs.Changes()
	start := time.Now()
	for {
		queued, _ := x.queue.sizes()
		if queued == 0 || !deferExtraction(streaming(feed, time.Now()), queued, time.Since(start)) {
			return nil
		}
		x.stats.extractDeferrals.Add(1)
		t := time.NewTimer(quietPoll)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
	}
}
