package media

import (
	"bytes"
	"embed"
	"net/http"
	"path"
	"strings"
	"time"
)

// The player page (issue 17; the dashboard embeds it later): index.html,
// player.js and hls.js, embedded. hls.js is hls.light.min.js 1.7.4 from
// npm (https://www.npmjs.com/package/hls.js, tarball sha256
// e4ab3d5d13f7cca9ef241d098f39686e19fd451831ba07dc9943482fd5ff75c7),
// Apache-2.0, licence in player/LICENSE.hls.js. No CDN: the page works
// on a LAN without internet.
//
//go:embed player
var playerFS embed.FS

// PlayerPath is where the page is served; its assets are below
// PlayerPath + "/".
const PlayerPath = "/media/player"

// playerCSP allows the page's own scripts, hls.js's worker (a blob URL)
// and media from this origin only.
const playerCSP = "default-src 'self'; script-src 'self'; worker-src 'self' blob:; media-src 'self' blob:; img-src 'self' data:; style-src 'self' 'unsafe-inline'; connect-src 'self'; frame-ancestors 'self'"

var startTime = time.Now()

// Player serves the player page at PlayerPath (?path=/cluster/file) and
// its assets.
func Player() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		name := "index.html"
		if rest, ok := strings.CutPrefix(r.URL.Path, PlayerPath+"/"); ok {
			name = path.Clean(rest)
		} else if r.URL.Path != PlayerPath {
			http.NotFound(w, r)
			return
		}
		if strings.Contains(name, "/") || strings.HasPrefix(name, ".") {
			http.NotFound(w, r)
			return
		}
		b, err := playerFS.ReadFile("player/" + name)
		if err != nil {
			http.NotFound(w, r)
			return
		}
		h := w.Header()
		h.Set("Content-Security-Policy", playerCSP)
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "same-origin")
		switch path.Ext(name) {
		case ".js":
			h.Set("Content-Type", "text/javascript; charset=utf-8")
		case ".html":
			h.Set("Content-Type", "text/html; charset=utf-8")
		default:
			h.Set("Content-Type", "text/plain; charset=utf-8")
		}
		http.ServeContent(w, r, name, startTime, bytes.NewReader(b))
	})
}
