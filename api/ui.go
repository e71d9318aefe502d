package api

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"net/http"
	"sync"
	"time"

	"github.com/labstack/echo/v4"
)

// The web dashboard (package web) is served on the API's port under the
// original clusterF's paths; its pages talk to the JSON endpoints of this
// package like any other client. Without Config.UI they answer 503.

// UIPaths are the routes of the dashboard's pages and assets.
var UIPaths = []string{"/monitor", "/files", "/files/*", "/cluster-visualizer.html", "/crdt", "/metrics", "/profiling", "/ui/*"}

// registerUI adds the dashboard's routes, GET / (to /monitor, when the
// root is not WebDAV), /login and /api/ui.
func (s *Server) registerUI() {
	e := s.echo
	h := func(c echo.Context) error {
		if s.cfg.UI == nil {
			return httpErr(http.StatusServiceUnavailable, "this server has no web dashboard")
		}
		s.cfg.UI.ServeHTTP(c.Response(), c.Request())
		return nil
	}
	for _, p := range UIPaths {
		e.GET(p, h)
		e.HEAD(p, h)
	}
	if !s.cfg.WebDAVAtRoot { // with --webdav the root is the network drive
		e.GET("/", func(c echo.Context) error { return c.Redirect(http.StatusFound, "/monitor") })
	}
	e.GET("/login", s.getLogin)
	e.GET("/api/ui", s.getUIInfo)
}

// UIInfo is the answer of GET /api/ui: what the dashboard needs to know
// about this server before it draws anything.
type UIInfo struct {
	NodeID        string          `json:"node_id"`
	Version       string          `json:"version,omitempty"`
	TokenRequired bool            `json:"token_required"`
	Features      map[string]bool `json:"features"` // media, thumbnails, player, search, webdav_root
}

func (s *Server) getUIInfo(c echo.Context) error {
	info := UIInfo{NodeID: s.cfg.NodeID, Version: s.cfg.Version, TokenRequired: s.cfg.RequireToken, Features: map[string]bool{
		"media":       s.routes["/api/stream/*"],
		"thumbnails":  s.routes["/api/thumbnail/*"],
		"player":      s.routes["/media/player/*"],
		"search":      s.routes["/api/search"],
		"webdav_root": s.cfg.WebDAVAtRoot,
		"dashboard":   s.cfg.Dashboard != nil,
	}}
	return c.JSON(http.StatusOK, info)
}

// One-time login links: with a token required, the start-up banner prints
// /login?code=<code>; the first request with it gets the token as an
// HttpOnly, SameSite=Strict cookie (so the pages' requests carry it) and
// is sent to /monitor. The code then no longer works; a code is valid for
// loginCodeTTL. The cookie is checked like the Authorization header.

const (
	loginCookie  = "clusterf_token"
	loginCodeTTL = 24 * time.Hour
)

// loginCodes holds the unused one-time codes (by SHA-256).
type loginCodes struct {
	mu    sync.Mutex
	codes map[[32]byte]time.Time // -> expiry
}

// NewLoginCode returns a fresh one-time login code (for /login?code=).
func (s *Server) NewLoginCode() string {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(err) // crypto/rand never fails on Linux
	}
	code := hex.EncodeToString(b[:])
	s.logins.mu.Lock()
	defer s.logins.mu.Unlock()
	if s.logins.codes == nil {
		s.logins.codes = map[[32]byte]time.Time{}
	}
	s.logins.codes[sha256.Sum256([]byte(code))] = time.Now().Add(loginCodeTTL)
	return code
}

// useCode reports whether code is a valid unused code, and uses it up.
func (l *loginCodes) useCode(code string) bool {
	sum := sha256.Sum256([]byte(code))
	l.mu.Lock()
	defer l.mu.Unlock()
	now := time.Now()
	ok := false
	for k, exp := range l.codes {
		if now.After(exp) {
			delete(l.codes, k)
			continue
		}
		if subtle.ConstantTimeCompare(k[:], sum[:]) == 1 {
			delete(l.codes, k)
			ok = true
		}
	}
	return ok
}

// getLogin trades a one-time code for the token cookie. Without a token
// requirement it just goes to the dashboard.
func (s *Server) getLogin(c echo.Context) error {
	if !s.cfg.RequireToken {
		return c.Redirect(http.StatusFound, "/monitor")
	}
	if !s.logins.useCode(c.QueryParam("code")) {
		return httpErr(http.StatusUnauthorized, "this login link is not valid (any more): each link works once; restart the node for a new one, or sign in with the token")
	}
	c.SetCookie(&http.Cookie{Name: loginCookie, Value: s.cfg.Token, Path: "/", HttpOnly: true, SameSite: http.SameSiteStrictMode,
		Secure: c.Request().TLS != nil, MaxAge: int((365 * 24 * time.Hour).Seconds())})
	return c.Redirect(http.StatusFound, "/monitor")
}
