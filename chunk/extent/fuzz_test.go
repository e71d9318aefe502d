package extent

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/clusterf/clusterf/chunk/chunktest"
)

// FuzzDecodeHint: a damaged hint file is refused (then the segment is
// scanned), never trusted with offsets outside its segment, never a panic.
func FuzzDecodeHint(f *testing.F) {
	c := chunktest.RandomChunk(1, 100)
	f.Add(encodeHint(1000, []entry{{kind: kindPut, id: c.ID, off: 0, n: 100}}), int64(1000))
	f.Add(encodeHint(0, nil), int64(0))
	f.Add([]byte(hintMagic), int64(5))
	f.Fuzz(func(t *testing.T, b []byte, size int64) {
		es, ok := decodeHint(b, size)
		if !ok {
			return
		}
		for _, e := range es {
			if e.off < 0 || e.off+recLen(e.n) > size {
				t.Fatalf("entry %+v outside a segment of %d bytes", e, size)
			}
		}
	})
}

// FuzzScan: any segment content scans to records that lie inside it and
// whose CRCs held, and Open recovers from it.
func FuzzScan(f *testing.F) {
	c := chunktest.TextChunk(2, 300)
	rec := append(header(kindPut, c.ID, c.Blob), c.Blob...)
	f.Add(rec)
	f.Add(append(append([]byte{}, rec...), rec[:20]...))
	f.Add(header(kindDel, c.ID, nil))
	f.Fuzz(func(t *testing.T, b []byte) {
		dir := t.TempDir()
		path := filepath.Join(dir, segID{}.name())
		if err := os.WriteFile(path, b, 0o600); err != nil {
			t.Fatal(err)
		}
		fh, err := os.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		es, end, err := scan(fh)
		fh.Close()
		if err != nil {
			t.Fatal(err)
		}
		if end > int64(len(b)) {
			t.Fatalf("scan end %d past %d bytes", end, len(b))
		}
		for _, e := range es {
			if e.off+recLen(e.n) > end {
				t.Fatalf("record %+v past the valid end %d", e, end)
			}
		}
		s, err := OpenOptions(dir, Options{NoAutoCompact: true})
		if err != nil {
			t.Fatal(err)
		}
		s.Close()
	})
}
