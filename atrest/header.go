package atrest

import (
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"

	"golang.org/x/crypto/argon2"

	"github.com/clusterf/clusterf/dirsync"
)

// HeaderFile is the name of the key header inside a node's data dir.
const HeaderFile = "encryption-header"

// Errors about the key. Each wraps ErrKey, so one errors.Is test tells a
// key problem (command-line exit code 2) from other failures.
var (
	ErrKey = errors.New("encryption key")
	// ErrWrongKey: the passphrase does not open this data dir's master key
	// (or the header was edited).
	ErrWrongKey = fmt.Errorf("%w does not match this data dir", ErrKey)
	// ErrKeyRequired: the data dir is encrypted and no key was given.
	ErrKeyRequired = fmt.Errorf("this data dir is encrypted: give its %w with --encryption-key, --encryption-key-file or CLUSTERF_ENCRYPTION_KEY", ErrKey)
	// ErrNotEncrypted: a key was given for a data dir created without one.
	ErrNotEncrypted = fmt.Errorf("this data dir was created without encryption and cannot be encrypted later: drop the %w, or start a new data dir with it and let the cluster replicate to it", ErrKey)
)

// Params are the Argon2id cost parameters.
type Params struct {
	Time      uint32 // passes
	MemoryKiB uint32
	Threads   uint8
}

// DefaultParams is RFC 9106's second recommended setting (t=3, 64 MiB, p=4):
// about 0.2 s on a laptop core pair, paid once per start and per rekey.
var DefaultParams = Params{Time: 3, MemoryKiB: 64 << 10, Threads: 4}

// Bounds a header's parameters must stay in, so an edited header cannot
// make Unlock allocate without limit.
const (
	maxTime      = 64
	maxMemoryKiB = 4 << 20 // 4 GiB
)

const (
	headerFormat  = "clusterf-encryption"
	headerVersion = 1
	kdfArgon2id   = "argon2id"
	aeadName      = "xchacha20-poly1305"
	saltSize      = 16
)

// header is the JSON content of HeaderFile.
type header struct {
	Format     string `json:"format"`
	Version    int    `json:"version"`
	KDF        string `json:"kdf"`
	Time       uint32 `json:"time"`
	MemoryKiB  uint32 `json:"memory_kib"`
	Threads    uint8  `json:"threads"`
	Salt       []byte `json:"salt"`
	AEAD       string `json:"aead"`
	WrappedKey []byte `json:"wrapped_key"` // the master key, sealed under the passphrase key
}

// ad binds every field but the wrapped key into the key wrap.
func (h *header) ad() []byte {
	return fmt.Appendf(nil, "%s\x00%d\x00%s\x00%d\x00%d\x00%d\x00%x\x00%s",
		h.Format, h.Version, h.KDF, h.Time, h.MemoryKiB, h.Threads, h.Salt, h.AEAD)
}

func (h *header) kek(passphrase []byte) [KeySize]byte {
	return [KeySize]byte(argon2.IDKey(passphrase, h.Salt, h.Time, h.MemoryKiB, h.Threads, KeySize))
}

func (h *header) check(path string) error {
	switch {
	case h.Format != headerFormat:
		return fmt.Errorf("%s: not a clusterf encryption header", path)
	case h.Version > headerVersion:
		return fmt.Errorf("%s: written by a newer clusterf (header version %d; this one reads %d)", path, h.Version, headerVersion)
	case h.Version != headerVersion || h.KDF != kdfArgon2id || h.AEAD != aeadName:
		return fmt.Errorf("%s: unsupported header (version %d, kdf %q, aead %q)", path, h.Version, h.KDF, h.AEAD)
	case h.Time < 1 || h.Time > maxTime || h.MemoryKiB < 8 || h.MemoryKiB > maxMemoryKiB || h.Threads < 1 || len(h.Salt) < saltSize:
		return fmt.Errorf("%s: malformed header (argon2id t=%d m=%d KiB p=%d, salt of %d bytes)", path, h.Time, h.MemoryKiB, h.Threads, len(h.Salt))
	}
	return nil
}

func newHeader(master [KeySize]byte, passphrase []byte, p Params) (*header, error) {
	if len(passphrase) == 0 {
		return nil, fmt.Errorf("empty %w", ErrKey)
	}
	h := &header{
		Format: headerFormat, Version: headerVersion, KDF: kdfArgon2id,
		Time: p.Time, MemoryKiB: p.MemoryKiB, Threads: p.Threads,
		Salt: make([]byte, saltSize), AEAD: aeadName,
	}
	if _, err := rand.Read(h.Salt); err != nil {
		return nil, err
	}
	if err := h.check("new header"); err != nil {
		return nil, err
	}
	h.WrappedKey = NewSealer(h.kek(passphrase)).seal(sealV1, nil, master[:], h.ad()) // the "aead" field names version 1
	return h, nil
}

func readHeader(dir string) (*header, error) {
	path := filepath.Join(dir, HeaderFile)
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var h header
	if err := json.Unmarshal(b, &h); err != nil {
		return nil, fmt.Errorf("%s: malformed header: %v", path, err)
	}
	if err := h.check(path); err != nil {
		return nil, err
	}
	return &h, nil
}

// Encrypted reports whether dir holds a key header.
func Encrypted(dir string) (bool, error) {
	_, err := os.Lstat(filepath.Join(dir, HeaderFile))
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	return err == nil, err
}

// Create makes dir an encrypted data dir: a new random master key, sealed
// under passphrase, in a new header file. It fails if dir has a header.
func Create(dir string, passphrase []byte, p Params) (*Keys, error) {
	var k Keys
	if _, err := rand.Read(k.master[:]); err != nil {
		return nil, err
	}
	h, err := newHeader(k.master, passphrase, p)
	if err != nil {
		return nil, err
	}
	if err := writeHeader(dir, h, false); err != nil {
		return nil, fmt.Errorf("write encryption header: %w", err)
	}
	return &k, nil
}

// Unlock opens dir's master key with passphrase. A wrong passphrase is
// ErrWrongKey; a dir without a header is an error wrapping fs.ErrNotExist.
func Unlock(dir string, passphrase []byte) (*Keys, error) {
	h, err := readHeader(dir)
	if err != nil {
		return nil, err
	}
	if len(passphrase) == 0 {
		return nil, ErrKeyRequired
	}
	m, err := NewSealer(h.kek(passphrase)).Open(nil, h.WrappedKey, h.ad())
	if err != nil || len(m) != KeySize {
		return nil, ErrWrongKey
	}
	return &Keys{master: [KeySize]byte(m)}, nil
}

// Rekey replaces the passphrase of dir: the master key, opened with old, is
// sealed under new with a new salt and parameters p, and the header is
// replaced atomically (temp file, fsync, rename, fsync dir). No data is
// rewritten; a crash leaves the old or the new header.
func Rekey(dir string, old, new []byte, p Params) error {
	k, err := Unlock(dir, old)
	if err != nil {
		return err
	}
	h, err := newHeader(k.master, new, p)
	if err != nil {
		return err
	}
	return writeHeader(dir, h, true)
}

// Resolve returns the keys for the node dir dir given the passphrase ("" =
// none). fresh says dir holds nothing yet (its first start): then a
// passphrase creates the header. Otherwise the header decides: present
// needs the passphrase (ErrKeyRequired, ErrWrongKey), absent refuses one
// (ErrNotEncrypted). Without encryption Resolve returns nil, nil. Nothing
// is written unless dir is fresh.
func Resolve(dir string, passphrase []byte, fresh bool, p Params) (*Keys, error) {
	enc, err := Encrypted(dir)
	if err != nil {
		return nil, fmt.Errorf("read encryption header: %w", err)
	}
	switch {
	case enc:
		if len(passphrase) == 0 {
			return nil, ErrKeyRequired
		}
		return Unlock(dir, passphrase)
	case len(passphrase) == 0:
		return nil, nil
	case !fresh:
		return nil, ErrNotEncrypted
	}
	return Create(dir, passphrase, p)
}

// writeHeader writes dir/HeaderFile durably; replace allows an existing one.
func writeHeader(dir string, h *header, replace bool) (err error) {
	b, err := json.MarshalIndent(h, "", "  ")
	if err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	f, err := os.CreateTemp(dir, "."+HeaderFile+".tmp-")
	if err != nil {
		return err
	}
	tmp := f.Name()
	defer func() {
		if err != nil {
			f.Close()
		}
		os.Remove(tmp) // after Link; after a failed Rename
	}()
	if _, err := f.Write(append(b, '\n')); err != nil {
		return err
	}
	if err := f.Sync(); err != nil {
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	final := filepath.Join(dir, HeaderFile)
	if replace {
		err = os.Rename(tmp, final)
	} else {
		err = os.Link(tmp, final) // never replaces: two first starts cannot both win
	}
	if err != nil {
		return err
	}
	return dirsync.Dir(dir)
}

// String describes the parameters (for status pages).
func (p Params) String() string {
	return "argon2id t=" + strconv.Itoa(int(p.Time)) + " m=" + strconv.Itoa(int(p.MemoryKiB)) + "KiB p=" + strconv.Itoa(int(p.Threads))
}
