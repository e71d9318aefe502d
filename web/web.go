package web

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"fmt"
	"html/template"
	"io/fs"
	"mime"
	"net/http"
	"path"
	"strconv"
	"strings"
	"time"
)

//go:embed assets
var assets embed.FS

// Page is one page of the dashboard.
type Page struct {
	Path   string // route ("/files/" also serves everything below it)
	Title  string
	Script string // module under assets/js
	CSS    []string
}

// Pages are the dashboard's pages, in navigation order.
var Pages = []Page{
	{Path: "/monitor", Title: "Monitor", Script: "monitor.js"},
	{Path: "/files/", Title: "Files", Script: "files.js"},
	{Path: "/cluster-visualizer.html", Title: "Cluster", Script: "visualizer.js"},
	{Path: "/crdt", Title: "CRDT", Script: "crdt.js"},
	{Path: "/metrics", Title: "Metrics", Script: "metrics.js", CSS: []string{"/ui/vendor/uPlot.min.css"}},
	{Path: "/profiling", Title: "Profiling", Script: "profiling.js"},
}

// contentSecurityPolicy allows only this origin's scripts (no inline
// script, no eval), styles with inline style attributes (the chart and
// graph libraries set them), images, media and frames of this origin and
// data:/blob: images; no framing by other sites.
const contentSecurityPolicy = "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; " +
	"img-src 'self' data: blob:; media-src 'self' blob:; connect-src 'self'; frame-src 'self'; " +
	"frame-ancestors 'self'; base-uri 'none'; form-action 'self'; object-src 'none'"

var pageTemplate = template.Must(template.New("page").Parse(`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{.Title}} · clusterf</title>
<link rel="icon" href="data:image/svg+xml,%3Csvg xmlns='http://www.w3.org/2000/svg' viewBox='0 0 16 16'%3E%3Ccircle cx='8' cy='9' r='7' fill='%232e8b57'/%3E%3Ccircle cx='5' cy='5' r='2.2' fill='%23fff'/%3E%3Ccircle cx='11' cy='5' r='2.2' fill='%23fff'/%3E%3C/svg%3E">
<link rel="stylesheet" href="/ui/app.css">
{{range .CSS}}<link rel="stylesheet" href="{{.}}">
{{end}}</head>
<body>
<a class="skip" href="#main">Skip to content</a>
<div id="app"><main id="main"><p class="loading">Loading {{.Title}}…</p><noscript>The clusterf dashboard needs JavaScript; the REST API is at /api/ (see /api/openapi.json).</noscript></main></div>
<script type="module" src="/ui/js/{{.Script}}"></script>
</body>
</html>
`))

// asset is one embedded file with its ETag, and its gzip encoding when
// that is smaller (what browsers get: every browser accepts gzip).
type asset struct {
	body  []byte
	etag  string
	ctype string
	gz    []byte
	gzTag string
}

// Handler serves the pages and /ui/ assets. It answers GET and HEAD.
func Handler() http.Handler {
	h := &handler{assets: map[string]asset{}, pages: map[string]asset{}}
	err := fs.WalkDir(assets, "assets", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := assets.ReadFile(p)
		if err != nil {
			return err
		}
		h.assets["/ui/"+strings.TrimPrefix(p, "assets/")] = newAsset(b, contentType(p))
		return nil
	})
	if err != nil {
		panic(fmt.Sprintf("web: embedded assets: %v", err)) // built into the binary: cannot fail at run time
	}
	for _, pg := range Pages {
		var buf bytes.Buffer
		if err := pageTemplate.Execute(&buf, pg); err != nil {
			panic(fmt.Sprintf("web: page %s: %v", pg.Path, err))
		}
		h.pages[pg.Path] = newAsset(buf.Bytes(), "text/html; charset=utf-8")
	}
	return h
}

func newAsset(b []byte, ctype string) asset {
	sum := sha256.Sum256(b)
	a := asset{body: b, etag: `"` + hex.EncodeToString(sum[:12]) + `"`, ctype: ctype}
	var buf bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&buf, gzip.BestCompression) // a valid level: no error
	zw.Write(b)                                              // a bytes.Buffer: no error
	zw.Close()
	if buf.Len() < len(b) {
		a.gz, a.gzTag = buf.Bytes(), `"`+hex.EncodeToString(sum[:12])+`-gz"`
	}
	return a
}

// acceptsGzip says whether the request's Accept-Encoding allows gzip
// (named or "*", without q=0).
func acceptsGzip(r *http.Request) bool {
	for _, part := range strings.Split(r.Header.Get("Accept-Encoding"), ",") {
		name, params, _ := strings.Cut(part, ";")
		if name = strings.TrimSpace(name); !strings.EqualFold(name, "gzip") && name != "*" {
			continue
		}
		if q, ok := strings.CutPrefix(strings.TrimSpace(params), "q="); ok {
			if v, err := strconv.ParseFloat(q, 64); err == nil && v == 0 {
				return false
			}
		}
		return true
	}
	return false
}

func contentType(p string) string {
	switch path.Ext(p) {
	case ".js":
		return "text/javascript; charset=utf-8"
	case ".css":
		return "text/css; charset=utf-8"
	case "":
		return "text/plain; charset=utf-8" // LICENSE.*, VERSIONS
	}
	if t := mime.TypeByExtension(path.Ext(p)); t != "" {
		return t
	}
	return "application/octet-stream"
}

type handler struct {
	assets map[string]asset
	pages  map[string]asset
}

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	hd := w.Header()
	hd.Set("Content-Security-Policy", contentSecurityPolicy)
	hd.Set("X-Content-Type-Options", "nosniff")
	hd.Set("Referrer-Policy", "no-referrer")
	p := r.URL.Path
	if p == "/files" {
		http.Redirect(w, r, "/files/", http.StatusMovedPermanently)
		return
	}
	a, ok := h.pages[p]
	if !ok && strings.HasPrefix(p, "/files/") {
		a, ok = h.pages["/files/"]
	}
	if !ok {
		a, ok = h.assets[p]
	}
	if !ok {
		http.Error(w, "not found", http.StatusNotFound)
		return
	}
	hd.Set("Content-Type", a.ctype)
	hd.Set("Cache-Control", "no-cache") // revalidate: a new binary brings new assets
	body, etag := a.body, a.etag
	if a.gz != nil {
		hd.Set("Vary", "Accept-Encoding")
		if acceptsGzip(r) {
			body, etag = a.gz, a.gzTag
			hd.Set("Content-Encoding", "gzip")
		}
	}
	hd.Set("ETag", etag)
	http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(body))
}
