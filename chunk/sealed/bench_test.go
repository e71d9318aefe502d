package sealed_test

import (
	"context"
	"crypto/rand"
	"testing"

	"github.com/clusterf/clusterf/chunk"
	"github.com/clusterf/clusterf/chunk/engines"
	"github.com/clusterf/clusterf/chunk/sealed"
)

// BenchmarkPutLazyGet4M: a 4 MiB chunk stored lazily through the sealed
// decorator over rawfile, then read back and opened.
func BenchmarkPutLazyGet4M(b *testing.B) {
	inner, err := engines.Open("rawfile", b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	s := sealed.New(inner, keys)
	defer s.Close()
	ctx := context.Background()
	plain := make([]byte, 4<<20)
	rand.Read(plain)
	blob := chunk.Encode(plain)
	b.SetBytes(int64(len(blob)))
	i := 0
	for b.Loop() {
		plain[0], plain[1], plain[2] = byte(i), byte(i>>8), byte(i>>16)
		blob[1], blob[2], blob[3] = plain[0], plain[1], plain[2]
		id := chunk.Sum(plain)
		if err := s.PutLazy(ctx, id, blob); err != nil {
			b.Fatal(err)
		}
		if _, err := s.Get(ctx, id); err != nil {
			b.Fatal(err)
		}
		s.Delete(ctx, id)
		i++
	}
}
