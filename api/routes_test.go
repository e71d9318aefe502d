package api

import (
	"encoding/json"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/labstack/echo/v4"
	"golang.org/x/net/webdav"
)

// TestOpenAPICoversRoutes checks that every registered route (method and
// path) is in openapi.json and that the document names no route that does
// not exist. WebDAV routes are outside the document (OpenAPI cannot
// describe PROPFIND and friends); the test names them.
func TestOpenAPICoversRoutes(t *testing.T) {
	e := newEnv(t, Config{WebDAV: &webdav.Handler{FileSystem: webdav.NewMemFS(), LockSystem: webdav.NewMemLS()}, WebDAVAtRoot: true})
	var doc struct {
		OpenAPI string                                `json:"openapi"`
		Paths   map[string]map[string]json.RawMessage `json:"paths"`
	}
	b := e.want(200, "GET", "/api/openapi.json", nil)
	if err := json.Unmarshal(b, &doc); err != nil || !strings.HasPrefix(doc.OpenAPI, "3.") {
		t.Fatalf("openapi.json: %v (%q)", err, doc.OpenAPI)
	}
	documented := map[string]bool{}
	for p, ops := range doc.Paths {
		for m := range ops {
			if m == "parameters" || m == "summary" || m == "description" {
				continue
			}
			documented[strings.ToUpper(m)+" "+p] = true
		}
	}
	param := regexp.MustCompile(`:([A-Za-z_]+)`)
	registered := map[string]bool{}
	for _, r := range e.srv.echo.Routes() {
		if r.Method == echo.RouteNotFound || !isAPIPath(r.Path) {
			continue
		}
		p := param.ReplaceAllString(r.Path, "{$1}")
		switch {
		case p == "/debug/pprof/*":
			p = "/debug/pprof/{profile}"
		case strings.HasSuffix(p, "/*"):
			p = strings.TrimSuffix(p, "*") + "{path}"
		}
		registered[r.Method+" "+p] = true
	}
	for k := range registered {
		if !documented[k] {
			t.Errorf("route %s is not in openapi.json", k)
		}
	}
	for k := range documented {
		if !registered[k] {
			t.Errorf("openapi.json documents %s, which is not a route", k)
		}
	}
	if t.Failed() {
		keys := make([]string, 0, len(registered))
		for k := range registered {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		t.Logf("registered: %v", keys)
	}
}

// TestWebDAVMount checks the routing to the WebDAV handler: /webdav/
// always, the root when WebDAVAtRoot, and the API unaffected.
func TestWebDAVMount(t *testing.T) {
	fs := webdav.NewMemFS()
	ls := webdav.NewMemLS()
	under := &webdav.Handler{Prefix: "/webdav", FileSystem: fs, LockSystem: ls}
	root := &webdav.Handler{FileSystem: fs, LockSystem: ls}
	e := newEnv(t, Config{WebDAV: under, WebDAVRoot: root, WebDAVAtRoot: true, Token: "tok", RequireToken: true, Cluster: &fakeCluster{rf: 1}})
	auth := []string{"Authorization", "Basic " + basic("me", "tok")}
	e.want(201, "MKCOL", "/webdav/docs", nil, auth...)
	e.want(201, "PUT", "/webdav/docs/a.txt", strings.NewReader("dav"), auth...)
	if b := e.want(200, "GET", "/docs/a.txt", nil, auth...); string(b) != "dav" {
		t.Errorf("GET at root: %q", b)
	}
	e.want(207, "PROPFIND", "/", nil, append(auth, "Depth", "1")...)
	b := e.want(207, "PROPFIND", "/webdav/docs/", nil, append(auth, "Depth", "1")...)
	if !strings.Contains(string(b), "/webdav/docs/a.txt") {
		t.Errorf("PROPFIND under /webdav/ has wrong hrefs: %s", b)
	}
	e.want(401, "PROPFIND", "/", nil, "Depth", "1") // WebDAV needs the token too
	// The API keeps its routes and JSON errors.
	e.want(200, "GET", "/status", nil, auth...)
	e.wantErr(404, "GET", "/api/nothing-here", nil, auth...)
	e.wantErr(405, "DELETE", "/api/replication-factor", nil, auth...)
	e.wantErr(405, "DELETE", "/status", nil, auth...)           // not WebDAV's
	e.wantErr(405, "PROPFIND", "/api/files/docs", nil, auth...) // not WebDAV's

	// Not at root: unknown paths are JSON 404s, /webdav/ still works.
	e2 := newEnv(t, Config{WebDAV: under, WebDAVRoot: root})
	e2.wantErr(404, "GET", "/docs/a.txt", nil)
	e2.want(200, "GET", "/webdav/docs/a.txt", nil)
}
