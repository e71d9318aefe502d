package crdt

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestWriteFuzzCorpus regenerates testdata/fuzz seed files when
// CRDT_WRITE_CORPUS=1.
func TestWriteFuzzCorpus(t *testing.T) {
	if os.Getenv("CRDT_WRITE_CORPUS") != "1" {
		checkFuzzCorpus(t)
		return
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

// checkFuzzCorpus asserts that the committed seed corpus holds real,
// decodable ops and a decodable snapshot (seeds use random ids, so they are
// checked for validity rather than compared byte for byte).
func checkFuzzCorpus(t *testing.T) {
	read := func(fuzz string) [][]byte {
		files, _ := filepath.Glob(filepath.Join("testdata", "fuzz", fuzz, "seed*"))
		if len(files) == 0 {
			t.Fatalf("no seed corpus for %s: run with CRDT_WRITE_CORPUS=1", fuzz)
		}
		var out [][]byte
		for _, f := range files {
			raw, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			var b []byte
			if _, err := fmt.Sscanf(strings.TrimPrefix(string(raw), "go test fuzz v1\n"), "[]byte(%q)", &b); err != nil {
				t.Fatalf("%s: not a go fuzz corpus file: %v", f, err)
			}
			out = append(out, b)
		}
		return out
	}
	decoded := 0
	for _, b := range read("FuzzDecodeOps") {
		if _, err := DecodeOps(b); err == nil {
			decoded++
		}
	}
	if decoded == 0 {
		t.Error("no FuzzDecodeOps seed decodes: the corpus holds no real ops")
	}
	for _, b := range read("FuzzDecodeSnapshot") {
		if _, err := DecodeSnapshot(b); err != nil {
			t.Errorf("snapshot seed does not decode: %v", err)
		}
	}
}
