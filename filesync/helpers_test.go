package filesync

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/clusterf/clusterf/crdt"
	"github.com/clusterf/clusterf/replica"
)

// env is a core (a real replica.FS over a bbolt meta.db and a rawfile
// chunk store in a temp dir), a local folder and a manager.
type env struct {
	t     *testing.T
	fs    *replica.FS
	local string
	m     *Manager
	dir   string
}

func newEnv(t *testing.T) *env {
	t.Helper()
	fs := replica.TestFS(t, 64<<10)
	e := &env{t: t, fs: fs, local: t.TempDir(), dir: t.TempDir()}
	e.m = NewManager(Options{FS: fs, Dir: e.dir, Self: "n1", Logger: testLogger(t)})
	return e
}

// once runs a one-shot pass.
func (e *env) once(mode Mode, cluster string, mut ...func(*PairConfig)) (Status, error) {
	e.t.Helper()
	cfg := PairConfig{Local: e.local, Cluster: cluster, Mode: mode}
	for _, f := range mut {
		f(&cfg)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	return e.m.RunOnce(ctx, cfg, nil)
}

func (e *env) mustOnce(mode Mode, cluster string, mut ...func(*PairConfig)) Status {
	e.t.Helper()
	st, err := e.once(mode, cluster, mut...)
	if err != nil {
		e.t.Fatalf("sync %s: %v (status %+v)", mode, err, st)
	}
	return st
}

func (e *env) write(rel, content string) {
	e.t.Helper()
	p := filepath.Join(e.local, rel)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		e.t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		e.t.Fatal(err)
	}
}

func (e *env) put(p, content string) {
	e.t.Helper()
	if _, err := e.fs.PutFile(context.Background(), p, strings.NewReader(content), replica.PutOptions{}); err != nil {
		e.t.Fatal(err)
	}
}

// read returns a cluster file's content ("" and false if missing).
func (e *env) read(p string) (string, bool) {
	e.t.Helper()
	ctx := context.Background()
	a, err := e.fs.Walk(ctx, p)
	if err != nil {
		return "", false
	}
	h, err := e.fs.Open(ctx, a.Ref, os.O_RDONLY)
	if err != nil {
		e.t.Fatal(err)
	}
	defer h.Release()
	b, err := io.ReadAll(io.LimitReader(replica.NewReader(ctx, h), h.Size()))
	if err != nil {
		e.t.Fatal(err)
	}
	return string(b), true
}

// clusterTree lists a cluster folder as path -> description.
func (e *env) clusterTree(root string) map[string]string {
	e.t.Helper()
	out := map[string]string{}
	ctx := context.Background()
	var walk func(p string, a replica.Attr)
	walk = func(p string, a replica.Attr) {
		ents, err := e.fs.ReadDir(ctx, a.Ref.Inode)
		if err != nil {
			e.t.Fatal(err)
		}
		for _, x := range ents {
			cp := p + "/" + x.Name
			rel := strings.TrimPrefix(cp, root+"/")
			switch x.Attr.Kind {
			case crdt.KindDir:
				out[rel] = "dir"
				walk(cp, x.Attr)
			case crdt.KindSymlink:
				t, _ := e.fs.Readlink(ctx, x.Attr.Ref.Inode)
				out[rel] = "-> " + t
			default:
				c, _ := e.read(cp)
				out[rel] = c
			}
		}
	}
	a, err := e.fs.Walk(ctx, root)
	if err != nil {
		e.t.Fatal(err)
	}
	walk(strings.TrimSuffix(root, "/"), a)
	return out
}

// localTree lists a local folder the same way.
func localTree(t *testing.T, root string) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := filepath.Walk(root, func(p string, fi os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		if p == root {
			return nil
		}
		rel, _ := filepath.Rel(root, p)
		switch {
		case fi.IsDir():
			out[rel] = "dir"
		case fi.Mode()&os.ModeSymlink != 0:
			tg, _ := os.Readlink(p)
			out[rel] = "-> " + tg
		case fi.Mode().IsRegular():
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			out[rel] = string(b)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func diffTrees(a, b map[string]string) string {
	var d []string
	for k, v := range a {
		if w, ok := b[k]; !ok {
			d = append(d, "only in first: "+k)
		} else if v != w {
			d = append(d, "differs: "+k)
		}
	}
	for k := range b {
		if _, ok := a[k]; !ok {
			d = append(d, "only in second: "+k)
		}
	}
	sort.Strings(d)
	return strings.Join(d, "; ")
}

func lstat(t *testing.T, p string) *syscall.Stat_t {
	t.Helper()
	var st syscall.Stat_t
	if err := syscall.Lstat(p, &st); err != nil {
		t.Fatal(err)
	}
	return &st
}

func eventually(t *testing.T, what string, cond func() string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	last := ""
	for time.Now().Before(deadline) {
		if last = cond(); last == "" {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("%s: %s", what, last)
}

var _ = bytes.Equal

func testLogger(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(tWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type tWriter struct{ t *testing.T }

func (w tWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}
