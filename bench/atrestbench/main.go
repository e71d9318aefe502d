// Command atrestbench measures the chunk engines and encryption at rest
// (issue 18), each against a baseline of the same run:
//
//   - per engine, plain and sealed (chunk/sealed): puts/s and gets/s of
//     4 KiB and 4 MiB chunks (-c goroutines), bytes on disk per 4 KiB
//     chunk, and the time to reopen a store of -restart-n small chunks;
//   - the FUSE mount's sequential write (fsync at the end) and read of
//     -fuse-size bytes, encrypted vs not, same engine (-clusterf binary).
//
// Ratios are sealed/plain (>1 faster) for throughput and engine/rawfile for
// restart time. Nothing is asserted; results go to stdout.
package main

import (
	"context"
	"flag"
	"fmt"
	"io/fs"
	"log"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/clusterf/clusterf/atrest"
	"github.com/clusterf/clusterf/chunk"
	"github.com/clusterf/clusterf/chunk/chunktest"
	"github.com/clusterf/clusterf/chunk/engines"
	"github.com/clusterf/clusterf/chunk/sealed"
)

var (
	dirFlag    = flag.String("dir", os.TempDir(), "work directory")
	conc       = flag.Int("c", 4, "concurrent putters and getters")
	nSmall     = flag.Int("n4k", 20000, "4 KiB chunks per put/get case")
	nLarge     = flag.Int("n4m", 64, "4 MiB chunks per put/get case")
	restartN   = flag.Int("restart-n", 1000000, "small chunks in the restart case (0: skip)")
	restartSz  = flag.Int("restart-size", 1024, "bytes per chunk in the restart case")
	only       = flag.String("engines", strings.Join(engines.Names(), ","), "engines to measure")
	binFlag    = flag.String("clusterf", "", "clusterf binary for the FUSE case (empty: skip)")
	fuseSize   = flag.Int64("fuse-size", 1<<30, "bytes written and read through the mount")
	fuseEng    = flag.String("fuse-engine", "rawfile", "engine of the FUSE case")
	fuseRounds = flag.Int("fuse-rounds", 5, "rounds of the FUSE case (pairs of fresh nodes; the ratio is the median of the pairs')")
)

var keys = atrest.KeysFromMaster([32]byte{0xbe})

func open(engine, dir string, seal bool) chunk.Store {
	s, err := engines.Open(engine, dir)
	if err != nil {
		log.Fatal(err)
	}
	if seal {
		return sealed.New(s, keys)
	}
	return s
}

// blobs returns n distinct blobs of size bytes sharing one buffer (the
// stores do not verify, so ids just need to differ).
func blobs(n, size int, seed uint64) ([]chunk.ID, []byte) {
	base := chunktest.RandomChunk(seed, size)
	ids := make([]chunk.ID, n)
	for i := range ids {
		id := base.ID
		id[0], id[1], id[2], id[3] = byte(i), byte(i>>8), byte(i>>16), byte(i>>24)
		ids[i] = id
	}
	return ids, base.Blob
}

// parallel runs fn(i) for i in [0, n) on *conc goroutines and returns the
// rate per second.
func parallel(n int, fn func(i int)) float64 {
	var next atomic.Int64
	var wg sync.WaitGroup
	start := time.Now()
	for range *conc {
		wg.Go(func() {
			for {
				i := int(next.Add(1) - 1)
				if i >= n {
					return
				}
				fn(i)
			}
		})
	}
	wg.Wait()
	return float64(n) / time.Since(start).Seconds()
}

func diskBytes(dir string) int64 {
	var total int64
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			if fi, err := d.Info(); err == nil {
				total += fi.Sys().(*syscall.Stat_t).Blocks * 512
			}
		}
		return nil
	})
	return total
}

type result struct{ put4k, get4k, put4m, get4m, perChunk float64 }

func measure(engine string, seal bool) result {
	ctx := context.Background()
	var r result
	for _, c := range []struct {
		n, size  int
		put, get *float64
	}{{*nSmall, 4 << 10, &r.put4k, &r.get4k}, {*nLarge, 4 << 20, &r.put4m, &r.get4m}} {
		dir, _ := os.MkdirTemp(*dirFlag, "atrestbench-")
		s := open(engine, dir, seal)
		ids, blob := blobs(c.n, c.size, uint64(c.size))
		*c.put = parallel(c.n, func(i int) {
			if err := s.Put(ctx, ids[i], blob); err != nil {
				log.Fatal(err)
			}
		})
		*c.get = parallel(c.n, func(i int) {
			if _, err := s.Get(ctx, ids[i]); err != nil {
				log.Fatal(err)
			}
		})
		s.Close()
		if c.size == 4<<10 {
			r.perChunk = float64(diskBytes(dir)) / float64(c.n)
		}
		os.RemoveAll(dir)
	}
	return r
}

// restart fills a store with *restartN chunks and times Open + Usage.
func restart(engine string) time.Duration {
	dir, _ := os.MkdirTemp(*dirFlag, "atrestbench-restart-")
	defer os.RemoveAll(dir)
	s := open(engine, dir, false)
	ids, blob := blobs(*restartN, *restartSz, 3)
	ctx := context.Background()
	saved := *conc
	*conc = 64 // group commit fills faster with more writers
	parallel(len(ids), func(i int) {
		if err := s.Put(ctx, ids[i], blob); err != nil {
			log.Fatal(err)
		}
	})
	*conc = saved
	s.Close()
	start := time.Now()
	s = open(engine, dir, false)
	if u, err := s.Usage(ctx); err != nil || u.Chunks != int64(*restartN) {
		log.Fatalf("%s after reopen: %+v, %v", engine, u, err)
	}
	took := time.Since(start)
	s.Close()
	return took
}

func main() {
	flag.Parse()
	list := strings.Split(*only, ",")
	fmt.Printf("== Chunk engines, plain vs sealed (encryption at rest), %d goroutines ==\n", *conc)
	fmt.Printf("%-8s %-7s %10s %10s %10s %10s %12s\n", "engine", "mode", "put4K/s", "get4K/s", "put4M/s", "get4M/s", "disk B/4K")
	for _, e := range list {
		p := measure(e, false)
		s := measure(e, true)
		row := func(mode string, r result) {
			fmt.Printf("%-8s %-7s %10.0f %10.0f %10.1f %10.1f %12.0f\n", e, mode, r.put4k, r.get4k, r.put4m, r.get4m, r.perChunk)
		}
		row("plain", p)
		row("sealed", s)
		fmt.Printf("%-8s %-7s %10.2f %10.2f %10.2f %10.2f %12.2f\n", e, "ratio", s.put4k/p.put4k, s.get4k/p.get4k, s.put4m/p.put4m, s.get4m/p.get4m, s.perChunk/p.perChunk)
	}
	fmt.Println("(ratio = sealed / plain: >1 is faster, except disk bytes)")
	if *restartN > 0 {
		fmt.Printf("\n== Restart: open a store of %d chunks of %d bytes ==\n", *restartN, *restartSz)
		took := map[string]time.Duration{}
		for _, e := range list {
			took[e] = restart(e)
		}
		for _, e := range list {
			ratio := ""
			if base, ok := took["rawfile"]; ok && base > 0 {
				ratio = fmt.Sprintf("  ratio-time vs rawfile %.4f", took[e].Seconds()/base.Seconds())
			}
			fmt.Printf("%-8s %10.3f s%s\n", e, took[e].Seconds(), ratio)
		}
	}
	if *binFlag != "" {
		fuseBench(*binFlag)
	}
}
