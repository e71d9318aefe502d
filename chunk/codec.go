package chunk

import (
	"errors"
	"fmt"
	"sync"

	"github.com/klauspost/compress/zstd"
)

// MaxChunkSize is the largest plain chunk the codec handles. Encode panics
// above it and Decode refuses to produce more (a decompression bomb is
// ErrCorrupt, not an out-of-memory crash).
const MaxChunkSize = 16 << 20

// Blob header bytes.
const (
	formatRaw  byte = 0
	formatZstd byte = 1
)

// FormatUnopenable is the header byte of the one-byte blob a sealing layer
// (chunk/sealed) returns for a copy it could not open: changed on disk, or
// sealed with another key. Decode reports it as ErrCorrupt, like any bad
// copy. It is never written to disk.
const FormatUnopenable byte = 0xfe

// ErrCorrupt means a blob does not decode to the chunk its id names: a hash
// mismatch, an unknown header, a truncated or invalid zstd payload, or a
// payload that decodes to more than MaxChunkSize. Errors wrapping it carry
// the chunk id. The caller should repair from another holder.
var ErrCorrupt = errors.New("chunk corrupt")

var (
	encoder = sync.OnceValue(func() *zstd.Encoder {
		enc, err := zstd.NewWriter(nil,
			zstd.WithEncoderLevel(zstd.SpeedFastest), // docs/perf.md: 1.4x faster, 6% larger
			zstd.WithEncoderCRC(false),               // the BLAKE3 id already verifies the content
		)
		if err != nil {
			panic(fmt.Sprintf("chunk: zstd.NewWriter: %v", err))
		}
		return enc
	})
	decoder = sync.OnceValue(func() *zstd.Decoder {
		dec, err := zstd.NewReader(nil,
			zstd.WithDecoderMaxMemory(MaxChunkSize),
			zstd.WithDecoderMaxWindow(MaxChunkSize),
		)
		if err != nil {
			panic(fmt.Sprintf("chunk: zstd.NewReader: %v", err))
		}
		return dec
	})
)

// Encode returns the blob to store for plain chunk data: a header byte and
// the payload, zstd-compressed when that saves at least 1/16 of the size.
// The result never aliases data. Encode is safe for concurrent use. It panics
// if len(data) > MaxChunkSize, a programming error (chunks are cut smaller).
func Encode(data []byte) []byte {
	if len(data) > MaxChunkSize {
		panic(fmt.Sprintf("chunk: Encode of %d bytes, max %d", len(data), MaxChunkSize))
	}
	if dst, ok := compress(data); ok {
		return dst
	}
	blob := make([]byte, 1+len(data))
	blob[0] = formatRaw
	copy(blob[1:], data)
	return blob
}

// EncodeInPlace is Encode for data already in place after a header byte:
// buf[0] is free, buf[1:] is the data. It returns buf itself with the raw
// header when the data does not compress (no copy), else a new compressed
// blob. buf[1:] is not modified either way.
func EncodeInPlace(buf []byte) []byte {
	data := buf[1:]
	if len(data) > MaxChunkSize {
		panic(fmt.Sprintf("chunk: EncodeInPlace of %d bytes, max %d", len(data), MaxChunkSize))
	}
	if dst, ok := compress(data); ok {
		return dst
	}
	buf[0] = formatRaw
	return buf
}

// compress returns the zstd blob of data when that saves at least 1/16.
func compress(data []byte) ([]byte, bool) {
	if len(data) == 0 || !compressible(data) {
		return nil, false
	}
	dst := make([]byte, 1, 1+len(data))
	dst[0] = formatZstd
	dst = encoder().EncodeAll(data, dst)
	if saved := len(data) - (len(dst) - 1); saved >= len(data)/16 && saved > 0 {
		return dst, true
	}
	return nil, false
}

// sampleSize is how much of a large chunk is trial-compressed first.
const sampleSize = 64 << 10

// compressible reports whether zstd is worth trying on data: for chunks
// larger than a few samples, a sample from the middle must compress by at
// least 1/16, so already-compressed content (photos, video, archives) skips
// the expensive full compression.
func compressible(data []byte) bool {
	if len(data) < 4*sampleSize {
		return true
	}
	mid := len(data)/2 - sampleSize/2
	sample := data[mid : mid+sampleSize]
	out := encoder().EncodeAll(sample, make([]byte, 0, sampleSize))
	return len(sample)-len(out) >= len(sample)/16
}

// Decode returns the plain chunk stored in blob and verifies that it hashes
// to id. Any failure is an error wrapping ErrCorrupt that names id; bad bytes
// are never returned. For a raw blob the result aliases blob[1:]. Decode is
// safe for concurrent use.
func Decode(id ID, blob []byte) ([]byte, error) {
	plain, err := DecodeAuthenticated(id, blob)
	if err != nil {
		return nil, err
	}
	if got := Sum(plain); got != id {
		return nil, fmt.Errorf("decode chunk %s: %w: content hashes to %s", id, ErrCorrupt, got)
	}
	return plain, nil
}

// DecodeAliases reports whether what Decode (or DecodeAuthenticated)
// returns for blob aliases blob's memory: true for a raw blob, false for a
// compressed one, whose plain bytes are a new slice.
func DecodeAliases(blob []byte) bool { return len(blob) > 0 && blob[0] == formatRaw }

// DecodeAuthenticated is Decode without the content hash, for a blob an
// AuthenticatedStore's Get returned: the store has already proved it is
// the very blob a Put stored under id, and every Put's blob was checked
// against its id. Header, size and zstd errors still wrap ErrCorrupt, and
// so does a copy that failed authentication (FormatUnopenable). Never use
// it for bytes from anywhere else.
func DecodeAuthenticated(id ID, blob []byte) ([]byte, error) {
	if len(blob) == 0 {
		return nil, fmt.Errorf("decode chunk %s: %w: empty blob", id, ErrCorrupt)
	}
	switch blob[0] {
	case formatRaw:
		plain := blob[1:]
		if len(plain) > MaxChunkSize {
			return nil, fmt.Errorf("decode chunk %s: %w: raw payload of %d bytes exceeds %d", id, ErrCorrupt, len(plain), MaxChunkSize)
		}
		return plain, nil
	case formatZstd:
		if len(blob) == 1 {
			return nil, fmt.Errorf("decode chunk %s: %w: zstd header byte without a frame", id, ErrCorrupt)
		}
		plain, err := decoder().DecodeAll(blob[1:], nil)
		if err != nil {
			return nil, fmt.Errorf("decode chunk %s: %w: zstd: %v", id, ErrCorrupt, err)
		}
		return plain, nil
	case FormatUnopenable:
		return nil, fmt.Errorf("decode chunk %s: %w: the encrypted copy on disk failed authentication (changed on disk, or sealed with another key)", id, ErrCorrupt)
	default:
		return nil, fmt.Errorf("decode chunk %s: %w: unknown header byte %#02x", id, ErrCorrupt, blob[0])
	}
}
