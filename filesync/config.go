package filesync

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// Mode says which way changes travel.
type Mode uint8

const (
	Import Mode = 1 << iota // local changes go into the cluster
	Export                  // cluster changes go into the local folder
	Both   = Import | Export
)

func (m Mode) String() string {
	switch m {
	case Import:
		return "import"
	case Export:
		return "export"
	case Both:
		return "both"
	}
	return "invalid"
}

// ParseMode parses "import", "export" or "both".
func ParseMode(s string) (Mode, error) {
	switch s {
	case "import":
		return Import, nil
	case "export":
		return Export, nil
	case "both", "bidirectional":
		return Both, nil
	}
	return 0, fmt.Errorf("sync mode %q: want import, export or both", s)
}

func (m Mode) push() bool { return m&Import != 0 }
func (m Mode) pull() bool { return m&Export != 0 }

// MaxDelete bounds how much one sync round may delete: more than Percent
// of the pair's files (and more than MinDelete files) is refused.
// Percent 100 allows everything, even emptying the folder.
type MaxDelete struct{ Percent float64 }

// DefaultMaxDelete refuses rounds that would delete more than half the files.
var DefaultMaxDelete = MaxDelete{Percent: 50}

// MinDelete: rounds deleting at most this many files are never refused by
// the percentage (a small folder may lose a few files); emptying the whole
// folder is refused anyway unless Percent is 100.
const MinDelete = 10

// ParseMaxDelete parses "50%" or "50" (percent of the pair's files).
func ParseMaxDelete(s string) (MaxDelete, error) {
	v, err := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(s), "%"), 64)
	if err != nil || v < 0 || v > 100 {
		return MaxDelete{}, fmt.Errorf("--max-delete %q: want a percentage 0-100 (e.g. 50%%)", s)
	}
	return MaxDelete{Percent: v}, nil
}

func (m MaxDelete) String() string { return strconv.FormatFloat(m.Percent, 'f', -1, 64) + "%" }

// DefaultRescan is how often an import re-scans the local folder in full,
// the backstop for events fsnotify missed (watch limits, overflows).
const DefaultRescan = 10 * time.Minute

// PairConfig describes one sync pair.
type PairConfig struct {
	Local   string // local folder (made absolute)
	Cluster string // cluster folder ("/photos")
	Mode    Mode
	// Excludes are names or globs (path.Match) matched against every
	// file and directory name, or against the path relative to the
	// folder when they contain a slash; a match excludes the entry and
	// everything under it, on both sides (never deleted on the other).
	Excludes  []string
	MaxDelete MaxDelete
	Rescan    time.Duration // import: full rescan interval (0: DefaultRescan)
	// Once runs one full pass (scan, copy, retries) and stops.
	Once bool
}

// ErrConfig marks an invalid pair configuration.
var ErrConfig = errors.New("invalid sync configuration")

// normalize validates c and fills defaults.
func (c *PairConfig) normalize() error {
	if c.Local == "" {
		return fmt.Errorf("%w: no local folder", ErrConfig)
	}
	abs, err := filepath.Abs(c.Local)
	if err != nil {
		return fmt.Errorf("%w: local folder %q: %v", ErrConfig, c.Local, err)
	}
	c.Local = abs
	if c.Cluster == "" {
		c.Cluster = "/"
	}
	if strings.ContainsRune(c.Cluster, 0) {
		return fmt.Errorf("%w: cluster folder %q", ErrConfig, c.Cluster)
	}
	c.Cluster = path.Clean("/" + c.Cluster)
	for _, part := range strings.Split(c.Cluster, "/") {
		if part == ".." {
			return fmt.Errorf("%w: cluster folder %q", ErrConfig, c.Cluster)
		}
	}
	if c.Mode != Import && c.Mode != Export && c.Mode != Both {
		return fmt.Errorf("%w: mode %d", ErrConfig, c.Mode)
	}
	for _, p := range c.Excludes {
		if _, err := path.Match(p, ""); err != nil {
			return fmt.Errorf("%w: exclude pattern %q: %v", ErrConfig, p, err)
		}
	}
	if c.MaxDelete == (MaxDelete{}) {
		c.MaxDelete = DefaultMaxDelete
	}
	if c.Rescan <= 0 {
		c.Rescan = DefaultRescan
	}
	return nil
}

// ID names the pair (and its state file): the mode and a hash of both
// folders, so the same pair finds its state again.
func (c *PairConfig) ID() string {
	h := sha256.Sum256([]byte(c.Mode.String() + "\x00" + c.Local + "\x00" + c.Cluster))
	return c.Mode.String() + "-" + hex.EncodeToString(h[:6])
}
