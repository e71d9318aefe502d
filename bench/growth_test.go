//go:build bench

package bench

import (
	"bufio"
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/clusterf/clusterf/crdt"
	"github.com/clusterf/clusterf/integration"
	"github.com/clusterf/clusterf/node"
	"github.com/clusterf/clusterf/replica"
)

// BenchmarkGrowthRounds: bounded growth under write/delete churn (issue
// 11). A 3-node cluster of real processes in network namespaces, with a
// garbage-collection grace of 2 s and repair rounds every 2 s. Each of
// GROWTH_ROUNDS rounds writes GROWTH_BYTES/GROWTH_ROUNDS of distinct
// content through node A's mount (64 MiB files), waits until every chunk
// has its RF copies, deletes everything (rm -r through the mount) and waits
// until the data dirs stop shrinking. It prints, per round, the bytes in
// the data dirs (chunks and meta.db), the peak during the round, and each
// node's RSS and heap. Bounded growth means the after-delete sizes of
// later rounds stay within 10% of round one's and RSS stays flat.
//
//	go test -tags bench -run '^$' -bench GrowthRounds -benchtime 1x -timeout 0 ./bench/
//
// Environment: GROWTH_BYTES (10 GiB), GROWTH_ROUNDS (5).
func BenchmarkGrowthRounds(b *testing.B) {
	total := int64(envInt(b, "GROWTH_BYTES", 10<<30))
	rounds := envInt(b, "GROWTH_ROUNDS", 5)
	nt := integration.NewNet(b, 3)
	var nodes []*cnode
	for i, h := range nt.Hosts {
		nodes = append(nodes, startCNode(b, h, fmt.Sprintf("g%c", 'a'+i), "--gc-grace", "2s"))
	}
	a := nodes[0]
	waitFor(b, 60*time.Second, "3 members", func() bool {
		for _, n := range nodes {
			if len(n.peersUp()) != 2 {
				return false
			}
		}
		return true
	})
	if err := a.api("PUT", "/api/partition-sync-interval", `{"partition_sync_interval_seconds": 2}`); err != nil {
		b.Fatal(err)
	}
	perRound := total / int64(rounds)
	const fileSize = 64 << 20
	fmt.Printf("\n%-6s %12s %14s %14s %12s %s\n", "round", "written", "peak_dirs", "after_delete", "meta.db", "rss / heap per node (MiB)")
	var first int64
	seed := uint64(1)
	for r := 1; r <= rounds; r++ {
		dir := filepath.Join(a.Mountpoint(), fmt.Sprintf("round%d", r))
		if err := os.MkdirAll(dir, 0o755); err != nil {
			b.Fatal(err)
		}
		var written int64
		for i := 0; written < perRound; i++ {
			seed++
			if err := writeRandomFile(filepath.Join(dir, fmt.Sprintf("f%04d", i)), fileSize, seed); err != nil {
				b.Fatal(err)
			}
			written += fileSize
		}
		waitFor(b, 30*time.Minute, "every chunk at RF copies", func() bool {
			under, err := a.underReplicated()
			return err == nil && under == 0
		})
		peak := dirsBytes(nodes)
		if err := os.RemoveAll(dir); err != nil {
			b.Fatal(err)
		}
		after := waitShrunk(b, nodes)
		if r == 1 {
			first = after
		}
		var mem []string
		for _, n := range nodes {
			rss, heap := n.memory()
			mem = append(mem, fmt.Sprintf("%d/%d", rss>>20, heap>>20))
		}
		fmt.Printf("%-6d %12s %14s %14s %12s %s\n", r, mib(written), mib(peak), mib(after), mib(metaBytes(nodes)), strings.Join(mem, " "))
		progress("round %d: after delete %s (round one %s)", r, mib(after), mib(first))
	}
	fmt.Printf("\nafter-delete size of the last round vs round one: %.2fx\n", float64(dirsBytes(nodes))/float64(max(first, 1)))
}

// peersUp lists the peers n's /status shows connected.
func (n *cnode) peersUp() []string {
	out, err := n.get("/status")
	if err != nil {
		return nil
	}
	var st struct {
		Peers []struct {
			ID        string `json:"node_id"`
			Connected bool   `json:"connected"`
		} `json:"peer_list"`
	}
	json.Unmarshal([]byte(out), &st)
	var up []string
	for _, p := range st.Peers {
		if p.Connected {
			up = append(up, p.ID)
		}
	}
	return up
}

// underReplicated is the number of partitions /api/under-replicated lists.
func (n *cnode) underReplicated() (int, error) {
	out, err := n.get("/api/under-replicated")
	if err != nil {
		return 0, err
	}
	var r struct {
		Partitions []json.RawMessage `json:"partitions"`
	}
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		return 0, err
	}
	return len(r.Partitions), nil
}

// writeRandomFile writes size bytes of distinct pseudo-random content
// (every 4 MiB chunk differs) and fsyncs.
func writeRandomFile(p string, size int, seed uint64) error {
	rng := rand.NewChaCha8([32]byte{0: byte(seed), 1: byte(seed >> 8), 2: byte(seed >> 16), 3: byte(seed >> 24)})
	data := make([]byte, size)
	for off := 0; off < size; off += 1 << 20 {
		part := data[off:min(off+1<<20, size)]
		rng.Read(part)
		binary.LittleEndian.PutUint64(part, seed) // never all zero
	}
	return writeSync(p, data)
}

// waitShrunk waits until the data dirs stop shrinking (three polls 2 s
// apart without change) and returns their size.
func waitShrunk(b *testing.B, nodes []*cnode) int64 {
	last, same := int64(-1), 0
	deadline := time.Now().Add(20 * time.Minute)
	for time.Now().Before(deadline) {
		n := dirsBytes(nodes)
		if n == last {
			same++
			if same == 3 {
				return n
			}
		} else {
			same = 0
		}
		last = n
		time.Sleep(2 * time.Second)
	}
	b.Fatalf("data dirs still changing after 20 minutes (%s)", mib(last))
	return last
}

// dirsBytes is the apparent size of every file under the nodes' dirs.
func dirsBytes(nodes []*cnode) int64 {
	var total int64
	for _, n := range nodes {
		filepath.WalkDir(n.NodeDir(), func(p string, d fs.DirEntry, err error) error {
			if err == nil && d.Type().IsRegular() {
				if fi, err := d.Info(); err == nil {
					total += fi.Size()
				}
			}
			return nil
		})
	}
	return total
}

func metaBytes(nodes []*cnode) int64 {
	var total int64
	for _, n := range nodes {
		if fi, err := os.Stat(filepath.Join(n.NodeDir(), "meta.db")); err == nil {
			total += fi.Size()
		}
	}
	return total
}

func mib(n int64) string { return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20)) }

// memory returns the node process's RSS and Go heap in use (its metrics).
func (n *cnode) memory() (rss, heap int64) {
	resp, err := n.client.Get(n.url("/api/metrics"))
	if err != nil {
		return 0, 0
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(io.LimitReader(resp.Body, 16<<20))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		var v float64
		switch {
		case strings.HasPrefix(line, "process_resident_memory_bytes "):
			fmt.Sscan(strings.TrimPrefix(line, "process_resident_memory_bytes "), &v)
			rss = int64(v)
		case strings.HasPrefix(line, "go_memstats_heap_inuse_bytes "):
			fmt.Sscan(strings.TrimPrefix(line, "go_memstats_heap_inuse_bytes "), &v)
			heap = int64(v)
		}
	}
	return rss, heap
}

// BenchmarkGrowthMetadata: one node (in process, real bbolt meta.db),
// GROWTH_FILES (1,000,000) empty files created through the core by 16
// workers, then deleted, then one repair round (garbage collection and
// compaction; a single member sees everything as stable). Prints the Go
// heap in use (after a GC) and meta.db's size at each stage.
//
//	go test -tags bench -run '^$' -bench GrowthMetadata -benchtime 1x -timeout 0 ./bench/
func BenchmarkGrowthMetadata(b *testing.B) {
	files := envInt(b, "GROWTH_FILES", 1_000_000)
	n, err := node.New(node.Config{NodeID: "meta", DataDir: b.TempDir(), DiscoveryPort: 0, QUICHost: "127.0.0.1", HTTPAddr: "127.0.0.1"})
	if err != nil {
		b.Fatal(err)
	}
	defer n.Close()
	ctx := context.Background()
	dbPath := filepath.Join(n.Dir, "meta.db")
	report := func(stage string, start time.Time) {
		runtime.GC()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		fi, _ := os.Stat(dbPath)
		fp := n.Meta.Footprint()
		fmt.Printf("%-22s heap_inuse %8.1f MiB   meta.db %8.1f MiB   log_ops %8d  tombstones %8d  dentries %8d  (%s)\n",
			stage, float64(ms.HeapInuse)/(1<<20), float64(fi.Size())/(1<<20), fp.LogOps, fp.Tombstones, fp.Dentries, time.Since(start).Round(time.Millisecond))
	}
	fmt.Println()
	report("empty", time.Now())
	const workers = 16
	dirs := make([]crdt.InodeID, workers)
	for w := range dirs {
		a, err := n.FS.Mkdir(ctx, crdt.RootID, fmt.Sprintf("w%02d", w), 0o755, replica.Owner{})
		if err != nil {
			b.Fatal(err)
		}
		dirs[w] = a.Ref.Inode
	}
	each := func(op func(w, i int) error) {
		var wg sync.WaitGroup
		errs := make(chan error, workers)
		for w := range workers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := w; i < files; i += workers {
					if err := op(w, i); err != nil {
						errs <- err
						return
					}
				}
			}()
		}
		wg.Wait()
		close(errs)
		if err := <-errs; err != nil {
			b.Fatal(err)
		}
	}
	start := time.Now()
	each(func(w, i int) error {
		_, h, err := n.FS.Create(ctx, dirs[w], "f"+strconv.Itoa(i), 0o644, replica.Owner{}, os.O_WRONLY)
		if err == nil {
			err = h.Release()
		}
		return err
	})
	report(fmt.Sprintf("after %d creates", files), start)
	start = time.Now()
	each(func(w, i int) error { return n.FS.Unlink(ctx, dirs[w], "f"+strconv.Itoa(i)) })
	report("after the deletes", start)
	start = time.Now()
	n.Cluster.RepairOnce(ctx)
	n.Cluster.RepairOnce(ctx) // the first snapshot after compaction shrinks meta.db
	if _, err := n.Meta.Update(func(tx *crdt.Tx) error { return tx.SetSetting("growth/done", []byte{1}) }); err != nil {
		b.Fatal(err)
	}
	report("after compaction", start)
}
