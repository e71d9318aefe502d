package integration

import (
	"bufio"
	"bytes"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// fuseReads returns how many FUSE read requests the node served so far.
func fuseReads(t *testing.T, base string) int64 {
	t.Helper()
	_, body := httpDo(t, "GET", base+"/api/metrics", nil)
	sc := bufio.NewScanner(bytes.NewReader(body))
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), `clusterf_fuse_op_duration_seconds_count{op="read"} `); ok {
			n, err := strconv.ParseFloat(v, 64)
			if err != nil {
				t.Fatal(err)
			}
			return int64(n)
		}
	}
	return 0
}

// TestKeepCacheFollowsOtherWriters: an open of a file whose content did
// not change since the kernel cached it keeps the kernel's page cache
// (FOPEN_KEEP_CACHE: the re-read asks the daemon nothing, by its read
// counter), and REST, WebDAV and mount writes in between are all seen
// through the mount (sizes stay the same, so only the content differs).
// A REST or WebDAV PUT replaces the file by a new inode (a rename over
// it), which the mount shows once the kernel's 1 s entry cache lets go;
// after that every read shows it. Writes in place from another node are
// TestRemoteChangesInvalidateKernelCaches (one-hour kernel caches).
func TestKeepCacheFollowsOtherWriters(t *testing.T) {
	port := freeTCPPort(t)
	n := StartNode(t, NodeOptions{ExtraArgs: []string{"--http-port", strconv.Itoa(port)}})
	base := "http://127.0.0.1:" + strconv.Itoa(port)
	eventually(t, 30*time.Second, "HTTP up", func() string {
		resp, err := http.Get(base + "/status")
		if err != nil {
			return err.Error()
		}
		resp.Body.Close()
		return ""
	})
	p := filepath.Join(n.Mountpoint(), "k.bin")
	const size = 1<<20 + 5
	writeFileSync(t, p, randomBytes(size, 1), 0o644)

	// Some re-read is served by the kernel alone (the first ones may
	// follow the invalidation that the write's own commit sends).
	kept := false
	for i := 0; i < 5 && !kept; i++ {
		before := fuseReads(t, base)
		requireContent(t, p, randomBytes(size, 1))
		kept = i > 0 && fuseReads(t, base) == before
	}
	if !kept {
		t.Fatal("no re-read of an unchanged file was served from the kernel's page cache")
	}

	for i := byte(2); i < 22; i++ {
		want := randomBytes(size, i)
		url := base + "/api/files/k.bin"
		if i%2 == 1 {
			url = base + "/webdav/k.bin"
		}
		if code, body := httpDo(t, "PUT", url, want); code/100 != 2 {
			t.Fatalf("PUT %s: %d %s", url, code, body)
		}
		eventually(t, 20*time.Second, "PUT shown by the mount", contentIs(p, want))
		for range 3 { // and on every read after it, kept or not
			requireContent(t, p, want)
		}
		if i%4 == 0 {
			// A write through the mount, then a REST read and a mount read.
			mine := randomBytes(size, 100+i)
			if err := os.WriteFile(p, mine, 0o644); err != nil {
				t.Fatal(err)
			}
			if code, got := httpDo(t, "GET", base+"/api/files/k.bin", nil); code != 200 || !bytes.Equal(got, mine) {
				t.Fatalf("REST GET after a mount write: %d, %d bytes", code, len(got))
			}
			requireContent(t, p, mine)
		}
	}
}
