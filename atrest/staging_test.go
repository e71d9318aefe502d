package atrest

import (
	"bytes"
	"io"
	"os"
	"testing"

	"pgregory.net/rapid"
)

// TestStagingFileModel: any sequence of writes, zeroing and truncates
// reads back like a plain file in memory (never-written bytes are zeros),
// and the file on disk never holds the plaintext.
func TestStagingFileModel(t *testing.T) {
	dir := t.TempDir()
	rapid.Check(t, func(t *rapid.T) {
		s, err := NewStagingFile(dir, "stage-*")
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		var model []byte
		grow := func(n int64) {
			if int64(len(model)) < n {
				model = append(model, make([]byte, n-int64(len(model)))...)
			}
		}
		// Offsets and lengths are often whole blocks, so that runs of
		// whole blocks (one pwrite for up to stagingBatch) are drawn too.
		const span = 5 * stagingBlock
		blocks := func(max int64) *rapid.Generator[int64] {
			return rapid.Map(rapid.Int64Range(0, max), func(k int64) int64 { return k * stagingBlock })
		}
		for range rapid.IntRange(1, 30).Draw(t, "ops") {
			off := rapid.OneOf(rapid.Int64Range(0, span), blocks(5)).Draw(t, "off")
			n := rapid.OneOf(rapid.Int64Range(0, 2*stagingBlock), blocks(stagingBatch+3)).Draw(t, "n")
			switch rapid.IntRange(0, 3).Draw(t, "op") {
			case 0, 1:
				p := bytes.Repeat([]byte{byte(rapid.IntRange(1, 255).Draw(t, "b"))}, int(n))
				if _, err := s.WriteAt(p, off); err != nil {
					t.Fatal(err)
				}
				grow(off + n)
				copy(model[off:], p)
			case 2:
				if err := s.Zero(off, n); err != nil {
					t.Fatal(err)
				}
				if off < int64(len(model)) {
					clear(model[off:min(off+n, int64(len(model)))])
				}
			case 3:
				size := rapid.Int64Range(0, span).Draw(t, "size")
				if err := s.Truncate(size); err != nil {
					t.Fatal(err)
				}
				if size < int64(len(model)) {
					model = model[:size]
				}
			}
			got := make([]byte, span+(stagingBatch+4)*stagingBlock)
			if _, err := s.ReadAt(got, 0); err != nil {
				t.Fatal(err)
			}
			want := make([]byte, len(got))
			copy(want, model)
			if !bytes.Equal(got, want) {
				t.Fatalf("contents differ from the model")
			}
		}
		raw, err := io.ReadAll(io.NewSectionReader(s.f, 0, 1<<30))
		if err != nil {
			t.Fatal(err)
		}
		// Plaintext would sit at its own offset (the file maps offsets one
		// to one). Windows holding a zero byte are left out: fifteen zeros
		// and one byte also occur where a hole meets ciphertext.
		for i := 0; i+16 <= min(len(model), len(raw)); i += 16 {
			if w := model[i : i+16]; bytes.IndexByte(w, 0) < 0 && bytes.Equal(raw[i:i+16], w) {
				t.Fatal("the staging file holds plaintext")
			}
		}
	})
}

func TestStagingFileHidesContent(t *testing.T) {
	s, err := NewStagingFile(t.TempDir(), "stage-*")
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	secret := bytes.Repeat([]byte("top secret staging bytes "), 10000)
	s.WriteAt(secret, 12345)
	s.WriteAt([]byte("rewritten"), 20000) // a partial block rewrite
	raw, _ := io.ReadAll(io.NewSectionReader(s.f, 0, 1<<30))
	if bytes.Contains(raw, []byte("top secret")) || bytes.Contains(raw, []byte("rewritten")) {
		t.Fatal("plaintext on disk")
	}
	if _, err := os.Stat(s.f.Name()); !os.IsNotExist(err) {
		t.Fatal("staging file has a name")
	}
}
