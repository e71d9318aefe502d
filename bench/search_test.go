//go:build bench

package bench

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"runtime/trace"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/clusterf/clusterf/crdt"
	"github.com/clusterf/clusterf/replica"
	"github.com/clusterf/clusterf/search"
)

// BenchmarkSearch measures the search index (issue 15, docs/search.md)
// at SEARCH_BENCH_FILES files (default "100000 1000000"): names, sizes
// and times for all, text for SEARCH_BENCH_TEXT of them (default 1 %).
// For each size: the index build rate (the catch-up scan of a namespace
// the index has never seen), its size on disk per file, the heap the
// index adds, query latency percentiles for name, prefix, phrase, filter
// and content queries, and the lag from a write to the file being
// searchable. As a baseline for name queries: a linear case-folded
// substring scan over every path held in memory (what Everything does).
// Numbers are printed, never asserted.
func BenchmarkSearch(b *testing.B) {
	sizes := []int{100000, 1000000}
	if v := os.Getenv("SEARCH_BENCH_FILES"); v != "" {
		sizes = nil
		for _, f := range strings.Fields(v) {
			n, err := strconv.Atoi(f)
			if err != nil {
				b.Fatalf("SEARCH_BENCH_FILES: %v", err)
			}
			sizes = append(sizes, n)
		}
	}
	textShare := 0.01
	if v := os.Getenv("SEARCH_BENCH_TEXT"); v != "" {
		f, err := strconv.ParseFloat(v, 64)
		if err != nil {
			b.Fatal(err)
		}
		textShare = f
	}
	for i := 0; i < b.N; i++ {
		for _, n := range sizes {
			searchBenchOne(b, n, textShare)
		}
	}
}

var (
	benchWords  = strings.Fields("vacation summer beach holiday report invoice budget family birthday wedding party concert trip mountain lake river forest city garden kitchen office project draft final notes scan receipt contract photo video music album track podcast lecture meeting")
	benchExts   = []string{"jpg", "JPG", "png", "heic", "mp4", "mov", "mp3", "flac", "pdf", "docx", "txt", "md", "zip", "go"}
	benchPlaces = strings.Fields("paris tokyo berlin lisbon oslo denver cairo lima quito hanoi")
)

// benchName is a file name like the ones people have: camera names,
// words with separators and camelCase, dates, copies.
func benchName(r *rand.Rand, i int) string {
	w := func() string { return benchWords[r.IntN(len(benchWords))] }
	ext := benchExts[r.IntN(len(benchExts))]
	switch r.IntN(5) {
	case 0:
		return fmt.Sprintf("IMG_%04d%02d%02d_%06d.%s", 2015+r.IntN(12), 1+r.IntN(12), 1+r.IntN(28), i%1000000, ext)
	case 1:
		return fmt.Sprintf("%s_%d-%02d %s (%d).%s", title(w()), 2015+r.IntN(12), 1+r.IntN(12), benchPlaces[r.IntN(len(benchPlaces))], i%97, ext)
	case 2:
		return fmt.Sprintf("%s%s%s-%d.%s", w(), title(w()), title(w()), i, ext)
	case 3:
		return fmt.Sprintf("%s %s %s %d.%s", w(), w(), benchPlaces[r.IntN(len(benchPlaces))], i, ext)
	}
	return fmt.Sprintf("%s-%s-v%d.%s", w(), w(), i%50, ext)
}

// title upper-cases the first letter of an ASCII word (the bench words).
func title(w string) string { return strings.ToUpper(w[:1]) + w[1:] }

func benchText(r *rand.Rand) []byte {
	var sb bytes.Buffer
	for sb.Len() < 2000 {
		sb.WriteString(benchWords[r.IntN(len(benchWords))])
		sb.WriteByte(' ')
		if r.IntN(20) == 0 {
			sb.WriteString(benchPlaces[r.IntN(len(benchPlaces))] + ". ")
		}
	}
	return sb.Bytes()
}

func heapInuse() uint64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapInuse
}

// cpuTime is the CPU time of the calling thread (RUSAGE_THREAD) or of
// the whole process: the machine is shared, so wall-clock latencies
// include waiting for a core; CPU time does not.
func cpuTime(who int) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(who, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

const rusageThread = 1 // RUSAGE_THREAD

func loadAvg() string {
	b, _ := os.ReadFile("/proc/loadavg")
	return strings.Join(strings.Fields(string(b))[:3], " ")
}

func percentiles(ds []time.Duration) (p50, p95, p99 time.Duration) {
	sort.Slice(ds, func(i, j int) bool { return ds[i] < ds[j] })
	at := func(p float64) time.Duration { return ds[min(len(ds)-1, int(p*float64(len(ds))))] }
	return at(0.50), at(0.95), at(0.99)
}

func searchBenchOne(b *testing.B, n int, textShare float64) {
	ctx := context.Background()
	fs := replica.TestFS(b, 0)
	r := rand.New(rand.NewPCG(uint64(n), 15))
	var paths []string
	t0 := time.Now()
	const perDir = 1000
	var dir crdt.InodeID
	texts := 0
	for i := 0; i < n; i++ {
		if i%perDir == 0 {
			a, err := fs.MkdirAll(ctx, fmt.Sprintf("/%d/%s/batch-%05d", 2015+i/perDir%12, benchPlaces[i/perDir%len(benchPlaces)], i/perDir), 0o755, replica.Owner{})
			if err != nil {
				b.Fatal(err)
			}
			dir = a.Ref.Inode
		}
		name := benchName(r, i)
		p := fmt.Sprintf("/%d/%s/batch-%05d/%s", 2015+i/perDir%12, benchPlaces[i/perDir%len(benchPlaces)], i/perDir, name)
		if r.Float64() < textShare {
			if _, err := fs.PutFile(ctx, p, bytes.NewReader(benchText(r)), replica.PutOptions{}); err != nil {
				b.Fatal(err)
			}
			texts++
		} else {
			_, h, err := fs.Create(ctx, dir, name, 0o644, replica.Owner{}, os.O_WRONLY)
			if err != nil {
				if strings.Contains(err.Error(), "exist") {
					continue
				}
				b.Fatal(err)
			}
			h.Release()
		}
		paths = append(paths, strings.ToLower(p))
	}
	b.Logf("%d files (%d with text) created through the core in %v", len(paths), texts, time.Since(t0).Round(time.Millisecond))

	dirIdx := filepath.Join(b.TempDir(), "search")
	before := heapInuse()
	x, err := search.Open(search.Config{FS: fs, Dir: dirIdx})
	if err != nil {
		b.Fatal(err)
	}
	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	t1, c1 := time.Now(), cpuTime(syscall.RUSAGE_SELF)
	go func() { done <- x.Run(runCtx) }()
	if err := x.Sync(ctx); err != nil {
		b.Fatal(err)
	}
	build, buildCPU := time.Since(t1), cpuTime(syscall.RUSAGE_SELF)-c1
	st := x.Stats()
	heap := int64(heapInuse()) - int64(before)
	fmt.Printf("search-%d: load average %s on %d CPUs\n", n, loadAvg(), runtime.NumCPU())
	fmt.Printf("search-%d: build %.0f files/s wall, %.0f files per CPU-second (%v, %v CPU, for %d documents), index on disk %.0f B/file (%d MiB), heap +%d MiB\n",
		n, float64(st.Documents)/build.Seconds(), float64(st.Documents)/buildCPU.Seconds(), build.Round(time.Millisecond),
		buildCPU.Round(time.Millisecond), st.Documents, float64(st.DiskBytes)/float64(st.Documents), st.DiskBytes>>20, heap>>20)

	// Query latencies.
	kinds := []struct {
		kind string
		q    func(r *rand.Rand) string
	}{
		{"name", func(r *rand.Rand) string { return benchWords[r.IntN(len(benchWords))] }},
		{"name2", func(r *rand.Rand) string {
			return benchWords[r.IntN(len(benchWords))] + " " + benchPlaces[r.IntN(len(benchPlaces))]
		}},
		{"prefix", func(r *rand.Rand) string { return benchWords[r.IntN(len(benchWords))][:4] }},
		{"substring", func(r *rand.Rand) string { w := benchWords[r.IntN(len(benchWords))]; return w[1:] }},
		// As you type: the first one to three letters of a word, and
		// numbers of one or two digits (prefixes of dates and counters).
		{"typing", func(r *rand.Rand) string { w := benchWords[r.IntN(len(benchWords))]; return w[:1+r.IntN(3)] }},
		{"digits", func(r *rand.Rand) string { return strconv.Itoa(r.IntN(100)) }},
		{"phrase", func(r *rand.Rand) string {
			return `"` + benchWords[r.IntN(len(benchWords))] + " " + benchPlaces[r.IntN(len(benchPlaces))] + `"`
		}},
		{"filter", func(r *rand.Rand) string {
			return "ext:" + strings.ToLower(benchExts[r.IntN(len(benchExts))]) + " under:/" + strconv.Itoa(2015+r.IntN(12)) + " modified:>2020"
		}},
		{"content", func(r *rand.Rand) string { return "text:" + benchPlaces[r.IntN(len(benchPlaces))] }},
	}
	const queries = 300
	runtime.LockOSThread()
	for _, k := range kinds {
		stop := startProfile(b, "query-"+k.kind)
		var ds, cs []time.Duration
		var totals uint64
		for i := 0; i < queries; i++ {
			q := k.q(r)
			s, c := time.Now(), cpuTime(rusageThread)
			res, err := x.Search(ctx, search.Request{Query: q, Limit: 20})
			if err != nil {
				b.Fatalf("%s: %v", q, err)
			}
			ds, cs = append(ds, time.Since(s)), append(cs, cpuTime(rusageThread)-c)
			totals += res.Total
		}
		stop()
		p50, p95, p99 := percentiles(ds)
		c50, c95, c99 := percentiles(cs)
		fmt.Printf("search-%d: query %-9s wall p50 %7.2f p95 %7.2f p99 %7.2f ms | CPU p50 %6.2f p95 %6.2f p99 %6.2f ms (mean %d hits, 20 returned)\n",
			n, k.kind, ms(p50), ms(p95), ms(p99), ms(c50), ms(c95), ms(c99), totals/queries)
	}
	runtime.UnlockOSThread()
	// Baseline: a linear substring scan over every lower-cased path.
	var ds []time.Duration
	for i := 0; i < 50; i++ {
		w := benchWords[r.IntN(len(benchWords))]
		s := time.Now()
		hits := 0
		for _, p := range paths {
			if strings.Contains(p, w) {
				hits++
			}
		}
		ds = append(ds, time.Since(s))
	}
	p50, p95, p99 := percentiles(ds)
	var bytesHeld int
	for _, p := range paths {
		bytesHeld += len(p) + 16
	}
	fmt.Printf("search-%d: baseline linear scan of %d paths (%d MiB in memory, no ranking, no metadata, no persistence): p50 %.2f ms  p95 %.2f ms  p99 %.2f ms\n",
		n, len(paths), bytesHeld>>20, ms(p50), ms(p95), ms(p99))

	// Write to searchable, and where the time goes: the PutFile, the
	// feed's events applied to the index, the first query finding it.
	stopProf := startProfile(b, "lag")
	es0 := x.EngineStats()
	var lags, puts, applies, finds []time.Duration
	polls := 0
	for i := 0; i < 50; i++ {
		name := fmt.Sprintf("fresh-%d-zq%dx.txt", n, i)
		s := time.Now()
		if _, err := fs.PutFile(ctx, "/inbox/"+name, strings.NewReader("hello"), replica.PutOptions{}); err != nil {
			b.Fatal(err)
		}
		tPut := time.Since(s)
		target := fs.Changes().Last()
		for x.Applied() < target {
			time.Sleep(100 * time.Microsecond)
		}
		tApplied := time.Since(s)
		for {
			polls++
			res, err := x.Search(ctx, search.Request{Query: fmt.Sprintf("zq%dx", i), Limit: 1})
			if err != nil {
				b.Fatal(err)
			}
			if res.Total > 0 {
				break
			}
			time.Sleep(200 * time.Microsecond)
		}
		lags = append(lags, time.Since(s))
		puts, applies, finds = append(puts, tPut), append(applies, tApplied-tPut), append(finds, time.Since(s)-tApplied)
	}
	stopProf()
	es1 := x.EngineStats()
	p50, p95, p99 = percentiles(lags)
	fmt.Printf("search-%d: write to searchable p50 %.2f ms  p95 %.2f ms  p99 %.2f ms (PutFile included)\n", n, ms(p50), ms(p95), ms(p99))
	for _, ph := range []struct {
		name string
		ds   []time.Duration
	}{{"PutFile", puts}, {"feed applied", applies}, {"query found", finds}} {
		p50, p95, p99 := percentiles(ph.ds)
		fmt.Printf("search-%d:   of which %-12s p50 %.2f ms  p95 %.2f ms  p99 %.2f ms\n", n, ph.name, ms(p50), ms(p95), ms(p99))
	}
	fmt.Printf("search-%d:   %d queries for 50 writes; engine %s\n", n, polls, engineSummary(es0, es1))

	// Catch-up: what a restart (a new feed epoch) or a lagging index does,
	// a scan of the namespace diffed against the indexed fingerprints
	// (here after a Reset event, with nothing changed).
	before2 := x.Stats().Indexed
	t2, c2 := time.Now(), cpuTime(syscall.RUSAGE_SELF)
	fs.NoteReset()
	if err := x.Sync(ctx); err != nil {
		b.Fatal(err)
	}
	st = x.Stats()
	fmt.Printf("search-%d: catch-up scan + diff of %d entries (nothing changed): %v wall, %v CPU, %d documents re-indexed\n",
		n, len(paths), time.Since(t2).Round(time.Millisecond), (cpuTime(syscall.RUSAGE_SELF) - c2).Round(time.Millisecond), st.Indexed-before2)
	cancel()
	<-done
	x.Close()
	fmt.Printf("search-%d: on disk after close %.0f B/file\n", n, float64(dirSize(dirIdx))/float64(st.Documents))
}

func dirSize(dir string) int64 {
	var n int64
	filepath.WalkDir(dir, func(_ string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			if info, err := d.Info(); err == nil {
				n += info.Size()
			}
		}
		return nil
	})
	return n
}

// startProfile writes a CPU profile and an execution trace of a phase to
// $SEARCH_BENCH_PROFILE/<phase>.pprof and .trace when that is set.
func startProfile(b *testing.B, phase string) (stop func()) {
	dir := os.Getenv("SEARCH_BENCH_PROFILE")
	if dir == "" {
		return func() {}
	}
	cf, err := os.Create(filepath.Join(dir, phase+".pprof"))
	if err != nil {
		b.Fatal(err)
	}
	tf, err := os.Create(filepath.Join(dir, phase+".trace"))
	if err != nil {
		b.Fatal(err)
	}
	if err := pprof.StartCPUProfile(cf); err != nil {
		b.Fatal(err)
	}
	if err := trace.Start(tf); err != nil {
		b.Fatal(err)
	}
	return func() {
		trace.Stop()
		pprof.StopCPUProfile()
		cf.Close()
		tf.Close()
	}
}

// engineSummary is what scorch did between two StatsMap snapshots.
func engineSummary(a, z map[string]any) string {
	u := func(m map[string]any, k string) uint64 { v, _ := m[k].(uint64); return v }
	d := func(k string) uint64 { return u(z, k) - u(a, k) }
	return fmt.Sprintf("batches %d, max batch introduction %.1f ms, merges introduced %d, persister loops %d, "+
		"root segments now %d in memory + %d files, files on disk %d, merge plans %d",
		d("TotBatches"), float64(u(z, "MaxBatchIntroTime"))/1e6, d("TotIntroduceMergeEnd"), d("TotPersistLoopEnd"),
		u(z, "TotMemorySegmentsAtRoot"), u(z, "TotFileSegmentsAtRoot"), u(z, "CurOnDiskFiles"), d("TotFileMergePlan"))
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
