package integration

import (
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestCLIBadFlags: an unknown or invalid flag exits 2 with a message naming
// the flag, and never mounts.
func TestCLIBadFlags(t *testing.T) {
	cases := []struct {
		name    string
		args    func(mnt, data string) []string
		mention string
	}{
		{"unknown flag on mount", func(mnt, data string) []string {
			return []string{"mount", mnt, "--data-dir", data, "--http-port", "0", "--discovery-port", "0", "--no-such-flag"}
		}, "no-such-flag"},
		{"unknown root flag", func(mnt, data string) []string {
			return []string{"--data-dir", data, "--http-port", "0", "--discovery-port", "0", "--no-such-flag"}
		}, "no-such-flag"},
		{"non-numeric port", func(mnt, data string) []string {
			return []string{"mount", mnt, "--data-dir", data, "--discovery-port", "0", "--http-port", "notanumber"}
		}, "http-port"},
		{"unknown storage engine", func(mnt, data string) []string {
			return []string{"mount", mnt, "--data-dir", data, "--http-port", "0", "--discovery-port", "0", "--storage-major", "nosuchengine"}
		}, "nosuchengine"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			mnt, data := t.TempDir(), t.TempDir()
			EnsureUnmountedAtCleanup(t, mnt)
			args := c.args(mnt, data)
			r := RunBinary(t, 20*time.Second, args...)
			if r.TimedOut {
				t.Fatalf("clusterf %s kept running; want exit 2\n%s", strings.Join(args, " "), r.Combined())
			}
			if r.ExitCode != 2 {
				t.Errorf("clusterf %s: exit %d, want 2\n%s", strings.Join(args, " "), r.ExitCode, r.Combined())
			}
			if !strings.Contains(r.Stderr, c.mention) {
				t.Errorf("stderr of clusterf %s does not mention %q:\n%s", strings.Join(args, " "), c.mention, r.Combined())
			}
		})
	}
}

// TestCLIVersion: `clusterf version` and `clusterf --version` print a version.
func TestCLIVersion(t *testing.T) {
	looksLikeVersion := regexp.MustCompile(`v?\d+\.\d+|\bdevel\b|\bdev\b|[0-9a-f]{7,40}`)
	for _, args := range [][]string{{"version"}, {"--version"}} {
		r := RunBinary(t, 20*time.Second, args...)
		out := strings.TrimSpace(r.Stdout)
		if r.ExitCode != 0 || out == "" || !looksLikeVersion.MatchString(out) {
			t.Errorf("clusterf %s: exit %d, stdout %q; want exit 0 and a version on stdout\nstderr:\n%s",
				strings.Join(args, " "), r.ExitCode, out, r.Stderr)
		}
	}
}

// TestStorageMajorLocked: the storage engine is locked at first start; a
// different --storage-major later is refused and changes nothing.
func TestStorageMajorLocked(t *testing.T) {
	n := StartNode(t, NodeOptions{StorageMajor: "rawfile"})
	keep := randomBytes(10000, 90)
	writeFileSync(t, filepath.Join(n.Mountpoint(), "keep"), keep, 0o644)
	n.Stop()

	formatFile := findFormatFile(t, n)
	before, err := os.ReadFile(formatFile)
	if err != nil {
		t.Fatal(err)
	}
	beforeInfo, err := os.Stat(formatFile)
	if err != nil {
		t.Fatal(err)
	}

	o := n.Options()
	o.StorageMajor = "bolt"
	r := RunBinary(t, 30*time.Second, nodeArgs(o)...)
	if r.TimedOut {
		t.Fatalf("--storage-major bolt on a rawfile data dir kept running; want a refusal\n%s", r.Combined())
	}
	if r.ExitCode == 0 || !strings.Contains(r.Combined(), "locked") {
		t.Errorf("--storage-major bolt on a rawfile data dir: exit %d; want non-zero and a message containing \"locked\"\n%s",
			r.ExitCode, r.Combined())
	}
	if IsMounted(n.Mountpoint()) {
		t.Errorf("the refused start left %s mounted", n.Mountpoint())
	}
	after, err := os.ReadFile(formatFile)
	if err != nil {
		t.Fatal(err)
	}
	afterInfo, err := os.Stat(formatFile)
	if err != nil {
		t.Fatal(err)
	}
	if string(after) != string(before) || !afterInfo.ModTime().Equal(beforeInfo.ModTime()) {
		t.Errorf("storage-format changed by the refused start: %q (mtime %v) -> %q (mtime %v)",
			before, beforeInfo.ModTime(), after, afterInfo.ModTime())
	}

	// The data dir still works with its own engine.
	n.Restart()
	requireContent(t, filepath.Join(n.Mountpoint(), "keep"), keep)
	n.Stop()
}

// TestStaleMount: after kill -9 the mountpoint is a stale FUSE mount; a new
// node on the same directory detects it, logs it, replaces it and serves the
// old data.
func TestStaleMount(t *testing.T) {
	n := StartNode(t, NodeOptions{})
	mnt := n.Mountpoint()
	old := randomBytes(20000, 91)
	writeFileSync(t, filepath.Join(mnt, "old"), old, 0o644)
	n.Kill9()

	_, err := os.Stat(mnt)
	requireErrno(t, err, syscall.ENOTCONN, "stat of the mountpoint after kill -9")
	if got := MountFSType(mnt); got != FuseType {
		t.Fatalf("after kill -9 the mountpoint has fstype %q, want a stale %s mount", got, FuseType)
	}

	n.Restart()
	requireContent(t, filepath.Join(mnt, "old"), old)
	if c := MountCount(mnt); c != 1 {
		t.Errorf("%d mounts stacked on %s after the restart; want 1 (the stale one lazily unmounted)", c, mnt)
	}
	if !strings.Contains(strings.ToLower(n.Stderr()), "stale") {
		t.Errorf("the new node did not log a message about the stale mount (want \"stale\" in stderr):\n%s", n.Stderr())
	}
	n.Stop()
}

// findFormatFile returns the storage-format file of the node: D/N/storage-format
// (the contract), or D/N/chunks/storage-format.
func findFormatFile(t testing.TB, n *Node) string {
	t.Helper()
	for _, p := range []string{
		filepath.Join(n.NodeDir(), "storage-format"),
		filepath.Join(n.NodeDir(), "chunks", "storage-format"),
	} {
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	out, _ := run("/", "find", n.NodeDir(), "-maxdepth", "2")
	t.Fatalf("no storage-format file in %s or its chunks/; node dir:\n%s", n.NodeDir(), out)
	return ""
}

// TestCLIForgetNode: `clusterf forget-node` reaches the running node and
// reports its answer: an unknown member and the node itself are refused
// with the node's reason and exit 1, without --http-port it is a usage
// error (exit 2).
func TestCLIForgetNode(t *testing.T) {
	port := freeTCPPort(t)
	n := StartNode(t, NodeOptions{ExtraArgs: []string{"--http-port", strconv.Itoa(port)}})
	p := strconv.Itoa(port)
	cases := []struct {
		args    []string
		code    int
		mention string
	}{
		{[]string{"forget-node", "nobody", "--http-port", p}, 1, "no such member"},
		{[]string{"forget-node", n.NodeID(), "--http-port", p}, 1, "cannot forget itself"},
		{[]string{"forget-node", "nobody"}, 2, "--http-port"},
	}
	for _, c := range cases {
		r := RunBinary(t, 20*time.Second, c.args...)
		if r.ExitCode != c.code || !strings.Contains(r.Stderr, c.mention) {
			t.Errorf("%v: exit %d, stderr %q; want exit %d mentioning %q", c.args, r.ExitCode, r.Stderr, c.code, c.mention)
		}
	}
}
