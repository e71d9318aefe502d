package integration

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"
)

// TestSyncBothWaysCluster: two nodes in network namespaces; node A syncs
// a local folder both ways (--import-dir and --export-dir the same) with
// the cluster folder /shared, node B changes /shared through its mount.
// Changes travel both ways, renames stay renames, excludes hold both ways,
// and a change made on both sides while A was down keeps both versions.
func TestSyncBothWaysCluster(t *testing.T) {
	net := NewNet(t, 2)
	x := t.TempDir()
	put := func(rel, content string, mtime time.Time) {
		p := filepath.Join(x, rel)
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		if !mtime.IsZero() {
			os.Chtimes(p, mtime, mtime)
		}
	}
	put("local.txt", "from the folder", time.Time{})
	put("doc.txt", "v1", time.Time{})
	put("private/secret", "never leaves", time.Time{})
	a := startClusterNode(t, net.Hosts[0], "a", clusterKey,
		"--import-dir", x, "--export-dir", x, "--cluster-dir", "/shared", "--exclude-dirs", "private")
	b := startClusterNode(t, net.Hosts[1], "b", clusterKey)
	shared := filepath.Join(b.Mountpoint(), "shared")

	eventually(t, 30*time.Second, "the folder reaches B", contentIs(filepath.Join(shared, "local.txt"), []byte("from the folder")))
	eventually(t, 10*time.Second, "doc.txt reaches B", contentIs(filepath.Join(shared, "doc.txt"), []byte("v1")))

	// B's changes reach the folder; its excluded dir does not.
	os.MkdirAll(filepath.Join(shared, "private"), 0o755)
	writeFileSync(t, filepath.Join(shared, "private", "b-only"), []byte("b"), 0o644)
	writeFileSync(t, filepath.Join(shared, "fromB.txt"), []byte("written on B"), 0o644)
	writeFileSync(t, filepath.Join(shared, "local.txt"), []byte("changed on B"), 0o644)
	took := eventually(t, 20*time.Second, "B's create reaches the folder", contentIs(filepath.Join(x, "fromB.txt"), []byte("written on B")))
	t.Logf("a file written on B's mount appeared in A's folder after %v", took)
	eventually(t, 10*time.Second, "B's change reaches the folder", contentIs(filepath.Join(x, "local.txt"), []byte("changed on B")))
	if _, err := os.Stat(filepath.Join(x, "private", "b-only")); err == nil {
		t.Error("an excluded path was exported")
	}

	// A rename in the folder is a rename on B; a delete on B a delete here.
	if err := os.Rename(filepath.Join(x, "fromB.txt"), filepath.Join(x, "renamed.txt")); err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, "the rename reaches B", func() string {
		got := names(shared)
		if slices.Contains(got, "fromB.txt") || !slices.Contains(got, "renamed.txt") {
			return fmt.Sprintf("B shows %v", got)
		}
		return ""
	})
	if err := os.Remove(filepath.Join(shared, "renamed.txt")); err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, "B's delete reaches the folder", func() string {
		if _, err := os.Stat(filepath.Join(x, "renamed.txt")); err == nil {
			return "still there"
		}
		return ""
	})

	checkConflictWhileDown(t, a, x, shared, put)
	if _, err := os.Stat(filepath.Join(shared, "private", "secret")); err == nil {
		t.Error("an excluded path was imported")
	}
	if slices.Contains(names(shared), ".clusterfignore") {
		t.Error("the ignore file was imported")
	}
}

// checkConflictWhileDown: both sides change doc.txt while A is down; both
// versions are kept, on both sides.
func checkConflictWhileDown(t *testing.T, a *Node, x, shared string, put func(rel, content string, mtime time.Time)) {
	// Both sides change doc.txt while A is down: both versions are kept.
	a.Stop()
	put("doc.txt", "edited in the folder", time.Now().Add(-time.Minute))
	writeFileSync(t, filepath.Join(shared, "doc.txt"), []byte("edited on B"), 0o644)
	a.Restart()
	docs := func(dir string) []string {
		var out []string
		for _, n := range names(dir) {
			if strings.HasPrefix(n, "doc") {
				b, _ := os.ReadFile(filepath.Join(dir, n))
				out = append(out, string(b))
			}
		}
		sort.Strings(out)
		return out
	}
	want := []string{"edited in the folder", "edited on B"}
	eventually(t, 30*time.Second, "both versions kept on both sides", func() string {
		if got := docs(x); !slices.Equal(got, want) {
			return fmt.Sprintf("folder has %q (%v)", got, names(x))
		}
		if got := docs(shared); !slices.Equal(got, want) {
			return fmt.Sprintf("B has %q (%v)", got, names(shared))
		}
		return ""
	})
	t.Logf("after the conflict: folder %v, B %v", names(x), names(shared))
}
