package search

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/clusterf/clusterf/replica"
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

func TestDeferExtraction(t *testing.T) {
	cases := []struct {
		name   string
		busy   bool
		queued int
		waited time.Duration
		want   bool
	}{
		{"quiet", false, 10, 0, false},
		{"busy", true, 10, 0, true},
		{"busy, waited long enough", true, 10, maxDefer, false},
		{"busy, long queue", true, maxDeferredJobs, 0, false},
		{"busy, queue just short", true, maxDeferredJobs - 1, maxDefer - time.Millisecond, true},
	}
	for _, tc := range cases {
		if got := deferExtraction(tc.busy, tc.queued, tc.waited); got != tc.want {
			t.Errorf("%s: deferExtraction(%v, %d, %v) = %v, want %v", tc.name, tc.busy, tc.queued, tc.waited, got, tc.want)
		}
	}
}

// TestExtractionYieldsToWriters: while files keep being written, content
// extraction waits (counted) and names are still indexed; once the
// writes stop, the content of every file is searchable.
func TestExtractionYieldsToWriters(t *testing.T) {
	fs := replica.TestFS(t, 1<<20)
	x := testIndex(t, fs, filepath.Join(t.TempDir(), "search"))
	put(t, fs, "/first.txt", []byte("the zebracontent word"))
	deadline := time.Now().Add(20 * time.Second)
	n := 0
	for x.Stats().Deferrals == 0 {
		if time.Now().After(deadline) {
			t.Fatalf("%d files written, content extraction never waited (stats %+v)", n, x.Stats())
		}
		// Larger than the feed's path extracts itself (extractNowMax).
		body := fmt.Appendf(nil, "busywriter %d ", n)
		body = append(body, bytes.Repeat([]byte("x"), extractNowMax)...)
		put(t, fs, fmt.Sprintf("/w/busy%d.txt", n), body)
		n++
	}
	syncIndex(t, x)
	if got := paths(t, x, "zebracontent"); len(got) != 1 || got[0] != "/first.txt" {
		t.Fatalf("content search after the writes: %v", got)
	}
	if got := paths(t, x, "busywriter"); len(got) != n {
		t.Fatalf("content search found %d of the %d files written meanwhile", len(got), n)
	}
}

// A small file written while the index follows the feed is indexed once,
// with what its content says, not by name and then again by content
// (extractNowMax). Binary content, so that the files are extracted at
// once even if the writes count as a stream (whose text waits).
func TestSmallFilesIndexedOnce(t *testing.T) {
	fs := replica.TestFS(t, 1<<20)
	x := testIndex(t, fs, filepath.Join(t.TempDir(), "search"))
	put(t, fs, "/d/first.txt", []byte("first"))
	syncIndex(t, x)
	updates := func() uint64 {
		stats, _ := x.idx.StatsMap()["index"].(map[string]interface{})
		n, _ := stats["TotUpdates"].(uint64)
		return n
	}
	before, extracted := updates(), x.Stats().ExtractedLocal
	const n = 40
	for i := range n {
		put(t, fs, fmt.Sprintf("/d/small%d.dat", i), []byte{0, 1, 2, 3, byte(i), 0xff, 0xfe})
	}
	syncIndex(t, x)
	// Each file once, and the directory's document at most once per batch.
	if got := updates() - before; got >= n+n/2 {
		t.Errorf("%d document updates for %d new files; want about one each", got, n)
	}
	if got := x.Stats().ExtractedLocal - extracted; got != n {
		t.Errorf("%d extractions for %d files", got, n)
	}
	if got := paths(t, x, "type:application/octet-stream"); len(got) != n {
		t.Errorf("%d of %d files found by their sniffed type", len(got), n)
	}
}
