package crdt

import (
	"errors"
	"sync"
)

// Store persists ops and snapshots. Append must be durable on return.
// Implementations: NewMemStore (tests) and OpenBoltStore (meta.db).
type Store interface {
	// Load returns the newest snapshot (nil if none) and every op appended
	// after it, in append order.
	Load() (*Snapshot, []Op, error)
	// Append durably appends ops (one transaction).
	Append(ops []Op) error
	// SaveSnapshot stores s and may drop ops it covers.
	SaveSnapshot(s *Snapshot) error
	Close() error
}

var errStoreClosed = errors.New("crdt: store closed")

// memStore keeps encoded records in memory, so it exercises the codecs.
type memStore struct {
	mu     sync.Mutex
	snap   []byte
	ops    [][]byte
	closed bool
}

// NewMemStore returns an in-memory Store.
func NewMemStore() Store { return &memStore{} }

func (m *memStore) Load() (*Snapshot, []Op, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return nil, nil, errStoreClosed
	}
	var snap *Snapshot
	if m.snap != nil {
		s, err := DecodeSnapshot(m.snap)
		if err != nil {
			return nil, nil, err
		}
		snap = s
	}
	var ops []Op
	for _, b := range m.ops {
		o, err := DecodeOps(b)
		if err != nil {
			return nil, nil, err
		}
		ops = append(ops, o...)
	}
	return snap, ops, nil
}

func (m *memStore) Append(ops []Op) error {
	b := EncodeOps(ops)
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return errStoreClosed
	}
	m.ops = append(m.ops, b)
	return nil
}

func (m *memStore) SaveSnapshot(s *Snapshot) error {
	b := EncodeSnapshot(s)
	vv := s.State.VV
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return errStoreClosed
	}
	m.snap = b
	kept := m.ops[:0]
	for _, ob := range m.ops {
		ops, err := DecodeOps(ob)
		if err != nil {
			return err
		}
		var rest []Op
		for _, op := range ops {
			if !vv.Covers(op.ID) {
				rest = append(rest, op)
			}
		}
		if len(rest) > 0 {
			kept = append(kept, EncodeOps(rest))
		}
	}
	m.ops = kept
	return nil
}

func (m *memStore) Close() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.closed = true
	return nil
}
