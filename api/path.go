package api

import (
	"errors"
	"fmt"
	"net/url"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Path limits (as Linux PATH_MAX and NAME_MAX).
const (
	MaxPathLen = 4096
	MaxNameLen = 255
)

// ErrBadPath is returned by CleanPath for a path the API refuses (400).
var ErrBadPath = errors.New("bad path")

// CleanPath turns the request path after a route prefix (already
// URL-decoded once) into a cluster path: slash-separated names without a
// leading or trailing slash, "" for the root. Empty components ("a//b",
// leading and trailing slashes) are dropped. It refuses, with an error
// wrapping ErrBadPath:
//   - "." and ".." components, also when a component decoded once more
//     (double-encoded "%252e%252e" arrives as "%2e%2e") would be one or
//     would hold a slash-separated "..";
//   - NUL, backslash and control characters (also after decoding once more);
//   - invalid UTF-8;
//   - names longer than MaxNameLen bytes and paths longer than MaxPathLen.
//
// The output never contains a "." or ".." component, NUL or backslash, and
// CleanPath(out) == out.
func CleanPath(raw string) (string, error) {
	if len(raw) > MaxPathLen {
		return "", fmt.Errorf("%w: longer than %d bytes", ErrBadPath, MaxPathLen)
	}
	if err := checkChars(raw); err != nil {
		return "", err
	}
	parts := strings.Split(raw, "/")
	out := parts[:0]
	for _, p := range parts {
		if p == "" {
			continue
		}
		if p == "." || p == ".." {
			return "", fmt.Errorf("%w: %q component", ErrBadPath, p)
		}
		if len(p) > MaxNameLen {
			return "", fmt.Errorf("%w: name longer than %d bytes", ErrBadPath, MaxNameLen)
		}
		if strings.IndexByte(p, '%') >= 0 {
			if err := checkDecoded(p); err != nil {
				return "", err
			}
		}
		out = append(out, p)
	}
	return strings.Join(out, "/"), nil
}

// checkChars refuses invalid UTF-8, NUL, backslash and control characters.
func checkChars(s string) error {
	if !utf8.ValidString(s) {
		return fmt.Errorf("%w: not valid UTF-8", ErrBadPath)
	}
	for _, r := range s {
		switch {
		case r == 0:
			return fmt.Errorf("%w: NUL byte", ErrBadPath)
		case r == '\\':
			return fmt.Errorf("%w: backslash", ErrBadPath)
		case unicode.IsControl(r):
			return fmt.Errorf("%w: control character %U", ErrBadPath, r)
		}
	}
	return nil
}

// checkDecoded refuses a name whose once-more-decoded form is a traversal
// or holds forbidden characters. A name that does not decode ("100%") is
// taken literally.
func checkDecoded(name string) error {
	dec, err := url.PathUnescape(name)
	if err != nil {
		return nil
	}
	if err := checkChars(dec); err != nil {
		return fmt.Errorf("%w (double-encoded)", err)
	}
	for _, c := range strings.Split(dec, "/") {
		if c == "." || c == ".." {
			return fmt.Errorf("%w: double-encoded %q component", ErrBadPath, c)
		}
	}
	return nil
}
