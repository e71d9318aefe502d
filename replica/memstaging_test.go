package replica

import (
	"bytes"
	"sync"
	"testing"

	"pgregory.net/rapid"
)

// TestMemStagingModel: writes, zeroes and truncates of a memStaging read
// back like a byte slice whatever the budget (none, a little, plenty), so
// slots in memory, slots spilled to the file and slots moving from one to
// the other all behave alike; the budget is given back in full at Close.
func TestMemStagingModel(t *testing.T) {
	const cs = 16 << 10
	dir := t.TempDir()
	rapid.Check(t, func(rt *rapid.T) {
		budget := &memBudget{limit: rapid.SampledFrom([]int64{-1, 0, 40 << 10, 100 << 10, 1 << 20}).Draw(rt, "budget")}
		opened := 0
		pool := &sync.Pool{New: func() any {
			b := bytes.Repeat([]byte{0xEE}, cs) // stale bytes: must never show
			return &b
		}}
		m := newMemStaging(cs, budget, pool, func() (StagingFile, error) {
			opened++
			return openPlainStaging(dir, "t-*")
		})
		var model []byte
		grow := func(end int64) {
			if end > int64(len(model)) {
				model = append(model, make([]byte, end-int64(len(model)))...)
			}
		}
		for range rapid.IntRange(1, 40).Draw(rt, "ops") {
			off := rapid.Int64Range(0, 5*cs).Draw(rt, "off")
			n := rapid.Int64Range(1, 2*cs).Draw(rt, "n")
			switch rapid.IntRange(0, 4).Draw(rt, "op") {
			case 0, 1:
				p := bytes.Repeat([]byte{byte(rapid.IntRange(1, 255).Draw(rt, "b"))}, int(n))
				if _, err := m.WriteAt(p, off); err != nil {
					rt.Fatal(err)
				}
				grow(off + n)
				copy(model[off:], p)
			case 2:
				if err := m.Zero(off, n); err != nil {
					rt.Fatal(err)
				}
				if off < int64(len(model)) {
					clear(model[off:min(off+n, int64(len(model)))])
				}
			case 3:
				if err := m.Truncate(off); err != nil {
					rt.Fatal(err)
				}
				if off < int64(len(model)) {
					model = model[:off]
				}
			case 4:
				got := make([]byte, n)
				if _, err := m.ReadAt(got, off); err != nil {
					rt.Fatal(err)
				}
				want := make([]byte, n)
				if off < int64(len(model)) {
					copy(want, model[off:])
				}
				if !bytes.Equal(got, want) {
					rt.Fatalf("read [%d, %d) differs from the model", off, off+n)
				}
			}
			if used := budget.used.Load(); used != m.memBytes() || (budget.limit > 0 && used > budget.limit) {
				rt.Fatalf("budget used %d, slots hold %d, limit %d", used, m.memBytes(), budget.limit)
			}
		}
		if budget.limit <= 0 && len(m.mem) > 0 {
			rt.Fatal("slots in memory without a budget")
		}
		if err := m.Close(); err != nil {
			rt.Fatal(err)
		}
		if used := budget.used.Load(); used != 0 {
			rt.Fatalf("%d bytes of budget not given back at Close", used)
		}
		if budget.limit >= 1<<20 && opened > 0 {
			rt.Fatal("a staging file was opened with budget for every slot")
		}
	})
}
