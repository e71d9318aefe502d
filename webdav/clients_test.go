package webdav

import (
	"bytes"
	"context"
	"crypto/rand"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/clusterf/clusterf/crdt"
	"github.com/clusterf/clusterf/replica"
)

// testTree is the set of files the client tests copy around: nested
// directories, a name with spaces and non-ASCII letters, an empty file, an
// inline-sized file and files of several chunks (the test FS cuts 64 KiB
// chunks).
func testTree(t testing.TB) map[string][]byte {
	t.Helper()
	big := make([]byte, 300<<10+123)
	rand.Read(big)
	mid := make([]byte, 70<<10)
	rand.Read(mid)
	return map[string][]byte{
		"hello.txt":                    []byte("hello, world\n"),
		"empty":                        {},
		"photos/big.bin":               big,
		"photos/2024/Sommer Ölsee.jpg": mid,
		"docs/a/b/c/deep.md":           []byte("# deep\n"),
	}
}

func writeTree(t testing.TB, dir string, tree map[string][]byte) {
	t.Helper()
	for name, data := range tree {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// readTree returns the regular files under dir by slash path.
func readTree(t testing.TB, dir string) map[string][]byte {
	t.Helper()
	out := map[string][]byte{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		data, err := os.ReadFile(p)
		out[filepath.ToSlash(rel)] = data
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// coreTree reads the regular files under the cluster path root through the
// filesystem core.
func coreTree(t testing.TB, fsys *replica.FS, root string) map[string][]byte {
	t.Helper()
	ctx := context.Background()
	out := map[string][]byte{}
	var walk func(rel string)
	walk = func(rel string) {
		a, err := fsys.Walk(ctx, root+"/"+rel)
		if err != nil {
			t.Fatalf("walk %s: %v", rel, err)
		}
		ents, err := fsys.ReadDir(ctx, a.Ref.Inode)
		if err != nil {
			t.Fatalf("readdir %s: %v", rel, err)
		}
		for _, e := range ents {
			p := strings.TrimPrefix(rel+"/"+e.Name, "/")
			if e.Attr.Kind == crdt.KindDir {
				walk(p)
				continue
			}
			out[p] = readCore(t, fsys, e.Attr.Ref)
		}
	}
	walk("")
	return out
}

func readCore(t testing.TB, fsys *replica.FS, ref crdt.Ref) []byte {
	t.Helper()
	ctx := context.Background()
	h, err := fsys.Open(ctx, ref, os.O_RDONLY)
	if err != nil {
		t.Fatalf("open %v: %v", ref, err)
	}
	defer h.Release()
	data, err := io.ReadAll(replica.NewReader(ctx, h))
	if err != nil {
		t.Fatalf("read %v: %v", ref, err)
	}
	return data
}

func compareTrees(t testing.TB, what string, want, got map[string][]byte) {
	t.Helper()
	for name, w := range want {
		g, ok := got[name]
		switch {
		case !ok:
			t.Errorf("%s: %s missing", what, name)
		case !bytes.Equal(g, w):
			t.Errorf("%s: %s differs: %d bytes, want %d", what, name, len(g), len(w))
		}
	}
	for name := range got {
		if _, ok := want[name]; !ok {
			t.Errorf("%s: unexpected %s", what, name)
		}
	}
}
