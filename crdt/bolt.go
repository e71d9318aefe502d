package crdt

import (
	"encoding/binary"
	"fmt"

	bolt "go.etcd.io/bbolt"
)

var (
	bucketOps  = []byte("crdt.ops")      // big-endian append counter -> EncodeOps([op])
	bucketSnap = []byte("crdt.snapshot") // "latest" -> EncodeSnapshot
	keyLatest  = []byte("latest")
)

type boltStore struct {
	db *bolt.DB
}

// OpenBoltStore opens (creating if needed) a bbolt file at path.
func OpenBoltStore(path string) (Store, error) {
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
	return &boltStore{db: db}, nil
}

func (b *boltStore) Load() (*Snapshot, []Op, error) {
	var snap *Snapshot
	var ops []Op
	err := b.db.View(func(tx *bolt.Tx) error {
		if v := tx.Bucket(bucketSnap).Get(keyLatest); v != nil {
			s, err := DecodeSnapshot(v)
			if err != nil {
				return err
			}
			snap = s
		}
		return tx.Bucket(bucketOps).ForEach(func(k, v []byte) error {
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
			if err := bk.Put(k[:], EncodeOps(ops[i:i+1])); err != nil {
				return err
			}
		}
		return nil
	})
}

// SaveSnapshot stores s and drops the ops it covers, in one transaction.
func (b *boltStore) SaveSnapshot(s *Snapshot) error {
	enc := EncodeSnapshot(s)
	vv := s.State.VV
	return b.db.Update(func(tx *bolt.Tx) error {
		if err := tx.Bucket(bucketSnap).Put(keyLatest, enc); err != nil {
			return err
		}
		bk := tx.Bucket(bucketOps)
		var drop [][]byte
		err := bk.ForEach(func(k, v []byte) error {
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
}

func (b *boltStore) Close() error { return b.db.Close() }
