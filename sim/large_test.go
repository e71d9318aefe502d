package sim

import (
	"bytes"
	"context"
	"crypto/rand"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/clusterf/clusterf/chunk"
	"github.com/clusterf/clusterf/crdt"
	"github.com/clusterf/clusterf/node"
	"github.com/clusterf/clusterf/placement"
	"github.com/clusterf/clusterf/replica"
)

var simNodes = flag.Int("sim.nodes", 50, "nodes in TestLargeCluster (100 for the long run)")

// freeBasePort finds n consecutive ports free for TCP and UDP on loopback.
func freeBasePort(t *testing.T, n int) int {
	t.Helper()
	for try := 0; try < 50; try++ {
		var b [2]byte
		rand.Read(b[:])
		base := 20000 + int(b[0])<<8%20000 + int(b[1])
		ok := true
		for p := base; p < base+n && ok; p++ {
			addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(p))
			l, err := net.Listen("tcp", addr)
			if err != nil {
				ok = false
				break
			}
			l.Close()
			u, err := net.ListenPacket("udp", addr)
			if err != nil {
				ok = false
				break
			}
			u.Close()
		}
		if ok {
			return base
		}
	}
	t.Fatal("no free port range")
	return 0
}

func waitFor(t *testing.T, within time.Duration, what string, cond func() string) time.Duration {
	t.Helper()
	start := time.Now()
	last := ""
	for time.Since(start) < within {
		if last = cond(); last == "" {
			return time.Since(start)
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Fatalf("%s: not true after %v: %s", what, within, last)
	return 0
}

// onHolders checks that every referenced chunk is on each of its rf
// holders among the live nodes.
func onHolders(c *Cluster, rf int) func() string {
	return func() string {
		live := c.Live()
		var members []string
		byID := map[string]*node.Node{}
		for _, n := range live {
			members = append(members, string(n.ID))
			byID[string(n.ID)] = n
		}
		var ids []chunk.ID
		_ = live[0].Meta.View(func(v *crdt.View) error {
			v.ChunkRefs(func(id crdt.ChunkID) { ids = append(ids, chunk.ID(id)) })
			return nil
		})
		missing := 0
		for _, id := range ids {
			for _, h := range placement.Holders(placement.Partition(id, 1024), members, rf) {
				if ok, _ := byID[h].Chunks.Present(context.Background(), id, nil); !ok {
					missing++
				}
			}
		}
		if len(ids) == 0 {
			return "no chunks referenced yet"
		}
		if missing > 0 {
			return fmt.Sprintf("%d placements of %d chunks missing", missing, len(ids))
		}
		return ""
	}
}

// TestLargeCluster runs -sim.nodes full nodes in this process: it writes
// files, stops and restarts nodes, changes RF, and checks that every chunk
// reaches its holders and that no acknowledged file is lost.
func TestLargeCluster(t *testing.T) {
	n := *simNodes
	base := freeBasePort(t, 3*n)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var logger *slog.Logger
	if p := os.Getenv("SIM_LOG"); p != "" {
		f, _ := os.Create(p)
		defer f.Close()
		logger = slog.New(slog.NewTextHandler(f, nil))
	}
	c, err := Start(ctx, Config{Nodes: n, BasePort: base, DataDir: t.TempDir(), ClusterKey: "sim-key", ChunkSize: 64 << 10, Logger: logger})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	took := waitFor(t, 120*time.Second, "every node sees every other", func() string {
		for _, nd := range c.Live() {
			up := 0
			for _, p := range nd.Cluster.Peers() {
				if p.Up {
					up++
				}
			}
			if up != n-1 {
				return fmt.Sprintf("%s sees %d of %d peers", nd.ID, up, n-1)
			}
		}
		return ""
	})
	t.Logf("%d nodes formed a full mesh in %v", n, took)
	first := c.Node(0)
	if err := first.SetIntSetting(crdt.SettingPartitionSyncInterval, 1); err != nil {
		t.Fatal(err)
	}
	if err := first.SetIntSetting(crdt.SettingReplicationFactor, 3); err != nil {
		t.Fatal(err)
	}

	// Acknowledged writes, spread over the nodes.
	files := map[string][]byte{}
	for i := range 20 {
		data := make([]byte, 200<<10+i)
		rand.Read(data)
		path := fmt.Sprintf("/sim/file-%02d.bin", i)
		if _, err := c.Node(i%n).FS.PutFile(ctx, path, bytes.NewReader(data), replica.PutOptions{}); err != nil {
			t.Fatalf("put %s: %v", path, err)
		}
		files[path] = data
	}
	took = waitFor(t, 120*time.Second, "RF 3 on all holders", onHolders(c, 3))
	t.Logf("RF 3 reached in %v", took)

	// Stop RF-1 nodes (every chunk keeps a live copy); the rest repair.
	stopped := []int{1, 2}
	for _, i := range stopped {
		if err := c.StopNode(i); err != nil {
			t.Fatal(err)
		}
	}
	took = waitFor(t, 120*time.Second, "repair after stopping 2 nodes", onHolders(c, 3))
	t.Logf("repaired after 2 nodes stopped in %v", took)
	for _, i := range stopped {
		if err := c.StartNode(i); err != nil {
			t.Fatal(err)
		}
	}
	if err := c.Node(5).SetIntSetting(crdt.SettingReplicationFactor, 5); err != nil {
		t.Fatal(err)
	}
	took = waitFor(t, 180*time.Second, "RF 5 with restarted nodes", onHolders(c, 5))
	t.Logf("RF 5 reached in %v", took)

	// No acknowledged file is lost: read each one through three nodes.
	for path, want := range files {
		for _, i := range []int{0, n / 2, n - 1} {
			waitFor(t, 30*time.Second, "read "+path, func() string {
				a, err := c.Node(i).FS.Walk(ctx, path)
				if err != nil {
					return err.Error()
				}
				h, err := c.Node(i).FS.Open(ctx, a.Ref, os.O_RDONLY)
				if err != nil {
					return err.Error()
				}
				defer h.Release()
				got, err := io.ReadAll(replica.NewReader(ctx, h))
				if err != nil {
					return err.Error()
				}
				if !bytes.Equal(got, want) {
					return fmt.Sprintf("%s on node %d: %d bytes differ", path, i, len(got))
				}
				return ""
			})
		}
	}
}
