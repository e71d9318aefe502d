// Package atrest seals what a node writes to its data directory when
// encryption at rest is on (--encryption-key). It holds the key hierarchy
// and the one sealing primitive every on-disk format uses; the formats
// themselves (chunk/sealed for chunks, crdt's bolt store for meta.db, the
// staging files of replica) call it.
//
// # Keys
//
// A passphrase never encrypts data. At the first start Create draws a
// random 32-byte master key and writes the header file
// <node dir>/encryption-header (JSON, versioned): the Argon2id parameters,
// a random salt, and the master key sealed (XChaCha20-Poly1305) under the
// key Argon2id derives from the passphrase, with every header field bound
// in as associated data. Unlock derives that key again and opens the master
// key; a wrong passphrase (or an edited header) fails the AEAD tag and is
// ErrWrongKey. Rekey seals the same master key under a new passphrase and
// replaces the header atomically: O(1), no data is rewritten, and old
// sealed data stays readable.
//
// Each use gets its own subkey, derived from the master key with HKDF-SHA256
// and a purpose string (Keys.Derive, Keys.Sealer). Purposes in use:
//
//	"chunk-data"  chunk blobs (chunk/sealed)
//	"chunk-name"  on-disk chunk ids (chunk/sealed)
//	"meta.db"     crdt's bbolt record values
//	"http-token"  the node's HTTP token file
//
// Staging files use a random key per file that never leaves memory
// (NewStagingFile): they are never read after a restart.
//
// # Sealing
//
// Sealer.Seal(dst, plain, ad) returns (seal version 2)
//
//	0x02 | 24-byte random nonce | XAES-256-GCM(plain, ad) (len(plain)+16)
//
// and Open also reads version 1, which earlier releases wrote:
//
//	0x01 | 24-byte random nonce | XChaCha20-Poly1305(plain, ad) (len(plain)+16)
//
// Overhead is 41 bytes in both. XAES-256-GCM (c2sp.org/XAES-256-GCM,
// xaes.go) derives an AES-256 key from the first half of the nonce and
// runs AES-256-GCM under it with the second half, so random nonces are as
// safe as XChaCha20-Poly1305's while AES-NI makes it ~1.6x faster; its key
// is derived from the Sealer's key (HKDF), separate from version 1's.
// ad names where the record lives (a chunk id, a
// bbolt bucket and key, a file name and offset), so a sealed record moved,
// swapped or copied to another place fails to open: Open returns an error
// wrapping ErrTampered and never any bytes. Random 192-bit nonces need no
// counter kept anywhere and cannot repeat in practice. The key header's
// wrapped master key stays version 1 (its "aead" field says so).
//
// # Use for a new file format
//
//	var s *atrest.Sealer = keys.Sealer("crdt-journal") // keys: node's *Keys, nil when off
//	rec := s.Seal(nil, plain, ad)          // ad: e.g. file name + record sequence number
//	plain, err := s.Open(nil, rec, ad)     // err wraps atrest.ErrTampered
//
// Pick a new purpose string per file kind, make ad unique per record
// position, and treat ErrTampered like a checksum failure (the record is
// corrupt; never use its bytes). docs/encryption.md has the threat model.
package atrest
