package chunk

import (
	"encoding/hex"
	"fmt"

	"github.com/zeebo/blake3"
)

// ID identifies a chunk: the BLAKE3-256 hash of its plain bytes. The zero ID
// marks a hole and is never stored. It converts to and from crdt.ChunkID with
// a plain type conversion.
type ID [32]byte

// String returns the id as 64 lowercase hex digits.
func (id ID) String() string { return hex.EncodeToString(id[:]) }

// IsZero reports whether id is the zero value (a hole).
func (id ID) IsZero() bool { return id == ID{} }

// MarshalText implements encoding.TextMarshaler (hex).
func (id ID) MarshalText() ([]byte, error) { return []byte(id.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler (hex).
func (id *ID) UnmarshalText(b []byte) error {
	v, err := ParseID(string(b))
	if err != nil {
		return err
	}
	*id = v
	return nil
}

// ParseID parses the 64-hex-digit form produced by String.
func ParseID(s string) (ID, error) {
	var id ID
	if len(s) != 2*len(id) {
		return ID{}, fmt.Errorf("parse chunk id %q: want %d hex digits, got %d", s, 2*len(id), len(s))
	}
	if _, err := hex.Decode(id[:], []byte(s)); err != nil {
		return ID{}, fmt.Errorf("parse chunk id %q: %w", s, err)
	}
	return id, nil
}

// Sum returns the id of plain chunk data: its unkeyed BLAKE3-256 hash.
func Sum(data []byte) ID { return ID(blake3.Sum256(data)) }

// SumKeyed returns the keyed BLAKE3-256 hash of data, for clusters with
// encryption at rest, where ids must not reveal content.
func SumKeyed(key *[32]byte, data []byte) ID {
	h, err := blake3.NewKeyed(key[:])
	if err != nil {
		// Only a key of the wrong length fails, and the type rules that out.
		panic(fmt.Sprintf("chunk: blake3.NewKeyed: %v", err))
	}
	_, _ = h.Write(data)
	var id ID
	h.Sum(id[:0])
	return id
}
