package crdt

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	bolt "go.etcd.io/bbolt"

	"github.com/clusterf/clusterf/dirsync"
)

var (
	bucketOps  = []byte("crdt.ops")      // big-endian append counter -> EncodeOps(ops of one append)
	bucketSnap = []byte("crdt.snapshot") // "latest" -> EncodeSnapshot
	keyLatest  = []byte("latest")
)

type boltStore struct {
	db   *bolt.DB
	path string
	seal Sealer // nil: values are stored plain
}

// Sealer seals meta.db record values at rest (package atrest's Sealer is
// one). The associated data names the record (bucket and key), so a value
// moved to another record fails to open; Open must fail on any change.
type Sealer interface {
	Seal(dst, plain, ad []byte) []byte
	Open(dst, sealed, ad []byte) ([]byte, error)
}

// BoltOption configures OpenBoltStore.
type BoltOption func(*boltStore)

// WithSealer seals every record value (ops and snapshots) with s. A store
// must always be opened with the same sealer (the data dir's encryption
// header decides); a value that fails to open is an error, never data.
func WithSealer(s Sealer) BoltOption { return func(b *boltStore) { b.seal = s } }

// recordAD is the associated data of the record at bucket/key.
func recordAD(bucket, key []byte) []byte {
	ad := make([]byte, 0, len(bucket)+1+len(key))
	ad = append(append(append(ad, bucket...), 0), key...)
	return ad
}

// sealed returns the stored form of the value v of bucket/key.
func (b *boltStore) sealed(bucket, key, v []byte) []byte {
	if b.seal == nil {
		return v
	}
	return b.seal.Seal(nil, v, recordAD(bucket, key))
}

// opened returns the plain value of the stored record bucket/key.
func (b *boltStore) opened(bucket, key, v []byte) ([]byte, error) {
	if b.seal == nil {
		return v, nil
	}
	p, err := b.seal.Open(nil, v, recordAD(bucket, key))
	if err != nil {
		return nil, fmt.Errorf("record %s/%x: %w", bucket, key, err)
	}
	return p, nil
}

// A meta.db whose free pages take more than half of a file of at least
// shrinkMinBytes is rewritten compactly after a snapshot: bbolt reuses
// freed pages but never gives them back to the file system, so after a
// compaction removed most of the history the file would stay at its peak.
const shrinkMinBytes = 256 << 10

// OpenBoltStore opens (creating if needed) a bbolt file at path.
func OpenBoltStore(path string, opts ...BoltOption) (Store, error) {
	db, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		return nil, fmt.Errorf("crdt: open %s: %w", path, err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		if _, err := tx.CreateBucketIfNotExists(bucketOps); err != nil {
			return err
		}
		_, err := tx.CreateBucketIfNotExists(bucketSnap)
		return err
	})
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("crdt: init %s: %w", path, err)
	}
	b := &boltStore{db: db, path: path}
	for _, o := range opts {
		o(b)
	}
	return b, nil
}

func (b *boltStore) Load() (*Snapshot, []Op, error) {
	var snap *Snapshot
	var ops []Op
	err := b.db.View(func(tx *bolt.Tx) error {
		if v := tx.Bucket(bucketSnap).Get(keyLatest); v != nil {
			v, err := b.opened(bucketSnap, keyLatest, v)
			if err != nil {
				return err
			}
			s, err := DecodeSnapshot(v)
			if err != nil {
				return err
			}
			snap = s
		}
		return tx.Bucket(bucketOps).ForEach(func(k, v []byte) error {
			v, err := b.opened(bucketOps, k, v)
			if err != nil {
				return err
			}
			o, err := DecodeOps(v)
			if err != nil {
				return fmt.Errorf("op record %x: %w", k, err)
			}
			ops = append(ops, o...)
			return nil
		})
	})
	if err != nil {
		return nil, nil, err
	}
	return snap, ops, nil
}

// Append writes ops in one transaction (bbolt fsyncs on commit).
func (b *boltStore) Append(ops []Op) error {
	return b.db.Update(func(tx *bolt.Tx) error {
		bk := tx.Bucket(bucketOps)
		for i := range ops {
			n, err := bk.NextSequence()
			if err != nil {
				return err
			}
			var k [8]byte
			binary.BigEndian.PutUint64(k[:], n)
			if err := bk.Put(k[:], b.sealed(bucketOps, k[:], EncodeOps(ops[i:i+1]))); err != nil {
				return err
			}
		}
		return nil
	})
}

// recordAppender is a Store that takes ops already encoded (EncodeOps
// payloads, in order), as the checkpoint of the journal has them.
type recordAppender interface {
	appendRecords(recs [][]byte) error
}

// appendRecords writes one key per payload, in one transaction (Load and
// SaveSnapshot take records of several ops).
func (b *boltStore) appendRecords(recs [][]byte) error {
	return b.db.Update(func(tx *bolt.Tx) error {
		bk := tx.Bucket(bucketOps)
		for _, rec := range recs {
			n, err := bk.NextSequence()
			if err != nil {
				return err
			}
			var k [8]byte
			binary.BigEndian.PutUint64(k[:], n)
			if err := bk.Put(k[:], b.sealed(bucketOps, k[:], rec)); err != nil {
				return err
			}
		}
		return nil
	})
}

// SaveSnapshot stores s and drops the ops it covers, in one transaction.
func (b *boltStore) SaveSnapshot(s *Snapshot) error {
	enc := b.sealed(bucketSnap, keyLatest, EncodeSnapshot(s))
	vv := s.State.VV
	err := b.db.Update(func(tx *bolt.Tx) error {
		if err := tx.Bucket(bucketSnap).Put(keyLatest, enc); err != nil {
			return err
		}
		bk := tx.Bucket(bucketOps)
		var drop [][]byte
		err := bk.ForEach(func(k, v []byte) error {
			v, err := b.opened(bucketOps, k, v)
			if err != nil {
				return err
			}
			ops, err := DecodeOps(v)
			if err != nil {
				return err
			}
			covered := true
			for _, op := range ops {
				covered = covered && vv.Covers(op.ID)
			}
			if covered {
				drop = append(drop, append([]byte(nil), k...))
			}
			return nil
		})
		if err != nil {
			return err
		}
		for _, k := range drop {
			if err := bk.Delete(k); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	if err := b.shrinkIfSparse(); err != nil {
		return fmt.Errorf("crdt: shrink %s: %w", b.path, err)
	}
	return nil
}

// shrinkIfSparse rewrites the file compactly when most of it is free
// pages. Crash-safe: the copy is written and synced under a temporary
// name and renamed over the original; a crash leaves one or the other.
// The Store is used by one flusher at a time, so swapping db is safe here.
func (b *boltStore) shrinkIfSparse() error {
	fi, err := os.Stat(b.path)
	if err != nil {
		return err
	}
	st := b.db.Stats()
	free := int64(st.FreePageN+st.PendingPageN) * int64(b.db.Info().PageSize)
	if fi.Size() < shrinkMinBytes || free*2 < fi.Size() {
		return nil
	}
	tmp := b.path + ".shrink"
	os.Remove(tmp)
	dst, err := bolt.Open(tmp, 0o600, nil)
	if err != nil {
		return err
	}
	if err := bolt.Compact(dst, b.db, 64<<20); err != nil {
		dst.Close()
		os.Remove(tmp)
		return err
	}
	if err := dst.Sync(); err != nil {
		dst.Close()
		os.Remove(tmp)
		return err
	}
	if err := dst.Close(); err != nil {
		os.Remove(tmp)
		return err
	}
	if err := b.db.Close(); err != nil {
		return err
	}
	renameErr := os.Rename(tmp, b.path)
	if renameErr == nil {
		renameErr = dirsync.Dir(filepath.Dir(b.path))
	}
	db, err := bolt.Open(b.path, 0o600, nil)
	if err != nil {
		return errors.Join(renameErr, err)
	}
	b.db = db
	return renameErr
}

func (b *boltStore) Close() error { return b.db.Close() }
