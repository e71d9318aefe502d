package boltstore_test

import (
	"errors"
	"path/filepath"
	"testing"

	bolt "go.etcd.io/bbolt"

	"github.com/clusterf/clusterf/chunk"
	"github.com/clusterf/clusterf/chunk/boltstore"
	"github.com/clusterf/clusterf/chunk/chunktest"
)

func open(t testing.TB, dir string) chunk.Store {
	t.Helper()
	s, err := boltstore.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestSuite(t *testing.T) {
	chunktest.Suite(t, func(t *testing.T, dir string) chunk.Store { return open(t, dir) },
		chunktest.WithCorrupt(func(t *testing.T, dir string, id chunk.ID) {
			// Flip a byte of the stored value through bbolt itself; flipping
			// bytes of the file at random would mostly break bbolt's pages.
			db, err := bolt.Open(filepath.Join(dir, boltstore.FileName), 0o600, nil)
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			err = db.Update(func(tx *bolt.Tx) error {
				b := tx.Bucket([]byte("chunks"))
				v := append([]byte(nil), b.Get(id[:])...)
				if len(v) == 0 {
					return errors.New("chunk not stored")
				}
				v[len(v)/2] ^= 0x40
				return b.Put(id[:], v)
			})
			if err != nil {
				t.Fatal(err)
			}
		}))
}

func TestLocked(t *testing.T) {
	dir := t.TempDir()
	s := open(t, dir)
	defer s.Close()
	if _, err := boltstore.Open(dir); !errors.Is(err, chunk.ErrLocked) {
		t.Fatalf("second Open: err = %v, want ErrLocked", err)
	}
}

func BenchmarkPut4MiB(b *testing.B) {
	chunktest.BenchPut(b, func(b *testing.B, dir string) chunk.Store { return open(b, dir) })
}

func BenchmarkGet4MiB(b *testing.B) {
	chunktest.BenchGet(b, func(b *testing.B, dir string) chunk.Store { return open(b, dir) })
}
