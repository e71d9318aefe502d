package chunktest

import (
	"context"
	"testing"

	"github.com/clusterf/clusterf/chunk"
)

// OpenBFunc is OpenFunc for benchmarks.
type OpenBFunc func(b *testing.B, dir string) chunk.Store

// BenchPut measures Put of distinct 4 MiB incompressible blobs.
func BenchPut(b *testing.B, open OpenBFunc) {
	s := open(b, b.TempDir())
	defer s.Close()
	ctx := context.Background()
	base := RandomChunk(1, 4<<20)
	b.SetBytes(int64(len(base.Blob)))
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		// A distinct id per iteration; the store does not verify.
		id := base.ID
		id[0], id[1], id[2], id[3] = byte(i), byte(i>>8), byte(i>>16), byte(i>>24)
		if err := s.Put(ctx, id, base.Blob); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchGet measures Get of one 4 MiB blob.
func BenchGet(b *testing.B, open OpenBFunc) {
	s := open(b, b.TempDir())
	defer s.Close()
	ctx := context.Background()
	c := RandomChunk(2, 4<<20)
	if err := s.Put(ctx, c.ID, c.Blob); err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(c.Blob)))
	for b.Loop() {
		if _, err := s.Get(ctx, c.ID); err != nil {
			b.Fatal(err)
		}
	}
}
