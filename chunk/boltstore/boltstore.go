package boltstore

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync/atomic"
	"time"

	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"

	"github.com/clusterf/clusterf/chunk"
)

var _ chunk.Store = (*Store)(nil)

// FileName is the bbolt file inside the store directory.
const FileName = "chunks.db"

var (
	chunksBucket = []byte("chunks")
	metaBucket   = []byte("meta")
	usageKey     = []byte("usage")
)

const listPage = 1024

// Store is a chunk.Store backed by one bbolt file.
type Store struct {
	db     *bolt.DB
	closed atomic.Bool
}

// Open opens (creating if needed) the store in dir.
func Open(dir string) (*Store, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("boltstore: open %s: %w", dir, err)
	}
	path := filepath.Join(dir, FileName)
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: time.Second})
	if errors.Is(err, berrors.ErrTimeout) {
		return nil, fmt.Errorf("boltstore: open %s: %w", path, chunk.ErrLocked)
	}
	if err != nil {
		return nil, fmt.Errorf("boltstore: open %s: %w", path, err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		if _, err := tx.CreateBucketIfNotExists(chunksBucket); err != nil {
			return err
		}
		_, err := tx.CreateBucketIfNotExists(metaBucket)
		return err
	})
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("boltstore: open %s: %w", path, err)
	}
	return &Store{db: db}, nil
}

func (s *Store) check(ctx context.Context) error {
	if s.closed.Load() {
		return chunk.ErrClosed
	}
	return ctx.Err()
}

func readUsage(tx *bolt.Tx) chunk.Usage {
	v := tx.Bucket(metaBucket).Get(usageKey)
	if len(v) != 16 {
		return chunk.Usage{}
	}
	return chunk.Usage{
		Chunks: int64(binary.BigEndian.Uint64(v[0:8])),
		Bytes:  int64(binary.BigEndian.Uint64(v[8:16])),
	}
}

func addUsage(tx *bolt.Tx, chunks, n int64) error {
	u := readUsage(tx)
	u.Chunks += chunks
	u.Bytes += n
	var v [16]byte
	binary.BigEndian.PutUint64(v[0:8], uint64(u.Chunks))
	binary.BigEndian.PutUint64(v[8:16], uint64(u.Bytes))
	return tx.Bucket(metaBucket).Put(usageKey, v[:])
}

// Put implements chunk.Store.
func (s *Store) Put(ctx context.Context, id chunk.ID, blob []byte) error {
	if err := s.check(ctx); err != nil {
		return fmt.Errorf("boltstore: put %s: %w", id, err)
	}
	if len(blob) == 0 {
		return fmt.Errorf("boltstore: put %s: empty blob", id)
	}
	// Batch may run fn more than once; it only reads and writes tx.
	err := s.db.Batch(func(tx *bolt.Tx) error {
		b := tx.Bucket(chunksBucket)
		if b.Get(id[:]) != nil {
			return nil
		}
		if err := b.Put(id[:], blob); err != nil {
			return err
		}
		return addUsage(tx, 1, int64(len(blob)))
	})
	if err != nil {
		return fmt.Errorf("boltstore: put %s: %w", id, s.mapErr(err))
	}
	return nil
}

// Get implements chunk.Store.
func (s *Store) Get(ctx context.Context, id chunk.ID) ([]byte, error) {
	if err := s.check(ctx); err != nil {
		return nil, fmt.Errorf("boltstore: get %s: %w", id, err)
	}
	var out []byte
	err := s.db.View(func(tx *bolt.Tx) error {
		v := tx.Bucket(chunksBucket).Get(id[:])
		if v == nil {
			return chunk.ErrNotFound
		}
		out = bytes.Clone(v) // v is only valid inside the transaction
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("boltstore: get %s: %w", id, s.mapErr(err))
	}
	return out, nil
}

// Has implements chunk.Store.
func (s *Store) Has(ctx context.Context, id chunk.ID) (bool, error) {
	if err := s.check(ctx); err != nil {
		return false, fmt.Errorf("boltstore: has %s: %w", id, err)
	}
	var ok bool
	err := s.db.View(func(tx *bolt.Tx) error {
		ok = tx.Bucket(chunksBucket).Get(id[:]) != nil
		return nil
	})
	if err != nil {
		return false, fmt.Errorf("boltstore: has %s: %w", id, s.mapErr(err))
	}
	return ok, nil
}

// Delete implements chunk.Store.
func (s *Store) Delete(ctx context.Context, id chunk.ID) error {
	if err := s.check(ctx); err != nil {
		return fmt.Errorf("boltstore: delete %s: %w", id, err)
	}
	err := s.db.Batch(func(tx *bolt.Tx) error {
		b := tx.Bucket(chunksBucket)
		v := b.Get(id[:])
		if v == nil {
			return nil
		}
		n := int64(len(v))
		if err := b.Delete(id[:]); err != nil {
			return err
		}
		return addUsage(tx, -1, -n)
	})
	if err != nil {
		return fmt.Errorf("boltstore: delete %s: %w", id, s.mapErr(err))
	}
	return nil
}

// List implements chunk.Store.
func (s *Store) List(ctx context.Context, fn func(chunk.ID) error) error {
	var after []byte // last key of the previous page
	for {
		if err := s.check(ctx); err != nil {
			return fmt.Errorf("boltstore: list: %w", err)
		}
		page := make([]chunk.ID, 0, listPage)
		err := s.db.View(func(tx *bolt.Tx) error {
			c := tx.Bucket(chunksBucket).Cursor()
			var k []byte
			if after == nil {
				k, _ = c.First()
			} else {
				k, _ = c.Seek(after)
				if k != nil && bytes.Equal(k, after) {
					k, _ = c.Next()
				}
			}
			for ; k != nil && len(page) < listPage; k, _ = c.Next() {
				if len(k) != len(chunk.ID{}) {
					continue
				}
				page = append(page, chunk.ID(k))
			}
			return nil
		})
		if err != nil {
			return fmt.Errorf("boltstore: list: %w", s.mapErr(err))
		}
		for _, id := range page {
			if err := fn(id); err != nil {
				return err
			}
		}
		if len(page) < listPage {
			return nil
		}
		last := page[len(page)-1]
		after = last[:]
	}
}

// Usage implements chunk.Store.
func (s *Store) Usage(ctx context.Context) (chunk.Usage, error) {
	if err := s.check(ctx); err != nil {
		return chunk.Usage{}, fmt.Errorf("boltstore: usage: %w", err)
	}
	var u chunk.Usage
	err := s.db.View(func(tx *bolt.Tx) error {
		u = readUsage(tx)
		return nil
	})
	if err != nil {
		return chunk.Usage{}, fmt.Errorf("boltstore: usage: %w", s.mapErr(err))
	}
	return u, nil
}

// Close implements chunk.Store.
func (s *Store) Close() error {
	if s.closed.Swap(true) {
		return nil
	}
	if err := s.db.Close(); err != nil {
		return fmt.Errorf("boltstore: close: %w", err)
	}
	return nil
}

// mapErr turns bbolt's closed-database error into chunk.ErrClosed.
func (s *Store) mapErr(err error) error {
	if errors.Is(err, berrors.ErrDatabaseNotOpen) {
		return errors.Join(chunk.ErrClosed, err)
	}
	return err
}
