package sealed_test

import (
	"bytes"
	"context"
	"testing"

	"golang.org/x/crypto/chacha20poly1305"

	"github.com/clusterf/clusterf/atrest"
	"github.com/clusterf/clusterf/chunk"
	"github.com/clusterf/clusterf/chunk/engines"
	"github.com/clusterf/clusterf/chunk/sealed"
)

// sealV1 builds a seal-version-1 chunk blob the way clusterf wrote them
// before version 2, independently of atrest: 0x01 | nonce |
// XChaCha20-Poly1305 under the "chunk-data" key with the id as ad.
func sealV1(t *testing.T, id chunk.ID, blob []byte) []byte {
	k := keys.Derive("chunk-data")
	aead, err := chacha20poly1305.NewX(k[:])
	if err != nil {
		t.Fatal(err)
	}
	nonce := bytes.Repeat([]byte{0x5a}, chacha20poly1305.NonceSizeX)
	return aead.Seal(append([]byte{1}, nonce...), nonce, blob, id[:])
}

// TestVersion1BlobsOpen: every engine's store of a data dir written before
// seal version 2 still reads; new puts are version 2 with the same
// overhead, so Usage stays exact over a mix of both.
func TestVersion1BlobsOpen(t *testing.T) {
	ctx := context.Background()
	for _, engine := range engines.Names() {
		t.Run(engine, func(t *testing.T) {
			dir := t.TempDir()
			inner, err := engines.Open(engine, dir)
			if err != nil {
				t.Fatal(err)
			}
			oldPlain := bytes.Repeat([]byte("old chunk "), 1000)
			old, oldID := chunk.Encode(oldPlain), chunk.Sum(oldPlain)
			s := sealed.New(inner, keys)
			if err := inner.Put(ctx, s.Name(oldID), sealV1(t, oldID, old)); err != nil {
				t.Fatal(err)
			}
			niu, newID := chunk.Encode([]byte("new chunk")), chunk.Sum([]byte("new chunk"))
			if err := s.Put(ctx, newID, niu); err != nil {
				t.Fatal(err)
			}
			raw, err := inner.Get(ctx, s.Name(newID))
			if err != nil || raw[0] != 2 || len(raw) != len(niu)+atrest.Overhead {
				t.Fatalf("new blob: version %d, %d bytes, %v", raw[0], len(raw), err)
			}
			for id, want := range map[chunk.ID][]byte{oldID: old, newID: niu} {
				got, err := s.Get(ctx, id)
				if err != nil || !bytes.Equal(got, want) {
					t.Fatalf("get %s: %d bytes, %v", id, len(got), err)
				}
				if _, err := chunk.Decode(id, got); err != nil {
					t.Fatal(err)
				}
			}
			u, err := s.Usage(ctx)
			if err != nil || u.Chunks != 2 || u.Bytes != int64(len(old)+len(niu)) {
				t.Fatalf("usage %+v, %v; want 2 chunks, %d bytes", u, err, len(old)+len(niu))
			}
			// A version-1 blob moved to another id does not open.
			if err := inner.Delete(ctx, s.Name(newID)); err != nil {
				t.Fatal(err)
			}
			if err := inner.Put(ctx, s.Name(newID), sealV1(t, oldID, old)); err != nil {
				t.Fatal(err)
			}
			if got, err := s.Get(ctx, newID); err != nil || !bytes.Equal(got, []byte{chunk.FormatUnopenable}) {
				t.Fatalf("moved version-1 blob: %x, %v", got[:min(len(got), 8)], err)
			}
			s.Close()
		})
	}
}
