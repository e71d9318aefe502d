package api

import (
	"bytes"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"testing"
)

func TestRanges(t *testing.T) {
	e := newEnv(t, Config{}) // 64 KiB chunks: ranges cross chunk boundaries
	data := make([]byte, 200000)
	for i := range data {
		data[i] = byte(i*7 + i/251)
	}
	resp := e.put("/api/files/r.bin", data)
	etag := resp.Header.Get("ETag")
	const p = "/api/files/r.bin"

	check := func(rng string, status int, want []byte) *http.Response {
		t.Helper()
		r, b := e.do("GET", p, nil, "Range", rng)
		if r.StatusCode != status {
			t.Fatalf("Range %s: status %d, want %d", rng, r.StatusCode, status)
		}
		if want != nil && !bytes.Equal(b, want) {
			t.Fatalf("Range %s: %d bytes, want %d", rng, len(b), len(want))
		}
		return r
	}
	r := check("bytes=0-9", 206, data[:10])
	if cr := r.Header.Get("Content-Range"); cr != "bytes 0-9/200000" {
		t.Errorf("Content-Range %q", cr)
	}
	check("bytes=65530-65545", 206, data[65530:65546]) // across a chunk boundary
	check("bytes=199990-", 206, data[199990:])
	check("bytes=-100", 206, data[len(data)-100:]) // suffix
	check("bytes=-300000", 206, data)              // suffix longer than the file
	check("bytes=199999-500000", 206, data[199999:])
	check("bytes=200000-", 416, nil) // beyond the end
	check("bytes=300000-400000", 416, nil)
	check("bytes=5-2", 416, nil)  // inverted: unsatisfiable
	check("pages=1-2", 200, data) // unknown unit: whole file

	// Multi-range: multipart/byteranges with each part right.
	r, b := e.do("GET", p, nil, "Range", "bytes=0-4,100000-100009,-3")
	if r.StatusCode != 206 {
		t.Fatalf("multi-range status %d", r.StatusCode)
	}
	mt, params, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mt != "multipart/byteranges" {
		t.Fatalf("multi-range Content-Type %q", r.Header.Get("Content-Type"))
	}
	mr := multipart.NewReader(bytes.NewReader(b), params["boundary"])
	wants := []struct {
		cr   string
		data []byte
	}{{"bytes 0-4/200000", data[:5]}, {"bytes 100000-100009/200000", data[100000:100010]}, {"bytes 199997-199999/200000", data[199997:]}}
	for i, w := range wants {
		part, err := mr.NextPart()
		if err != nil {
			t.Fatalf("part %d: %v", i, err)
		}
		got, _ := io.ReadAll(part)
		if part.Header.Get("Content-Range") != w.cr || !bytes.Equal(got, w.data) {
			t.Errorf("part %d: %q %d bytes", i, part.Header.Get("Content-Range"), len(got))
		}
	}

	// Conditional GET.
	e.want(304, "GET", p, nil, "If-None-Match", etag)
	e.want(304, "GET", p, nil, "If-None-Match", `"other", `+etag)
	e.want(200, "GET", p, nil, "If-None-Match", `"other"`)
	e.want(412, "GET", p, nil, "If-Match", `"other"`)
	e.want(200, "GET", p, nil, "If-Match", etag)
	r, _ = e.do("GET", p, nil)
	e.want(304, "GET", p, nil, "If-Modified-Since", r.Header.Get("Last-Modified"))
	// If-Range: a matching validator honours the range, a stale one sends all.
	checkIfRange := func(ifRange string, status, n int) {
		t.Helper()
		r, b := e.do("GET", p, nil, "Range", "bytes=0-99", "If-Range", ifRange)
		if r.StatusCode != status || len(b) != n {
			t.Errorf("If-Range %s: %d, %d bytes; want %d, %d", ifRange, r.StatusCode, len(b), status, n)
		}
	}
	checkIfRange(etag, 206, 100)
	checkIfRange(`"stale"`, 200, len(data))
	// A new upload changes the ETag: the old one no longer matches.
	e.put(p, []byte("new"))
	e.want(200, "GET", p, nil, "If-None-Match", etag)
	r, b = e.do("GET", p, nil, "Range", "bytes=0-99", "If-Range", etag)
	if r.StatusCode != 200 || string(b) != "new" {
		t.Errorf("If-Range after replace: %d %q", r.StatusCode, b)
	}
}
