package api

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"reflect"
	"strings"
	"testing"
	"time"
)

func sha(b []byte) string { s := sha256.Sum256(b); return hex.EncodeToString(s[:]) }

func TestPutGetDelete(t *testing.T) {
	e := newEnv(t, Config{})
	data := []byte(`{"hello": "world"}`)

	resp := e.put("/api/files/docs/a/hello.json", data)
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("first PUT: %d, want 201", resp.StatusCode)
	}
	etag1 := resp.Header.Get("ETag")
	if etag1 == "" || resp.Header.Get(headerChecksum) != sha(data) {
		t.Fatalf("PUT headers: ETag %q checksum %q", etag1, resp.Header.Get(headerChecksum))
	}
	if loc := resp.Header.Get("Location"); loc != "/api/files/docs/a/hello.json" {
		t.Errorf("Location %q", loc)
	}

	r, b := e.do("GET", "/api/files/docs/a/hello.json", nil)
	if r.StatusCode != 200 || !bytes.Equal(b, data) {
		t.Fatalf("GET: %d %q", r.StatusCode, b)
	}
	if ct := r.Header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type %q", ct)
	}
	if r.Header.Get("ETag") != etag1 || r.Header.Get(headerChecksum) != sha(data) || r.Header.Get("Last-Modified") == "" {
		t.Errorf("GET headers: %v", r.Header)
	}

	// Replace: 204 and a new ETag.
	data2 := []byte("<html><body>x</body></html>")
	resp = e.put("/api/files/docs/a/hello.json", data2)
	if resp.StatusCode != http.StatusNoContent {
		t.Fatalf("second PUT: %d, want 204", resp.StatusCode)
	}
	if resp.Header.Get("ETag") == etag1 || resp.Header.Get(headerChecksum) != sha(data2) {
		t.Errorf("replace headers: %v", resp.Header)
	}
	if b := e.want(200, "GET", "/api/files/docs/a/hello.json", nil); !bytes.Equal(b, data2) {
		t.Fatalf("GET after replace: %q", b)
	}

	// HEAD: headers, no body.
	r, b = e.do("HEAD", "/api/files/docs/a/hello.json", nil)
	if r.StatusCode != 200 || len(b) != 0 || r.ContentLength != int64(len(data2)) {
		t.Fatalf("HEAD: %d len %d cl %d", r.StatusCode, len(b), r.ContentLength)
	}

	// Sniffing without a known extension.
	e.put("/api/files/noext", []byte("<html><body>hi</body></html>"))
	r, _ = e.do("GET", "/api/files/noext", nil)
	if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/html") {
		t.Errorf("sniffed Content-Type %q", ct)
	}

	// Empty file.
	e.put("/api/files/empty.bin", nil)
	if b := e.want(200, "GET", "/api/files/empty.bin", nil); len(b) != 0 {
		t.Errorf("empty file: %q", b)
	}

	// DELETE file, then 404.
	e.want(204, "DELETE", "/api/files/docs/a/hello.json", nil)
	e.wantErr(404, "GET", "/api/files/docs/a/hello.json", nil)
	e.wantErr(404, "DELETE", "/api/files/docs/a/hello.json", nil)
	e.want(404, "HEAD", "/api/files/docs/a/hello.json", nil)

	// DELETE of a non-empty directory: 409 unless recursive.
	e.put("/api/files/tree/x/y/z.txt", []byte("z"))
	e.put("/api/files/tree/w.txt", []byte("w"))
	e.wantErr(409, "DELETE", "/api/files/tree", nil)
	e.wantErr(400, "DELETE", "/api/files/tree?recursive=maybe", nil)
	e.want(204, "DELETE", "/api/files/tree?recursive=true", nil)
	e.wantErr(404, "GET", "/api/files/tree/", nil)
	// Empty directory: plain DELETE.
	e.want(201, "POST", "/api/files/emptydir", nil, headerCreateDir, "true")
	e.want(204, "DELETE", "/api/files/emptydir/", nil)
	e.wantErr(400, "DELETE", "/api/files/", nil)
}

func TestPutErrors(t *testing.T) {
	e := newEnv(t, Config{MaxUpload: 1000})
	e.put("/api/files/f.txt", []byte("x"))
	e.want(201, "POST", "/api/files/dir", nil, headerCreateDir, "true")

	e.wantErr(409, "PUT", "/api/files/dir", strings.NewReader("x"))       // a directory is in the way
	e.wantErr(409, "PUT", "/api/files/", strings.NewReader("x"))          // the root
	e.wantErr(409, "PUT", "/api/files/f.txt/sub", strings.NewReader("x")) // a file is in the way
	e.wantErr(400, "PUT", "/api/files/dir/new/", strings.NewReader("x"))  // trailing slash
	e.wantErr(400, "PUT", "/api/files/g.txt", strings.NewReader("x"), headerModifiedAt, "yesterday")
	e.wantErr(400, "PUT", "/api/files/"+strings.Repeat("n", 256), strings.NewReader("x"))
	// 413 by Content-Length, and by counting a body without one.
	e.wantErr(413, "PUT", "/api/files/big", bytes.NewReader(make([]byte, 1001)))
	e.wantErr(413, "PUT", "/api/files/big", struct{ *bytes.Reader }{bytes.NewReader(make([]byte, 5000))})
	e.wantErr(404, "GET", "/api/files/big", nil)
	// Preconditions.
	e.wantErr(412, "PUT", "/api/files/f.txt", strings.NewReader("y"), "If-None-Match", "*")
	e.wantErr(412, "PUT", "/api/files/f.txt", strings.NewReader("y"), "If-Match", `"nope"`)
	e.wantErr(412, "PUT", "/api/files/absent", strings.NewReader("y"), "If-Match", "*")
	r, _ := e.do("GET", "/api/files/f.txt", nil)
	e.want(204, "PUT", "/api/files/f.txt", strings.NewReader("y"), "If-Match", r.Header.Get("ETag"))
	e.want(201, "PUT", "/api/files/h.txt", strings.NewReader("h"), "If-None-Match", "*")

	// A failed upload leaves nothing behind (no temp files either).
	for _, p := range e.namespace() {
		if strings.Contains(p, "clusterf-upload") || p == "big" {
			t.Errorf("left behind: %s", p)
		}
	}
}

func TestModifiedAt(t *testing.T) {
	e := newEnv(t, Config{})
	when := "2021-03-04T05:06:07Z"
	e.put("/api/files/old.txt", []byte("old"), headerModifiedAt, when)
	m := decode[Metadata](t, e.want(200, "GET", "/api/metadata/old.txt", nil))
	want, _ := time.Parse(time.RFC3339, when)
	if !m.ModifiedAt.Equal(want) {
		t.Errorf("modified_at %v, want %v", m.ModifiedAt, want)
	}
	r, _ := e.do("GET", "/api/files/old.txt", nil)
	if lm := r.Header.Get("Last-Modified"); lm != want.Format(http.TimeFormat) {
		t.Errorf("Last-Modified %q", lm)
	}
}

func TestMkdirAndList(t *testing.T) {
	e := newEnv(t, Config{})
	b := e.want(201, "POST", "/api/files/a/b/c", nil, headerCreateDir, "true")
	if m := decode[Metadata](t, b); !m.IsDirectory || m.Path != "/a/b/c" || m.Name != "c" || m.ContentType != dirContentType {
		t.Errorf("mkdir metadata %+v", m)
	}
	e.want(200, "POST", "/api/files/a/b/c", nil, headerCreateDir, "true") // already there
	e.wantErr(400, "POST", "/api/files/a/x", nil)                         // header missing
	e.put("/api/files/a/file.txt", []byte("1234"))
	e.wantErr(409, "POST", "/api/files/a/file.txt", nil, headerCreateDir, "true")
	e.wantErr(409, "POST", "/api/files/a/file.txt/sub", nil, headerCreateDir, "true")

	l := decode[Listing](t, e.want(200, "GET", "/api/files/a/", nil))
	if l.Path != "/a" || l.Count != 2 || len(l.Entries) != 2 {
		t.Fatalf("listing %+v", l)
	}
	if d, f := l.Entries[0], l.Entries[1]; d.Name != "b" || !d.IsDirectory || f.Name != "file.txt" || f.IsDirectory || f.Size != 4 || f.Path != "/a/file.txt" || f.ETag == "" {
		t.Errorf("entries %+v", l.Entries)
	}
	// Without the trailing slash, and the root both ways.
	if l2 := decode[Listing](t, e.want(200, "GET", "/api/files/a", nil)); !reflect.DeepEqual(l, l2) {
		t.Errorf("listing without slash differs: %+v", l2)
	}
	for _, p := range []string{"/api/files", "/api/files/"} {
		if l := decode[Listing](t, e.want(200, "GET", p, nil)); l.Path != "/" || l.Count != 1 || l.Entries[0].Name != "a" {
			t.Errorf("root listing %s: %+v", p, l)
		}
	}
	e.want(200, "HEAD", "/api/files/a/", nil)
	e.wantErr(404, "GET", "/api/files/nope/", nil)
	e.wantErr(404, "GET", "/api/files/a/file.txt/x", nil) // through a file
}

func TestMetadata(t *testing.T) {
	e := newEnv(t, Config{})
	data := []byte("\x89PNG\r\n\x1a\n....")
	e.put("/api/files/pics/img", data) // no extension: sniffed
	m := decode[Metadata](t, e.want(200, "GET", "/api/metadata/pics/img", nil))
	if m.Name != "img" || m.Path != "/pics/img" || m.Size != int64(len(data)) || m.ContentType != "image/png" ||
		m.IsDirectory || m.Checksum != sha(data) || m.Kind != "file" || m.Mode != "0644" || m.Inode == "" ||
		m.Version == "" || m.CreatedAt.IsZero() || m.ModifiedAt.IsZero() || m.ETag == "" {
		t.Errorf("metadata %+v", m)
	}
	d := decode[Metadata](t, e.want(200, "GET", "/api/metadata/pics", nil))
	if !d.IsDirectory || d.Kind != "directory" || d.Checksum != "" {
		t.Errorf("dir metadata %+v", d)
	}
	root := decode[Metadata](t, e.want(200, "GET", "/api/metadata/", nil))
	if root.Path != "/" || !root.IsDirectory {
		t.Errorf("root metadata %+v", root)
	}
	e.wantErr(404, "GET", "/api/metadata/pics/none", nil)
	e.wantErr(400, "GET", "/api/metadata/../etc", nil)

	// The raw JSON has the original field names.
	raw := decode[map[string]any](t, e.want(200, "GET", "/api/metadata/pics/img", nil))
	for _, k := range []string{"name", "path", "size", "content_type", "created_at", "modified_at", "is_directory", "checksum"} {
		if _, ok := raw[k]; !ok {
			t.Errorf("metadata lacks %q", k)
		}
	}
}

func TestSearch(t *testing.T) {
	e := newEnv(t, Config{})
	for _, p := range []string{"photos/Vacation/beach.jpg", "photos/vacation-2.jpg", "docs/notes.txt", "docs/old/VACATION.md"} {
		e.put("/api/files/"+p, []byte(p))
	}
	e.syncSearch()
	res := decode[SearchResult](t, e.want(200, "GET", "/api/search?q=vacation", nil))
	var got []string
	for _, r := range res.Results {
		got = append(got, r.Path)
	}
	want := []string{"/photos/Vacation", "/photos/vacation-2.jpg", "/docs/old/VACATION.md", "/photos/Vacation/beach.jpg"}
	if res.Count != 4 || !sameSet(got, want) {
		t.Errorf("search: %d %v, want %v", res.Count, got, want)
	}
	res = decode[SearchResult](t, e.want(200, "POST", "/api/search", strings.NewReader(`{"query":"JPG","limit":1}`)))
	if res.Count != 1 || len(res.Results) != 1 || !strings.HasSuffix(res.Results[0].Path, ".jpg") {
		t.Errorf("limited search %+v", res)
	}
	res = decode[SearchResult](t, e.want(200, "GET", "/api/search?q=notes&path=/docs", nil))
	if res.Count != 1 {
		t.Errorf("subtree search %+v", res)
	}
	res = decode[SearchResult](t, e.want(200, "GET", "/api/search?q=nomatch", nil))
	if res.Count != 0 || res.Results == nil {
		t.Errorf("empty search %+v", res)
	}
	e.wantErr(400, "GET", "/api/search", nil)
	e.wantErr(400, "GET", "/api/search?q=x&limit=abc", nil)
	e.wantErr(400, "GET", "/api/search?q=x&limit=5000", nil)
	e.wantErr(400, "POST", "/api/search", strings.NewReader(`{"query":`))
	e.wantErr(400, "POST", "/api/search", strings.NewReader(`{"limit":3}`))
	e.wantErr(400, "GET", "/api/search?q=x&path=../up", nil)
}

func sameSet(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	m := map[string]int{}
	for _, x := range a {
		m[x]++
	}
	for _, x := range b {
		m[x]--
	}
	for _, n := range m {
		if n != 0 {
			return false
		}
	}
	return true
}

// TestTraversal sends hostile paths as raw request lines: each gets 400 and
// the namespace does not change.
func TestTraversal(t *testing.T) {
	e := newEnv(t, Config{})
	e.put("/api/files/inside/secret.txt", []byte("s"))
	e.put("/api/files/x", []byte("x"))
	before := e.namespace()
	paths := []string{
		"../x", "inside/../x", "inside/..", "..", ".", "./x",
		"%2e%2e/x", "%2E%2E", "inside/%2e%2e/x", "%2e",
		"%252e%252e/x", "%252e%252e", "inside/%252E%252E",
		"..%5cx", "a%5c..%5cx", "inside\\..\\x",
		"a%00b", "%00", "inside/secret.txt%00.jpg",
		"a%0ab", "a%0db", "a%7f",
		"%ff%fe",
		strings.Repeat("n", 256),
		strings.Repeat("d/", 2049),
	}
	methods := []string{"GET", "HEAD", "PUT", "DELETE", "POST"}
	for _, p := range paths {
		for _, m := range methods {
			resp, b := e.do(m, "/api/files/"+p, strings.NewReader("evil"), headerCreateDir, "true")
			if resp.StatusCode != http.StatusBadRequest {
				t.Errorf("%s /api/files/%.60s: status %d, want 400 (%s)", m, p, resp.StatusCode, b)
			}
		}
		if resp, _ := e.do("GET", "/api/metadata/"+p, nil); resp.StatusCode != 400 {
			t.Errorf("GET /api/metadata/%.60s: status %d, want 400", p, resp.StatusCode)
		}
	}
	if after := e.namespace(); !reflect.DeepEqual(before, after) {
		t.Errorf("namespace changed: %v -> %v", before, after)
	}
	// An encoded route prefix still reaches the same checks.
	e.wantErr(400, "GET", "/api/files/%2e%2e%2fx", nil)
	// Harmless encodings work.
	e.put("/api/files/my%20file%25.txt", []byte("ok"))
	if b := e.want(200, "GET", "/api/files/my%20file%25.txt", nil); string(b) != "ok" {
		t.Errorf("encoded name: %q", b)
	}
	if _, err := e.fs.Walk(t.Context(), "my file%.txt"); err != nil {
		t.Errorf("encoded name stored wrongly: %v", err)
	}
}

// TestUpstreamReadmeExamples replays the curl commands of the original
// clusterF README as the requests curl sends.
func TestUpstreamReadmeExamples(t *testing.T) {
	e := newEnv(t, Config{Cluster: &fakeCluster{rf: 3}})
	photo := bytes.Repeat([]byte{0xff, 0xd8, 0xff, 0xe0, 1, 2, 3}, 5000)

	// curl -X PUT --data-binary @photo.jpg http://localhost:8080/api/files/photos/photo.jpg
	resp := e.put("/api/files/photos/photo.jpg", photo, "Content-Type", "application/x-www-form-urlencoded", "User-Agent", "curl/8.5.0", "Accept", "*/*")
	if resp.StatusCode != 201 {
		t.Fatalf("upload: %d", resp.StatusCode)
	}
	// curl http://localhost:8080/api/files/photos/photo.jpg -o photo.jpg
	r, b := e.do("GET", "/api/files/photos/photo.jpg", nil, "Accept", "*/*")
	if r.StatusCode != 200 || !bytes.Equal(b, photo) || r.Header.Get("Content-Type") != "image/jpeg" {
		t.Fatalf("download: %d %d bytes %q", r.StatusCode, len(b), r.Header.Get("Content-Type"))
	}
	// curl http://localhost:8080/api/files/photos/
	l := decode[Listing](t, e.want(200, "GET", "/api/files/photos/", nil))
	if l.Count != 1 || l.Entries[0].Name != "photo.jpg" {
		t.Errorf("list: %+v", l)
	}
	e.put("/api/files/photos/vacation-2024.jpg", []byte("v"))
	e.syncSearch()
	// curl "http://localhost:8080/api/search?q=vacation"
	res := decode[SearchResult](t, e.want(200, "GET", "/api/search?q=vacation", nil))
	if res.Count != 1 || res.Results[0].Name != "vacation-2024.jpg" {
		t.Errorf("search: %+v", res)
	}
	// curl -X PUT -H "Content-Type: application/json" -d '{"replication_factor": 5}' http://localhost:8080/api/replication-factor
	b = e.want(200, "PUT", "/api/replication-factor", strings.NewReader(`{"replication_factor": 5}`), "Content-Type", "application/json")
	if string(bytes.TrimSpace(b)) != `{"success":true,"replication_factor":5}` {
		t.Errorf("set RF: %s", b)
	}
	// curl -X PUT -d '{"partition_sync_interval_seconds": 30}' http://localhost:8080/api/partition-sync-interval
	b = e.want(200, "PUT", "/api/partition-sync-interval", strings.NewReader(`{"partition_sync_interval_seconds": 30}`), "Content-Type", "application/x-www-form-urlencoded")
	if string(bytes.TrimSpace(b)) != `{"success":true,"partition_sync_interval_seconds":30}` {
		t.Errorf("set interval: %s", b)
	}
}
