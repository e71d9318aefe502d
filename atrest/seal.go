package atrest

import (
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"

	"golang.org/x/crypto/chacha20poly1305"
)

// ErrTampered means sealed bytes failed authentication: they were changed,
// truncated, moved from another place (other associated data) or sealed
// under another key. Nothing of them is returned.
var ErrTampered = errors.New("sealed data failed authentication (changed on disk, moved, or another key)")

// Seal versions: the first byte of every sealed record. Version 1 is
// XChaCha20-Poly1305; version 2 (what Seal writes) is XAES-256-GCM.
// Both are 1 + 24-byte nonce + ciphertext + 16-byte tag, so Overhead is
// the same and one store can hold both; Open reads either.
const (
	sealV1 byte = 1
	sealV2 byte = 2
)

// nonceSize is both versions' nonce: 192 random bits.
const nonceSize = chacha20poly1305.NonceSizeX

// Overhead is what Seal adds to the plaintext: version byte, nonce, tag.
const Overhead = 1 + nonceSize + chacha20poly1305.Overhead

// KeySize is the size of the master key and of every derived key.
const KeySize = 32

// Sealer seals and opens records under one key. It is safe for
// concurrent use.
type Sealer struct {
	v1 cipher.AEAD // XChaCha20-Poly1305 under the key
	v2 *xaes       // XAES-256-GCM under HKDF(key, "seal v2"): one key per algorithm
}

// v2Info separates the version-2 key from the version-1 key.
const v2Info = "clusterf atrest seal v2 xaes-256-gcm"

// NewSealer returns a Sealer for key.
func NewSealer(key [KeySize]byte) *Sealer {
	aead, err := chacha20poly1305.NewX(key[:])
	if err != nil {
		panic(fmt.Sprintf("atrest: chacha20poly1305.NewX: %v", err)) // only a bad key size fails
	}
	k2, err := hkdf.Key(sha256.New, key[:], nil, v2Info, KeySize)
	if err != nil {
		panic(fmt.Sprintf("atrest: hkdf: %v", err))
	}
	return &Sealer{v1: aead, v2: newXAES([KeySize]byte(k2))}
}

// Seal appends the sealed form of plain, bound to ad, to dst and returns
// the result (seal version 2). dst and plain must not overlap.
func (s *Sealer) Seal(dst, plain, ad []byte) []byte { return s.seal(sealV2, dst, plain, ad) }

// seal seals with the given version (the key header keeps version 1, the
// AEAD its "aead" field names).
func (s *Sealer) seal(version byte, dst, plain, ad []byte) []byte {
	n := len(dst)
	dst = growTo(dst, n+Overhead+len(plain))
	out := dst[n : n+1+nonceSize]
	out[0] = version
	nonce := out[1:]
	if _, err := rand.Read(nonce); err != nil {
		panic(fmt.Sprintf("atrest: random nonce: %v", err)) // crypto/rand does not fail on Linux
	}
	if version == sealV1 {
		return s.v1.Seal(dst[:n+len(out)], nonce, plain, ad)
	}
	return s.v2.seal(dst[:n+len(out)], nonce, plain, ad)
}

// Open appends the plaintext of sealed, which must have been sealed with
// the same ad, to dst and returns it. Any failure wraps ErrTampered.
func (s *Sealer) Open(dst, sealed, ad []byte) ([]byte, error) {
	if len(sealed) < Overhead {
		return nil, fmt.Errorf("%w: %d bytes is shorter than a sealed record", ErrTampered, len(sealed))
	}
	nonce, ct := sealed[1:1+nonceSize], sealed[1+nonceSize:]
	var out []byte
	var err error
	switch sealed[0] {
	case sealV1:
		out, err = s.v1.Open(dst, nonce, ct, ad)
	case sealV2:
		out, err = s.v2.open(dst, nonce, ct, ad)
	default:
		return nil, fmt.Errorf("%w: unknown seal version %d", ErrTampered, sealed[0])
	}
	if err != nil {
		return nil, ErrTampered
	}
	return out, nil
}

// SealRoom is the room SealInPlace needs before the plaintext (version
// and nonce) and after it (the tag).
const (
	SealRoomBefore = 1 + nonceSize
	SealRoomAfter  = Overhead - SealRoomBefore
)

// SealInPlace seals buf[SealRoomBefore:] where it lies (seal version 2)
// and returns the sealed record, buf[:len(buf)+SealRoomAfter]: cap(buf)
// must leave that room. The plaintext is overwritten.
func (s *Sealer) SealInPlace(buf, ad []byte) []byte {
	if len(buf) < SealRoomBefore || cap(buf)-len(buf) < SealRoomAfter {
		panic(fmt.Sprintf("atrest: SealInPlace of %d bytes with %d free after: no room", len(buf), cap(buf)-len(buf)))
	}
	buf[0] = sealV2
	nonce := buf[1:SealRoomBefore]
	if _, err := rand.Read(nonce); err != nil {
		panic(fmt.Sprintf("atrest: random nonce: %v", err))
	}
	plain := buf[SealRoomBefore:]
	ct := s.v2.seal(plain[:0], nonce, plain, ad)
	return buf[:SealRoomBefore+len(ct)]
}

// growTo returns b with length n, reusing its capacity when it suffices.
func growTo(b []byte, n int) []byte {
	if cap(b) >= n {
		return b[:n]
	}
	nb := make([]byte, n)
	copy(nb, b)
	return nb
}

// Keys is a node's unlocked key hierarchy: the master key, from which every
// use derives its own subkey. A nil *Keys means encryption is off.
type Keys struct {
	master [KeySize]byte
}

// Derive returns the subkey for purpose (HKDF-SHA256 of the master key with
// info "clusterf atrest v1 " + purpose). Distinct purposes give independent
// keys.
func (k *Keys) Derive(purpose string) [KeySize]byte {
	b, err := hkdf.Key(sha256.New, k.master[:], nil, "clusterf atrest v1 "+purpose, KeySize)
	if err != nil {
		panic(fmt.Sprintf("atrest: hkdf: %v", err)) // only an oversized length fails
	}
	return [KeySize]byte(b)
}

// Sealer returns a Sealer under the subkey for purpose.
func (k *Keys) Sealer(purpose string) *Sealer { return NewSealer(k.Derive(purpose)) }

// OpenInPlace is Open that decrypts into sealed's own storage: the result
// aliases sealed, which must not be used otherwise afterwards.
func (s *Sealer) OpenInPlace(sealed, ad []byte) ([]byte, error) {
	if len(sealed) < Overhead {
		return s.Open(nil, sealed, ad)
	}
	ct := sealed[1+nonceSize:]
	return s.Open(ct[:0], sealed, ad)
}

// KeysFromMaster returns Keys for a known master key (tests, tools). A
// node's keys come from Resolve, Create or Unlock.
func KeysFromMaster(master [KeySize]byte) *Keys { return &Keys{master: master} }
