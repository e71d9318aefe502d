package crdt

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

// TestWriteFuzzCorpus regenerates testdata/fuzz seed files when
// CRDT_WRITE_CORPUS=1.
func TestWriteFuzzCorpus(t *testing.T) {
	if os.Getenv("CRDT_WRITE_CORPUS") != "1" {
		t.Skip("set CRDT_WRITE_CORPUS=1 to regenerate")
	}
	batches, snap := fuzzSeeds(t)
	write := func(fuzz string, i int, b []byte) {
		dir := filepath.Join("testdata", "fuzz", fuzz)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		data := fmt.Sprintf("go test fuzz v1\n[]byte(%q)\n", b)
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("seed%d", i)), []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for i, b := range batches {
		write("FuzzDecodeOps", i, b)
		write("FuzzApply", i, b)
	}
	write("FuzzDecodeSnapshot", 0, snap)
	write("FuzzDecodeOps", len(batches), []byte{1, 0x81, 0xa1, 0x01, 0xa2, 0x01, 0x61, 0x6e, 0x02, 0x01})
}
