package atrest

import (
	"bytes"
	"crypto/sha3"
	"encoding/hex"
	"errors"
	"testing"
)

// The known answers of the XAES-256-GCM specification
// (https://c2sp.org/XAES-256-GCM): a derivation that is close but not
// the same would still seal and open, and be a private algorithm.
func TestXAESVectors(t *testing.T) {
	for _, v := range []struct {
		key  byte
		ad   string
		want string
	}{
		{0x01, "", "ce546ef63c9cc60765923609b33a9a1974e96e52daf2fcf7075e2271"},
		{0x03, "c2sp.org/XAES-256-GCM", "986ec1832593df5443a179437fd083bf3fdb41abd740a21f71eb769d"},
	} {
		var key [KeySize]byte
		for i := range key {
			key[i] = v.key
		}
		x := newXAES(key)
		nonce := []byte("ABCDEFGHIJKLMNOPQRSTUVWX")
		ct := x.seal(nil, nonce, []byte("XAES-256-GCM"), []byte(v.ad))
		if got := hex.EncodeToString(ct); got != v.want {
			t.Fatalf("key %#x: sealed %s, want %s", v.key, got, v.want)
		}
		if p, err := x.open(nil, nonce, ct, []byte(v.ad)); err != nil || string(p) != "XAES-256-GCM" {
			t.Fatalf("key %#x: open = %q, %v", v.key, p, err)
		}
	}
}

// TestXAESAccumulated is the specification's accumulated test: 10,000
// random keys, nonces, plaintexts and associated data from SHAKE128, the
// ciphertexts hashed with SHAKE128.
func TestXAESAccumulated(t *testing.T) {
	s, d := sha3.NewSHAKE128(), sha3.NewSHAKE128()
	read := func(n int) []byte {
		b := make([]byte, n)
		s.Read(b)
		return b
	}
	for range 10000 {
		key := [KeySize]byte(read(KeySize))
		nonce := read(xaesNonceSize)
		plain := read(int(read(1)[0]))
		ad := read(int(read(1)[0]))
		x := newXAES(key)
		ct := x.seal(nil, nonce, plain, ad)
		if p, err := x.open(nil, nonce, ct, ad); err != nil || !bytes.Equal(p, plain) {
			t.Fatalf("open = %v", err)
		}
		d.Write(ct)
	}
	sum := make([]byte, 32)
	d.Read(sum)
	if got, want := hex.EncodeToString(sum), "e6b9edf2df6cec60c8cbd864e2211b597fb69a529160cd040d56c0c210081939"; got != want {
		t.Fatalf("accumulated %s, want %s", got, want)
	}
}

// v1Golden was sealed by clusterf before seal version 2 (XChaCha20-Poly1305,
// master key 00 01 .. 1f, purpose "chunk-data", ad "v1 golden").
const v1Golden = "01a7efdbe0bc47c83f4d910b7e592c118f79be40e74145cae811ba3c6aaadab04926a0ba07d6745646b2bcef61a1a248f76a5340b38bbf4233b06e3b6f108ad53f945381298af2b37555dab606db43a13ec74791ce188637df1d7ff17b50f1a747154b2002"

// TestSealVersions: Seal writes version 2; records of version 1 (written
// by earlier releases, still in every data dir that ran one) open, in
// place too; a record whose version byte is changed does not.
func TestSealVersions(t *testing.T) {
	var m [KeySize]byte
	for i := range m {
		m[i] = byte(i)
	}
	s := KeysFromMaster(m).Sealer("chunk-data")
	old, _ := hex.DecodeString(v1Golden)
	const want = "a version-1 record, sealed by clusterf before seal version 2"
	if p, err := s.Open(nil, old, []byte("v1 golden")); err != nil || string(p) != want {
		t.Fatalf("version-1 record: %q, %v", p, err)
	}
	if p, err := s.OpenInPlace(bytes.Clone(old), []byte("v1 golden")); err != nil || string(p) != want {
		t.Fatalf("version-1 record in place: %q, %v", p, err)
	}
	rec := s.Seal(nil, []byte(want), []byte("v1 golden"))
	if rec[0] != sealV2 || len(rec) != len(old) {
		t.Fatalf("Seal wrote version %d, %d bytes (version 1: %d)", rec[0], len(rec), len(old))
	}
	for _, r := range [][]byte{old, rec} {
		for _, v := range []byte{0, 1, 2, 3, 255} {
			if v == r[0] {
				continue
			}
			bad := bytes.Clone(r)
			bad[0] = v
			if _, err := s.Open(nil, bad, []byte("v1 golden")); !errors.Is(err, ErrTampered) {
				t.Fatalf("version %d record relabelled %d: err = %v", r[0], v, err)
			}
		}
	}
}

// TestHeaderWrapsWithVersion1: the key header's "aead" field says
// xchacha20-poly1305, so its wrapped key stays a version-1 record.
func TestHeaderWrapsWithVersion1(t *testing.T) {
	h, err := newHeader([KeySize]byte{9}, []byte("pw"), testParams)
	if err != nil {
		t.Fatal(err)
	}
	if h.WrappedKey[0] != sealV1 || h.AEAD != "xchacha20-poly1305" {
		t.Fatalf("header wraps with version %d, aead %q", h.WrappedKey[0], h.AEAD)
	}
}

// BenchmarkSeal: sealing and opening a 4 MiB chunk with each version.
func BenchmarkSeal(b *testing.B) {
	s := KeysFromMaster([KeySize]byte{1}).Sealer("bench")
	plain := make([]byte, 4<<20)
	for _, v := range []byte{sealV1, sealV2} {
		rec := s.seal(v, nil, plain, nil)
		buf := make([]byte, 0, len(rec))
		b.Run("seal-v"+string('0'+v), func(b *testing.B) {
			b.SetBytes(int64(len(plain)))
			for b.Loop() {
				s.seal(v, buf[:0], plain, nil)
			}
		})
		b.Run("open-v"+string('0'+v), func(b *testing.B) {
			b.SetBytes(int64(len(plain)))
			for b.Loop() {
				if _, err := s.Open(buf[:0], rec, nil); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// TestSealInPlace checks that a record sealed in place opens to the
// plaintext with Open, binds its associated data, and that too little
// room is a panic, not a short record.
func TestSealInPlace(t *testing.T) {
	s := KeysFromMaster([KeySize]byte{3}).Sealer("t")
	plain := []byte("the frog sits where it lies")
	buf := make([]byte, SealRoomBefore+len(plain), SealRoomBefore+len(plain)+SealRoomAfter)
	copy(buf[SealRoomBefore:], plain)
	rec := s.SealInPlace(buf, []byte("ad"))
	if len(rec) != len(plain)+Overhead || &rec[0] != &buf[0] {
		t.Fatalf("record of %d bytes at another place", len(rec))
	}
	got, err := s.Open(nil, rec, []byte("ad"))
	if err != nil || !bytes.Equal(got, plain) {
		t.Fatalf("open: %q, %v", got, err)
	}
	if _, err := s.Open(nil, rec, []byte("other")); !errors.Is(err, ErrTampered) {
		t.Fatalf("open with other ad: %v", err)
	}
	defer func() {
		if recover() == nil {
			t.Fatal("no panic without room after the plaintext")
		}
	}()
	s.SealInPlace(make([]byte, SealRoomBefore+4), nil)
}

// BenchmarkSealInPlace: sealing 4 MiB chunks that the cache does not hold
// (64 buffers in turn), into a second buffer and where they lie.
func BenchmarkSealInPlace(b *testing.B) {
	s := KeysFromMaster([KeySize]byte{1}).Sealer("bench")
	const n, size = 64, 4 << 20
	bufs := make([][]byte, n)
	for i := range bufs {
		bufs[i] = make([]byte, SealRoomBefore+size, SealRoomBefore+size+SealRoomAfter)
	}
	b.Run("copy", func(b *testing.B) {
		dst := make([][]byte, n)
		b.SetBytes(size)
		i := 0
		for b.Loop() {
			dst[i%n] = s.Seal(dst[i%n][:0], bufs[i%n][SealRoomBefore:], nil)
			i++
		}
	})
	b.Run("in-place", func(b *testing.B) {
		b.SetBytes(size)
		i := 0
		for b.Loop() {
			s.SealInPlace(bufs[i%n], nil)
			i++
		}
	})
}
