package media

import (
	"bytes"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"testing"

	"pgregory.net/rapid"

	"github.com/clusterf/clusterf/atrest"
)

// TestCacheProperties: whatever is put, read and dropped, the accounted
// size stays within the cap, equals what the files take in whole blocks,
// every indexed entry reads back what was put, and a reopened cache
// accounts the same entries (and, sealed, reads them back). With
// encryption on or off.
func TestCacheProperties(t *testing.T) {
	rapid.Check(t, func(rt *rapid.T) {
		dir, err := os.MkdirTemp("", "media-cache-prop-")
		if err != nil {
			rt.Fatal(err)
		}
		defer os.RemoveAll(dir)
		capacity := int64(rapid.IntRange(1, 64).Draw(rt, "blocks")) * blockSize
		log := slog.New(slog.DiscardHandler)
		var keys *atrest.Keys
		if rapid.Bool().Draw(rt, "sealed") {
			keys = atrest.KeysFromMaster([32]byte{7})
		}
		c, err := openCache(dir, capacity, log, keys)
		if err != nil {
			rt.Fatal(err)
		}
		want := map[string][]byte{}
		for i := range rapid.IntRange(1, 60).Draw(rt, "ops") {
			name := fmt.Sprintf("e%d", rapid.IntRange(0, 15).Draw(rt, "name"))
			switch rapid.IntRange(0, 2).Draw(rt, "op") {
			case 0:
				data := bytes.Repeat([]byte{byte(i)}, rapid.IntRange(0, 40_000).Draw(rt, "size"))
				if c.put(name, data) {
					want[name] = data
				} else if c.entrySize(len(data)) <= capacity {
					rt.Fatalf("put of %d bytes refused with a cap of %d", len(data), capacity)
				}
			case 1:
				if b, ok := c.get(name); ok && !bytes.Equal(b, want[name]) {
					rt.Fatalf("%s reads back %d bytes, %d were put", name, len(b), len(want[name]))
				}
			case 2:
				c.drop(name)
			}
			used, _ := c.usage()
			if used > capacity {
				rt.Fatalf("cache uses %d of %d", used, capacity)
			}
			if disk := onDisk(rt, dir); disk != used {
				rt.Fatalf("accounted %d bytes, the files take %d", used, disk)
			}
		}
		used, n := c.usage()
		c2, err := openCache(dir, capacity, log, keys)
		if err != nil {
			rt.Fatal(err)
		}
		if u2, n2 := c2.usage(); u2 != used || n2 != n {
			rt.Fatalf("reopened: %d bytes in %d entries, was %d in %d", u2, n2, used, n)
		}
		for name, data := range want {
			if b, ok := c2.get(name); ok && !bytes.Equal(b, data) {
				rt.Fatalf("reopened: %s reads back %d bytes, %d were put", name, len(b), len(data))
			}
		}
	})
}

func onDisk(t *rapid.T, dir string) int64 {
	var n int64
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			if info, err := d.Info(); err == nil {
				n += blocks(info.Size())
			}
		}
		return nil
	})
	return n
}
