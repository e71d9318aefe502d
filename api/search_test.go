package api

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/clusterf/clusterf/replica"
	"github.com/clusterf/clusterf/search"
)

// testIndex runs a real search index over fs until the test ends.
func testIndex(t *testing.T, fs *replica.FS) *search.Index {
	t.Helper()
	x, err := search.Open(search.Config{FS: fs, Dir: filepath.Join(t.TempDir(), "search")})
	if err != nil {
		t.Fatalf("open search index: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- x.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil && !errors.Is(err, context.Canceled) {
			t.Errorf("search index: %v", err)
		}
		x.Close()
	})
	return x
}

// syncSearch waits until the index reflects every change so far.
func (e *testEnv) syncSearch() {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := e.idx.Sync(ctx); err != nil {
		e.t.Fatalf("search sync: %v", err)
	}
}

func TestSearchHTTP(t *testing.T) {
	e := newEnv(t, Config{})
	e.put("/api/files/docs/report.md", []byte("# Quarterly report\n\nRevenue grew in the northern region."))
	e.put("/api/files/photos/Vacation_2024-07.JPG", []byte("not really a jpeg"))
	e.syncSearch()
	res := decode[SearchResult](t, e.want(200, "GET", "/api/search?q=revenue", nil))
	if res.Total != 1 || res.Count != 1 || res.Results[0].Path != "/docs/report.md" ||
		!strings.Contains(res.Results[0].SnippetHTML, "<mark>Revenue</mark>") || res.Results[0].ContentType != "text/markdown" {
		t.Fatalf("content search: %+v", res)
	}
	res = decode[SearchResult](t, e.want(200, "POST", "/api/search", strings.NewReader(`{"query":"vaca*","sort":"-size","limit":5,"offset":0}`)))
	if res.Count != 1 || res.Results[0].Name != "Vacation_2024-07.JPG" || res.Sort != "-size" || res.Limit != 5 {
		t.Fatalf("prefix search: %+v", res)
	}
	st := decode[search.Stats](t, e.want(200, "GET", "/api/search/status", nil))
	if st.Documents < 4 || st.Format != search.FormatVersion {
		t.Fatalf("status: %+v", st)
	}
	for _, q := range []string{
		"/api/search?q=" + strings.Repeat("a", search.MaxQueryBytes+1),
		"/api/search?q=size:%3Ehuge",
		"/api/search?q=%22open",
		"/api/search?q=nosuchfield:x",
		"/api/search?q=x&sort=color",
		"/api/search?q=x&offset=-1",
		"/api/search?q=x&offset=y",
		"/api/search?q=under:/docs/report.md",
	} {
		msg := e.wantErr(400, "GET", q, nil)
		if msg == "" {
			t.Errorf("%s: 400 without a message", q)
		}
	}
}
