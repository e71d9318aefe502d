package integration

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/clusterf/clusterf/filesync"
)

// TestSyncDashboard: the monitor page lists the node's sync pairs as
// /api/sync has them (issue 16: "the dashboard when it exists"), in
// headless Chromium without a console error or a failed request: an
// import pair idle with its counts (a FIFO skipped), and an export pair
// whose one file cannot be synced (an immutable local file in the way of
// a conflict) listed with that file, its error and its attempts.
func TestSyncDashboard(t *testing.T) {
	src, dst := t.TempDir(), t.TempDir()
	if err := os.WriteFile(filepath.Join(src, "a.txt"), []byte("from the folder"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mkfifo(filepath.Join(src, "fifo"), 0o644); err != nil {
		t.Fatal(err)
	}
	stuck := filepath.Join(dst, "stuck.txt")
	if err := os.WriteFile(stuck, []byte("local version"), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("chattr", "+i", stuck).CombinedOutput(); err != nil {
		t.Fatalf("chattr +i: %v %s", err, out)
	}
	t.Cleanup(func() { exec.Command("chattr", "-i", stuck).Run() })
	n, base := syncNode(t, NodeOptions{}, "--import-dir", src, "--export-dir", dst, "--cluster-dir", "/dash")
	if err := os.MkdirAll(filepath.Join(n.Mountpoint(), "dash"), 0o755); err != nil {
		t.Fatal(err)
	}
	writeFileSync(t, filepath.Join(n.Mountpoint(), "dash", "stuck.txt"), []byte("cluster version"), 0o644)

	var imp, exp filesync.Status
	eventually(t, time.Minute, "the import idle and the export failing on stuck.txt", func() string {
		for _, p := range syncPairs(t, base) {
			switch p.Mode {
			case "import":
				imp = p
			case "export":
				exp = p
			}
		}
		if idle(imp) != "" || imp.Skipped != 1 || len(exp.Errors) == 0 {
			return fmt.Sprintf("import %+v, export %+v", imp, exp)
		}
		return ""
	})
	tab := NewTab(t, NewBrowser(t))
	tab.Do(t, 30*time.Second, chromedp.EmulateViewport(1280, 800), chromedp.Navigate(base+"/monitor"))
	row := func(id string) string { return fmt.Sprintf(`document.querySelector('#sync tr[data-pair=%q]')`, id) }
	tab.WaitJS(t, 20*time.Second, "the import pair listed idle", row(imp.ID)+`?.dataset.state === "idle"`)
	tab.WaitJS(t, 20*time.Second, "the export pair listed with its failed file", row(exp.ID)+`?.dataset.errors > 0`)
	text := EvalJS[string](t, tab, row(imp.ID)+`.textContent`)
	for _, want := range []string{src, "/dash", "idle"} {
		if !strings.Contains(text, want) {
			t.Errorf("import row %q lacks %q", text, want)
		}
	}
	text = EvalJS[string](t, tab, row(exp.ID)+`.textContent`)
	for _, want := range []string{dst, "stuck.txt", "attempt", "failed; retried"} {
		if !strings.Contains(text, want) {
			t.Errorf("export row %q lacks %q", text, want)
		}
	}
	skipped := EvalJS[string](t, tab, row(imp.ID)+`.cells[10].textContent`)
	if skipped != "1" {
		t.Errorf("import row: special files skipped %q, want 1", skipped)
	}
	tab.Check(t)
}
