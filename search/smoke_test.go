package search

import (
	"bytes"
	"context"
	"path/filepath"
	"sort"
	"testing"
	"time"

	"github.com/clusterf/clusterf/replica"
)

// testIndex runs an index over fs in dir until the test ends.
func testIndex(t testing.TB, fs *replica.FS, dir string) *Index {
	t.Helper()
	x, err := Open(Config{FS: fs, Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- x.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil && err != context.Canceled {
			t.Errorf("Run: %v", err)
		}
		x.Close()
	})
	return x
}

func syncIndex(t testing.TB, x *Index) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := x.Sync(ctx); err != nil {
		t.Fatalf("Sync: %v (stats %+v)", err, x.Stats())
	}
}

func put(t testing.TB, fs *replica.FS, p string, b []byte) {
	t.Helper()
	if _, err := fs.PutFile(context.Background(), p, bytes.NewReader(b), replica.PutOptions{}); err != nil {
		t.Fatal(err)
	}
}

func paths(t testing.TB, x *Index, q string) []string {
	t.Helper()
	res, err := x.Search(context.Background(), Request{Query: q, Limit: 1000})
	if err != nil {
		t.Fatalf("search %q: %v", q, err)
	}
	var out []string
	for _, h := range res.Results {
		out = append(out, h.Path)
	}
	sort.Strings(out)
	return out
}

func TestSmoke(t *testing.T) {
	fs := replica.TestFS(t, 0)
	x := testIndex(t, fs, filepath.Join(t.TempDir(), "search"))
	put(t, fs, "photos/Vacation_2024-07.JPG", []byte("x"))
	put(t, fs, "movies/summer vacation.mov", []byte("y"))
	put(t, fs, "vacationPhotos.zip", []byte("z"))
	put(t, fs, "docs/notes.txt", []byte("the quick brown fox jumps over the lazy dog"))
	syncIndex(t, x)
	t.Logf("stats %+v", x.Stats())
	for _, q := range []string{"vacation", "vaca", "cation", "quick fox", `"lazy dog"`, "ext:txt", "type:text", "under:/photos"} {
		t.Logf("%q: %v", q, paths(t, x, q))
	}
	res, _ := x.Search(context.Background(), Request{Query: "fox"})
	t.Logf("%+v", res)
}
