package seqlog

import (
	"context"
	"sync"
)

// Log keeps the latest size entries of type T, numbered from 1. Safe for
// concurrent use.
type Log[T any] struct {
	size uint64

	mu   sync.Mutex
	ring []T    // entry seq is at ring[(seq-1) % size]; grows up to size
	last uint64 // seq of the newest entry (0: none yet)
	wake chan struct{}
}

// New returns an empty log keeping the latest size entries (size > 0).
func New[T any](size int) *Log[T] {
	if size <= 0 {
		panic("seqlog: size must be positive")
	}
	return &Log[T]{size: uint64(size), wake: make(chan struct{})}
}

// Append numbers entries in order, calls number(&entries[i], seq) for
// each so the entry can carry its number, keeps them and wakes the
// waiters. entries is modified in place.
func (l *Log[T]) Append(number func(e *T, seq uint64), entries ...T) {
	if len(entries) == 0 {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	for i := range entries {
		l.last++
		if number != nil {
			number(&entries[i], l.last)
		}
		if at := int((l.last - 1) % l.size); at == len(l.ring) {
			l.ring = append(l.ring, entries[i])
		} else {
			l.ring[at] = entries[i]
		}
	}
	close(l.wake)
	l.wake = make(chan struct{})
}

// Last returns the number of the newest entry (0: none yet).
func (l *Log[T]) Last() uint64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.last
}

// Since returns up to max entries after number after, oldest first (max
// <= 0: all kept). missed is true when entries after after are gone: the
// reader lagged by more than the log's size, or after is from another
// log (larger than any number here).
func (l *Log[T]) Since(after uint64, max int) (entries []T, missed bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if after > l.last {
		return nil, true
	}
	first := after + 1
	if l.last >= l.size && first <= l.last-l.size {
		first, missed = l.last-l.size+1, true
	}
	n := int(l.last - first + 1)
	if max > 0 && n > max {
		n = max
	}
	entries = make([]T, 0, n)
	for s := first; len(entries) < n; s++ {
		entries = append(entries, l.ring[(s-1)%l.size])
	}
	return entries, missed
}

// Wait blocks until an entry after after exists or ctx ends.
func (l *Log[T]) Wait(ctx context.Context, after uint64) error {
	for {
		l.mu.Lock()
		if l.last > after {
			l.mu.Unlock()
			return nil
		}
		wake := l.wake
		l.mu.Unlock()
		select {
		case <-wake:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}
