package integration

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// commandTimeout bounds every external command, so a hung mount fails the
// test instead of hanging it.
const commandTimeout = 5 * time.Minute

// mustRun runs name with args in dir and returns its combined output. It
// fails the test, printing the combined output, when the command fails.
func mustRun(t testing.TB, dir, name string, args ...string) string {
	t.Helper()
	out, err := run(dir, name, args...)
	if err != nil {
		t.Fatalf("%s %s (in %s): %v\n%s", name, strings.Join(args, " "), dir, err, out)
	}
	return out
}

func run(dir, name string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), commandTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = dir
	cmd.Env = ChildEnv(
		"LC_ALL=C",
		"GIT_CONFIG_NOSYSTEM=1",
		"GIT_CONFIG_GLOBAL="+os.DevNull,
	)
	cmd.WaitDelay = 10 * time.Second
	out, err := cmd.CombinedOutput()
	if ctx.Err() != nil {
		err = fmt.Errorf("timed out after %v: %w", commandTimeout, err)
	}
	return string(out), err
}

// randomBytes returns n deterministic, incompressible bytes.
func randomBytes(n int, seed byte) []byte {
	var key [32]byte
	key[0] = seed
	b := make([]byte, n)
	rand.NewChaCha8(key).Read(b)
	return b
}

func sha(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

func hashFile(t testing.TB, path string) string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		t.Fatalf("read %s: %v", path, err)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// writeFileSync creates path with data, fsyncs and closes it, failing the
// test on any error.
func writeFileSync(t testing.TB, path string, data []byte, perm os.FileMode) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, perm)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		t.Fatalf("write %s: %v", path, err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		t.Fatalf("fsync %s: %v", path, err)
	}
	if err := f.Close(); err != nil {
		t.Fatalf("close %s: %v", path, err)
	}
}

func syncDir(t testing.TB, dir string) {
	t.Helper()
	d, err := os.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		t.Fatalf("fsync dir %s: %v", dir, err)
	}
}

func requireContent(t testing.TB, path string, want []byte) {
	t.Helper()
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read %s: %v", path, err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("%s: content differs: got %d bytes sha256 %s, want %d bytes sha256 %s",
			path, len(got), sha(got)[:16], len(want), sha(want)[:16])
	}
}

func requireErrno(t testing.TB, err error, want error, what string) {
	t.Helper()
	if !errors.Is(err, want) {
		t.Fatalf("%s: got error %v, want %v", what, err, want)
	}
}

// entry is what a tree snapshot records for one path.
type entry struct {
	Mode   fs.FileMode // type bits and permissions
	Size   int64       // regular files only; 0 otherwise
	SHA256 string      // regular files only
	Link   string      // symlink target
	MTime  time.Time
}

// snapshot maps slash-separated paths relative to the root to entries. The
// root itself is not included.
type snapshot map[string]entry

// takeSnapshot walks root without following symlinks.
func takeSnapshot(t testing.TB, root string) snapshot {
	t.Helper()
	s := snapshot{}
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if path == root {
			return nil
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(root, path)
		if err != nil {
			return err
		}
		e := entry{Mode: info.Mode(), MTime: info.ModTime()}
		switch {
		case info.Mode().IsRegular():
			e.Size = info.Size()
			e.SHA256 = hashFile(t, path)
		case info.Mode()&fs.ModeSymlink != 0:
			if e.Link, err = os.Readlink(path); err != nil {
				return err
			}
		}
		s[filepath.ToSlash(rel)] = e
		return nil
	})
	if err != nil {
		t.Fatalf("walk %s: %v", root, err)
	}
	return s
}

// diffSnapshots lists the differences between want and got; mtimes are
// compared (to the nanosecond) only when withMTime is set.
func diffSnapshots(want, got snapshot, withMTime bool) []string {
	var diffs []string
	for _, p := range slices.Sorted(maps.Keys(want)) {
		w := want[p]
		g, ok := got[p]
		if !ok {
			diffs = append(diffs, fmt.Sprintf("%s: missing", p))
			continue
		}
		if w.Mode != g.Mode {
			diffs = append(diffs, fmt.Sprintf("%s: mode %v, want %v", p, g.Mode, w.Mode))
		}
		if w.Size != g.Size || w.SHA256 != g.SHA256 {
			diffs = append(diffs, fmt.Sprintf("%s: size %d sha256 %.16s, want size %d sha256 %.16s", p, g.Size, g.SHA256, w.Size, w.SHA256))
		}
		if w.Link != g.Link {
			diffs = append(diffs, fmt.Sprintf("%s: symlink -> %q, want %q", p, g.Link, w.Link))
		}
		if withMTime && !w.MTime.Equal(g.MTime) {
			diffs = append(diffs, fmt.Sprintf("%s: mtime %v, want %v", p, g.MTime.Format(time.RFC3339Nano), w.MTime.Format(time.RFC3339Nano)))
		}
	}
	for _, p := range slices.Sorted(maps.Keys(got)) {
		if _, ok := want[p]; !ok {
			diffs = append(diffs, fmt.Sprintf("%s: unexpected", p))
		}
	}
	return diffs
}

func requireSameTree(t testing.TB, what string, want, got snapshot, withMTime bool) {
	t.Helper()
	if diffs := diffSnapshots(want, got, withMTime); len(diffs) > 0 {
		t.Fatalf("%s: trees differ (%d differences):\n%s", what, len(diffs), strings.Join(diffs, "\n"))
	}
	if len(want) == 0 {
		t.Fatalf("%s: empty tree", what)
	}
}
