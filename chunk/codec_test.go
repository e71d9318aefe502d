package chunk_test

import (
	"bytes"
	"errors"
	"strings"
	"sync"
	"testing"

	"github.com/klauspost/compress/zstd"

	"github.com/clusterf/clusterf/chunk"
	"github.com/clusterf/clusterf/chunk/chunktest"
)

func TestIDString(t *testing.T) {
	id := chunk.Sum([]byte("hello"))
	s := id.String()
	if len(s) != 64 || strings.ToLower(s) != s {
		t.Fatalf("String = %q", s)
	}
	got, err := chunk.ParseID(s)
	if err != nil || got != id {
		t.Fatalf("ParseID(String) = %v, %v", got, err)
	}
	for _, bad := range []string{"", s[:63], s + "0", "zz" + s[2:]} {
		if _, err := chunk.ParseID(bad); err == nil {
			t.Errorf("ParseID(%q) succeeded", bad)
		}
	}
	if id.IsZero() || !(chunk.ID{}).IsZero() {
		t.Fatal("IsZero wrong")
	}
	txt, _ := id.MarshalText()
	var back chunk.ID
	if err := back.UnmarshalText(txt); err != nil || back != id {
		t.Fatalf("text roundtrip: %v", err)
	}
}

func TestSumKnownAnswer(t *testing.T) {
	// BLAKE3 of the empty input (from the BLAKE3 test vectors).
	const empty = "af1349b9f5f9a1a6a0404dea36dcc9499bcb25c9adc112b7cc9a93cae41f3262"
	if got := chunk.Sum(nil).String(); got != empty {
		t.Fatalf("Sum(nil) = %s, want %s", got, empty)
	}
	var k1, k2 [32]byte
	k2[0] = 1
	d := []byte("data")
	if chunk.SumKeyed(&k1, d) == chunk.Sum(d) || chunk.SumKeyed(&k1, d) == chunk.SumKeyed(&k2, d) {
		t.Fatal("keyed sums do not depend on the key")
	}
	if a, b := chunk.SumKeyed(&k1, d), chunk.SumKeyed(&k1, bytes.Clone(d)); a != b {
		t.Fatal("SumKeyed not deterministic")
	}
}

func TestRoundtrip(t *testing.T) {
	cases := map[string][]byte{
		"empty":  nil,
		"byte":   {42},
		"small":  []byte("hello, world"),
		"random": chunktest.RandomChunk(1, 100000).Plain,
		"text":   chunktest.TextChunk(2, 100000).Plain,
		"zeros":  make([]byte, 1<<20),
		"max":    chunktest.TextChunk(3, chunk.MaxChunkSize).Plain,
	}
	for name, plain := range cases {
		t.Run(name, func(t *testing.T) {
			blob := chunk.Encode(plain)
			got, err := chunk.Decode(chunk.Sum(plain), blob)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, plain) {
				t.Fatal("roundtrip changed the data")
			}
		})
	}
}

func TestEncodeChoosesFormat(t *testing.T) {
	random := chunktest.RandomChunk(1, 64<<10).Plain
	blob := chunk.Encode(random)
	if blob[0] != 0 || len(blob) != len(random)+1 {
		t.Fatalf("incompressible: header %d, %d bytes; want raw, %d", blob[0], len(blob), len(random)+1)
	}
	text := chunktest.TextChunk(2, 64<<10).Plain
	blob = chunk.Encode(text)
	if blob[0] != 1 || len(blob) > len(text)-len(text)/16 {
		t.Fatalf("compressible: header %d, %d bytes of %d", blob[0], len(blob), len(text))
	}
	// Barely compressible: half random, half zeros saves ~50%; 15/16 random
	// and 1/16 zeros saves too little and must stay raw.
	mostly := append(chunktest.RandomChunk(3, 60<<10).Plain, make([]byte, 2<<10)...)
	if blob := chunk.Encode(mostly); blob[0] != 0 {
		t.Fatalf("saving under 1/16 still compressed: %d -> %d", len(mostly), len(blob))
	}
	// Encode must not alias its input.
	blob = chunk.Encode(random)
	blob[1] ^= 0xff
	if blob[1] == random[0] {
		t.Fatal("Encode aliases its input")
	}
}

// TestEncodeInPlace: the same blob as Encode for data placed after a free
// header byte; raw data is not copied (the blob is the buffer).
func TestEncodeInPlace(t *testing.T) {
	for _, data := range [][]byte{
		chunktest.RandomChunk(1, 64<<10).Plain,
		chunktest.TextChunk(2, 64<<10).Plain,
		chunktest.RandomChunk(3, 1<<20).Plain,
		{7},
	} {
		buf := append([]byte{0xAA}, data...)
		got := chunk.EncodeInPlace(buf)
		if want := chunk.Encode(data); !bytes.Equal(got, want) {
			t.Fatalf("%d bytes: EncodeInPlace gives %d bytes (header %d), Encode %d (header %d)", len(data), len(got), got[0], len(want), want[0])
		}
		if got[0] == 0 && &got[0] != &buf[0] {
			t.Fatalf("%d raw bytes copied", len(data))
		}
		if !bytes.Equal(buf[1:], data) {
			t.Fatal("EncodeInPlace changed the data")
		}
		back, err := chunk.Decode(chunk.Sum(data), got)
		if err != nil || !bytes.Equal(back, data) {
			t.Fatalf("decode: %v", err)
		}
	}
}

func TestDecodeCorrupt(t *testing.T) {
	c := chunktest.TextChunk(1, 50000)
	r := chunktest.RandomChunk(2, 50000)
	flip := func(b []byte, i int) []byte {
		b = bytes.Clone(b)
		b[i] ^= 0x01
		return b
	}
	cases := []struct {
		name string
		id   chunk.ID
		blob []byte
	}{
		{"empty", c.ID, nil},
		{"header only zstd", c.ID, []byte{1}},
		{"unknown header", c.ID, append([]byte{7}, c.Plain...)},
		{"header 2", r.ID, append([]byte{2}, r.Blob[1:]...)},
		{"flipped zstd payload", c.ID, flip(c.Blob, len(c.Blob)/2)},
		{"flipped raw payload", r.ID, flip(r.Blob, len(r.Blob)/2)},
		{"truncated zstd", c.ID, c.Blob[:len(c.Blob)/2]},
		{"truncated raw", r.ID, r.Blob[:len(r.Blob)-1]},
		{"wrong id", r.ID, c.Blob},
		{"zero id", chunk.ID{}, c.Blob},
		{"raw as zstd", r.ID, append([]byte{1}, r.Blob[1:]...)},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := chunk.Decode(tc.id, tc.blob)
			if !errors.Is(err, chunk.ErrCorrupt) {
				t.Fatalf("err = %v, want ErrCorrupt", err)
			}
			if got != nil {
				t.Fatal("bytes returned with an error")
			}
			if !strings.Contains(err.Error(), tc.id.String()) {
				t.Fatalf("error %q does not name the id", err)
			}
		})
	}
}

// TestDecodeBomb checks that a small blob claiming more than MaxChunkSize is
// refused without decoding it all.
func TestDecodeBomb(t *testing.T) {
	big := make([]byte, chunk.MaxChunkSize+1)
	enc, err := zstd.NewWriter(nil)
	if err != nil {
		t.Fatal(err)
	}
	defer enc.Close()
	payload := enc.EncodeAll(big, nil)
	blob := append([]byte{1}, payload...)
	if len(blob) > 4096 {
		t.Fatalf("bomb is %d bytes; test wants a small one", len(blob))
	}
	if _, err := chunk.Decode(chunk.Sum(big), blob); !errors.Is(err, chunk.ErrCorrupt) {
		t.Fatalf("bomb: err = %v, want ErrCorrupt", err)
	}

	// Without a content size in the frame header (streaming encoder), and as
	// many frames each under the limit.
	var buf bytes.Buffer
	w, err := zstd.NewWriter(&buf)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write(big); err != nil {
		t.Fatal(err)
	}
	w.Close()
	if _, err := chunk.Decode(chunk.Sum(big), append([]byte{1}, buf.Bytes()...)); !errors.Is(err, chunk.ErrCorrupt) {
		t.Fatalf("streamed bomb: err = %v, want ErrCorrupt", err)
	}
	half := enc.EncodeAll(make([]byte, chunk.MaxChunkSize/2+1), nil)
	multi := append([]byte{1}, half...)
	multi = append(multi, half...)
	if _, err := chunk.Decode(chunk.ID{}, multi); !errors.Is(err, chunk.ErrCorrupt) {
		t.Fatalf("multi-frame bomb: err = %v, want ErrCorrupt", err)
	}

	// Raw blobs over the limit are refused too.
	if _, err := chunk.Decode(chunk.Sum(big), append([]byte{0}, big...)); !errors.Is(err, chunk.ErrCorrupt) {
		t.Fatalf("oversized raw: err = %v, want ErrCorrupt", err)
	}
}

func TestEncodeTooLargePanics(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Fatal("no panic")
		}
	}()
	chunk.Encode(make([]byte, chunk.MaxChunkSize+1))
}

func TestCodecConcurrent(t *testing.T) {
	var wg sync.WaitGroup
	for i := range 4 {
		wg.Go(func() {
			for j := range 8 {
				c := chunktest.TextChunk(uint64(i*100+j), 20000+j)
				if blob := chunk.Encode(c.Plain); !bytes.Equal(blob, c.Blob) {
					t.Error("Encode not deterministic")
				}
				if _, err := chunk.Decode(c.ID, c.Blob); err != nil {
					t.Error(err)
				}
			}
		})
	}
	wg.Wait()
}

func FuzzDecode(f *testing.F) {
	for _, c := range []chunktest.Chunk{
		chunktest.NewChunk(nil),
		chunktest.NewChunk([]byte("hello")),
		chunktest.TextChunk(1, 2000),
		chunktest.RandomChunk(2, 300),
	} {
		f.Add(c.ID[:], c.Blob)
	}
	f.Fuzz(func(t *testing.T, idb, blob []byte) {
		var id chunk.ID
		copy(id[:], idb)
		plain, err := chunk.Decode(id, blob)
		auth, aerr := chunk.DecodeAuthenticated(id, blob)
		if aerr != nil && (!errors.Is(aerr, chunk.ErrCorrupt) || auth != nil) {
			t.Fatalf("DecodeAuthenticated: %d bytes, err %v", len(auth), aerr)
		}
		if err != nil {
			if !errors.Is(err, chunk.ErrCorrupt) {
				t.Fatalf("error not ErrCorrupt: %v", err)
			}
			if plain != nil {
				t.Fatal("bytes with an error")
			}
			return
		}
		// Decode is DecodeAuthenticated and the hash: never more lenient.
		if aerr != nil || !bytes.Equal(auth, plain) {
			t.Fatalf("Decode accepted what DecodeAuthenticated did not decode alike: %v", aerr)
		}
		if chunk.Sum(plain) != id {
			t.Fatal("Decode returned bytes that do not match the id")
		}
		if len(plain) > chunk.MaxChunkSize {
			t.Fatal("over MaxChunkSize")
		}
		// Whatever decodes must re-encode to something that decodes the same.
		again, err := chunk.Decode(id, chunk.Encode(plain))
		if err != nil || !bytes.Equal(again, plain) {
			t.Fatalf("re-encode: %v", err)
		}
	})
}

func BenchmarkEncode(b *testing.B) {
	for _, c := range []struct {
		name string
		c    chunktest.Chunk
	}{{"text4MiB", chunktest.TextChunk(1, 4<<20)}, {"random4MiB", chunktest.RandomChunk(2, 4<<20)}} {
		b.Run(c.name, func(b *testing.B) {
			b.SetBytes(int64(len(c.c.Plain)))
			for b.Loop() {
				chunk.Encode(c.c.Plain)
			}
		})
	}
}

func BenchmarkDecode(b *testing.B) {
	for _, c := range []struct {
		name string
		c    chunktest.Chunk
	}{{"text4MiB", chunktest.TextChunk(1, 4<<20)}, {"random4MiB", chunktest.RandomChunk(2, 4<<20)}} {
		b.Run(c.name, func(b *testing.B) {
			b.SetBytes(int64(len(c.c.Plain)))
			for b.Loop() {
				if _, err := chunk.Decode(c.c.ID, c.c.Blob); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// TestDecodeAuthenticated checks that DecodeAuthenticated decodes what
// Decode does and refuses every blob it cannot decode, and that only the
// content hash is left out: a blob under the wrong id is what Decode
// alone catches (so it is for authenticated stores only).
func TestDecodeAuthenticated(t *testing.T) {
	c := chunktest.TextChunk(1, 50000)
	r := chunktest.RandomChunk(2, 50000)
	for _, ch := range []chunktest.Chunk{c, r} {
		got, err := chunk.DecodeAuthenticated(ch.ID, ch.Blob)
		if err != nil || !bytes.Equal(got, ch.Plain) {
			t.Fatalf("good blob: err %v, equal %v", err, bytes.Equal(got, ch.Plain))
		}
	}
	bad := []struct {
		name string
		blob []byte
	}{
		{"empty", nil},
		{"header only zstd", []byte{1}},
		{"unknown header", append([]byte{7}, c.Plain...)},
		{"truncated zstd", c.Blob[:len(c.Blob)/2]},
		{"raw as zstd", append([]byte{1}, r.Blob[1:]...)},
		{"unopenable", []byte{chunk.FormatUnopenable}},
		{"raw too large", make([]byte, chunk.MaxChunkSize+2)},
	}
	for _, tc := range bad {
		t.Run(tc.name, func(t *testing.T) {
			got, err := chunk.DecodeAuthenticated(c.ID, tc.blob)
			if !errors.Is(err, chunk.ErrCorrupt) || got != nil {
				t.Fatalf("got %d bytes, err %v; want ErrCorrupt and nothing", len(got), err)
			}
		})
	}
	if _, err := chunk.DecodeAuthenticated(c.ID, r.Blob); err != nil {
		t.Fatalf("wrong id: %v (the hash is not DecodeAuthenticated's job)", err)
	}
	if _, err := chunk.Decode(c.ID, r.Blob); !errors.Is(err, chunk.ErrCorrupt) {
		t.Fatalf("Decode of the wrong id: %v, want ErrCorrupt", err)
	}
}
