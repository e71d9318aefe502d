package webdav

import (
	"bytes"
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/clusterf/clusterf/replica"
)

// testServer serves fsys (or a fresh replica.TestFS) at /webdav/ on a
// loopback httptest server, with the cluster path root as its root.
type testServer struct {
	fs  *replica.FS
	srv *httptest.Server
	url string // ends in "/webdav/"
	// done counts requests the handler has finished.
	done atomic.Int64
}

func newTestServer(t testing.TB, fsys *replica.FS, root string) *testServer {
	t.Helper()
	if fsys == nil {
		fsys = replica.TestFS(t, 64<<10)
	}
	logger := slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn}))
	h, err := New(fsys, root, "/webdav/", logger)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	ts := &testServer{fs: fsys}
	counted := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer ts.done.Add(1)
		h.ServeHTTP(w, r)
	})
	mux := http.NewServeMux()
	mux.Handle("/webdav/", counted)
	mux.Handle("/webdav", counted)
	ts.srv = httptest.NewServer(mux)
	t.Cleanup(ts.srv.Close)
	ts.url = ts.srv.URL + "/webdav/"
	return ts
}

// testWriter sends log output to t.Log while the test runs.
type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Helper()
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

// needTool returns the path of a client program. A missing client is a
// failure (make test installs them: deps/deps.txt), never a silent skip.
func needTool(t testing.TB, name, pkg string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err == nil {
		return p
	}
	t.Fatal(name + " not installed: apt-get install " + pkg)
	return ""
}

// run runs a client with a deadline and returns its combined output.
func run(t testing.TB, timeout time.Duration, stdin string, env []string, name string, args ...string) (string, error) {
	t.Helper()
	return runIn(t, "", timeout, stdin, env, name, args...)
}

// runIn is run in the working directory dir ("": the test's).
func runIn(t testing.TB, dir string, timeout time.Duration, stdin string, env []string, name string, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Dir = dir
	if stdin != "" {
		cmd.Stdin = strings.NewReader(stdin)
	}
	var out lockedBuffer
	cmd.Stdout, cmd.Stderr = &out, &out
	cmd.WaitDelay = 5 * time.Second
	err := cmd.Run()
	return out.String(), err
}

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}
