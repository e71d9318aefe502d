package integration

import (
	"bufio"
	"fmt"
	"io/fs"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/clusterf/clusterf/chunk"
)

// gcMeter follows what garbage collection does during a run: it scrapes
// every node's /api/metrics every gcScrapeEvery and samples the size of
// the data dirs every gcDiskEvery.
//
// A node's counters start at 0 in every process (a kill -9, a clock
// restart), so the meter keeps per node the last values scraped from the
// current process (told apart by its pid, read before and after the
// scrape) and the sum of the last values of the earlier processes. The
// totals are lower bounds: what a process freed after its last scrape and
// before it was killed is not seen.
type gcMeter struct {
	c        *faultCluster
	stop     chan struct{}
	stopOnce sync.Once
	wg       sync.WaitGroup

	mu       sync.Mutex
	nodes    []meterNode
	diskPeak int64
	diskLast int64
}

const (
	gcScrapeEvery = 2 * time.Second
	gcDiskEvery   = 3 * time.Second
)

// gcSeries are the scraped series (exact names with labels).
var gcSeries = []string{
	"clusterf_gc_collected_bytes_total",
	"clusterf_dropped_copy_bytes_total",
	`clusterf_compacted_total{kind="log_ops"}`,
}

type meterNode struct {
	pid  int
	cur  []float64 // latest scrape of process pid, by gcSeries index
	done []float64 // sums of the last scrapes of earlier processes
}

// startGCMeter starts the scrapers; stopAndTotal (or, if the test ends
// before, its cleanup) ends them.
func startGCMeter(c *faultCluster) *gcMeter {
	m := &gcMeter{c: c, stop: make(chan struct{}), nodes: make([]meterNode, len(c.nodes))}
	for i := range m.nodes {
		m.nodes[i] = meterNode{cur: make([]float64, len(gcSeries)), done: make([]float64, len(gcSeries))}
	}
	for i := range c.nodes {
		m.wg.Add(1)
		go func() {
			defer m.wg.Done()
			m.every(gcScrapeEvery, func() { m.scrape(i) })
		}()
	}
	m.wg.Add(1)
	go func() {
		defer m.wg.Done()
		m.every(gcDiskEvery, m.sampleDisk)
	}()
	c.t.Cleanup(m.halt)
	return m
}

// halt ends the periodic scrapes and waits for them.
func (m *gcMeter) halt() {
	m.stopOnce.Do(func() { close(m.stop) })
	m.wg.Wait()
}

func (m *gcMeter) every(d time.Duration, f func()) {
	for {
		f()
		select {
		case <-m.stop:
			return
		case <-time.After(d):
		}
	}
}

// scrape reads node i's counters once (nothing when it does not answer,
// e.g. killed or paused, or restarted during the scrape).
func (m *gcMeter) scrape(i int) {
	n := m.c.nodes[i]
	pid := n.Pid()
	out, err := m.c.net.Hosts[i].Curl(8*time.Second, "-sS", "-f", "--max-time", "5", "http://127.0.0.1:8080/api/metrics")
	if err != nil || pid == 0 || n.Pid() != pid {
		return
	}
	vals, ok := parseSeries(out, gcSeries)
	if !ok {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	mn := &m.nodes[i]
	if pid != mn.pid {
		for k := range mn.cur {
			mn.done[k] += mn.cur[k]
			mn.cur[k] = 0
		}
		mn.pid = pid
	}
	for k, v := range vals {
		mn.cur[k] = max(mn.cur[k], v) // counters of one process only grow
	}
}

// parseSeries finds the values of the given series in a Prometheus text
// exposition; ok is false unless every one is there.
func parseSeries(text string, series []string) ([]float64, bool) {
	vals := make([]float64, len(series))
	found := 0
	sc := bufio.NewScanner(strings.NewReader(text))
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		for k, s := range series {
			rest, ok := strings.CutPrefix(line, s+" ")
			if !ok {
				continue
			}
			v, err := strconv.ParseFloat(strings.Fields(rest)[0], 64)
			if err != nil {
				return nil, false
			}
			vals[k] = v
			found++
		}
	}
	return vals, found == len(series)
}

// sampleDisk sums the apparent size of every file under the nodes' data
// dirs (DataDir/NodeID: meta.db, chunks, staging; not the tmpfs filler).
func (m *gcMeter) sampleDisk() {
	var total int64
	for _, n := range m.c.nodes {
		filepath.WalkDir(n.NodeDir(), func(p string, d fs.DirEntry, err error) error {
			if err != nil || !d.Type().IsRegular() {
				return nil
			}
			if info, err := d.Info(); err == nil {
				total += info.Size()
			}
			return nil
		})
	}
	m.mu.Lock()
	m.diskLast = total
	m.diskPeak = max(m.diskPeak, total)
	m.mu.Unlock()
}

// totals sums every node's counters so far.
func (m *gcMeter) totals() (g GCTotals) {
	m.mu.Lock()
	defer m.mu.Unlock()
	sum := make([]float64, len(gcSeries))
	for _, mn := range m.nodes {
		for k := range sum {
			sum[k] += mn.done[k] + mn.cur[k]
		}
	}
	g.Reclaimed, g.Dropped, g.CompactedOps = int64(sum[0]), int64(sum[1]), int64(sum[2])
	g.DiskPeak, g.DiskEnd = m.diskPeak, m.diskLast
	return g
}

// stopAndTotal ends the periodic scrapes, scrapes every node and samples
// the disk once more, and returns the totals.
func (m *gcMeter) stopAndTotal() GCTotals {
	m.halt()
	var wg sync.WaitGroup
	for i := range m.c.nodes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			m.scrape(i)
		}()
	}
	wg.Wait()
	m.sampleDisk()
	return m.totals()
}

// treeChunkIDs is every chunk the files of tree reference.
func treeChunkIDs(tree map[string]fileEntry) map[string]bool {
	refs := map[string]bool{}
	for _, e := range tree {
		if e.dir || e.size <= faultInlineMax {
			continue
		}
		for off := 0; off < len(e.data); off += faultChunkSize {
			refs[chunk.Sum(e.data[off:min(off+faultChunkSize, len(e.data))]).String()] = true
		}
	}
	return refs
}

// awaitGCDrain waits (up to GCDrainTimeout) until no node stores a chunk
// the converged tree does not reference: with every member up and
// reporting, garbage collection must finish. What is left is a finding.
func (c *faultCluster) awaitGCDrain(res *FaultResult, tree map[string]fileEntry) {
	refs := treeChunkIDs(tree)
	start := time.Now()
	for {
		left, example := 0, ""
		for _, n := range c.nodes {
			for id := range ChunkCopies(n.NodeDir()) {
				if !refs[id] {
					left++
					example = fmt.Sprintf("%.12s on %s", id, n.NodeID())
				}
			}
		}
		res.GC.GarbageLeft, res.GC.DrainedIn = left, time.Since(start)
		if left == 0 {
			return
		}
		if time.Since(start) > c.cfg.GCDrainTimeout {
			res.Problems = append(res.Problems, fmt.Sprintf("garbage collection did not finish: %d stored copies of unreferenced chunks %v after convergence, e.g. %s; %s",
				left, c.cfg.GCDrainTimeout, example, c.gcWaiting()))
			return
		}
		time.Sleep(time.Second)
	}
}

// gcWaiting lists, per node, the members its garbage collection waits for
// (clusterf_gc_waiting).
func (c *faultCluster) gcWaiting() string {
	var out []string
	for i, n := range c.nodes {
		text, err := c.net.Hosts[i].Curl(8*time.Second, "-sS", "-f", "--max-time", "5", "http://127.0.0.1:8080/api/metrics")
		if err != nil {
			out = append(out, fmt.Sprintf("%s: %v", n.NodeID(), err))
			continue
		}
		var w []string
		for _, line := range strings.Split(text, "\n") {
			if strings.HasPrefix(line, "clusterf_gc_waiting{") {
				w = append(w, line)
			}
		}
		out = append(out, fmt.Sprintf("%s waits for %v", n.NodeID(), w))
	}
	return strings.Join(out, "; ")
}

// gcVerdict adds the meter's totals to the result; with delete-heavy
// clients, nothing reclaimed is a failure (GC pressure did not run).
func (c *faultCluster) gcVerdict(res *FaultResult, tot GCTotals) {
	g := &res.GC
	g.Expected = c.cfg.heavyClients()
	g.Reclaimed, g.Dropped, g.CompactedOps = tot.Reclaimed, tot.Dropped, tot.CompactedOps
	g.DiskPeak, g.DiskEnd = tot.DiskPeak, tot.DiskEnd
	if g.Expected && g.Reclaimed == 0 {
		res.Problems = append(res.Problems, "garbage collection reclaimed nothing although delete-heavy clients ran (clusterf_gc_collected_bytes_total stayed 0 on every node)")
	}
}
