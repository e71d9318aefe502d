package api

import (
	"crypto/sha256"
	"crypto/subtle"
	"net/http"
	"strings"

	"github.com/labstack/echo/v4"
)

// requireToken checks "Authorization: Bearer <token>" or basic auth whose
// password is the token (any user name), in constant time.
func (s *Server) requireToken(next echo.HandlerFunc) echo.HandlerFunc {
	want := sha256.Sum256([]byte(s.cfg.Token))
	return func(c echo.Context) error {
		if tokenOK(c.Request(), want) || c.Path() == "/login" { // the one-time login link (ui.go)
			return next(c)
		}
		return httpErr(http.StatusUnauthorized, "authentication required: Authorization: Bearer <token>, or basic auth with the token as password")
	}
}

func tokenOK(r *http.Request, want [32]byte) bool {
	var got string
	if _, pass, ok := r.BasicAuth(); ok {
		got = pass
	} else if h := r.Header.Get("Authorization"); len(h) > 7 && strings.EqualFold(h[:7], "bearer ") {
		got = strings.TrimSpace(h[7:])
	} else if ck, err := r.Cookie(loginCookie); err == nil { // set by a one-time login link (ui.go)
		got = ck.Value
	} else {
		return false
	}
	// Hashing first makes the comparison independent of the lengths.
	sum := sha256.Sum256([]byte(got))
	return subtle.ConstantTimeCompare(sum[:], want[:]) == 1
}
