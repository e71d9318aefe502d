package integration

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"
)

// Multi-node tests: every node is a real clusterf process in its own
// network namespace on a private bridge, so UDP broadcast discovery is real
// and nothing leaves the test network.

const clusterKey = "frog-test-key"

// startClusterNode starts a node on host h with broadcast discovery on.
func startClusterNode(t *testing.T, h *Host, id, key string, extra ...string) *Node {
	t.Helper()
	args := []string{"--discovery-port", "9999"}
	if key != "" {
		args = append(args, "--cluster-key", key)
	}
	return StartNode(t, NodeOptions{NodeID: id, Wrap: h.Wrap(), ExtraArgs: append(args, extra...)})
}

// eventually polls cond every 50 ms until it returns "" or the deadline
// passes, then fails with the last complaint.
func eventually(t testing.TB, within time.Duration, what string, cond func() string) time.Duration {
	t.Helper()
	start := time.Now()
	last := ""
	for time.Since(start) < within {
		if last = cond(); last == "" {
			return time.Since(start)
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("%s: not true after %v: %s", what, within, last)
	return 0
}

// contentIs is a condition: path holds want.
func contentIs(path string, want []byte) func() string {
	return func() string {
		got, err := os.ReadFile(path)
		if err != nil {
			return err.Error()
		}
		if !bytes.Equal(got, want) {
			return fmt.Sprintf("%s has %d bytes, want %d", path, len(got), len(want))
		}
		return ""
	}
}

// names lists a directory (nil on error).
func names(dir string) []string {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil
	}
	var out []string
	for _, e := range ents {
		out = append(out, e.Name())
	}
	sort.Strings(out)
	return out
}

// sameTrees is a condition: every node's mount shows the same tree.
func sameTrees(t testing.TB, nodes ...*Node) func() string {
	return func() string {
		first := takeSnapshot(t, nodes[0].Mountpoint())
		for _, n := range nodes[1:] {
			if d := diffSnapshots(first, takeSnapshot(t, n.Mountpoint()), false); len(d) > 0 {
				return fmt.Sprintf("%s differs from %s: %s", n.NodeID(), nodes[0].NodeID(), strings.Join(d[:min(len(d), 5)], "; "))
			}
		}
		return ""
	}
}

func TestClusterDiscoveryAndSync(t *testing.T) {
	net := NewNet(t, 3)
	var nodes []*Node
	for i, h := range net.Hosts {
		nodes = append(nodes, startClusterNode(t, h, fmt.Sprintf("n%d", i), clusterKey))
	}
	a, b, c := nodes[0], nodes[1], nodes[2]

	small := []byte("hello from node a\n")
	writeFileSync(t, filepath.Join(a.Mountpoint(), "hello.txt"), small, 0o644)
	took := eventually(t, 20*time.Second, "file from A visible on C", contentIs(filepath.Join(c.Mountpoint(), "hello.txt"), small))
	t.Logf("first file visible on C after %v (includes discovery)", took)

	big := randomBytes(10<<20+123, 7)
	writeFileSync(t, filepath.Join(a.Mountpoint(), "big.bin"), big, 0o644)
	took = eventually(t, 20*time.Second, "10 MiB file from A readable on C", contentIs(filepath.Join(c.Mountpoint(), "big.bin"), big))
	t.Logf("10 MiB file readable on C after %v", took)

	if err := os.Rename(filepath.Join(b.Mountpoint(), "hello.txt"), filepath.Join(b.Mountpoint(), "renamed.txt")); err != nil {
		t.Fatal(err)
	}
	for _, n := range []*Node{a, c} {
		eventually(t, 10*time.Second, "rename on B seen on "+n.NodeID(), func() string {
			got := names(n.Mountpoint())
			if slices.Contains(got, "hello.txt") || !slices.Contains(got, "renamed.txt") {
				return fmt.Sprintf("listing %v", got)
			}
			return ""
		})
	}
	eventually(t, 10*time.Second, "all trees equal", sameTrees(t, a, b, c))
}

func TestClusterPartitionConflicts(t *testing.T) {
	net := NewNet(t, 2)
	a := startClusterNode(t, net.Hosts[0], "na", clusterKey)
	b := startClusterNode(t, net.Hosts[1], "nb", clusterKey)
	ma, mb := a.Mountpoint(), b.Mountpoint()
	for _, d := range []string{"x", "y"} {
		if err := os.Mkdir(filepath.Join(ma, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	writeFileSync(t, filepath.Join(ma, "doc.txt"), []byte("base\n"), 0o644)
	eventually(t, 20*time.Second, "setup replicated", sameTrees(t, a, b))

	net.Hosts[1].Disconnect()
	// Concurrent writes of one file, concurrent mkdir of one name, and
	// directories moved into each other on the two sides.
	verA, verB := []byte("version written on A\n"), []byte("version written on B, longer\n")
	writeFileSync(t, filepath.Join(ma, "doc.txt"), verA, 0o644)
	writeFileSync(t, filepath.Join(mb, "doc.txt"), verB, 0o644)
	for _, m := range []string{ma, mb} {
		if err := os.Mkdir(filepath.Join(m, "new"), 0o755); err != nil {
			t.Fatal(err)
		}
		writeFileSync(t, filepath.Join(m, "new", filepath.Base(m)+".txt"), []byte(m), 0o644)
	}
	if err := os.Rename(filepath.Join(ma, "x"), filepath.Join(ma, "y", "x")); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(filepath.Join(mb, "y"), filepath.Join(mb, "x", "y")); err != nil {
		t.Fatal(err)
	}
	net.Hosts[1].Reconnect()

	took := eventually(t, 30*time.Second, "trees converge after the partition heals", sameTrees(t, a, b))
	t.Logf("converged %v after healing", took)

	// Both versions of doc.txt exist on both nodes: one under the name, the
	// other as a conflict copy with the extension kept last.
	for _, m := range []string{ma, mb} {
		var versions [][]byte
		for _, nm := range names(m) {
			if nm == "doc.txt" || strings.HasPrefix(nm, "doc.conflict-") && strings.HasSuffix(nm, ".txt") {
				data, err := os.ReadFile(filepath.Join(m, nm))
				if err != nil {
					t.Fatal(err)
				}
				versions = append(versions, data)
			}
		}
		if len(versions) != 2 || !slices.ContainsFunc(versions, func(v []byte) bool { return bytes.Equal(v, verA) }) ||
			!slices.ContainsFunc(versions, func(v []byte) bool { return bytes.Equal(v, verB) }) {
			t.Errorf("%s: doc versions %q, want both concurrent writes (listing %v)", m, versions, names(m))
		}
		// Both concurrent "new" directories survive with their files: one
		// under the name, the other as a conflict copy.
		var newDirs []string
		for _, nm := range names(m) {
			if nm == "new" || strings.HasPrefix(nm, "new.conflict-") {
				newDirs = append(newDirs, nm)
			}
		}
		if len(newDirs) != 2 {
			t.Errorf("%s: concurrent mkdir left %v, want 2 directories", m, newDirs)
		}
	}
	// x into y and y into x: one move wins, no cycle, nothing lost. The
	// walk in takeSnapshot terminates and both directories are reachable.
	snap := takeSnapshot(t, ma)
	var sawX, sawY bool
	for p := range snap {
		base := filepath.Base(p)
		sawX = sawX || base == "x"
		sawY = sawY || base == "y"
	}
	if !sawX || !sawY {
		t.Errorf("after crossed moves x=%v y=%v reachable; tree: %v", sawX, sawY, snap)
	}
}

func TestClusterCatchUpAndJoin(t *testing.T) {
	net := NewNet(t, 3)
	a := startClusterNode(t, net.Hosts[0], "ca", clusterKey)
	b := startClusterNode(t, net.Hosts[1], "cb", clusterKey)
	writeFileSync(t, filepath.Join(a.Mountpoint(), "first"), []byte("1"), 0o644)
	eventually(t, 20*time.Second, "cluster formed", sameTrees(t, a, b))

	// B goes away for a while; A keeps working; B catches up on restart.
	b.Stop()
	const files = 10000
	dir := filepath.Join(a.Mountpoint(), "many")
	mustRun(t, a.Mountpoint(), "sh", "-c", fmt.Sprintf("mkdir many && cd many && for i in $(seq 1 %d); do : > f$i; done", files))
	writeFileSync(t, filepath.Join(a.Mountpoint(), "while-away.txt"), []byte("written while B was down"), 0o644)
	b.Restart()
	eventually(t, 60*time.Second, "restarted B caught up", contentIs(filepath.Join(b.Mountpoint(), "while-away.txt"), []byte("written while B was down")))
	eventually(t, 60*time.Second, "restarted B has every file", func() string {
		if n := len(names(filepath.Join(b.Mountpoint(), "many"))); n != files {
			return fmt.Sprintf("%d of %d files", n, files)
		}
		return ""
	})

	// A brand-new node joins the cluster and gets the full namespace.
	c := startClusterNode(t, net.Hosts[2], "cc", clusterKey)
	took := eventually(t, 90*time.Second, "new node has the full namespace", func() string {
		if n := len(names(filepath.Join(c.Mountpoint(), "many"))); n != files {
			return fmt.Sprintf("%d of %d files", n, files)
		}
		return ""
	})
	t.Logf("new node got %d files in %v", files, took)
	if got := len(names(dir)); got != files {
		t.Fatalf("A lists %d files", got)
	}
}

func TestClusterWrongKeyNeverAdmitted(t *testing.T) {
	net := NewNet(t, 3)
	a := startClusterNode(t, net.Hosts[0], "ka", clusterKey, "--quic-port", "7000")
	b := startClusterNode(t, net.Hosts[1], "kb", clusterKey)
	// The intruder also names A directly, bypassing discovery.
	intruder := startClusterNode(t, net.Hosts[2], "evil", "not-the-key", "--peers", net.Hosts[0].IP+":7000")
	secret := []byte("members only\n")
	writeFileSync(t, filepath.Join(a.Mountpoint(), "secret.txt"), secret, 0o644)
	writeFileSync(t, filepath.Join(intruder.Mountpoint(), "planted.txt"), []byte("x"), 0o644)
	eventually(t, 20*time.Second, "members replicate", contentIs(filepath.Join(b.Mountpoint(), "secret.txt"), secret))
	// Several discovery rounds (every 3 s) pass: nothing crosses either way.
	time.Sleep(8 * time.Second)
	if got := names(intruder.Mountpoint()); slices.Contains(got, "secret.txt") {
		t.Fatalf("intruder with the wrong key got member data: %v", got)
	}
	for _, m := range []*Node{a, b} {
		if got := names(m.Mountpoint()); slices.Contains(got, "planted.txt") {
			t.Fatalf("%s accepted data from the intruder: %v", m.NodeID(), got)
		}
	}
}
