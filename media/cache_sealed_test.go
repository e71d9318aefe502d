package media

import (
	"bytes"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/clusterf/clusterf/atrest"
)

// logBuffer is a slog handler's output, for checking what was warned.
type logBuffer struct{ bytes.Buffer }

func (l *logBuffer) logger() *slog.Logger { return slog.New(slog.NewTextHandler(&l.Buffer, nil)) }

// TestSealedCache: with keys the cache directory holds neither an entry's
// bytes nor its name; entries read back across a reopen with the same
// keys; a flipped byte, a truncated file, an entry moved to another
// entry's name and other keys all read as a miss (the entry is dropped and
// made again), never as data.
func TestSealedCache(t *testing.T) {
	keys := atrest.KeysFromMaster([32]byte{1})
	dir := t.TempDir()
	var logs logBuffer
	c, err := openCache(dir, 1<<20, logs.logger(), keys)
	if err != nil {
		t.Fatal(err)
	}
	const mark = "SEGMENT-PLAINTEXT-MARK"
	entries := map[string][]byte{
		"0123abcd-v1-1080p-3.m4s":     []byte(strings.Repeat(mark, 200)),
		"0123abcd-v1-thumb-256.jpg":   []byte("\xff\xd8\xff\xe0" + mark),
		"0123abcd-v1-keyframes.json":  []byte(`{"keyframes":[0,4.2],"m":"` + mark + `"}`),
		"0123abcd-v1-1080p-init.mp4":  []byte("\x00\x00\x00\x18ftypiso5" + mark),
		"0123abcd-v1-1080p-4.m4s":     []byte(strings.Repeat(mark, 3)),
		"0123abcd-v1-1080p-empty.m4s": {},
	}
	for name, data := range entries {
		if !c.put(name, data) {
			t.Fatalf("put %s refused", name)
		}
	}
	files, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(files) != len(entries) {
		t.Fatalf("%d files for %d entries", len(files), len(entries))
	}
	for _, f := range files {
		for _, part := range []string{"0123abcd", "m4s", "jpg", "json", "thumb", "1080p", "init"} {
			if strings.Contains(f.Name(), part) {
				t.Errorf("file name %s shows %q", f.Name(), part)
			}
		}
		b, err := os.ReadFile(filepath.Join(dir, f.Name()))
		if err != nil {
			t.Fatal(err)
		}
		for _, needle := range []string{mark, "ftyp", "\xff\xd8\xff", "keyframes"} {
			if bytes.Contains(b, []byte(needle)) {
				t.Errorf("file %s holds %q", f.Name(), needle)
			}
		}
	}
	if used, _ := c.usage(); used != onDiskT(t, dir) {
		t.Fatalf("accounted %d bytes, the files take %d", used, onDiskT(t, dir))
	}

	c, err = openCache(dir, 1<<20, logs.logger(), keys)
	if err != nil {
		t.Fatal(err)
	}
	for name, data := range entries {
		if b, ok := c.get(name); !ok || !bytes.Equal(b, data) {
			t.Fatalf("after reopen %s: ok=%v, %d bytes, want %d", name, ok, len(b), len(data))
		}
	}

	path := func(name string) string { return filepath.Join(dir, c.crypt.fileName(name)) }
	damage := []struct {
		name string
		do   func(p string) error
	}{
		{"0123abcd-v1-1080p-3.m4s", func(p string) error { return flipByte(p, 100) }},
		{"0123abcd-v1-thumb-256.jpg", func(p string) error { return os.Truncate(p, 30) }},
		{"0123abcd-v1-keyframes.json", func(p string) error { return os.Rename(path("0123abcd-v1-1080p-init.mp4"), p) }},
	}
	for _, d := range damage {
		if err := d.do(path(d.name)); err != nil {
			t.Fatal(err)
		}
		if b, ok := c.get(d.name); ok {
			t.Fatalf("damaged %s read as %d bytes of data", d.name, len(b))
		}
		if _, err := os.Stat(path(d.name)); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("damaged %s was not dropped: %v", d.name, err)
		}
	}
	if n := strings.Count(logs.String(), "failed authentication"); n != len(damage) {
		t.Errorf("%d authentication failures logged, want %d:\n%s", n, len(damage), logs.String())
	}
	if !c.put("0123abcd-v1-1080p-3.m4s", entries["0123abcd-v1-1080p-3.m4s"]) {
		t.Fatal("a dropped entry cannot be made again")
	}
	if b, ok := c.get("0123abcd-v1-1080p-3.m4s"); !ok || !bytes.Equal(b, entries["0123abcd-v1-1080p-3.m4s"]) {
		t.Fatal("the entry made again does not read back")
	}

	// Other keys: other names, so nothing is found; a file opened under
	// the wrong key is not data either.
	other, err := openCache(dir, 1<<20, logs.logger(), atrest.KeysFromMaster([32]byte{2}))
	if err != nil {
		t.Fatal(err)
	}
	for name := range entries {
		if _, ok := other.get(name); ok {
			t.Fatalf("%s found under other keys", name)
		}
	}
	mine := c.crypt.fileName("0123abcd-v1-1080p-4.m4s")
	if err := os.Rename(filepath.Join(dir, mine), filepath.Join(dir, other.crypt.fileName("0123abcd-v1-1080p-4.m4s"))); err != nil {
		t.Fatal(err)
	}
	other, err = openCache(dir, 1<<20, logs.logger(), atrest.KeysFromMaster([32]byte{2}))
	if err != nil {
		t.Fatal(err)
	}
	if b, ok := other.get("0123abcd-v1-1080p-4.m4s"); ok {
		t.Fatalf("an entry sealed under other keys read as %d bytes of data", len(b))
	}
}

func flipByte(p string, at int) error {
	b, err := os.ReadFile(p)
	if err != nil {
		return err
	}
	b[at] ^= 0x20
	return os.WriteFile(p, b, 0o600)
}

func onDiskT(t *testing.T, dir string) int64 {
	t.Helper()
	des, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var n int64
	for _, de := range des {
		info, err := de.Info()
		if err != nil {
			t.Fatal(err)
		}
		n += blocks(info.Size())
	}
	return n
}
