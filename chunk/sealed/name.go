package sealed

import (
	"crypto/aes"
	"crypto/cipher"
	"fmt"

	"github.com/clusterf/clusterf/atrest"
	"github.com/clusterf/clusterf/chunk"
)

const rounds = 4

// nameCipher is a keyed permutation of 256-bit ids: a balanced Feistel
// network over two 128-bit halves whose round functions are AES-256 under
// independent keys. Four rounds make it a strong pseudorandom permutation.
type nameCipher struct {
	round [rounds]cipher.Block
}

func newNameCipher(keys *atrest.Keys) *nameCipher {
	var c nameCipher
	for i := range c.round {
		k := keys.Derive(fmt.Sprintf("chunk-name round %d", i))
		b, err := aes.NewCipher(k[:])
		if err != nil {
			panic(fmt.Sprintf("sealed: aes.NewCipher: %v", err)) // the key size is fixed
		}
		c.round[i] = b
	}
	return &c
}

func xor16(dst, a []byte) {
	for i := range 16 {
		dst[i] ^= a[i]
	}
}

// encrypt maps a cluster id to its on-disk name.
func (c *nameCipher) encrypt(id chunk.ID) chunk.ID {
	l, r := id[:16:16], id[16:]
	var f [16]byte
	for i := range rounds {
		// (l, r) -> (r, l ^ F_i(r))
		c.round[i].Encrypt(f[:], r)
		xor16(l, f[:])
		l, r = r, l
	}
	var out chunk.ID
	copy(out[:16], l)
	copy(out[16:], r)
	return out
}

// decrypt maps an on-disk name back to the cluster id.
func (c *nameCipher) decrypt(name chunk.ID) chunk.ID {
	l, r := name[:16:16], name[16:]
	var f [16]byte
	for i := rounds - 1; i >= 0; i-- {
		// (l, r) = (r', l' ^ F_i(r')) -> (r', l')
		l, r = r, l
		c.round[i].Encrypt(f[:], r)
		xor16(l, f[:])
	}
	var out chunk.ID
	copy(out[:16], l)
	copy(out[16:], r)
	return out
}
