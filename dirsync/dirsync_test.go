package dirsync

import (
	"errors"
	"io/fs"
	"path/filepath"
	"testing"
)

func TestDir(t *testing.T) {
	cases := []struct {
		name    string
		dir     string
		wantErr error
	}{
		{"existing directory", t.TempDir(), nil},
		{"missing directory", filepath.Join(t.TempDir(), "gone"), fs.ErrNotExist},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if err := Dir(tc.dir); !errors.Is(err, tc.wantErr) {
				t.Fatalf("Dir(%s) = %v, want %v", tc.dir, err, tc.wantErr)
			}
		})
	}
}
