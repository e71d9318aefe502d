package rawfile_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"testing"

	"github.com/clusterf/clusterf/chunk"
)

// TestGetBuffer checks that GetBuffer reads a chunk into the caller's
// memory, asking for exactly its size, and that a chunk file larger than
// any chunk is reported corrupt without being read.
func TestGetBuffer(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s := open(t, dir)
	defer s.Close()
	plain := bytes.Repeat([]byte("frog "), 50_000)
	blob := chunk.Encode(plain)
	id := chunk.Sum(plain)
	if err := s.Put(ctx, id, blob); err != nil {
		t.Fatal(err)
	}
	mem := make([]byte, len(blob)+100)
	var asked []int
	got, err := s.GetBuffer(ctx, id, chunk.ReadCached, func(n int) []byte { asked = append(asked, n); return mem })
	if err != nil {
		t.Fatal(err)
	}
	if len(asked) != 1 || asked[0] != len(blob) {
		t.Fatalf("alloc asked for %v, want [%d]", asked, len(blob))
	}
	if !bytes.Equal(got, blob) || &got[0] != &mem[0] {
		t.Fatal("GetBuffer did not return the blob in the memory alloc gave")
	}
	if _, err := s.GetBuffer(ctx, chunk.Sum([]byte("absent")), chunk.ReadCached, chunk.NewBuffer); !errors.Is(err, chunk.ErrNotFound) {
		t.Fatalf("absent chunk: %v, want ErrNotFound", err)
	}
	// A chunk file grown past any chunk's size (damage): corrupt, and
	// alloc never asked for its size.
	if err := os.Truncate(chunkPath(dir, id), chunk.MaxChunkSize+1<<20); err != nil {
		t.Fatal(err)
	}
	asked = nil
	if _, err := s.GetBuffer(ctx, id, chunk.ReadCached, func(n int) []byte { asked = append(asked, n); return make([]byte, n) }); !errors.Is(err, chunk.ErrCorrupt) {
		t.Fatalf("oversized chunk file: %v, want ErrCorrupt", err)
	}
	if len(asked) != 0 {
		t.Fatalf("alloc asked for %v for an oversized file", asked)
	}
}
