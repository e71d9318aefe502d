package crdt

import (
	"fmt"
	"runtime"
	"testing"
	"time"
)

// genCreates issues n file creates (1000 per directory) on r and returns the ops.
func genCreates(tb testing.TB, r *Replica, n int) []Op {
	var all []Op
	var dir InodeID
	const batch = 1000
	for i := 0; i < n; i += batch {
		ops, err := r.Update(func(tx *Tx) error {
			var err error
			if dir, err = tx.Create(RootID, fmt.Sprintf("d%07d", i/batch), KindDir, NewAttrs{Mode: 0o755}); err != nil {
				return err
			}
			for j := i; j < i+batch && j < n; j++ {
				if _, err := tx.Create(dir, fmt.Sprintf("file-%07d.dat", j), KindFile, NewAttrs{Mode: 0o644, Time: int64(j)}); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			tb.Fatal(err)
		}
		all = append(all, ops...)
	}
	return all
}

// BenchmarkApplyCreates applies b.N remote file creates (each an AttrOp plus
// a MoveOp) to one replica in batches of 1000. Run with
// -benchtime=1000000x for the 1M case.
func BenchmarkApplyCreates(b *testing.B) {
	src, _ := Open(Options{Node: "src"})
	ops := genCreates(b, src, b.N)
	dst, _ := Open(Options{Node: "dst"})
	var m0, m1 runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&m0)
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	for i := 0; i < len(ops); i += 2000 {
		end := min(i+2000, len(ops))
		if _, err := dst.Apply(ops[i:end]); err != nil {
			b.Fatal(err)
		}
	}
	el := time.Since(start)
	b.StopTimer()
	runtime.GC()
	runtime.ReadMemStats(&m1)
	b.ReportMetric(float64(int64(m1.HeapAlloc)-int64(m0.HeapAlloc))/float64(b.N), "heapbytes/inode")
	runtime.KeepAlive(dst)
	b.ReportMetric(float64(b.N)/el.Seconds(), "creates/s")
	b.ReportMetric(float64(len(ops))/el.Seconds(), "ops/s")
	b.ReportMetric(float64(len(dst.EncodeState()))/float64(b.N), "statebytes/inode")
}

// BenchmarkUpdateCreates issues b.N local creates, one Update each.
func BenchmarkUpdateCreates(b *testing.B) {
	r, _ := Open(Options{Node: "n1", Store: NewMemStore()})
	dir := RootID
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		_, err := r.Update(func(tx *Tx) error {
			var err error
			if i%1000 == 0 {
				if dir, err = tx.Create(RootID, fmt.Sprintf("d%07d", i/1000), KindDir, NewAttrs{}); err != nil {
					return err
				}
			}
			_, err = tx.Create(dir, fmt.Sprintf("f%07d", i), KindFile, NewAttrs{})
			return err
		})
		if err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "creates/s")
}

// BenchmarkMissing: a peer 10k ops behind asks for what it lacks.
func BenchmarkMissing(b *testing.B) {
	r, _ := Open(Options{Node: "src"})
	genCreates(b, r, 10000) // 20k+ ops
	theirs := r.VersionVector()
	theirs["src"] -= 10000
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		ops, err := r.Missing(theirs, 0, 0)
		if err != nil || len(ops) != 10000 {
			b.Fatal(len(ops), err)
		}
	}
}

// BenchmarkMissingEncoded includes encoding the reply for the wire.
func BenchmarkMissingEncoded(b *testing.B) {
	r, _ := Open(Options{Node: "src"})
	genCreates(b, r, 10000)
	theirs := r.VersionVector()
	theirs["src"] -= 10000
	b.ResetTimer()
	var n int
	for i := 0; i < b.N; i++ {
		ops, err := r.Missing(theirs, 0, 0)
		if err != nil {
			b.Fatal(err)
		}
		n = len(EncodeOps(ops))
	}
	b.ReportMetric(float64(n), "bytes/reply")
}
