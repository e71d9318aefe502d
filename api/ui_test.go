package api

import (
	"net/http"
	"strings"
	"testing"

	"golang.org/x/net/webdav"

	"github.com/clusterf/clusterf/web"
)

// noRedirect sends one request and returns the answer as it is (a
// redirect is not followed).
func (e *testEnv) noRedirect(path string, cookies ...*http.Cookie) *http.Response {
	e.t.Helper()
	req, err := http.NewRequest("GET", e.ts.URL+path, nil)
	if err != nil {
		e.t.Fatal(err)
	}
	for _, c := range cookies {
		req.AddCookie(c)
	}
	cl := *e.ts.Client()
	cl.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	resp, err := cl.Do(req)
	if err != nil {
		e.t.Fatalf("GET %s: %v", path, err)
	}
	resp.Body.Close()
	return resp
}

// TestDashboardRoutes: the pages and assets are served on the API's port,
// / goes to /monitor unless WebDAV is the root, a server without the
// dashboard says so, and with a token the pages are behind it like the
// API: a one-time login link sets the token cookie once.
func TestDashboardRoutes(t *testing.T) {
	none := newEnv(t, Config{})
	none.wantErr(http.StatusServiceUnavailable, "GET", "/monitor", nil)

	e := newEnv(t, Config{UI: web.Handler(), NodeID: "n7"})
	if r := e.noRedirect("/"); r.StatusCode != http.StatusFound || r.Header.Get("Location") != "/monitor" {
		t.Errorf("GET /: %d to %q, want 302 to /monitor", r.StatusCode, r.Header.Get("Location"))
	}
	for _, p := range []string{"/monitor", "/files/", "/files/a%20b/c", "/cluster-visualizer.html", "/crdt", "/metrics", "/profiling", "/ui/js/lib.js"} {
		r, _ := e.do("GET", p, nil)
		if r.StatusCode != 200 || r.Header.Get("Content-Security-Policy") == "" {
			t.Errorf("GET %s: %d, CSP %q", p, r.StatusCode, r.Header.Get("Content-Security-Policy"))
		}
	}
	if r := e.noRedirect("/login"); r.StatusCode != http.StatusFound || r.Header.Get("Location") != "/monitor" {
		t.Errorf("GET /login without a token requirement: %d to %q", r.StatusCode, r.Header.Get("Location"))
	}
	if b := string(e.want(200, "GET", "/api/ui", nil)); !strings.Contains(b, `"node_id":"n7"`) || !strings.Contains(b, `"token_required":false`) {
		t.Errorf("/api/ui: %s", b)
	}

	dav := newEnv(t, Config{UI: web.Handler(), WebDAV: &webdav.Handler{FileSystem: webdav.NewMemFS(), LockSystem: webdav.NewMemLS()}, WebDAVAtRoot: true})
	if r := dav.noRedirect("/"); r.StatusCode == http.StatusFound {
		t.Errorf("GET / with WebDAV at the root: redirected to %q", r.Header.Get("Location"))
	}
	dav.want(200, "GET", "/monitor", nil) // the dashboard's names stay the dashboard's

	sec := newEnv(t, Config{UI: web.Handler(), Token: "s3cret", RequireToken: true, Cluster: &fakeCluster{rf: 2}})
	for _, p := range []string{"/monitor", "/files/", "/ui/app.css", "/api/ui"} {
		sec.wantErr(http.StatusUnauthorized, "GET", p, nil)
	}
	sec.want(200, "GET", "/monitor", nil, "Authorization", "Basic "+basic("me", "s3cret"))
	if r := sec.noRedirect("/login?code=0123"); r.StatusCode != http.StatusUnauthorized {
		t.Errorf("a made-up login code: %d", r.StatusCode)
	}
	code := sec.srv.NewLoginCode()
	r := sec.noRedirect("/login?code=" + code)
	var ck *http.Cookie
	for _, c := range r.Cookies() {
		if c.Name == loginCookie {
			ck = c
		}
	}
	if r.StatusCode != http.StatusFound || r.Header.Get("Location") != "/monitor" || ck == nil || !ck.HttpOnly || ck.SameSite != http.SameSiteStrictMode {
		t.Fatalf("login link: %d to %q, cookie %+v", r.StatusCode, r.Header.Get("Location"), ck)
	}
	for _, p := range []string{"/monitor", "/status", "/api/ui"} {
		if r := sec.noRedirect(p, ck); r.StatusCode != 200 {
			t.Errorf("GET %s with the login cookie: %d", p, r.StatusCode)
		}
	}
	if r := sec.noRedirect("/login?code=" + code); r.StatusCode != http.StatusUnauthorized {
		t.Errorf("the login link used twice: %d", r.StatusCode)
	}
	if r := sec.noRedirect("/monitor", &http.Cookie{Name: loginCookie, Value: "guess"}); r.StatusCode != http.StatusUnauthorized {
		t.Errorf("a wrong cookie: %d", r.StatusCode)
	}
}
