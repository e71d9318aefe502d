package seqlog

import (
	"context"
	"errors"
	"testing"
	"time"

	"pgregory.net/rapid"
)

type entry struct {
	seq uint64
	v   int
}

func number(e *entry, seq uint64) { e.seq = seq }

func TestSince(t *testing.T) {
	l := New[entry](4)
	for v := 1; v <= 6; v++ {
		l.Append(number, entry{v: v})
	}
	cases := []struct {
		name       string
		after      uint64
		max        int
		wantFirst  uint64
		wantN      int
		wantMissed bool
	}{
		{"all kept", 2, 0, 3, 4, false},
		{"lagged", 0, 0, 3, 4, true},
		{"max", 2, 2, 3, 2, false},
		{"up to date", 6, 0, 0, 0, false},
		{"another log", 9, 0, 0, 0, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, missed := l.Since(tc.after, tc.max)
			if missed != tc.wantMissed || len(got) != tc.wantN {
				t.Fatalf("got %d entries, missed %v; want %d, %v", len(got), missed, tc.wantN, tc.wantMissed)
			}
			for i, e := range got {
				if e.seq != tc.wantFirst+uint64(i) || e.v != int(e.seq) {
					t.Fatalf("entry %d: %+v", i, e)
				}
			}
		})
	}
}

// TestProperty checks, for any sequence of appends and reads, that a
// reader following the log sees every entry exactly once and in order
// unless told it missed some, and that what it is given after a miss is
// the newest size entries.
func TestProperty(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		size := rapid.IntRange(1, 8).Draw(t, "size")
		l := New[entry](size)
		var next int    // value of the next entry appended
		var seen uint64 // reader's position
		for range rapid.IntRange(0, 50).Draw(t, "steps") {
			if rapid.Bool().Draw(t, "append") {
				batch := make([]entry, rapid.IntRange(0, 5).Draw(t, "batch"))
				for i := range batch {
					next++
					batch[i].v = next
				}
				l.Append(number, batch...)
				continue
			}
			got, missed := l.Since(seen, rapid.IntRange(0, 4).Draw(t, "max"))
			if missed {
				if len(got) == 0 || got[0].seq != l.Last()-uint64(size)+1 {
					t.Fatalf("after a miss the log gave %v (last %d, size %d)", got, l.Last(), size)
				}
			} else if len(got) > 0 && got[0].seq != seen+1 {
				t.Fatalf("gap: at %d, got %d", seen, got[0].seq)
			}
			for i, e := range got {
				if e.v != int(e.seq) || (i > 0 && e.seq != got[i-1].seq+1) {
					t.Fatalf("entries out of order or renumbered: %v", got)
				}
			}
			if len(got) > 0 {
				seen = got[len(got)-1].seq
			}
		}
	})
}

func TestWait(t *testing.T) {
	l := New[entry](2)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if err := l.Wait(ctx, 0); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Wait on an empty log: %v", err)
	}
	done := make(chan error, 1)
	go func() { done <- l.Wait(context.Background(), 0) }()
	l.Append(number, entry{v: 1})
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if err := l.Wait(context.Background(), 0); err != nil {
		t.Fatalf("Wait for an entry already there: %v", err)
	}
}
