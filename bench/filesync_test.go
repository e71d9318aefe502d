//go:build bench

package bench

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/clusterf/clusterf/integration"
)

// BenchmarkFilesync measures import/export (issue 16) against a real node
// with its mount, all in one run:
//
//  1. initial import of Go's source tree ($(go env GOROOT)/src) with
//     `clusterf import` through the node's API, against `rsync -a` of the
//     same tree into the node's mount (goal: import >= 1.0x rsync);
//  2. the unchanged rescan: `clusterf import` of a tree of
//     FILESYNC_RESCAN_FILES (100000) small files a second time, after the
//     first import (goal: <= 30 s for 100k files);
//  3. change-to-visible: a file created in an --import-dir folder until
//     the mount shows it, FILESYNC_LATENCY_N (20) times.
//
// go test -tags bench -run '^$' -bench Filesync -benchtime 1x -timeout 60m ./bench/
func BenchmarkFilesync(b *testing.B) {
	for range b.N {
		runFilesyncBench(b)
	}
}

func freePort(b *testing.B) int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func runFilesyncBench(b *testing.B) {
	goroot, err := exec.Command("go", "env", "GOROOT").Output()
	if err != nil {
		b.Fatal(err)
	}
	src := filepath.Join(strings.TrimSpace(string(goroot)), "src")
	files, bytes := treeSize(b, src)
	port := freePort(b)
	dir := b.TempDir()
	latDir := filepath.Join(dir, "live")
	os.MkdirAll(latDir, 0o755)
	n := integration.StartNode(b, integration.NodeOptions{ExtraArgs: []string{"--http-port", strconv.Itoa(port),
		"--import-dir", latDir, "--cluster-dir", "/live"}})
	common := []string{"--http-port", strconv.Itoa(port), "--data-dir", n.DataDir(), "--node-id", n.NodeID()}

	start := time.Now()
	if out, err := exec.Command("rsync", "-a", src+"/", filepath.Join(n.Mountpoint(), "rsync-copy")+"/").CombinedOutput(); err != nil {
		b.Fatalf("rsync: %v %s", err, out)
	}
	rsyncTook := time.Since(start)
	start = time.Now()
	if r := integration.RunBinary(b, 30*time.Minute, append([]string{"import", src, "/imported"}, common...)...); r.ExitCode != 0 {
		b.Fatalf("clusterf import: %s", r.Combined())
	}
	importTook := time.Since(start)

	rescanFiles := envInt(b, "FILESYNC_RESCAN_FILES", 100000)
	many := filepath.Join(dir, "many")
	makeMany(b, many, rescanFiles)
	start = time.Now()
	if r := integration.RunBinary(b, 60*time.Minute, append([]string{"import", many, "/many"}, common...)...); r.ExitCode != 0 {
		b.Fatalf("clusterf import of %d files: %s", rescanFiles, r.Combined())
	}
	manyTook := time.Since(start)
	start = time.Now()
	r := integration.RunBinary(b, 30*time.Minute, append([]string{"import", many, "/many"}, common...)...)
	if r.ExitCode != 0 || !strings.Contains(r.Stdout, " 0 files copied") {
		b.Fatalf("rescan: %s", r.Combined())
	}
	rescanTook := time.Since(start)

	lat := latencies(b, latDir, filepath.Join(n.Mountpoint(), "live"), envInt(b, "FILESYNC_LATENCY_N", 20))

	mb := float64(bytes) / 1e6
	fmt.Printf("== Import/export: Go source tree (%d files, %.1f MB) into one node ==\n", files, mb)
	fmt.Printf("  %-52s %10s %10s %10s\n", "", "seconds", "files/s", "MB/s")
	fmt.Printf("  %-52s %10.1f %10.0f %10.1f\n", "clusterf import (through the node's API)", importTook.Seconds(), float64(files)/importTook.Seconds(), mb/importTook.Seconds())
	fmt.Printf("  %-52s %10.1f %10.0f %10.1f\n", "rsync -a into the mount (same run)", rsyncTook.Seconds(), float64(files)/rsyncTook.Seconds(), mb/rsyncTook.Seconds())
	fmt.Printf("  %-52s %32.2f\n", "ratio import / rsync (>1 is faster; goal >= 1.0)", rsyncTook.Seconds()/importTook.Seconds())
	fmt.Printf("  %-52s %10.1f %10.0f\n", fmt.Sprintf("first import of %d small files", rescanFiles), manyTook.Seconds(), float64(rescanFiles)/manyTook.Seconds())
	fmt.Printf("  %-52s %10.1f   (goal <= 30 s for 100k)\n", fmt.Sprintf("unchanged rescan of %d files (clusterf import again)", rescanFiles), rescanTook.Seconds())
	fmt.Printf("  %-52s median %v, p90 %v, max %v (%d samples)\n", "change-to-visible (create in --import-dir -> mount)", lat[len(lat)/2], lat[len(lat)*9/10], lat[len(lat)-1], len(lat))
	b.ReportMetric(rsyncTook.Seconds()/importTook.Seconds(), "import/rsync")
	b.ReportMetric(rescanTook.Seconds(), "rescan-s")
}

func treeSize(b *testing.B, root string) (files int, bytes int64) {
	filepath.Walk(root, func(p string, fi os.FileInfo, err error) error {
		if err == nil && fi.Mode().IsRegular() {
			files++
			bytes += fi.Size()
		}
		return nil
	})
	return
}

// makeMany writes n small files, 1000 per directory.
func makeMany(b *testing.B, root string, n int) {
	for i := range n {
		d := filepath.Join(root, fmt.Sprintf("d%03d", i/1000))
		if i%1000 == 0 {
			if err := os.MkdirAll(d, 0o755); err != nil {
				b.Fatal(err)
			}
		}
		if err := os.WriteFile(filepath.Join(d, fmt.Sprintf("f%05d", i)), []byte(strconv.Itoa(i)), 0o644); err != nil {
			b.Fatal(err)
		}
	}
}

// latencies creates files in the import folder and times until the mount
// shows each.
func latencies(b *testing.B, local, mounted string, n int) []time.Duration {
	waitIdle(b, mounted)
	var out []time.Duration
	for i := range n {
		name := fmt.Sprintf("lat-%03d", i)
		start := time.Now()
		if err := os.WriteFile(filepath.Join(local, name), []byte("x"), 0o644); err != nil {
			b.Fatal(err)
		}
		for {
			if _, err := os.Stat(filepath.Join(mounted, name)); err == nil {
				break
			}
			if time.Since(start) > 30*time.Second {
				b.Fatalf("%s not visible after 30 s", name)
			}
			time.Sleep(time.Millisecond)
		}
		out = append(out, time.Since(start))
		time.Sleep(50 * time.Millisecond)
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out
}

func waitIdle(b *testing.B, mounted string) {
	deadline := time.Now().Add(time.Minute)
	for time.Now().Before(deadline) {
		if _, err := os.Stat(mounted); err == nil {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	b.Fatalf("%s never appeared (the live pair did not start)", mounted)
}
