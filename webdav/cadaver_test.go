package webdav

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestCadaver drives cadaver with a script on stdin: put, ls, get, mkcol,
// move, delete; then checks the cluster through the core.
func TestCadaver(t *testing.T) {
	cadaver := needTool(t, "cadaver", "cadaver")
	ts := newTestServer(t, nil, "/cad")
	tmp := t.TempDir()
	data := bytes.Repeat([]byte("cadaver line\n"), 10000) // 130 KB: three chunks
	local := filepath.Join(tmp, "up.txt")
	if err := os.WriteFile(local, data, 0o644); err != nil {
		t.Fatal(err)
	}
	back := filepath.Join(tmp, "back.txt")
	script := strings.Join([]string{
		"put " + local + " up.txt",
		"ls",
		"get up.txt " + back,
		"mkcol dir",
		"move up.txt dir/moved.txt",
		"put " + local + " gone.txt",
		"delete gone.txt",
		"ls dir",
		"quit",
	}, "\n") + "\n"
	out, err := run(t, time.Minute, script, []string{"HOME=" + tmp}, cadaver, ts.url)
	t.Logf("cadaver:\n%s", out)
	if err != nil {
		t.Fatalf("cadaver: %v", err)
	}
	for _, want := range []string{"up.txt", "moved.txt"} {
		if !strings.Contains(out, want) {
			t.Errorf("cadaver ls output lacks %s", want)
		}
	}
	if strings.Contains(out, "failed") {
		t.Errorf("a cadaver command failed")
	}
	got, err := os.ReadFile(back)
	if err != nil || !bytes.Equal(got, data) {
		t.Errorf("get: %d bytes, %v; want %d bytes", len(got), err, len(data))
	}
	compareTrees(t, "cluster after cadaver", map[string][]byte{"dir/moved.txt": data}, coreTree(t, ts.fs, "/cad"))
	if _, err := ts.fs.Walk(context.Background(), "/cad/gone.txt"); err == nil {
		t.Errorf("gone.txt still exists after delete")
	}
}
