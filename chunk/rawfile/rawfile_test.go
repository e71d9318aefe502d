package rawfile_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/clusterf/clusterf/chunk"
	"github.com/clusterf/clusterf/chunk/chunktest"
	"github.com/clusterf/clusterf/chunk/rawfile"
)

func open(t testing.TB, dir string) *rawfile.Store {
	t.Helper()
	s, err := rawfile.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func chunkPath(dir string, id chunk.ID) string {
	h := id.String()
	return filepath.Join(dir, h[0:2], h[2:4], h)
}

func TestSuite(t *testing.T) {
	chunktest.Suite(t, func(t *testing.T, dir string) chunk.Store { return open(t, dir) },
		chunktest.WithCorrupt(func(t *testing.T, dir string, id chunk.ID) {
			p := chunkPath(dir, id)
			b, err := os.ReadFile(p)
			if err != nil {
				t.Fatal(err)
			}
			b[len(b)/2] ^= 0x40
			if err := os.WriteFile(p, b, 0o600); err != nil {
				t.Fatal(err)
			}
		}))
}

func TestLayout(t *testing.T) {
	dir := t.TempDir()
	s := open(t, dir)
	defer s.Close()
	c := chunktest.RandomChunk(1, 100)
	if err := s.Put(context.Background(), c.ID, c.Blob); err != nil {
		t.Fatal(err)
	}
	p := chunkPath(dir, c.ID)
	if s.Path(c.ID) != p {
		t.Fatalf("Path = %s, want %s", s.Path(c.ID), p)
	}
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	if string(b) != string(c.Blob) {
		t.Fatal("file does not hold the blob")
	}
}

func TestTruncatedFile(t *testing.T) {
	dir := t.TempDir()
	s := open(t, dir)
	defer s.Close()
	ctx := context.Background()
	c := chunktest.RandomChunk(2, 5000)
	if err := s.Put(ctx, c.ID, c.Blob); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(s.Path(c.ID), 100); err != nil {
		t.Fatal(err)
	}
	blob, err := s.Get(ctx, c.ID)
	if err != nil {
		t.Fatalf("Get of truncated file: %v (want the bytes; Decode judges)", err)
	}
	if len(blob) != 100 {
		t.Fatalf("Get returned %d bytes, want 100", len(blob))
	}
	if _, err := chunk.Decode(c.ID, blob); !errors.Is(err, chunk.ErrCorrupt) {
		t.Fatalf("Decode of truncated blob: %v, want ErrCorrupt", err)
	}
}

func TestOpenCleansTempFiles(t *testing.T) {
	dir := t.TempDir()
	s := open(t, dir)
	c := chunktest.RandomChunk(3, 100)
	if err := s.Put(context.Background(), c.ID, c.Blob); err != nil {
		t.Fatal(err)
	}
	s.Close()
	leaf := filepath.Dir(chunkPath(dir, c.ID))
	tmp := filepath.Join(leaf, ".tmp-"+c.ID.String()+"-12345")
	if err := os.WriteFile(tmp, []byte("half a chu"), 0o600); err != nil {
		t.Fatal(err)
	}
	stranger := filepath.Join(leaf, "README")
	if err := os.WriteFile(stranger, []byte("not ours"), 0o600); err != nil {
		t.Fatal(err)
	}

	s = open(t, dir)
	defer s.Close()
	if _, err := os.Stat(tmp); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("temp file survived Open: %v", err)
	}
	if _, err := os.Stat(stranger); err != nil {
		t.Fatalf("Open removed a file it does not own: %v", err)
	}
	u, err := s.Usage(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if u != (chunk.Usage{Chunks: 1, Bytes: int64(len(c.Blob))}) {
		t.Fatalf("Usage = %+v", u)
	}
}

func TestLocked(t *testing.T) {
	dir := t.TempDir()
	s := open(t, dir)
	_, err := rawfile.Open(dir)
	if !errors.Is(err, chunk.ErrLocked) {
		t.Fatalf("second Open: err = %v, want ErrLocked", err)
	}
	s.Close()
	s2 := open(t, dir) // free again after Close
	s2.Close()
}

func TestNoTempFilesAfterPut(t *testing.T) {
	dir := t.TempDir()
	s := open(t, dir)
	defer s.Close()
	for i := range 5 {
		c := chunktest.RandomChunk(uint64(10+i), 1000)
		if err := s.Put(context.Background(), c.ID, c.Blob); err != nil {
			t.Fatal(err)
		}
	}
	if tmps := tempFiles(t, dir); len(tmps) != 0 {
		t.Fatalf("temp files left: %v", tmps)
	}
}

// tempFiles lists leftover temp files under dir.
func tempFiles(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if strings.HasPrefix(d.Name(), ".tmp-") {
			out = append(out, p)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func BenchmarkPut4MiB(b *testing.B) {
	chunktest.BenchPut(b, func(b *testing.B, dir string) chunk.Store { return open(b, dir) })
}

func BenchmarkGet4MiB(b *testing.B) {
	chunktest.BenchGet(b, func(b *testing.B, dir string) chunk.Store { return open(b, dir) })
}
