package media

import (
	"fmt"
	"os"
	"path/filepath"
)

// The two functions through which every byte of the media cache is
// written and read. At-rest encryption (issue 18) seals the cache here and
// nowhere else: writeFile would seal data before it reaches the disk and
// readFile open it (entries are whole files, read and written at once, so
// an AEAD over the whole entry fits).

const tmpSuffix = ".tmp"

// writeFile stores data at path atomically (a temporary file renamed into
// place; a crash leaves a *.tmp that openCache removes). The cache is a
// cache: no fsync.
func writeFile(path string, data []byte) error {
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

// readFile returns the bytes stored at path by writeFile.
func readFile(path string) ([]byte, error) {
	return os.ReadFile(path)
}
