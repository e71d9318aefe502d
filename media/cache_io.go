package media

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"

	"github.com/clusterf/clusterf/atrest"
)

// The functions through which every byte and every file name of the media
// cache pass. With at-rest encryption (issue 18, Config.Keys) an entry is
// one sealed record (XChaCha20-Poly1305, atrest.Sealer) with its file name
// as associated data, so an entry changed, truncated or moved to another
// name never opens; and the file name is keyed (HMAC-SHA256 of the entry
// name), so the directory shows neither version keys nor what an entry is
// (segment, thumbnail, keyframe index, rendition). Entries are whole
// files, read and written at once, so one record per entry fits.

const tmpSuffix = ".tmp"

// cacheCrypt is the cache's at-rest encryption; the zero value is off.
type cacheCrypt struct {
	seal  *atrest.Sealer
	names [atrest.KeySize]byte // HMAC key of the file names
}

func newCacheCrypt(keys *atrest.Keys) cacheCrypt {
	if keys == nil {
		return cacheCrypt{}
	}
	return cacheCrypt{seal: keys.Sealer("media-cache"), names: keys.Derive("media-cache names")}
}

// fileName is the name on disk of the entry name.
func (cc cacheCrypt) fileName(name string) string {
	if cc.seal == nil {
		return name
	}
	m := hmac.New(sha256.New, cc.names[:])
	m.Write([]byte(name))
	return hex.EncodeToString(m.Sum(nil)[:20])
}

// overhead is what the disk holds beyond an entry's bytes.
func (cc cacheCrypt) overhead() int {
	if cc.seal == nil {
		return 0
	}
	return atrest.Overhead
}

// writeFile stores data at path atomically (a temporary file renamed into
// place; a crash leaves a *.tmp that openCache removes), sealed when
// encryption is on. The cache is a cache: no fsync.
func (cc cacheCrypt) writeFile(path string, data []byte) error {
	if cc.seal != nil {
		data = cc.seal.Seal(nil, data, []byte(filepath.Base(path)))
	}
	f, err := os.CreateTemp(filepath.Dir(path), filepath.Base(path)+".*"+tmpSuffix)
	if err != nil {
		return fmt.Errorf("media cache: %w", err)
	}
	_, err = f.Write(data)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(f.Name(), path)
	}
	if err != nil {
		os.Remove(f.Name())
		return fmt.Errorf("media cache: %w", err)
	}
	return nil
}

// readFile returns the bytes stored at path by writeFile. A sealed entry
// that fails to open is an error wrapping atrest.ErrTampered, never data.
func (cc cacheCrypt) readFile(path string) ([]byte, error) {
	b, err := os.ReadFile(path)
	if err != nil || cc.seal == nil {
		return b, err
	}
	plain, err := cc.seal.OpenInPlace(b, []byte(filepath.Base(path)))
	if err != nil {
		return nil, fmt.Errorf("media cache %s: %w", filepath.Base(path), err)
	}
	return plain, nil
}
