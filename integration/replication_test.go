package integration

import (
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/clusterf/clusterf/chunk"
	"github.com/clusterf/clusterf/placement"
)

// Replication tests: 5-6 real nodes in network namespaces, chunks counted
// directly in each node's chunk directory (what is on disk is the truth).

const replChunkSize = "65536" // small chunks: many partitions from little data

// startReplNode starts a storage node serving HTTP on port 8080 of its
// namespace.
func startReplNode(t *testing.T, h *Host, id string, extra ...string) *Node {
	t.Helper()
	return startClusterNode(t, h, id, clusterKey, append([]string{"--http-port", "8080", "--chunk-size", replChunkSize}, extra...)...)
}

// apiCall runs an HTTP request against a node's API inside its namespace.
func apiCall(t testing.TB, h *Host, method, path, body string) string {
	t.Helper()
	args := append(h.Wrap(), "curl", "-sS", "-f", "-X", method, "-H", "Content-Type: application/json")
	if body != "" {
		args = append(args, "-d", body)
	}
	args = append(args, "http://127.0.0.1:8080"+path)
	out, err := exec.Command(args[0], args[1:]...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", method, path, err, out)
	}
	return string(out)
}

// chunkCopies counts chunk copies on the nodes' disks.
func chunkCopies(nodes ...*Node) map[string]int {
	dirs := make([]string, len(nodes))
	for i, n := range nodes {
		dirs[i] = n.NodeDir()
	}
	return ChunkCopies(dirs...)
}

// copiesAtLeast is a condition: every chunk in want has at least k copies
// on the given nodes.
func copiesAtLeast(want map[string]int, k int, nodes ...*Node) func() string {
	return func() string {
		got := chunkCopies(nodes...)
		short := 0
		for id := range want {
			if got[id] < k {
				short++
			}
		}
		if short > 0 {
			return fmt.Sprintf("%d of %d chunks have fewer than %d copies", short, len(want), k)
		}
		return ""
	}
}

// onHolders is a condition: every chunk is stored on each of the rf
// holders that placement picks among nodes (so the new holders pulled what
// the lost node had; read-cache copies elsewhere do not count).
func onHolders(want map[string]int, rf int, nodes ...*Node) func() string {
	return func() string {
		var members []string
		byID := map[string]*Node{}
		for _, n := range nodes {
			members = append(members, n.NodeID())
			byID[n.NodeID()] = n
		}
		missing := 0
		for hexID := range want {
			id, err := chunk.ParseID(hexID)
			if err != nil {
				return err.Error()
			}
			for _, h := range placement.Holders(placement.Partition(id, 1024), members, rf) {
				if chunkCopiesOf(byID[h], hexID) == 0 {
					missing++
				}
			}
		}
		if missing > 0 {
			return fmt.Sprintf("%d placements of %d chunks not on their holder yet", missing, len(want))
		}
		return ""
	}
}

// chunkCopiesOf reports whether n stores the chunk (1) or not (0).
func chunkCopiesOf(n *Node, hexID string) int {
	if _, err := os.Stat(filepath.Join(n.NodeDir(), "chunks", hexID[0:2], hexID[2:4], hexID)); err == nil {
		return 1
	}
	return 0
}

// copiesExactly is a condition: every chunk in want has exactly k copies.
func copiesExactly(want map[string]int, k int, nodes ...*Node) func() string {
	return func() string {
		got := chunkCopies(nodes...)
		off := 0
		for id := range want {
			if got[id] != k {
				off++
			}
		}
		if off > 0 {
			return fmt.Sprintf("%d of %d chunks do not have exactly %d copies", off, len(want), k)
		}
		return ""
	}
}

func TestReplication(t *testing.T) {
	net := NewNet(t, 6)
	var nodes []*Node
	for i := range 5 {
		nodes = append(nodes, startReplNode(t, net.Hosts[i], fmt.Sprintf("r%d", i)))
	}
	apiCall(t, net.Hosts[0], "PUT", "/api/partition-sync-interval", `{"partition_sync_interval_seconds": 1}`)
	apiCall(t, net.Hosts[0], "PUT", "/api/replication-factor", `{"replication_factor": 3}`)

	// Write through node 0's mount: 12 files of 1 MiB = 192 chunks.
	files := map[string][]byte{}
	for i := range 12 {
		name := fmt.Sprintf("photo-%02d.raw", i)
		files[name] = randomBytes(1<<20, byte(i+1))
		writeFileSync(t, filepath.Join(nodes[0].Mountpoint(), name), files[name], 0o644)
	}
	all := chunkCopies(nodes...)
	if len(all) < 150 {
		t.Fatalf("only %d chunks stored", len(all))
	}
	took := eventually(t, 60*time.Second, "RF=3 reached", copiesAtLeast(all, 3, nodes...))
	t.Logf("%d chunks reached 3 copies in %v", len(all), took)
	// The writer's extra copies are dropped once the holders confirm them:
	// then every chunk has exactly RF copies, and a kill really loses one.
	took = eventually(t, 60*time.Second, "exactly 3 copies", copiesExactly(all, 3, nodes...))
	t.Logf("extra copies dropped after %v", took)

	// kill -9 a holder (not the writer): reads keep working; repair brings
	// every chunk back to 3 copies on the live nodes.
	victim := nodes[1]
	lost := len(chunkCopies(victim))
	victim.Kill9()
	t.Logf("killed %s holding %d chunks", victim.NodeID(), lost)
	live := []*Node{nodes[0], nodes[2], nodes[3], nodes[4]}
	// The new holders among the live nodes pull what the victim had (reads
	// come after this check: they would leave read-cache copies around).
	took = eventually(t, 90*time.Second, "repair after a node loss", onHolders(all, 3, live...))
	t.Logf("every chunk on its 3 holders among the live nodes %v after the kill", took)
	for name, data := range files {
		requireContent(t, filepath.Join(nodes[3].Mountpoint(), name), data)
	}

	victim.Restart()
	apiCall(t, net.Hosts[2], "PUT", "/api/replication-factor", `{"replication_factor": 5}`)
	took = eventually(t, 90*time.Second, "RF=5 reached", copiesAtLeast(all, 5, nodes...))
	t.Logf("RF 5 reached in %v", took)

	apiCall(t, net.Hosts[4], "PUT", "/api/replication-factor", `{"replication_factor": 1}`)
	took = eventually(t, 90*time.Second, "RF=1: extra copies collected", func() string {
		got := chunkCopies(nodes...)
		extra := 0
		for id := range all {
			if got[id] == 0 {
				return "chunk " + id + " lost"
			}
			extra += got[id] - 1
		}
		if extra > 0 {
			return fmt.Sprintf("%d extra copies left", extra)
		}
		return ""
	})
	t.Logf("RF 1: extra copies collected in %v", took)
	for name, data := range files {
		requireContent(t, filepath.Join(nodes[2].Mountpoint(), name), data)
	}

	// Back to RF=3, then a 6th node joins: it takes over about 1/6 of the
	// placements, and no chunk ever has fewer than 3 copies while data moves.
	apiCall(t, net.Hosts[0], "PUT", "/api/replication-factor", `{"replication_factor": 3}`)
	eventually(t, 90*time.Second, "RF=3 again", copiesAtLeast(all, 3, nodes...))
	var (
		mu       sync.Mutex
		minSeen  = 1 << 30
		samples  int
		stopSamp = make(chan struct{})
		sampDone = make(chan struct{})
	)
	go func() {
		defer close(sampDone)
		for {
			select {
			case <-stopSamp:
				return
			case <-time.After(100 * time.Millisecond):
			}
			got := chunkCopies(nodes...)
			mu.Lock()
			for id := range all {
				minSeen = min(minSeen, got[id])
			}
			samples++
			mu.Unlock()
		}
	}()
	sixth := startReplNode(t, net.Hosts[5], "r5")
	nodes = append(nodes, sixth)
	eventually(t, 90*time.Second, "6th node received its share", func() string {
		n := len(chunkCopies(sixth))
		want := len(all) * 3 / 6
		if n < want/2 { // ~1/6 of 3×chunks, rendezvous hashing spreads it unevenly
			return fmt.Sprintf("6th node holds %d chunks, expected about %d", n, want)
		}
		// The move is over when nobody holds an extra copy any more.
		total := 0
		for _, c := range chunkCopies(nodes...) {
			total += c
		}
		if total > len(all)*3 {
			return fmt.Sprintf("%d copies, %d expected after rebalancing", total, len(all)*3)
		}
		return ""
	})
	close(stopSamp)
	<-sampDone
	mu.Lock()
	t.Logf("6th node holds %d of %d placements; min copies seen in %d samples during the move: %d",
		len(chunkCopies(sixth)), len(all)*3, samples, minSeen)
	if minSeen < 3 {
		t.Errorf("a chunk fell to %d copies during rebalancing (want >= min(old RF, new RF) = 3)", minSeen)
	}
	mu.Unlock()
}

func TestCorruptChunkFailsOverAndIsRepaired(t *testing.T) {
	net := NewNet(t, 3)
	var nodes []*Node
	for i := range 3 {
		nodes = append(nodes, startReplNode(t, net.Hosts[i], fmt.Sprintf("c%d", i)))
	}
	apiCall(t, net.Hosts[0], "PUT", "/api/partition-sync-interval", `{"partition_sync_interval_seconds": 1}`)
	data := randomBytes(512<<10, 9)
	writeFileSync(t, filepath.Join(nodes[0].Mountpoint(), "doc.bin"), data, 0o644)
	all := chunkCopies(nodes...)
	eventually(t, 60*time.Second, "RF=3 (all three nodes)", copiesAtLeast(all, 3, nodes...))

	// Corrupt every chunk file on node 1, then read through node 1: the read
	// fails over to another holder and returns the right bytes.
	corruptChunks(t, nodes[1])
	requireContent(t, filepath.Join(nodes[1].Mountpoint(), "doc.bin"), data)
	if !strings.Contains(nodes[1].Stderr(), "corrupt") {
		t.Errorf("node 1 did not log the corruption")
	}
	// Corrupt node 2's copies and let the integrity check find and repair them.
	corruptChunks(t, nodes[2])
	out := apiCall(t, net.Hosts[2], "POST", "/api/integrity-check", "")
	if !strings.Contains(out, `"repaired":`) || strings.Contains(out, `"repaired":0`) {
		t.Fatalf("integrity check did not repair: %s", out)
	}
	out = apiCall(t, net.Hosts[2], "POST", "/api/integrity-check", "")
	if !strings.Contains(out, `"success":true`) || !strings.Contains(out, `"corrupt":[]`) {
		t.Fatalf("after repair the integrity check still fails: %s", out)
	}
	requireContent(t, filepath.Join(nodes[2].Mountpoint(), "doc.bin"), data)
}

// corruptChunks flips a byte in the middle of every chunk file of n.
func corruptChunks(t *testing.T, n *Node) {
	t.Helper()
	count := 0
	filepath.WalkDir(filepath.Join(n.NodeDir(), "chunks"), func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || len(d.Name()) != 64 {
			return nil
		}
		b, err := os.ReadFile(p)
		if err != nil || len(b) < 2 {
			return nil
		}
		b[len(b)/2] ^= 0xff
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		count++
		return nil
	})
	if count == 0 {
		t.Fatalf("no chunk files to corrupt on %s", n.NodeID())
	}
}

func TestNoStoreClient(t *testing.T) {
	net := NewNet(t, 3)
	a := startReplNode(t, net.Hosts[0], "s0")
	b := startReplNode(t, net.Hosts[1], "s1")
	client := startReplNode(t, net.Hosts[2], "client", "--no-store", "--cache-size", "1")
	apiCall(t, net.Hosts[0], "PUT", "/api/partition-sync-interval", `{"partition_sync_interval_seconds": 1}`)
	writeFileSync(t, filepath.Join(a.Mountpoint(), "ready"), []byte("1"), 0o644)
	eventually(t, 30*time.Second, "client joined", contentIs(filepath.Join(client.Mountpoint(), "ready"), []byte("1")))

	data := randomBytes(1<<20, 3)
	writeFileSync(t, filepath.Join(client.Mountpoint(), "from-client.bin"), data, 0o644)
	eventually(t, 10*time.Second, "client's write readable on a storage node", contentIs(filepath.Join(b.Mountpoint(), "from-client.bin"), data))
	all := chunkCopies(a, b, client)
	eventually(t, 60*time.Second, "storage nodes hold every chunk", copiesAtLeast(all, 2, a, b))
	// The client holds no partition: its copies are cache, dropped once the
	// holders confirm them (cache size 1 byte).
	eventually(t, 60*time.Second, "client keeps no chunks", func() string {
		if n := len(chunkCopies(client)); n > 0 {
			return fmt.Sprintf("client still stores %d chunks", n)
		}
		return ""
	})
	requireContent(t, filepath.Join(client.Mountpoint(), "from-client.bin"), data)
	status := apiCall(t, net.Hosts[0], "GET", "/api/partition-stats", "")
	if strings.Contains(status, `"client"`) {
		t.Fatalf("the client is listed as a partition holder: %s", status)
	}
}
