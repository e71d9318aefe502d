package crdt

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"testing"

	bolt "go.etcd.io/bbolt"

	"github.com/clusterf/clusterf/atrest"
)

// TestSealedBoltStore: with a sealer no name reaches meta.db in the clear,
// the state survives a reopen, and a changed, swapped or unsealed record is
// an error at load, never data.
func TestSealedBoltStore(t *testing.T) {
	path := filepath.Join(t.TempDir(), "meta.db")
	seal := atrest.KeysFromMaster([32]byte{5}).Sealer("meta.db")
	open := func(opts ...BoltOption) (*Replica, error) {
		st, err := OpenBoltStore(path, opts...)
		if err != nil {
			return nil, err
		}
		r, err := Open(Options{Node: "n1", Store: st, SnapshotEvery: 4})
		if err != nil {
			st.Close()
		}
		return r, err
	}
	r, err := open(WithSealer(seal))
	if err != nil {
		t.Fatal(err)
	}
	const secret = "secret-plans-for-world-domination.txt"
	for i := range 6 { // past SnapshotEvery: a snapshot and ops
		mustUpdate(t, r, func(tx *Tx) error {
			_, err := tx.Create(RootID, secret+string(rune('a'+i)), KindFile, NewAttrs{Mode: 0o644})
			return err
		})
	}
	state := r.EncodeState()
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(raw, []byte("secret-plans")) {
		t.Fatal("meta.db holds a file name in the clear")
	}
	r, err = open(WithSealer(seal))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(r.EncodeState(), state) {
		t.Fatal("state changed across reopen")
	}
	r.Close()

	// Without the sealer, or with another key: refused.
	if _, err := open(); err == nil {
		t.Fatal("sealed meta.db loaded without the sealer")
	}
	other := atrest.KeysFromMaster([32]byte{6}).Sealer("meta.db")
	if _, err := open(WithSealer(other)); !errors.Is(err, atrest.ErrTampered) {
		t.Fatalf("other key: err = %v", err)
	}

	// Swap two op records: each is bound to its key.
	edit := func(fn func(b *bolt.Bucket) error) {
		db, err := bolt.Open(path, 0o600, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		if err := db.Update(func(tx *bolt.Tx) error { return fn(tx.Bucket(bucketOps)) }); err != nil {
			t.Fatal(err)
		}
	}
	var k1, k2, v1, v2 []byte
	edit(func(b *bolt.Bucket) error {
		c := b.Cursor()
		k, v := c.First()
		k1, v1 = bytes.Clone(k), bytes.Clone(v)
		k, v = c.Next()
		if k == nil {
			return errors.New("fewer than two op records")
		}
		k2, v2 = bytes.Clone(k), bytes.Clone(v)
		if err := b.Put(k1, v2); err != nil {
			return err
		}
		return b.Put(k2, v1)
	})
	if _, err := open(WithSealer(seal)); !errors.Is(err, atrest.ErrTampered) {
		t.Fatalf("swapped records: err = %v", err)
	}
	// One flipped byte.
	edit(func(b *bolt.Bucket) error {
		if err := b.Put(k2, v2); err != nil {
			return err
		}
		bad := bytes.Clone(v1)
		bad[len(bad)/2] ^= 1
		return b.Put(k1, bad)
	})
	if _, err := open(WithSealer(seal)); !errors.Is(err, atrest.ErrTampered) {
		t.Fatalf("flipped byte: err = %v", err)
	}
	edit(func(b *bolt.Bucket) error { return b.Put(k1, v1) })
	r, err = open(WithSealer(seal))
	if err != nil {
		t.Fatalf("restored records: %v", err)
	}
	r.Close()
}
