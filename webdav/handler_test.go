package webdav

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/clusterf/clusterf/chunk"
	"github.com/clusterf/clusterf/chunk/lifecycle"
	"github.com/clusterf/clusterf/chunk/rawfile"
	"github.com/clusterf/clusterf/crdt"
	"github.com/clusterf/clusterf/replica"
)

func do(t *testing.T, method, u string, body io.Reader, hdr ...string) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, u, body)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, u, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, b
}

func wantStatus(t *testing.T, what string, resp *http.Response, want int) {
	t.Helper()
	if resp.StatusCode != want {
		t.Errorf("%s: status %d, want %d", what, resp.StatusCode, want)
	}
}

func TestPutGetETag(t *testing.T) {
	ts := newTestServer(t, nil, "/photos")
	data := bytes.Repeat([]byte("0123456789"), 20000)
	resp, _ := do(t, "PUT", ts.url+"a.bin", bytes.NewReader(data))
	wantStatus(t, "PUT", resp, http.StatusCreated)
	putTag := resp.Header.Get("ETag")
	resp, got := do(t, "GET", ts.url+"a.bin", nil)
	wantStatus(t, "GET", resp, http.StatusOK)
	if !bytes.Equal(got, data) {
		t.Errorf("GET: %d bytes, want %d", len(got), len(data))
	}
	if tag := resp.Header.Get("ETag"); tag == "" || tag != putTag {
		t.Errorf("GET ETag %q, PUT said %q", tag, putTag)
	}
	resp, _ = do(t, "GET", ts.url+"a.bin", nil, "If-None-Match", putTag)
	wantStatus(t, "conditional GET", resp, http.StatusNotModified)
	resp, got = do(t, "GET", ts.url+"a.bin", nil, "Range", "bytes=10-19")
	wantStatus(t, "range GET", resp, http.StatusPartialContent)
	if string(got) != "0123456789" {
		t.Errorf("range GET: %q", got)
	}
	// Overwrite: new content, new ETag, same mode; readable through the core.
	resp, _ = do(t, "PUT", ts.url+"a.bin", strings.NewReader("new"))
	wantStatus(t, "PUT over", resp, http.StatusCreated)
	if resp.Header.Get("ETag") == putTag {
		t.Errorf("ETag unchanged after overwrite")
	}
	a, err := ts.fs.Walk(context.Background(), "/photos/a.bin")
	if err != nil {
		t.Fatal(err)
	}
	if got := readCore(t, ts.fs, a.Ref); string(got) != "new" {
		t.Errorf("core sees %q", got)
	}
}

func TestStatusCodes(t *testing.T) {
	ts := newTestServer(t, nil, "/s")
	base := strings.TrimSuffix(ts.url, "/webdav/")
	for _, tc := range []struct {
		method, path string
		want         int
	}{
		{"MKCOL", "/webdav/dir", http.StatusCreated},
		{"PUT", "/webdav/dir", http.StatusMethodNotAllowed},
		{"PUT", "/webdav/nodir/x", http.StatusConflict},
		{"MKCOL", "/webdav/nodir/x", http.StatusConflict},
		{"LOCK", "/webdav/nodir/x", http.StatusConflict},
		{"GET", "/webdav/missing", http.StatusNotFound},
		{"DELETE", "/webdav/missing", http.StatusNotFound},
		{"DELETE", "/webdav/", http.StatusMethodNotAllowed},
		{"GET", "/webdav/%2e%2e/x", http.StatusBadRequest},
		{"PUT", "/webdav/a%5Cb", http.StatusBadRequest},
		{"PUT", "/webdav/a%00b", http.StatusBadRequest},
		{"PUT", "/webdavx/a", http.StatusNotFound},
	} {
		var body io.Reader
		if tc.method == "LOCK" {
			body = strings.NewReader(`<?xml version="1.0"?><D:lockinfo xmlns:D="DAV:"><D:lockscope><D:exclusive/></D:lockscope><D:locktype><D:write/></D:locktype></D:lockinfo>`)
		}
		req, err := http.NewRequest(tc.method, base+tc.path, body)
		if err != nil {
			t.Fatal(err)
		}
		req.URL.Opaque = tc.path // keep %2e%2e and %5C as sent
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		wantStatus(t, tc.method+" "+tc.path, resp, tc.want)
	}
	// MOVE with a Destination that climbs out is refused before anything moves.
	do(t, "PUT", ts.url+"f", strings.NewReader("x"))
	resp, _ := do(t, "MOVE", ts.url+"f", nil, "Destination", base+"/webdav/%2e%2e/f")
	wantStatus(t, "MOVE out of the root", resp, http.StatusBadRequest)
	if _, err := ts.fs.Walk(context.Background(), "/s/f"); err != nil {
		t.Errorf("f moved: %v", err)
	}
}

// TestDeadPropsPersist sets a property with PROPPATCH and finds it as an
// extended attribute of the inode, after MOVE too.
func TestDeadPropsPersist(t *testing.T) {
	ts := newTestServer(t, nil, "/p")
	do(t, "PUT", ts.url+"f.txt", strings.NewReader("x"))
	body := `<?xml version="1.0"?><D:propertyupdate xmlns:D="DAV:" xmlns:Z="http://example.com/ns"><D:set><D:prop><Z:color>blue</Z:color></D:prop></D:set></D:propertyupdate>`
	resp, _ := do(t, "PROPPATCH", ts.url+"f.txt", strings.NewReader(body))
	wantStatus(t, "PROPPATCH", resp, http.StatusMultiStatus)
	resp, _ = do(t, "MOVE", ts.url+"f.txt", nil, "Destination", ts.url+"g.txt")
	wantStatus(t, "MOVE", resp, http.StatusCreated)
	a, err := ts.fs.Walk(context.Background(), "/p/g.txt")
	if err != nil {
		t.Fatal(err)
	}
	v, err := ts.fs.GetXattr(context.Background(), a.Ref.Inode, "user.webdav.{http://example.com/ns}color")
	if err != nil || !strings.Contains(string(v), "blue") {
		t.Fatalf("xattr: %q, %v", v, err)
	}
	// A PUT over the file keeps its properties.
	do(t, "PUT", ts.url+"g.txt", strings.NewReader("new content"))
	resp, got := do(t, "PROPFIND", ts.url+"g.txt", strings.NewReader(`<?xml version="1.0"?><D:propfind xmlns:D="DAV:"><D:prop><Z:color xmlns:Z="http://example.com/ns"/></D:prop></D:propfind>`), "Depth", "0")
	wantStatus(t, "PROPFIND", resp, http.StatusMultiStatus)
	if !strings.Contains(string(got), "blue") {
		t.Errorf("property lost by PUT: %s", got)
	}
}

// failingStore fails Put while fail is set.
type failingStore struct {
	chunk.Store
	fail atomic.Bool
}

var errInjected = errors.New("injected chunk store failure")

func (s *failingStore) Put(ctx context.Context, id chunk.ID, blob []byte) error {
	if s.fail.Load() {
		return errInjected
	}
	return s.Store.Put(ctx, id, blob)
}

func failingFS(t *testing.T) (*replica.FS, *failingStore) {
	dir := t.TempDir()
	meta, err := crdt.Open(crdt.Options{Node: "test"})
	if err != nil {
		t.Fatal(err)
	}
	raw, err := rawfile.Open(filepath.Join(dir, "chunks"))
	if err != nil {
		t.Fatal(err)
	}
	store := &failingStore{Store: raw}
	fsys, err := replica.New(replica.Config{Meta: meta, Chunks: lifecycle.New(store, nil), StagingDir: filepath.Join(dir, "staging"), ChunkSize: 64 << 10})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { fsys.Close(); meta.Close(); raw.Close() })
	return fsys, store
}

// TestPutCommitFailure: a PUT whose commit fails answers 500 and leaves the
// old content; no upload leftovers are visible.
func TestPutCommitFailure(t *testing.T) {
	fsys, store := failingFS(t)
	ts := newTestServer(t, fsys, "/f")
	old := bytes.Repeat([]byte("old"), 50000)
	resp, _ := do(t, "PUT", ts.url+"x", bytes.NewReader(old))
	wantStatus(t, "first PUT", resp, http.StatusCreated)
	store.fail.Store(true)
	resp, _ = do(t, "PUT", ts.url+"x", bytes.NewReader(bytes.Repeat([]byte("new"), 50000)))
	wantStatus(t, "PUT with failing commit", resp, http.StatusInternalServerError)
	resp, _ = do(t, "PUT", ts.url+"y", bytes.NewReader(bytes.Repeat([]byte("new"), 50000)))
	wantStatus(t, "new file with failing commit", resp, http.StatusInternalServerError)
	store.fail.Store(false)
	compareTrees(t, "after failed PUTs", map[string][]byte{"x": old}, coreTree(t, fsys, "/f"))
}

// TestPutAbortedBody: a client that sends part of the body and hangs up
// leaves the target as it was.
func TestPutAbortedBody(t *testing.T) {
	ts := newTestServer(t, nil, "/a")
	do(t, "PUT", ts.url+"x", strings.NewReader("old"))
	u, _ := url.Parse(ts.url)
	conn, err := net.Dial("tcp", u.Host)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(conn, "PUT %sx HTTP/1.1\r\nHost: %s\r\nContent-Length: 1000000\r\n\r\n", u.Path, u.Host)
	conn.Write(bytes.Repeat([]byte("partial"), 20000))
	conn.Close()
	// The server notices the hang-up asynchronously.
	for deadline := time.Now().Add(10 * time.Second); ts.done.Load() < 2; {
		if time.Now().After(deadline) {
			t.Fatal("aborted PUT never finished")
		}
		time.Sleep(10 * time.Millisecond)
	}
	compareTrees(t, "after aborted PUT", map[string][]byte{"x": []byte("old")}, coreTree(t, ts.fs, "/a"))
}
