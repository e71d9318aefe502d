package sqlitestore_test

import (
	"database/sql"
	"errors"
	"path/filepath"
	"testing"

	_ "modernc.org/sqlite"

	"github.com/clusterf/clusterf/chunk"
	"github.com/clusterf/clusterf/chunk/chunktest"
	"github.com/clusterf/clusterf/chunk/sqlitestore"
)

func open(t testing.TB, dir string) chunk.Store {
	t.Helper()
	s, err := sqlitestore.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestSuite(t *testing.T) {
	chunktest.Suite(t, func(t *testing.T, dir string) chunk.Store { return open(t, dir) },
		chunktest.WithCorrupt(func(t *testing.T, dir string, id chunk.ID) {
			db, err := sql.Open("sqlite", filepath.Join(dir, sqlitestore.FileName))
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			var b []byte
			if err := db.QueryRow(`SELECT blob FROM chunks WHERE id = ?`, id[:]).Scan(&b); err != nil {
				t.Fatal(err)
			}
			b[len(b)/2] ^= 0x40
			if _, err := db.Exec(`UPDATE chunks SET blob = ? WHERE id = ?`, b, id[:]); err != nil {
				t.Fatal(err)
			}
		}))
}

func TestLocked(t *testing.T) {
	dir := t.TempDir()
	s := open(t, dir)
	defer s.Close()
	if _, err := sqlitestore.Open(dir); !errors.Is(err, chunk.ErrLocked) {
		t.Fatalf("second Open: err = %v, want ErrLocked", err)
	}
}

func BenchmarkPut4MiB(b *testing.B) {
	chunktest.BenchPut(b, func(b *testing.B, dir string) chunk.Store { return open(b, dir) })
}
