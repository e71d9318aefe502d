package web

import (
	"bytes"
	"compress/gzip"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
)

func get(t *testing.T, h http.Handler, path string, hdr ...string) *httptest.ResponseRecorder {
	t.Helper()
	req := httptest.NewRequest(http.MethodGet, path, nil)
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

// TestPages: every page is HTML with the strict CSP, loads its module,
// and /files/<anything> is the file browser.
func TestPages(t *testing.T) {
	h := Handler()
	for _, p := range append([]string{"/files/photos/2026/", "/files/a%20b"}, pagePaths()...) {
		rec := get(t, h, p)
		if rec.Code != 200 || !strings.HasPrefix(rec.Header().Get("Content-Type"), "text/html") {
			t.Errorf("%s: %d %s", p, rec.Code, rec.Header().Get("Content-Type"))
			continue
		}
		if csp := rec.Header().Get("Content-Security-Policy"); !strings.Contains(csp, "script-src 'self'") || strings.Contains(csp, "unsafe-eval") {
			t.Errorf("%s: CSP %q", p, csp)
		}
		if !strings.Contains(rec.Body.String(), `<script type="module" src="/ui/js/`) {
			t.Errorf("%s: no module script", p)
		}
	}
	if rec := get(t, h, "/files"); rec.Code != http.StatusMovedPermanently || rec.Header().Get("Location") != "/files/" {
		t.Errorf("/files: %d %s", rec.Code, rec.Header().Get("Location"))
	}
	if rec := get(t, h, "/ui/js/nope.js"); rec.Code != 404 {
		t.Errorf("missing asset: %d", rec.Code)
	}
	rec := get(t, h, "/ui/app.css")
	if rec.Code != 200 || rec.Header().Get("ETag") == "" {
		t.Fatalf("app.css: %d etag %q", rec.Code, rec.Header().Get("ETag"))
	}
	if again := get(t, h, "/ui/app.css", "If-None-Match", rec.Header().Get("ETag")); again.Code != http.StatusNotModified {
		t.Errorf("revalidation: %d, want 304", again.Code)
	}
}

func pagePaths() []string {
	var out []string
	for _, p := range Pages {
		out = append(out, p.Path)
	}
	return out
}

var importRE = regexp.MustCompile(`(?m)(?:^|[;\s])(?:import|export)\s[^'"]*?from\s*['"]([^'"]+)['"]|import\(['"]([^'"]+)['"]\)`)

// TestModulesResolve: every module a page loads, and every module those
// import, is served (no bare names, no CDN, nothing missing).
func TestModulesResolve(t *testing.T) {
	h := Handler()
	seen := map[string]bool{}
	var queue []string
	for _, p := range Pages {
		queue = append(queue, "/ui/js/"+p.Script)
		queue = append(queue, p.CSS...)
	}
	for len(queue) > 0 {
		p := queue[0]
		queue = queue[1:]
		if seen[p] {
			continue
		}
		seen[p] = true
		rec := get(t, h, p)
		if rec.Code != 200 {
			t.Errorf("%s: %d", p, rec.Code)
			continue
		}
		if !strings.HasSuffix(p, ".js") {
			continue
		}
		if ct := rec.Header().Get("Content-Type"); !strings.HasPrefix(ct, "text/javascript") {
			t.Errorf("%s: content type %q", p, ct)
		}
		for _, m := range importRE.FindAllStringSubmatch(rec.Body.String(), -1) {
			spec := m[1] + m[2]
			switch {
			case strings.HasPrefix(spec, "/ui/"):
				queue = append(queue, spec)
			case strings.HasPrefix(spec, "./"):
				queue = append(queue, p[:strings.LastIndex(p, "/")+1]+spec[2:])
			default:
				t.Errorf("%s imports %q: only /ui/ and ./ modules are served", p, spec)
			}
		}
	}
	if !seen["/ui/vendor/preact.module.js"] || !seen["/ui/vendor/cytoscape.module.js"] || !seen["/ui/vendor/uplot.module.js"] {
		t.Errorf("vendored libraries not reached: %v", seen)
	}
}

// TestAssetBudget: everything under /ui/ stays within 300 KB gzipped
// (the budget), and every vendored library has its licence.
func TestAssetBudget(t *testing.T) {
	h := Handler().(*handler)
	total := 0
	for _, a := range h.assets {
		var buf bytes.Buffer
		zw, _ := gzip.NewWriterLevel(&buf, gzip.BestCompression)
		io.Copy(zw, bytes.NewReader(a.body))
		zw.Close()
		total += buf.Len()
	}
	t.Logf("dashboard assets: %d files, %d KB gzipped", len(h.assets), total/1000)
	if total > 300_000 {
		t.Errorf("assets are %d bytes gzipped, budget 300 KB", total)
	}
	versions := string(h.assets["/ui/vendor/VERSIONS"].body)
	for _, lib := range []string{"preact", "htm", "uplot", "cytoscape"} {
		if !strings.Contains(versions, lib+" ") || h.assets["/ui/vendor/LICENSE."+lib].body == nil {
			t.Errorf("%s: no version or licence in assets/vendor", lib)
		}
	}
}
