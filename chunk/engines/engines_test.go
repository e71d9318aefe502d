package engines_test

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/clusterf/clusterf/chunk"
	"github.com/clusterf/clusterf/chunk/chunktest"
	"github.com/clusterf/clusterf/chunk/engines"
)

func TestNames(t *testing.T) {
	if got := engines.Names(); !slices.Equal(got, []string{"bolt", "extent", "rawfile", "sqlite"}) {
		t.Fatalf("Names = %v", got)
	}
}

func TestOpenEach(t *testing.T) {
	for _, name := range engines.Names() {
		t.Run(name, func(t *testing.T) {
			s, err := engines.Open(name, t.TempDir())
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			c := chunktest.TextChunk(1, 1000)
			ctx := context.Background()
			if err := s.Put(ctx, c.ID, c.Blob); err != nil {
				t.Fatal(err)
			}
			blob, err := s.Get(ctx, c.ID)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := chunk.Decode(c.ID, blob); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestOpenUnknown(t *testing.T) {
	_, err := engines.Open("sqlite3", t.TempDir())
	if !errors.Is(err, engines.ErrUnknownEngine) {
		t.Fatalf("err = %v, want ErrUnknownEngine", err)
	}
	for _, want := range []string{`"sqlite3"`, "bolt", "rawfile"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %s", err, want)
		}
	}
}

func readFormat(t *testing.T, dir string) map[string]string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, engines.FormatFile))
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]string
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

func TestResolveFormatDefault(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data") // not created yet
	major, minor, err := engines.ResolveFormat(dir, "", "")
	if err != nil {
		t.Fatal(err)
	}
	if major != "rawfile" || minor != "1" {
		t.Fatalf("first start = %q %q, want rawfile 1", major, minor)
	}
	if m := readFormat(t, dir); m["major"] != "rawfile" || m["minor"] != "1" {
		t.Fatalf("recorded %v", m)
	}
	// Later starts: empty or equal flags use the record.
	for _, flags := range [][2]string{{"", ""}, {"rawfile", ""}, {"rawfile", "1"}, {"", "1"}} {
		major, minor, err := engines.ResolveFormat(dir, flags[0], flags[1])
		if err != nil || major != "rawfile" || minor != "1" {
			t.Fatalf("ResolveFormat(%q, %q) = %q, %q, %v", flags[0], flags[1], major, minor, err)
		}
	}
}

func TestResolveFormatLocked(t *testing.T) {
	dir := t.TempDir()
	if err := engines.LockFormat(dir, "bolt", ""); err != nil {
		t.Fatal(err)
	}
	before, err := os.ReadFile(filepath.Join(dir, engines.FormatFile))
	if err != nil {
		t.Fatal(err)
	}
	_, _, err = engines.ResolveFormat(dir, "rawfile", "")
	if !errors.Is(err, engines.ErrFormatLocked) {
		t.Fatalf("err = %v, want ErrFormatLocked", err)
	}
	want := `storage format locked after first start: data dir uses "bolt", --storage-major asked for "rawfile"`
	if err.Error() != want {
		t.Fatalf("error = %q\nwant    %q", err, want)
	}
	if _, _, err := engines.ResolveFormat(dir, "", "2"); !errors.Is(err, engines.ErrFormatLocked) {
		t.Fatalf("other minor: err = %v, want ErrFormatLocked", err)
	}
	after, _ := os.ReadFile(filepath.Join(dir, engines.FormatFile))
	if string(before) != string(after) {
		t.Fatalf("format file changed: %s -> %s", before, after)
	}
	major, _, err := engines.ResolveFormat(dir, "", "")
	if err != nil || major != "bolt" {
		t.Fatalf("empty flags after bolt = %q, %v", major, err)
	}
}

func TestResolveFormatFirstStartErrors(t *testing.T) {
	dir := t.TempDir()
	if _, _, err := engines.ResolveFormat(dir, "nope", ""); !errors.Is(err, engines.ErrUnknownEngine) {
		t.Fatalf("unknown major: err = %v", err)
	}
	if _, _, err := engines.ResolveFormat(dir, "rawfile", "9"); !errors.Is(err, engines.ErrUnknownEngine) {
		t.Fatalf("unknown minor: err = %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, engines.FormatFile)); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("a failed first start wrote the format: %v", err)
	}
	ents, _ := os.ReadDir(dir)
	if len(ents) != 0 {
		t.Fatalf("left files: %v", ents)
	}
}

func TestResolveFormatMalformed(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, engines.FormatFile), []byte("{garbage"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, _, err := engines.ResolveFormat(dir, "", ""); err == nil {
		t.Fatal("malformed format file accepted")
	}
}
