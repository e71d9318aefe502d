package search

import (
	"context"
	"errors"
	"testing"
	"time"
)

// TestPacer: the first batch and a batch after a quiet spell start at
// once; one right after another waits (so changes gather); a cancelled
// context ends the wait.
func TestPacer(t *testing.T) {
	var p pacer
	if err := p.wait(context.Background()); err != nil || p.waits != 0 {
		t.Fatalf("first batch: err %v, %d waits", err, p.waits)
	}
	p.began()
	p.ended()
	before := time.Now()
	if err := p.wait(context.Background()); err != nil || p.waits != 1 {
		t.Fatalf("batch right after another: err %v, %d waits", err, p.waits)
	}
	if time.Since(before) <= 0 || time.Now().Before(p.start.Add(minBatchGap)) {
		t.Fatal("the next batch started before the gap")
	}
	p.start, p.end = time.Now().Add(-time.Hour), time.Now().Add(-time.Hour)
	if err := p.wait(context.Background()); err != nil || p.waits != 1 {
		t.Fatalf("after a quiet spell: err %v, %d waits", err, p.waits)
	}
	p.began()
	p.ended()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := p.wait(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled wait: %v", err)
	}
}
