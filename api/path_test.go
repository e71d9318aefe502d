package api

import (
	"errors"
	"strings"
	"testing"
)

func TestCleanPath(t *testing.T) {
	long := strings.Repeat("a", MaxNameLen)
	tests := []struct {
		in   string
		want string
		bad  bool
	}{
		{in: "", want: ""},
		{in: "/", want: ""},
		{in: "a", want: "a"},
		{in: "/a/b/", want: "a/b"},
		{in: "a//b///c", want: "a/b/c"},
		{in: "photos/photo.jpg", want: "photos/photo.jpg"},
		{in: "my file (1).txt", want: "my file (1).txt"},
		{in: "ünïcødé/日本.txt", want: "ünïcødé/日本.txt"},
		{in: "..a/b..", want: "..a/b.."},
		{in: "...", want: "..."},
		{in: ".hidden", want: ".hidden"},
		{in: "100%", want: "100%"},                        // does not decode: literal
		{in: "a%41b", want: "a%41b"},                      // decodes harmlessly: kept literally
		{in: "a%2fb", want: "a%2fb"},                      // decodes to a/b: harmless
		{in: long, want: long},                            // 255 bytes is fine
		{in: strings.Repeat("a/", 2048) + "a", bad: true}, // 4097 bytes
		{in: "..", bad: true},
		{in: ".", bad: true},
		{in: "../x", bad: true},
		{in: "a/../b", bad: true},
		{in: "a/./b", bad: true},
		{in: "a/..", bad: true},
		{in: "%2e%2e", bad: true},
		{in: "%2E%2E/x", bad: true},
		{in: "a/%2e%2e/b", bad: true},
		{in: "%2e", bad: true},
		{in: ".%2e", bad: true},
		{in: "a%2f..%2fb", bad: true},
		{in: "a%2F%2e%2e", bad: true},
		{in: "a%00b", bad: true},
		{in: "a%5cb", bad: true},
		{in: "a%0ab", bad: true},
		{in: "a\x00b", bad: true},
		{in: "a\\b", bad: true},
		{in: "..\\x", bad: true},
		{in: "a\nb", bad: true},
		{in: "a\tb", bad: true},
		{in: "a\x7fb", bad: true},
		{in: "a\u0085b", bad: true},
		{in: "\xff\xfe", bad: true},
		{in: long + "a", bad: true},
		{in: strings.Repeat("ab/", 1400), bad: true},
	}
	for _, tt := range tests {
		got, err := CleanPath(tt.in)
		if tt.bad {
			if err == nil {
				t.Errorf("CleanPath(%q) = %q, want an error", tt.in, got)
			} else if !errors.Is(err, ErrBadPath) {
				t.Errorf("CleanPath(%q) error %v does not wrap ErrBadPath", tt.in, err)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("CleanPath(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
		}
	}
}

func FuzzCleanPath(f *testing.F) {
	for _, s := range []string{"", "a/b", "../x", "%2e%2e", "%252e%252e", "a\\b", "a\x00b", "a//b/", "%2e%2E%2f", "ü/%c3%bc"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		out, err := CleanPath(raw)
		if err != nil {
			if out != "" {
				t.Fatalf("CleanPath(%q) returned %q with error %v", raw, out, err)
			}
			return
		}
		if len(out) > MaxPathLen {
			t.Fatalf("CleanPath(%q) = %d bytes", raw, len(out))
		}
		if strings.ContainsAny(out, "\x00\\") {
			t.Fatalf("CleanPath(%q) = %q holds NUL or backslash", raw, out)
		}
		if out != "" {
			for _, c := range strings.Split(out, "/") {
				if c == "" || c == "." || c == ".." || len(c) > MaxNameLen {
					t.Fatalf("CleanPath(%q) = %q has component %q", raw, out, c)
				}
			}
		}
		again, err := CleanPath(out)
		if err != nil || again != out {
			t.Fatalf("CleanPath not idempotent: %q -> %q -> %q, %v", raw, out, again, err)
		}
	})
}
