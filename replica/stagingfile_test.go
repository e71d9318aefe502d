package replica

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"pgregory.net/rapid"

	"github.com/clusterf/clusterf/atrest"
	"github.com/clusterf/clusterf/chunk/lifecycle"
	"github.com/clusterf/clusterf/chunk/rawfile"
	"github.com/clusterf/clusterf/crdt"
)

// TestEncryptedStaging: with atrest's staging files, writes, truncates and
// commits of a file read back like a byte slice, before and after Flush.
func TestEncryptedStaging(t *testing.T) {
	dir := t.TempDir()
	meta, err := crdt.Open(crdt.Options{Node: "test"})
	if err != nil {
		t.Fatal(err)
	}
	defer meta.Close()
	store, err := rawfile.Open(filepath.Join(dir, "chunks"))
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	const cs = 64 << 10
	f, err := New(Config{
		Meta: meta, Chunks: lifecycle.New(store, nil), ChunkSize: cs,
		StagingDir:    filepath.Join(dir, "staging"),
		StagingMemory: -1, // every staged chunk in atrest's file
		OpenStaging: func(dir, pattern string) (StagingFile, error) {
			return atrest.NewStagingFile(dir, pattern)
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	n := 0
	rapid.Check(t, func(t *rapid.T) {
		n++
		_, h, err := f.Create(ctx, crdt.RootID, "f"+string(rune('a'+n%26))+string(rune('a'+n/26%26)), 0o644, Owner{}, os.O_RDWR)
		if err != nil {
			t.Fatal(err)
		}
		defer h.Release()
		var model []byte
		for range rapid.IntRange(1, 12).Draw(t, "ops") {
			switch rapid.IntRange(0, 3).Draw(t, "op") {
			case 0, 1:
				off := rapid.Int64Range(0, 4*cs).Draw(t, "off")
				p := bytes.Repeat([]byte{byte(rapid.IntRange(1, 255).Draw(t, "b"))}, rapid.IntRange(1, 2*cs).Draw(t, "n"))
				if _, err := h.WriteAt(ctx, p, off); err != nil {
					t.Fatal(err)
				}
				if end := off + int64(len(p)); end > int64(len(model)) {
					model = append(model, make([]byte, end-int64(len(model)))...)
				}
				copy(model[off:], p)
			case 2:
				size := rapid.Int64Range(0, 4*cs).Draw(t, "size")
				if err := h.Truncate(size); err != nil {
					t.Fatal(err)
				}
				if size < int64(len(model)) {
					model = model[:size]
				} else {
					model = append(model, make([]byte, size-int64(len(model)))...)
				}
			case 3:
				if err := h.Flush(ctx); err != nil {
					t.Fatal(err)
				}
			}
			got := make([]byte, len(model))
			if m, err := h.ReadAt(ctx, got, 0); err != nil && m != len(model) {
				t.Fatal(err)
			}
			if !bytes.Equal(got, model) {
				t.Fatal("file content differs from the model")
			}
		}
	})
}
