package api

import (
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"

	"golang.org/x/net/webdav"
)

func (e *testEnv) hostPort() string {
	u, err := url.Parse(e.ts.URL)
	if err != nil {
		e.t.Fatal(err)
	}
	return u.Host
}

func (e *testEnv) port() string {
	_, p, _ := strings.Cut(e.hostPort(), ":")
	return p
}

// A page on evil.example whose name is rebound to 127.0.0.1 reaches the
// server with "Host: evil.example": refused before any route runs.
func TestDNSRebindingHostRefused(t *testing.T) {
	e := newEnv(t, Config{Cluster: &fakeCluster{rf: 2}})
	e.put("/api/files/secret.txt", []byte("s"))
	before := e.namespace()
	evil := "evil.example:" + e.port()
	for _, tc := range []struct{ method, path string }{
		{"GET", "/api/files/secret.txt"}, {"GET", "/api/files/"}, {"GET", "/status"},
		{"PUT", "/api/files/x"}, {"DELETE", "/api/files/secret.txt"}, {"GET", "/no/such/route"},
	} {
		msg := e.wantErr(http.StatusForbidden, tc.method, tc.path, strings.NewReader("x"), "Host", evil)
		if !strings.Contains(msg, "host") {
			t.Errorf("%s %s: error %q does not explain the host check", tc.method, tc.path, msg)
		}
	}
	e.wantErr(http.StatusForbidden, "GET", "/status", nil, "Host", "localhost.evil.example")
	if got := e.namespace(); !slices.Equal(got, before) {
		t.Fatalf("namespace changed: %v -> %v", before, got)
	}
	for _, h := range []string{
		"localhost", "localhost:" + e.port(), "LocalHost:" + e.port(), "ui.localhost:" + e.port(),
		"127.0.0.1:" + e.port(), "127.0.0.1", "[::1]:" + e.port(), "[::1]", "192.0.2.10:" + e.port(),
	} {
		e.want(200, "GET", "/status", nil, "Host", h)
	}
}

func TestAllowedHosts(t *testing.T) {
	e := newEnv(t, Config{Cluster: &fakeCluster{rf: 2}, AllowedHosts: []string{"nas.example", "*.lan.example", "::", "0.0.0.0", ""}})
	for _, h := range []string{"nas.example", "NAS.example:8080", "box.lan.example:1", "a.b.lan.example"} {
		e.want(200, "GET", "/status", nil, "Host", h)
	}
	for _, h := range []string{"nas.example.evil", "lan.example", "evil.example", "xnas.example"} {
		e.wantErr(http.StatusForbidden, "GET", "/status", nil, "Host", h)
	}
	if _, err := New(Config{FS: e.fs, AllowedHosts: []string{"bad host"}}); err == nil {
		t.Error("New accepted an allowed host with a space")
	}
}

// Beyond loopback the token protects: a request carrying it may use any
// Host (a rebinding page cannot know it); without it the Host check holds.
func TestTokenLiftsHostCheck(t *testing.T) {
	e := newEnv(t, Config{Cluster: &fakeCluster{rf: 2}, Token: "s3cret", RequireToken: true})
	e.want(200, "GET", "/status", nil, "Host", "nas.example", "Authorization", "Bearer s3cret")
	e.want(201, "PUT", "/api/files/x", strings.NewReader("x"), "Host", "nas.example", "Authorization", "Bearer s3cret")
	e.want(200, "GET", "/status", nil, "Host", "nas.example", "Authorization", "Basic "+basic("u", "s3cret"))
	e.wantErr(http.StatusForbidden, "GET", "/status", nil, "Host", "nas.example")
	e.wantErr(http.StatusForbidden, "GET", "/status", nil, "Host", "nas.example", "Authorization", "Bearer wrong")
}

// A cross-site form post or fetch (Origin of another site, or
// Sec-Fetch-Site: cross-site) cannot change anything; same-origin requests
// and clients that send no Origin (curl, WebDAV clients) can.
func TestCrossOriginWritesRefused(t *testing.T) {
	fs, ls := webdav.NewMemFS(), webdav.NewMemLS()
	e := newEnv(t, Config{Cluster: &fakeCluster{rf: 2}, WebDAV: &webdav.Handler{Prefix: "/webdav", FileSystem: fs, LockSystem: ls}})
	e.put("/api/files/keep.txt", []byte("k"))
	before := e.namespace()
	self := "http://" + e.hostPort()
	crossHeaders := [][]string{
		{"Origin", "http://evil.example"},
		{"Origin", "null"},
		{"Origin", "http://localhost:" + e.port()}, // same site, another origin
		{"Origin", "https://" + e.hostPort()},      // another scheme
		{"Sec-Fetch-Site", "cross-site"},
		{"Sec-Fetch-Site", "same-site"},
		{"Origin", self, "Sec-Fetch-Site", "cross-site"},
	}
	writes := []struct{ method, path string }{
		{"PUT", "/api/files/new.txt"}, {"POST", "/api/files/newdir"}, {"DELETE", "/api/files/keep.txt"},
		{"PUT", "/api/replication-factor"}, {"POST", "/api/integrity-check"}, {"POST", "/api/search"},
		{"MKCOL", "/webdav/d"}, {"PUT", "/webdav/f"},
	}
	for _, h := range crossHeaders {
		for _, w := range writes {
			hdr := append([]string{"X-Create-Directory", "true"}, h...)
			msg := e.wantErr(http.StatusForbidden, w.method, w.path, strings.NewReader(`{"replication_factor":3}`), hdr...)
			if !strings.Contains(msg, "origin") {
				t.Errorf("%s %s %v: error %q does not explain the origin check", w.method, w.path, h, msg)
			}
		}
	}
	if got := e.namespace(); !slices.Equal(got, before) {
		t.Fatalf("namespace changed by cross-origin requests: %v -> %v", before, got)
	}
	if _, err := fs.Stat(t.Context(), "/d"); err == nil {
		t.Fatal("cross-origin MKCOL created a WebDAV collection")
	}
	// Reads from another origin still work (links, downloads; the browser
	// keeps the answer from the other page without CORS headers).
	e.want(200, "GET", "/api/files/keep.txt", nil, "Origin", "http://evil.example", "Sec-Fetch-Site", "cross-site")
	e.want(207, "PROPFIND", "/webdav/", nil, "Origin", "http://evil.example", "Depth", "0")
	// Same origin, user-initiated, and no Origin at all.
	e.want(201, "PUT", "/api/files/a.txt", strings.NewReader("a"), "Origin", self, "Sec-Fetch-Site", "same-origin")
	e.want(201, "PUT", "/api/files/b.txt", strings.NewReader("b"), "Origin", "HTTP://"+strings.ToUpper(e.hostPort()))
	e.want(201, "POST", "/api/files/c", nil, "X-Create-Directory", "true", "Sec-Fetch-Site", "none")
	e.want(204, "DELETE", "/api/files/keep.txt", nil)
	e.want(201, "MKCOL", "/webdav/d", nil)
	e.want(201, "PUT", "/webdav/d/f", strings.NewReader("f"), "Origin", self)
}
