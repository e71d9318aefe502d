//go:build bench

package bench

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	mrand "math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/clusterf/clusterf/integration"
)

// BenchmarkReplication measures bulk replication between real clusterf
// processes in network namespaces (integration.NewNet), against a raw
// quic-go stream over the same links in the same run:
//
//  1. write: REPL_SIZE bytes of random data written into node A's mount
//     in files of 64 MiB, each with fsync+close, on a 3-node cluster with
//     RF=3 and a partition sync interval of 1 s. close returns once every
//     chunk is on min(RF,2)=2 holders, i.e. A has sent each chunk to one
//     other node, so the fair baseline is one raw quic-go stream of
//     REPL_SIZE bytes from A's namespace to B's (bench/quicsink, run in the
//     namespaces with nsenter). Reported: both rates and their ratio.
//  2. full RF: the time after the last close until every chunk file is on
//     all 3 nodes (chunk files counted in each node's chunk directory).
//  3. repair: node C is killed with SIGKILL, a new node D starts on a new
//     host, and the time until every chunk has 3 copies among A, B and D is
//     measured from the kill (D's start included), with the part after the
//     first chunk reached D reported separately. Placement members are the
//     peers a node has seen up: D never saw C, so it pulls every chunk from
//     its start without waiting for A and B to detect C's failure.
//
// Run it once: go test -tags bench -run '^$' -bench Replication -benchtime 1x ./bench/
// Environment: REPL_SIZE (bytes, or with a K/M/G suffix in binary units;
// default 256M so make bench stays short, 1G for the figure).
// Nothing is asserted on timings.
func BenchmarkReplication(b *testing.B) {
	size := envSize(b, "REPL_SIZE", 256<<20)
	const fileSize = 64 << 20
	if size <= 0 {
		b.Fatalf("REPL_SIZE must be > 0")
	}

	nt := integration.NewNet(b, 3)
	var nodes []*cnode
	for i, h := range nt.Hosts {
		nodes = append(nodes, startCNode(b, h, fmt.Sprintf("n%c", 'a'+i)))
	}
	a, bn, c := nodes[0], nodes[1], nodes[2]
	progress("3 nodes mounted; waiting for the cluster to form")
	if err := os.Mkdir(filepath.Join(a.Mountpoint(), "repl"), 0o755); err != nil {
		b.Fatal(err)
	}
	for _, n := range nodes[1:] {
		waitFor(b, 60*time.Second, "cluster formed: /repl visible on "+n.NodeID(), func() bool {
			_, err := os.Stat(filepath.Join(n.Mountpoint(), "repl"))
			return err == nil
		})
	}
	if err := a.api(http.MethodPut, "/api/partition-sync-interval", `{"partition_sync_interval_seconds":1}`); err != nil {
		b.Fatal(err)
	}
	if err := a.api(http.MethodPut, "/api/replication-factor", `{"replication_factor":3}`); err != nil {
		b.Fatal(err)
	}
	// Both settings are cluster-wide; wait until every node reports RF 3
	// so the writes do not race the setting.
	for _, n := range nodes {
		waitFor(b, 30*time.Second, "RF 3 on "+n.NodeID(), func() bool {
			body, err := n.get("/api/replication-factor")
			return err == nil && strings.Contains(strings.ReplaceAll(body, " ", ""), `"replication_factor":3`)
		})
	}

	// 1. clusterf write: data generated outside the clock, one file at a time.
	progress("writing %s into %s's mount in files of %s (fsync+close each)", sizeStr(size), a.NodeID(), sizeStr(fileSize))
	buf := make([]byte, min(size, fileSize))
	rng := mrand.NewChaCha8([32]byte{42})
	var writeTook time.Duration
	nFiles := 0
	for off := int64(0); off < size; off += fileSize {
		n := min(size-off, fileSize)
		rng.Read(buf[:n])
		p := filepath.Join(a.Mountpoint(), "repl", fmt.Sprintf("data-%03d.bin", nFiles))
		t0 := time.Now()
		if err := writeSync(p, buf[:n]); err != nil {
			b.Fatal(err)
		}
		writeTook += time.Since(t0)
		nFiles++
	}
	wroteAt := time.Now()
	buf = nil
	want := chunkCopies(a, bn, c)
	progress("written in %v (%d chunks); waiting for 3 copies of each", writeTook.Round(time.Millisecond), len(want))
	if len(want) == 0 {
		b.Fatal("no chunk files found in the nodes' chunk directories")
	}
	// 2. full RF.
	atClose := copiesAtLeast(want, 3, a, bn, c)
	waitFor(b, 10*time.Minute, "every chunk on all 3 nodes", func() bool {
		return copiesAtLeast(want, 3, a, bn, c) == len(want)
	})
	fullRF := time.Since(wroteAt)

	// Baseline: one raw quic-go stream of the same size, A's namespace to B's.
	progress("full RF after %v; raw quic-go stream of %s %s -> %s", fullRF.Round(time.Millisecond), sizeStr(size), nt.Hosts[0].IP, nt.Hosts[1].IP)
	rawTook := rawQUICStream(b, nt.Hosts[0], nt.Hosts[1], size)

	// 3. repair after a node loss.
	progress("raw stream took %v; kill -9 %s, starting a 4th node", rawTook.Round(time.Millisecond), c.NodeID())
	c.Kill9()
	killedAt := time.Now()
	d := startCNode(b, nt.AddHost(), "nd")
	dReady := time.Since(killedAt)
	var firstOnD time.Duration
	waitFor(b, 15*time.Minute, "every chunk has 3 copies among A, B, D", func() bool {
		if firstOnD == 0 && copiesAtLeast(want, 1, d) > 0 {
			firstOnD = time.Since(killedAt)
		}
		return copiesAtLeast(want, 3, a, bn, d) == len(want)
	})
	repair := time.Since(killedAt)
	if firstOnD == 0 {
		firstOnD = repair
	}

	// Report.
	mb := float64(size) / 1e6
	ours, raw := mb/writeTook.Seconds(), mb/rawTook.Seconds()
	fmt.Printf("== Cluster replication: 3 nodes in network namespaces, RF=3, %s random data (%d chunks) ==\n", sizeStr(size), len(want))
	fmt.Printf("  %-58s %10s %10s\n", "", "seconds", "MB/s")
	fmt.Printf("  %-58s %10.2f %10.1f\n", fmt.Sprintf("clusterf write, %d files into A's mount (write+fsync+close)", nFiles), writeTook.Seconds(), ours)
	fmt.Printf("  %-58s %10.2f %10.1f\n", "raw quic-go, one stream A -> B, same links", rawTook.Seconds(), raw)
	fmt.Printf("  %-58s %21.2f\n", "ratio clusterf / raw (>1 is faster)", ours/raw)
	fmt.Printf("  %-58s %10.2f %10.1f\n", "time to full RF (3 copies of every chunk) after last close", fullRF.Seconds(), mb/fullRF.Seconds())
	fmt.Printf("  %-58s %10.2f %10.1f\n", "repair after kill -9 of C, new node D (kill -> 3 copies)", repair.Seconds(), mb/repair.Seconds())
	fmt.Printf("  %-58s %10.2f\n", "  of which: kill -> D's mount ready", dReady.Seconds())
	fmt.Printf("  %-58s %10.2f\n", "  of which: kill -> first chunk on D", firstOnD.Seconds())
	fmt.Printf("  %-58s %10.2f %10.1f\n", "  first chunk on D -> 3 copies of every chunk", (repair - firstOnD).Seconds(), mb/(repair-firstOnD).Seconds())
	fmt.Printf("(close returns once each chunk is on 2 holders: A sent every chunk to one other node, so\n")
	fmt.Printf(" the raw baseline is one stream of the same size; %d of %d chunks already had 3 copies at the\n", atClose, len(want))
	fmt.Printf(" last close. Repair is timed from the kill, D's start included; D never saw C up, so from its\n")
	fmt.Printf(" start it holds every partition (members = live peers) and pulls without waiting for C's\n")
	fmt.Printf(" failure detection; A and B mark C down only after DownAfter = 4 sync intervals.)\n")

	b.ReportMetric(ours, "clusterf-MB/s")
	b.ReportMetric(raw, "rawquic-MB/s")
	b.ReportMetric(ours/raw, "ratio")
	b.ReportMetric(fullRF.Seconds(), "fullrf-s")
	b.ReportMetric(repair.Seconds(), "repair-s")
}

// writeSync writes a file and fsyncs it before close, so close is the
// durable (replicated to 2 holders) point.
func writeSync(p string, data []byte) error {
	f, err := os.OpenFile(p, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o644)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// chunkCopies counts chunk copies on the nodes' disks.
func chunkCopies(nodes ...*cnode) map[string]int {
	dirs := make([]string, len(nodes))
	for i, n := range nodes {
		dirs[i] = n.NodeDir()
	}
	return integration.ChunkCopies(dirs...)
}

// copiesAtLeast returns how many chunks of want have at least k copies on
// the given nodes.
func copiesAtLeast(want map[string]int, k int, nodes ...*cnode) int {
	got := chunkCopies(nodes...)
	ok := 0
	for id := range want {
		if got[id] >= k {
			ok++
		}
	}
	return ok
}

// rawQUICStream runs bench/quicsink: a receiver in dst's namespace and a
// sender of size bytes in src's, and returns the sender's time.
func rawQUICStream(b *testing.B, src, dst *integration.Host, size int64) time.Duration {
	bin := filepath.Join(b.TempDir(), "quicsink")
	if out, err := exec.Command("go", "build", "-o", bin, "github.com/clusterf/clusterf/bench/quicsink").CombinedOutput(); err != nil {
		b.Fatalf("building quicsink: %v\n%s", err, out)
	}
	addr := dst.IP + ":4433"
	sink := nsCommand(b, dst, bin, "-listen", addr)
	var sinkErr bytes.Buffer
	sink.Stderr = &sinkErr
	stdout, err := sink.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	if err := sink.Start(); err != nil {
		b.Fatal(err)
	}
	done := make(chan error, 1)
	ready := make(chan bool, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		r := false
		for sc.Scan() {
			if !r && sc.Text() == "ready" {
				r = true
				ready <- true
			}
		}
		if !r {
			ready <- false
		}
		io.Copy(io.Discard, stdout)
		done <- sink.Wait()
	}()
	b.Cleanup(func() {
		sink.Process.Kill() // no-op once it exited
		<-done
	})
	select {
	case ok := <-ready:
		if !ok {
			b.Fatalf("quicsink receiver exited before listening: %s", sinkErr.String())
		}
	case <-time.After(30 * time.Second):
		b.Fatal("quicsink receiver not ready after 30s")
	}
	send := nsCommand(b, src, bin, "-send", addr, "-size", strconv.FormatInt(size, 10))
	out, err := send.Output()
	if err != nil {
		var stderr string
		if ee, ok := err.(*exec.ExitError); ok {
			stderr = string(ee.Stderr)
		}
		b.Fatalf("quicsink sender: %v\n%s\nreceiver: %s", err, stderr, sinkErr.String())
	}
	for _, f := range strings.Fields(string(out)) {
		if v, ok := strings.CutPrefix(f, "ns="); ok {
			ns, err := strconv.ParseInt(v, 10, 64)
			if err != nil {
				break
			}
			return time.Duration(ns)
		}
	}
	b.Fatalf("quicsink sender: unexpected output %q", out)
	return 0
}

// nsCommand runs bin in h's network namespace (nsenter, which execs in
// place); the process gets SIGKILL if the benchmark process dies.
func nsCommand(b *testing.B, h *integration.Host, bin string, args ...string) *exec.Cmd {
	argv := append(append(h.Wrap(), bin), args...)
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	return cmd
}

func (n *cnode) api(method, path, body string) error {
	req, err := http.NewRequest(method, n.url(path), strings.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := n.client.Do(req)
	if err != nil {
		return fmt.Errorf("%s %s on %s: %w", method, path, n.NodeID(), err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("%s %s on %s: %s: %s", method, path, n.NodeID(), resp.Status, out)
	}
	return nil
}

func (n *cnode) get(path string) (string, error) {
	resp, err := n.client.Get(n.url(path))
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("GET %s: %s", path, resp.Status)
	}
	return string(out), err
}

// envSize reads a byte count: a number, optionally with a K, M or G suffix
// (binary units).
func envSize(b *testing.B, name string, def int64) int64 {
	v := strings.TrimSpace(os.Getenv(name))
	if v == "" {
		return def
	}
	mult := int64(1)
	switch strings.ToUpper(v[len(v)-1:]) {
	case "K":
		mult = 1 << 10
	case "M":
		mult = 1 << 20
	case "G":
		mult = 1 << 30
	}
	if mult > 1 {
		v = v[:len(v)-1]
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n <= 0 {
		b.Fatalf("%s=%q: want a byte count like 268435456, 256M or 1G", name, os.Getenv(name))
	}
	return n * mult
}

func sizeStr(n int64) string {
	switch {
	case n%(1<<30) == 0:
		return fmt.Sprintf("%d GiB", n>>30)
	case n%(1<<20) == 0:
		return fmt.Sprintf("%d MiB", n>>20)
	}
	return fmt.Sprintf("%d bytes", n)
}
