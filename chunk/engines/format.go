package engines

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// FormatFile is the name of the format lock inside a data directory.
const FormatFile = "storage-format"

// ErrFormatLocked means the flags ask for a storage format other than the one
// the data directory was created with.
var ErrFormatLocked = errors.New("storage format locked after first start")

type format struct {
	Major string `json:"major"`
	Minor string `json:"minor"`
}

// ResolveFormat returns the storage format to use for dataDir, given the
// --storage-major and --storage-minor flags (either may be empty).
//
// If dataDir records a format, that format is returned; a non-empty major or
// minor that differs from it is an error wrapping ErrFormatLocked, and
// nothing is changed. Otherwise (first start) the format is major (default
// "rawfile") at minor (default: the engine's current minor), it is checked
// against the registry and recorded durably in <dataDir>/storage-format,
// creating dataDir if needed.
func ResolveFormat(dataDir, major, minor string) (string, string, error) {
	path := filepath.Join(dataDir, FormatFile)
	b, err := os.ReadFile(path)
	switch {
	case err == nil:
		var f format
		if err := json.Unmarshal(b, &f); err != nil || f.Major == "" {
			return "", "", fmt.Errorf("read %s: malformed storage format %q", path, b)
		}
		if major != "" && major != f.Major {
			return "", "", fmt.Errorf("%w: data dir uses %q, --storage-major asked for %q", ErrFormatLocked, f.Major, major)
		}
		if minor != "" && minor != f.Minor {
			return "", "", fmt.Errorf("%w: data dir uses %s minor %q, --storage-minor asked for %q", ErrFormatLocked, f.Major, f.Minor, minor)
		}
		if _, err := lookup(f.Major); err != nil {
			return "", "", fmt.Errorf("data dir %s: %w", dataDir, err)
		}
		return f.Major, f.Minor, nil
	case errors.Is(err, fs.ErrNotExist):
		// First start.
	default:
		return "", "", fmt.Errorf("read storage format: %w", err)
	}

	askedMajor, askedMinor := major, minor
	if major == "" {
		major = Default
	}
	e, err := lookup(major)
	if err != nil {
		return "", "", err
	}
	if minor == "" {
		minor = e.minor
	}
	if minor != e.minor {
		return "", "", fmt.Errorf("%w: %s minor %q (supported: %q)", ErrUnknownEngine, major, minor, e.minor)
	}
	b, err = json.Marshal(format{Major: major, Minor: minor})
	if err != nil {
		return "", "", err
	}
	if err := writeFileSync(dataDir, FormatFile, append(b, '\n')); err != nil {
		if errors.Is(err, fs.ErrExist) {
			// Another first start won the race; check against its record.
			return ResolveFormat(dataDir, askedMajor, askedMinor)
		}
		return "", "", fmt.Errorf("write storage format: %w", err)
	}
	return major, minor, nil
}

// LockFormat records the storage format at first start and checks it on
// later starts; it is ResolveFormat without the result.
func LockFormat(dataDir, major, minor string) error {
	_, _, err := ResolveFormat(dataDir, major, minor)
	return err
}

// writeFileSync writes dir/name atomically and durably. It does not replace
// an existing file (so two first starts racing cannot both win).
func writeFileSync(dir, name string, data []byte) (err error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	f, err := os.CreateTemp(dir, "."+name+".tmp-")
	if err != nil {
		return err
	}
	tmp := f.Name()
	defer func() {
		if err != nil {
			f.Close()
		}
		os.Remove(tmp) // after Link or on error
	}()
	if _, err := f.Write(data); err != nil {
		return err
	}
	if err := f.Sync(); err != nil {
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Link(tmp, filepath.Join(dir, name)); err != nil {
		return err
	}
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
