package api

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/clusterf/clusterf/replica"
	"github.com/clusterf/clusterf/search"
)

// testEnv is a real server over a real FS on temp dirs, on loopback.
type testEnv struct {
	t   *testing.T
	fs  *replica.FS
	idx *search.Index // the index behind /api/search (search_test.go)
	srv *Server
	ts  *httptest.Server
}

func newEnv(t *testing.T, cfg Config) *testEnv {
	t.Helper()
	if cfg.FS == nil {
		cfg.FS = replica.TestFS(t, 64<<10)
	}
	if cfg.Registry == nil {
		cfg.Registry = prometheus.NewRegistry()
	}
	var idx *search.Index
	if cfg.Search == nil {
		idx = testIndex(t, cfg.FS)
		cfg.Search = idx
	}
	s, err := New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	ts := httptest.NewServer(s.Handler())
	t.Cleanup(ts.Close)
	return &testEnv{t: t, fs: cfg.FS, idx: idx, srv: s, ts: ts}
}

// do sends a request with the raw path (not cleaned by the client) and
// returns the response with its body read.
func (e *testEnv) do(method, path string, body io.Reader, hdr ...string) (*http.Response, []byte) {
	e.t.Helper()
	req, err := http.NewRequest(method, e.ts.URL+path, body)
	if err != nil {
		e.t.Fatalf("new request %s %s: %v", method, path, err)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		if strings.EqualFold(hdr[i], "Host") {
			req.Host = hdr[i+1]
			continue
		}
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := e.ts.Client().Do(req)
	if err != nil {
		e.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		e.t.Fatalf("%s %s: read body: %v", method, path, err)
	}
	return resp, b
}

// want checks the status and returns the body.
func (e *testEnv) want(status int, method, path string, body io.Reader, hdr ...string) []byte {
	e.t.Helper()
	resp, b := e.do(method, path, body, hdr...)
	if resp.StatusCode != status {
		e.t.Fatalf("%s %s: status %d, want %d; body %s", method, path, resp.StatusCode, status, b)
	}
	return b
}

// wantErr checks an error status and the JSON error body.
func (e *testEnv) wantErr(status int, method, path string, body io.Reader, hdr ...string) string {
	e.t.Helper()
	b := e.want(status, method, path, body, hdr...)
	if method == http.MethodHead {
		return ""
	}
	var eb errorBody
	if err := json.Unmarshal(b, &eb); err != nil || eb.Error == "" {
		e.t.Fatalf("%s %s: error body %q is not {\"error\": ...}: %v", method, path, b, err)
	}
	return eb.Error
}

func (e *testEnv) put(path string, data []byte, hdr ...string) *http.Response {
	e.t.Helper()
	resp, b := e.do(http.MethodPut, path, bytes.NewReader(data), hdr...)
	if resp.StatusCode != http.StatusCreated && resp.StatusCode != http.StatusNoContent {
		e.t.Fatalf("PUT %s: status %d: %s", path, resp.StatusCode, b)
	}
	return resp
}

func decode[T any](t *testing.T, b []byte) T {
	t.Helper()
	var v T
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatalf("decode %T from %q: %v", v, b, err)
	}
	return v
}

// namespace lists every path in the FS (for "nothing changed" checks).
func (e *testEnv) namespace() []string {
	e.t.Helper()
	var out []string
	var walk func(p string)
	walk = func(p string) {
		a, err := e.fs.Walk(e.t.Context(), p)
		if err != nil {
			e.t.Fatalf("walk %q: %v", p, err)
		}
		ents, err := e.fs.ReadDir(e.t.Context(), a.Ref.Inode)
		if err != nil {
			e.t.Fatalf("readdir %q: %v", p, err)
		}
		for _, en := range ents {
			cp := strings.TrimPrefix(p+"/"+en.Name, "/")
			out = append(out, cp)
			if en.Attr.Kind == 2 { // crdt.KindDir
				walk(cp)
			}
		}
	}
	walk("")
	return out
}
