//go:build bench

package bench

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/clusterf/clusterf/integration"
)

// BenchmarkCluster runs a cluster of real clusterf processes, each in its
// own network namespace on a private bridge (integration.NewNet), with UDP
// broadcast discovery and a cluster key, and measures:
//
//  1. create-to-visible: a file created (os.WriteFile, durable on close) on
//     node A's mount, and the time until os.Stat finds it on every other
//     node's mount (one poller per node, a tight loop unless
//     CLUSTER_POLL is set), over CLUSTER_CREATES creates. The clock starts
//     before the create, so the create's own latency is included; it is
//     reported separately.
//  2. metadata catch-up: the last node is stopped, CLUSTER_SYNC_FILES empty
//     files are created on A (CLUSTER_SYNC_VIA=rest: concurrent REST PUTs,
//     =mount: a loop of create+close in A's mount), the running peers are
//     waited for, then the stopped node is restarted and its file count
//     (GET /status, partition_stats.total_files) polled until it equals
//     A's; finally its mount's listing is checked to be complete too.
//
// Run it once: go test -tags bench -run '^$' -bench Cluster -benchtime 1x ./bench/
// (the tag keeps this package's benchmarks out of make test).
// Environment: CLUSTER_NODES (5), CLUSTER_CREATES (200), CLUSTER_SYNC_FILES
// (30000), CLUSTER_SYNC_VIA (rest), CLUSTER_POLL (0 = tight loop).
//
// There is no in-run baseline for a whole cluster; the network baseline is
// the transport package's raw quic-go comparison, which make bench runs.
func BenchmarkCluster(b *testing.B) {
	nNodes := envInt(b, "CLUSTER_NODES", 5)
	creates := envInt(b, "CLUSTER_CREATES", 200)
	syncFiles := envInt(b, "CLUSTER_SYNC_FILES", 30000)
	via := envStr("CLUSTER_SYNC_VIA", "rest")
	poll := time.Duration(0)
	if v := os.Getenv("CLUSTER_POLL"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil {
			b.Fatalf("CLUSTER_POLL=%q: %v", v, err)
		}
		poll = d
	}
	if nNodes < 2 {
		b.Fatalf("CLUSTER_NODES=%d: need at least 2", nNodes)
	}
	if via != "rest" && via != "mount" {
		b.Fatalf("CLUSTER_SYNC_VIA=%q: rest or mount", via)
	}

	// Once, whatever b.N is: this benchmark takes minutes.
	nt := integration.NewNet(b, nNodes)
	var nodes []*cnode
	for i, h := range nt.Hosts {
		nodes = append(nodes, startCNode(b, h, fmt.Sprintf("n%c", 'a'+i)))
	}
	a := nodes[0]
	progress("%d nodes mounted; waiting for the cluster to form", nNodes)

	// Cluster formed: a marker from A visible on every mount.
	t0 := time.Now()
	if err := os.Mkdir(filepath.Join(a.Mountpoint(), "prop"), 0o755); err != nil {
		b.Fatal(err)
	}
	for _, n := range nodes[1:] {
		waitFor(b, 60*time.Second, "cluster formed: /prop visible on "+n.NodeID(), func() bool {
			_, err := os.Stat(filepath.Join(n.Mountpoint(), "prop"))
			return err == nil
		})
	}
	formed := time.Since(t0)
	progress("cluster formed after %v; %d creates on %s", formed, creates, a.NodeID())

	// 1. create-to-visible.
	others := nodes[1:]
	perNode := make([][]time.Duration, len(others))
	var all, last, createLat []time.Duration
	timeouts := 0
	payload := []byte("frog\n")
	const visTimeout = 30 * time.Second
	for i := range creates {
		name := fmt.Sprintf("f%06d", i)
		var wg sync.WaitGroup
		var ready sync.WaitGroup
		start := make(chan time.Time)
		lat := make([]time.Duration, len(others))
		for k, n := range others {
			wg.Add(1)
			ready.Add(1)
			go func() {
				defer wg.Done()
				p := filepath.Join(n.Mountpoint(), "prop", name)
				ready.Done()
				t0 := <-start
				for {
					if _, err := os.Stat(p); err == nil {
						lat[k] = time.Since(t0)
						return
					}
					if time.Since(t0) > visTimeout {
						lat[k] = -1
						return
					}
					if poll > 0 {
						time.Sleep(poll)
					}
				}
			}()
		}
		ready.Wait()
		t0 := time.Now()
		for range others {
			start <- t0
		}
		if err := os.WriteFile(filepath.Join(a.Mountpoint(), "prop", name), payload, 0o644); err != nil {
			b.Fatal(err)
		}
		createLat = append(createLat, time.Since(t0))
		wg.Wait()
		if slices.Contains(lat, -1) {
			for _, n := range nodes {
				if !n.Running() {
					b.Fatalf("node %s exited during the run; stderr:\n%s", n.NodeID(), tailStr(n.Stderr(), 8<<10))
				}
			}
		}
		worst := time.Duration(0)
		for k, d := range lat {
			if d < 0 {
				timeouts++
				worst = -1
				continue
			}
			perNode[k] = append(perNode[k], d)
			all = append(all, d)
			if worst >= 0 && d > worst {
				worst = d
			}
		}
		if worst >= 0 {
			last = append(last, worst)
		}
	}

	// 2. metadata catch-up of a restarted node.
	e := nodes[len(nodes)-1]
	progress("stopping %s; creating %d files on %s via %s", e.NodeID(), syncFiles, a.NodeID(), via)
	e.Stop()
	t1 := time.Now()
	var createErr error
	switch via {
	case "rest":
		createErr = createViaREST(a, syncFiles, 16)
	case "mount":
		createErr = createViaMount(a.Mountpoint(), syncFiles)
	}
	if createErr != nil {
		b.Fatal(createErr)
	}
	createTook := time.Since(t1)
	want, err := a.totalFiles()
	if err != nil {
		b.Fatal(err)
	}
	// The live peers get the files while they are created; wait until they
	// have all of them so E's catch-up runs against a quiet cluster.
	progress("created in %v; waiting for the live peers", createTook)
	t2 := time.Now()
	for _, n := range nodes[1 : len(nodes)-1] {
		waitFor(b, 10*time.Minute, "live peer "+n.NodeID()+" has every file", func() bool {
			got, err := n.totalFiles()
			return err == nil && got >= want
		})
	}
	liveTook := time.Since(t2)

	progress("live peers complete after %v; restarting %s", liveTook, e.NodeID())
	t3 := time.Now()
	e.Restart() // returns when the mount answers
	mounted := time.Since(t3)
	var seen []sample
	waitFor(b, 10*time.Minute, "restarted "+e.NodeID()+" has every file", func() bool {
		got, err := e.totalFiles()
		if err != nil {
			return false
		}
		seen = append(seen, sample{time.Since(t3), got})
		return got >= want
	})
	caughtUp := time.Since(t3)
	// The listing through the mount must be complete too.
	waitFor(b, 5*time.Minute, "restarted node's mount lists every file", func() bool {
		return countFiles(filepath.Join(e.Mountpoint(), "sync")) >= syncFiles
	})
	listed := time.Since(t3)
	startCount := int64(0)
	if len(seen) > 0 {
		startCount = seen[0].n
	}

	// Report.
	fmt.Printf("== Cluster: %d nodes in network namespaces (discovery on, cluster key) ==\n", nNodes)
	fmt.Printf("cluster formed (first dir visible on all %d peers): %v\n", len(others), formed.Round(time.Millisecond))
	pollDesc := "tight stat loop"
	if poll > 0 {
		pollDesc = "stat every " + poll.String()
	}
	fmt.Printf("create-to-visible, %d creates on %s's mount, %s per node (clock starts before the create):\n", creates, a.NodeID(), pollDesc)
	fmt.Printf("  %-26s %6s %9s %9s %9s\n", "", "n", "p50", "p99", "max")
	row := func(label string, d []time.Duration) {
		fmt.Printf("  %-26s %6d %9s %9s %9s\n", label, len(d), msStr(pct(d, 50)), msStr(pct(d, 99)), msStr(pct(d, 100)))
	}
	row("create on A (write+close)", createLat)
	for k, n := range others {
		row("visible on "+n.NodeID(), perNode[k])
	}
	row("visible, all samples", all)
	row("visible on every node", last)
	if timeouts > 0 {
		fmt.Printf("  %d node-visibility samples timed out after %v (not in the percentiles)\n", timeouts, visTimeout)
	}
	fmt.Printf("metadata catch-up, %d empty files created on %s via %s while %s was stopped:\n", syncFiles, a.NodeID(), via, e.NodeID())
	fmt.Printf("  %-44s %10s %10s\n", "", "seconds", "files/s")
	line := func(label string, d time.Duration, n int) {
		fmt.Printf("  %-44s %10.2f %10.0f\n", label, d.Seconds(), float64(n)/d.Seconds())
	}
	line(fmt.Sprintf("create on %s (%d live peers replicating)", a.NodeID(), len(nodes)-2), createTook, syncFiles)
	line("live peers complete after the last create", liveTook, syncFiles)
	fmt.Printf("  restarted %s: mount ready after %.2fs, had %d of %d files at first poll\n", e.NodeID(), mounted.Seconds(), startCount, want)
	line("restart -> file count complete (status)", caughtUp, syncFiles)
	line("restart -> mount listing complete", listed, syncFiles)
	line("mount ready -> file count complete", caughtUp-mounted, syncFiles)

	b.ReportMetric(float64(pct(all, 50).Microseconds())/1000, "vis-p50-ms")
	b.ReportMetric(float64(pct(all, 99).Microseconds())/1000, "vis-p99-ms")
	b.ReportMetric(float64(syncFiles)/(caughtUp-mounted).Seconds(), "catchup-files/s")
}

type sample struct {
	at time.Duration
	n  int64
}

// httpPort is every node's HTTP port: each node has a network namespace of
// its own, so they can all use the same one.
const httpPort = 18080

type cnode struct {
	*integration.Node
	host   *integration.Host
	client *http.Client
}

func startCNode(b *testing.B, h *integration.Host, id string, extra ...string) *cnode {
	n := integration.StartNode(b, integration.NodeOptions{
		NodeID: id,
		Wrap:   h.Wrap(),
		ExtraArgs: append([]string{"--discovery-port", "9999", "--cluster-key", "frog-bench-key",
			"--http-port", strconv.Itoa(httpPort), "--no-desktop"}, extra...),
	})
	tr := &http.Transport{
		DialContext:         integration.NSDialer("/run/netns/" + h.Name),
		MaxIdleConnsPerHost: 64,
		DisableCompression:  true,
	}
	b.Cleanup(tr.CloseIdleConnections)
	return &cnode{Node: n, host: h, client: &http.Client{Transport: tr, Timeout: time.Minute}}
}

func (n *cnode) url(p string) string { return fmt.Sprintf("http://127.0.0.1:%d%s", httpPort, p) }

func (n *cnode) totalFiles() (int64, error) {
	resp, err := n.client.Get(n.url("/status"))
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return 0, fmt.Errorf("/status: %s", resp.Status)
	}
	var st struct {
		PartitionStats struct {
			TotalFiles int64 `json:"total_files"`
		} `json:"partition_stats"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&st); err != nil {
		return 0, err
	}
	return st.PartitionStats.TotalFiles, nil
}

// syncPath spreads the files over directories of 1000.
func syncPath(i int) string { return fmt.Sprintf("sync/d%03d/f%06d", i/1000, i) }

func createViaREST(n *cnode, files, conc int) error {
	var next atomic.Int64
	var wg sync.WaitGroup
	errc := make(chan error, conc)
	for range conc {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= files {
					return
				}
				req, _ := http.NewRequest(http.MethodPut, n.url("/api/files/"+syncPath(i)), bytes.NewReader(nil))
				resp, err := n.client.Do(req)
				if err != nil {
					errc <- err
					return
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode/100 != 2 {
					errc <- fmt.Errorf("PUT %s: %s", syncPath(i), resp.Status)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errc)
	return <-errc
}

func createViaMount(mnt string, files int) error {
	for i := range files {
		p := filepath.Join(mnt, syncPath(i))
		if i%1000 == 0 {
			if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
				return err
			}
		}
		f, err := os.Create(p)
		if err != nil {
			return err
		}
		if err := f.Close(); err != nil {
			return err
		}
	}
	return nil
}

// countFiles counts the entries of the directories under dir (one level).
func countFiles(dir string) int {
	ds, err := os.ReadDir(dir)
	if err != nil {
		return 0
	}
	total := 0
	for _, d := range ds {
		es, err := os.ReadDir(filepath.Join(dir, d.Name()))
		if err != nil {
			return 0
		}
		total += len(es)
	}
	return total
}

func waitFor(b *testing.B, within time.Duration, what string, cond func() bool) {
	b.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			b.Fatalf("%s: not true after %v", what, within)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func tailStr(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return "[...]" + s[len(s)-n:]
}

// progress tells the operator on stderr what the benchmark is doing.
func progress(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "bench: %s "+format+"\n", append([]any{time.Now().Format("15:04:05.000")}, args...)...)
}

func pct(d []time.Duration, p float64) time.Duration {
	if len(d) == 0 {
		return 0
	}
	s := slices.Clone(d)
	slices.Sort(s)
	i := int(float64(len(s))*p/100+0.5) - 1
	return s[max(0, min(i, len(s)-1))]
}

func msStr(d time.Duration) string {
	return strconv.FormatFloat(float64(d)/1e6, 'f', 2, 64) + "ms"
}

func envInt(b *testing.B, name string, def int) int {
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 0 {
		b.Fatalf("%s=%q: want a number", name, v)
	}
	return n
}

func envStr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}
