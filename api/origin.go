package api

import (
	"crypto/sha256"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strings"

	"github.com/labstack/echo/v4"
)

// Browser protection of the local API (the way Syncthing and Jupyter guard
// their local UIs), in front of every route, WebDAV included:
//
//   - Host check against DNS rebinding: a page on evil.example whose name
//     is rebound to 127.0.0.1 reaches us with "Host: evil.example". The
//     Host must be localhost, a *.localhost name, an IP literal (an address
//     cannot be rebound: a page can only be served from its own) or a name
//     of Config.AllowedHosts. A request carrying the valid token may use
//     any Host (a rebinding page cannot know the token).
//   - Origin check against cross-site requests: a state-changing method
//     (anything but GET, HEAD, OPTIONS, PROPFIND) whose Origin is not this
//     very origin (scheme, host and port of the request), or whose
//     Sec-Fetch-Site says another site or origin, is refused, token or
//     not (a browser sends cached basic-auth credentials with a cross-site
//     form post). Clients that send neither header (curl, rclone, cadaver,
//     davfs2, Finder) are not affected; reads from other origins are
//     allowed (links, downloads: the browser does not hand the answer to
//     the other page, there are no CORS headers).

// hostPolicy holds the extra allowed host names.
type hostPolicy struct {
	exact    map[string]bool
	suffixes []string // ".example.org" for "*.example.org"
}

func newHostPolicy(names []string) (*hostPolicy, error) {
	p := &hostPolicy{exact: map[string]bool{}}
	for _, n := range names {
		n = strings.ToLower(strings.TrimSpace(n))
		if _, err := netip.ParseAddr(strings.Trim(n, "[]")); n == "" || err == nil {
			continue // IP literals are always allowed
		}
		wild := strings.HasPrefix(n, "*.")
		name := strings.TrimPrefix(n, "*.")
		if name == "" || strings.ContainsAny(name, " /:@*[]") {
			return nil, fmt.Errorf("api: allowed host %q: a host name without port, optionally *.name", n)
		}
		if wild {
			p.suffixes = append(p.suffixes, "."+name)
		} else {
			p.exact[name] = true
		}
	}
	return p, nil
}

// allows reports whether a Host header value (with or without port) names
// this server.
func (p *hostPolicy) allows(hostport string) bool {
	host := strings.ToLower(hostport)
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	host = strings.TrimSuffix(strings.TrimPrefix(host, "["), "]")
	if host == "" {
		return false
	}
	if _, err := netip.ParseAddr(host); err == nil {
		return true
	}
	if host == "localhost" || strings.HasSuffix(host, ".localhost") || p.exact[host] {
		return true
	}
	for _, s := range p.suffixes {
		if strings.HasSuffix(host, s) {
			return true
		}
	}
	return false
}

// safeMethods never change state (and WebDAV's PROPFIND only reads).
func safeMethod(m string) bool {
	switch m {
	case http.MethodGet, http.MethodHead, http.MethodOptions, "PROPFIND":
		return true
	}
	return false
}

// crossOrigin reports why a state-changing request comes from another
// origin, or "" if it does not.
func crossOrigin(r *http.Request) string {
	switch site := r.Header.Get("Sec-Fetch-Site"); site {
	case "", "same-origin", "none":
	default:
		return "Sec-Fetch-Site: " + site
	}
	origin := r.Header.Get("Origin")
	if origin == "" {
		return ""
	}
	u, err := url.Parse(origin)
	if err != nil || u.Host == "" {
		return "Origin " + origin
	}
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	if !strings.EqualFold(u.Scheme, scheme) || !sameHostPort(u.Host, r.Host, scheme) {
		return "Origin " + origin
	}
	return ""
}

// sameHostPort compares two authorities, filling in the scheme's default port.
func sameHostPort(a, b, scheme string) bool {
	norm := func(hp string) string {
		hp = strings.ToLower(hp)
		if _, _, err := net.SplitHostPort(hp); err != nil {
			port := "80"
			if scheme == "https" {
				port = "443"
			}
			hp = net.JoinHostPort(strings.TrimSuffix(strings.TrimPrefix(hp, "["), "]"), port)
		}
		return hp
	}
	return norm(a) == norm(b)
}

// checkHostAndOrigin is the middleware (see the comment at the top).
func (s *Server) checkHostAndOrigin(next echo.HandlerFunc) echo.HandlerFunc {
	var want [32]byte
	if s.cfg.Token != "" {
		want = sha256.Sum256([]byte(s.cfg.Token))
	}
	return func(c echo.Context) error {
		r := c.Request()
		if !s.hosts.allows(r.Host) && (s.cfg.Token == "" || !tokenOK(r, want)) {
			s.log.Debug("refused a request for another host (DNS rebinding?)", "host", r.Host, "method", r.Method, "path", r.URL.Path)
			return httpErr(http.StatusForbidden, fmt.Sprintf(
				"host %q is not allowed: use localhost or an IP address, add the name with --http-allowed-hosts, or send the token", r.Host))
		}
		if !safeMethod(r.Method) {
			if why := crossOrigin(r); why != "" {
				s.log.Debug("refused a cross-origin request", "why", why, "method", r.Method, "path", r.URL.Path)
				return httpErr(http.StatusForbidden, "cross-origin request refused ("+why+"): a page of another origin cannot change files")
			}
		}
		return next(c)
	}
}
