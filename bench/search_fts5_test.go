//go:build bench

package bench

import (
	"database/sql"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	_ "modernc.org/sqlite"
)

// BenchmarkSearchFTS5 is the alternative docs/search.md weighs bleve
// against: SQLite FTS5 (modernc.org/sqlite, pure Go, already a
// dependency) over the same generated names as BenchmarkSearch, with the
// trigram tokenizer (substring matches, which names need) on name and
// path, ranked by bm25, 20 returned plus the total count, as
// /api/search answers. Only names and paths: no metadata, no text, no
// typo tolerance, no camelCase split ("vacationPhotos" is found by
// "cation" but "photos vacation" needs both substrings in that name).
// SEARCH_BENCH_FILES as BenchmarkSearch (default 100000 here).
// Numbers are printed, never asserted.
func BenchmarkSearchFTS5(b *testing.B) {
	sizes := []int{100000}
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
	for i := 0; i < b.N; i++ {
		for _, n := range sizes {
			fts5One(b, n)
		}
	}
}

func fts5One(b *testing.B, n int) {
	dir := b.TempDir()
	db, err := sql.Open("sqlite", filepath.Join(dir, "fts.db")+"?_pragma=journal_mode(WAL)&_pragma=synchronous(NORMAL)")
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	db.SetMaxOpenConns(1)
	if _, err := db.Exec(`CREATE VIRTUAL TABLE f USING fts5(name, path, tokenize = 'trigram case_sensitive 0')`); err != nil {
		b.Fatal(err)
	}
	r := rand.New(rand.NewPCG(uint64(n), 15))
	const perDir = 1000
	t0, c0 := time.Now(), cpuTime(syscall.RUSAGE_SELF)
	tx, err := db.Begin()
	if err != nil {
		b.Fatal(err)
	}
	ins, err := tx.Prepare(`INSERT INTO f(name, path) VALUES (?, ?)`)
	if err != nil {
		b.Fatal(err)
	}
	for i := 0; i < n; i++ {
		name := benchName(r, i)
		p := fmt.Sprintf("/%d/%s/batch-%05d/%s", 2015+i/perDir%12, benchPlaces[i/perDir%len(benchPlaces)], i/perDir, name)
		if _, err := ins.Exec(name, p); err != nil {
			b.Fatal(err)
		}
		if i%20000 == 19999 {
			if err := tx.Commit(); err != nil {
				b.Fatal(err)
			}
			if tx, err = db.Begin(); err != nil {
				b.Fatal(err)
			}
			if ins, err = tx.Prepare(`INSERT INTO f(name, path) VALUES (?, ?)`); err != nil {
				b.Fatal(err)
			}
		}
	}
	if err := tx.Commit(); err != nil {
		b.Fatal(err)
	}
	if _, err := db.Exec(`INSERT INTO f(f) VALUES ('optimize')`); err != nil {
		b.Fatal(err)
	}
	build, buildCPU := time.Since(t0), cpuTime(syscall.RUSAGE_SELF)-c0
	if _, err := db.Exec(`PRAGMA wal_checkpoint(TRUNCATE)`); err != nil {
		b.Fatal(err)
	}
	fmt.Printf("search-fts5-%d: load average %s on %d CPUs\n", n, loadAvg(), runtime.NumCPU())
	fmt.Printf("search-fts5-%d: build %.0f files/s wall, %.0f files per CPU-second (%v, %v CPU), on disk %.0f B/file (names and paths only)\n",
		n, float64(n)/build.Seconds(), float64(n)/buildCPU.Seconds(), build.Round(time.Millisecond), buildCPU.Round(time.Millisecond),
		float64(dirSize(dir))/float64(n))

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
	}
	page, err := db.Prepare(`SELECT path FROM f WHERE f MATCH ? ORDER BY bm25(f, 5.0, 1.0) LIMIT 20`)
	if err != nil {
		b.Fatal(err)
	}
	count, err := db.Prepare(`SELECT count(*) FROM f WHERE f MATCH ?`)
	if err != nil {
		b.Fatal(err)
	}
	const queries = 300
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	for _, k := range kinds {
		var ds, cs []time.Duration
		var totals uint64
		for i := 0; i < queries; i++ {
			var terms []string
			for _, w := range strings.Fields(k.q(r)) {
				terms = append(terms, `"`+w+`"`)
			}
			q := strings.Join(terms, " AND ")
			s, c := time.Now(), cpuTime(rusageThread)
			rows, err := page.Query(q)
			if err != nil {
				b.Fatalf("%s: %v", q, err)
			}
			for rows.Next() {
				var p string
				if err := rows.Scan(&p); err != nil {
					b.Fatal(err)
				}
			}
			rows.Close()
			var total uint64
			if err := count.QueryRow(q).Scan(&total); err != nil {
				b.Fatal(err)
			}
			ds, cs = append(ds, time.Since(s)), append(cs, cpuTime(rusageThread)-c)
			totals += total
		}
		p50, p95, p99 := percentiles(ds)
		c50, c95, c99 := percentiles(cs)
		fmt.Printf("search-fts5-%d: query %-9s wall p50 %7.2f p95 %7.2f p99 %7.2f ms | CPU p50 %6.2f p95 %6.2f p99 %6.2f ms (mean %d hits, 20 returned)\n",
			n, k.kind, ms(p50), ms(p95), ms(p99), ms(c50), ms(c95), ms(c99), totals/queries)
	}
}
