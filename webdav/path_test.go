package webdav

import (
	"path"
	"strings"
	"testing"
)

func TestMapPath(t *testing.T) {
	tests := []struct {
		root, name, want string
		bad              bool
	}{
		{"/photos", "/", "/photos", false},
		{"/photos", "", "/photos", false},
		{"/photos", "/a/b.jpg", "/photos/a/b.jpg", false},
		{"/photos", "a/b.jpg", "/photos/a/b.jpg", false},
		{"/photos", "/a//b/./c/", "/photos/a/b/c", false},
		{"/photos", "/ä ö/ü", "/photos/ä ö/ü", false},
		{"/photos", "/...", "/photos/...", false},
		{"/photos", "/..a/b..", "/photos/..a/b..", false},
		{"/", "/a", "/a", false},
		{"/", "/", "/", false},
		{"/photos", "/..", "", true},
		{"/photos", "/a/../b", "", true},
		{"/photos", "../photos2", "", true},
		{"/photos", "/a/..", "", true},
		{"/photos", "/a\\b", "", true},
		{"/photos", "/..\\..\\etc", "", true},
		{"/photos", "/a\x00b", "", true},
		{"/", "/..", "", true},
	}
	for _, tc := range tests {
		got, err := mapPath(tc.root, tc.name)
		if tc.bad {
			if err == nil {
				t.Errorf("mapPath(%q, %q) = %q, want an error", tc.root, tc.name, got)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("mapPath(%q, %q) = %q, %v; want %q", tc.root, tc.name, got, err, tc.want)
		}
	}
}

func TestCleanRoot(t *testing.T) {
	for in, want := range map[string]string{"": "/", "/": "/", "photos": "/photos", "/photos/": "/photos", "//a//b": "/a/b"} {
		if got, err := cleanRoot(in); err != nil || got != want {
			t.Errorf("cleanRoot(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	if _, err := cleanRoot("/a/../b"); err == nil {
		t.Errorf("cleanRoot accepted ..")
	}
}

// FuzzMapPath checks that every accepted name maps to root or below it, to
// a clean path without NUL, backslash or "..", and that exactly the names
// with those are refused.
func FuzzMapPath(f *testing.F) {
	for _, s := range []string{"/", "", "/a/b", "a//b/", "/..", "/a/../b", "a\\b", "a\x00", "/./.", "/ä/ö", "/.../x"} {
		f.Add("/photos", s)
		f.Add("/", s)
	}
	f.Fuzz(func(t *testing.T, root, name string) {
		root, err := cleanRoot(root)
		if err != nil {
			return
		}
		got, err := mapPath(root, name)
		bad := strings.ContainsAny(name, "\x00\\")
		for _, c := range strings.Split(name, "/") {
			bad = bad || c == ".."
		}
		if bad != (err != nil) {
			t.Fatalf("mapPath(%q, %q) = %q, %v; refused %v, want %v", root, name, got, err, err != nil, bad)
		}
		if err != nil {
			return
		}
		if path.Clean(got) != got {
			t.Fatalf("mapPath(%q, %q) = %q: not clean", root, name, got)
		}
		if got != root && !strings.HasPrefix(got, strings.TrimSuffix(root, "/")+"/") {
			t.Fatalf("mapPath(%q, %q) = %q: outside the root", root, name, got)
		}
		if strings.ContainsAny(got, "\x00\\") {
			t.Fatalf("mapPath(%q, %q) = %q: bad byte", root, name, got)
		}
		for _, c := range strings.Split(got, "/") {
			if c == ".." {
				t.Fatalf("mapPath(%q, %q) = %q: has ..", root, name, got)
			}
		}
	})
}
