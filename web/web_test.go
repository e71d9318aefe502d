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
	total, raw := 0, 0
	for _, a := range h.assets { // as served to a browser (TestGzip)
		raw += len(a.body)
		if a.gz != nil {
			total += len(a.gz)
		} else {
			total += len(a.body)
		}
	}
	t.Logf("dashboard assets: %d files, %d KB, served gzipped %d KB", len(h.assets), raw/1000, total/1000)
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

// TestGzip: a browser gets the assets and pages gzipped (that is what the
// budget counts), byte-identical once decoded, with their own ETag; a
// client without gzip, or refusing it, gets them as they are.
func TestGzip(t *testing.T) {
	h := Handler()
	for _, p := range []string{"/ui/vendor/cytoscape.module.js", "/ui/app.css", "/monitor", "/files/a/b"} {
		plain := get(t, h, p)
		zipped := get(t, h, p, "Accept-Encoding", "gzip, deflate, br")
		if plain.Header().Get("Content-Encoding") != "" || zipped.Header().Get("Content-Encoding") != "gzip" {
			t.Errorf("%s: encodings %q and %q", p, plain.Header().Get("Content-Encoding"), zipped.Header().Get("Content-Encoding"))
			continue
		}
		if zipped.Header().Get("Vary") != "Accept-Encoding" || plain.Header().Get("Vary") != "Accept-Encoding" {
			t.Errorf("%s: Vary %q / %q", p, plain.Header().Get("Vary"), zipped.Header().Get("Vary"))
		}
		zr, err := gzip.NewReader(zipped.Body)
		if err != nil {
			t.Fatalf("%s: %v", p, err)
		}
		got, err := io.ReadAll(zr)
		if err != nil || !bytes.Equal(got, plain.Body.Bytes()) || zipped.Body.Len() >= plain.Body.Len() {
			t.Errorf("%s: decoded %d bytes (%v), plain %d, gzipped %d", p, len(got), err, plain.Body.Len(), zipped.Body.Len())
		}
		tag := zipped.Header().Get("ETag")
		if tag == "" || tag == plain.Header().Get("ETag") {
			t.Errorf("%s: gzip ETag %q, plain %q", p, tag, plain.Header().Get("ETag"))
		}
		if again := get(t, h, p, "Accept-Encoding", "gzip", "If-None-Match", tag); again.Code != http.StatusNotModified {
			t.Errorf("%s: revalidating the gzipped copy: %d", p, again.Code)
		}
	}
	for _, ae := range []string{"", "identity", "gzip;q=0", "br, gzip; q=0.0", "deflate"} {
		if rec := get(t, h, "/ui/app.css", "Accept-Encoding", ae); rec.Header().Get("Content-Encoding") != "" {
			t.Errorf("Accept-Encoding %q: got %q", ae, rec.Header().Get("Content-Encoding"))
		}
	}
	for _, ae := range []string{"*", "GZIP", "br;q=1, gzip;q=0.5"} {
		if rec := get(t, h, "/ui/app.css", "Accept-Encoding", ae); rec.Header().Get("Content-Encoding") != "gzip" {
			t.Errorf("Accept-Encoding %q: not gzipped", ae)
		}
	}
}
