package filesync

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/zeebo/blake3"

	"github.com/clusterf/clusterf/replica"
)

// Workers copy files in parallel; results are recorded by the engine
// goroutine only.
const workers = 16

// flushEvery bounds how much work a crash can make us look at again (not
// copy again: what was copied is recognised by size and mtime).
const (
	flushEvery    = 2 * time.Second
	flushEveryOps = 1000
)

type result struct {
	t        transfer
	rec      record
	err      error
	streamed int64 // bytes read (already counted done and no longer pending)
}

// execTransfers copies the planned files, workers at a time, recording
// each as it completes.
func (e *engine) execTransfers(ctx context.Context, ts []transfer) {
	if len(ts) == 0 {
		return
	}
	jobs := make(chan transfer)
	results := make(chan result)
	var wg sync.WaitGroup
	for range min(workers, len(ts)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for t := range jobs {
				var streamed int64
				rec, err := e.copyFile(ctx, t, &streamed)
				results <- result{t, rec, err, streamed}
			}
		}()
	}
	go func() {
		defer close(jobs)
		for _, t := range ts {
			select {
			case jobs <- t:
			case <-ctx.Done():
				return
			}
		}
	}()
	go func() { wg.Wait(); close(results) }()
	last := time.Now()
	for r := range results {
		e.stat.add(func(s *Status) { s.FilesPending--; s.BytesPending -= max(r.t.src.size-r.streamed, 0) })
		switch {
		case r.err == nil:
			e.st.set(r.t.rel, r.rec)
			e.ok(r.t.rel)
			e.stat.add(func(s *Status) { s.FilesDone++ })
		case errors.Is(r.err, errChanged) || errors.Is(r.err, fs.ErrNotExist):
			e.retryLater(r.t.rel, r.err, time.Second)
		default:
			e.fail(r.t.rel, r.err)
		}
		if e.st.pending >= flushEveryOps || time.Since(last) > flushEvery {
			e.flush(ctx)
			last = time.Now()
		}
	}
}

// counting hashes what is read and moves it from pending to done in the
// pair's progress.
type counting struct {
	r     io.Reader
	e     *engine
	h     *blake3.Hasher
	total *int64
	size  int64 // the file's size: pending never goes below what it holds
}

func (c *counting) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	if n > 0 {
		c.h.Write(p[:n])
		was := *c.total
		*c.total += int64(n)
		moved := max(min(*c.total, c.size)-was, 0)
		c.e.stat.add(func(s *Status) { s.BytesDone += int64(n); s.BytesPending -= moved })
	}
	return n, err
}

// checkedEOF turns EOF into errChanged when the source file changed while
// it was read (so a torn copy is never renamed into place).
type checkedEOF struct {
	r     io.Reader
	check func() error
}

func (c *checkedEOF) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	if err == io.EOF {
		if cerr := c.check(); cerr != nil {
			return n, cerr
		}
	}
	return n, err
}

// copyFile copies one file (in a worker goroutine: no state access).
func (e *engine) copyFile(ctx context.Context, t transfer, streamed *int64) (record, error) {
	if t.push {
		return e.pushFile(ctx, t, streamed)
	}
	return e.pullFile(ctx, t, streamed)
}

func (e *engine) pushFile(ctx context.Context, t transfer, streamed *int64) (record, error) {
	f, err := e.loc.open(t.rel)
	if err != nil {
		return record{}, err
	}
	defer f.Close()
	src, err := fstatEntry(f)
	if err != nil {
		return record{}, err
	}
	if src.kind != kindFile {
		return record{}, fmt.Errorf("%s: %w", f.Name(), errChanged)
	}
	cur, err := e.cl.stat(ctx, t.rel)
	if err != nil {
		return record{}, err
	}
	if !sameClusterEntry(cur, t.dst) {
		return record{}, fmt.Errorf("cluster %s: %w", e.cl.full(t.rel), errChanged)
	}
	h := blake3.New()
	r := &checkedEOF{r: &counting{r: f, e: e, h: h, total: streamed, size: t.src.size}, check: func() error {
		now, err := fstatEntry(f)
		if err != nil || now.size != src.size || now.mtime != src.mtime {
			return fmt.Errorf("%s: %w", f.Name(), errChanged)
		}
		return nil
	}}
	made, err := e.cl.put(ctx, t.rel, r, src)
	if err != nil {
		return record{}, fmt.Errorf("upload %s: %w", f.Name(), err)
	}
	var sum [32]byte
	copy(sum[:], h.Sum(nil))
	return record{Kind: kindFile, Hash: sum, L: src.lstamp(), C: made.cstamp()}, nil
}

func (e *engine) pullFile(ctx context.Context, t transfer, streamed *int64) (record, error) {
	src, err := e.cl.stat(ctx, t.rel)
	if err != nil {
		return record{}, err
	}
	if src == nil || src.kind != kindFile {
		return record{}, fmt.Errorf("cluster %s: %w", e.cl.full(t.rel), errChanged)
	}
	h, err := e.cl.open(ctx, t.rel)
	if err != nil {
		return record{}, err
	}
	defer h.Release()
	sum := blake3.New()
	r := &counting{r: io.LimitReader(replica.NewReader(ctx, h), src.size), e: e, h: sum, total: streamed, size: t.src.size}
	made, err := e.loc.writeFile(t.rel, r, src, func(cur *entry) bool {
		if !sameLocalEntry(cur, t.dst) {
			return false
		}
		now, err := e.cl.stat(ctx, t.rel)
		return err == nil && sameClusterEntry(now, src)
	})
	if err != nil {
		return record{}, err
	}
	var s [32]byte
	copy(s[:], sum.Sum(nil))
	return record{Kind: kindFile, Hash: s, L: made.lstamp(), C: src.cstamp()}, nil
}

func fstatEntry(f *os.File) (*entry, error) {
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	return localEntry(fi.Sys().(*syscall.Stat_t), ""), nil
}

// hashLocal hashes a local file's content.
func (e *engine) hashLocal(rel string) ([32]byte, error) {
	f, err := e.loc.open(rel)
	if err != nil {
		return [32]byte{}, err
	}
	defer f.Close()
	return hashReader(f)
}

// hashCluster hashes a cluster file's content.
func (e *engine) hashCluster(ctx context.Context, rel string) ([32]byte, error) {
	h, err := e.cl.open(ctx, rel)
	if err != nil {
		return [32]byte{}, err
	}
	defer h.Release()
	return hashReader(io.LimitReader(replica.NewReader(ctx, h), h.Size()))
}

func hashReader(r io.Reader) ([32]byte, error) {
	h := blake3.New()
	var out [32]byte
	if _, err := io.Copy(h, r); err != nil {
		return out, err
	}
	copy(out[:], h.Sum(nil))
	return out, nil
}

// execDeletes applies the round's deletes unless they are too many.
func (e *engine) execDeletes(ctx context.Context, ds []deletion, full bool) {
	var valid []deletion
	count := 0
	sort.Slice(ds, func(i, j int) bool { return ds[i].rel < ds[j].rel })
	for i, d := range ds {
		if d.n.parent == nil && d.n != e.st.root || d.n.rel() != d.rel {
			continue // moved or dropped during the round
		}
		if i > 0 && len(valid) > 0 && under(d.rel, valid[len(valid)-1].rel) {
			continue // inside a directory deleted anyway
		}
		valid = append(valid, d)
		count += max(e.st.countFiles(d.n), 1)
	}
	if len(valid) == 0 || e.deferDeletes(count, full) {
		if len(valid) == 0 && full {
			e.deleteRefused, e.refused = false, false
		}
		return
	}
	total := e.st.files
	pct := e.cfg.MaxDelete.Percent
	if pct < 100 && count > MinDelete && float64(count) > pct/100*float64(total) {
		e.deleteRefused = true
		e.refuse(fmt.Sprintf("refusing to delete %d of %d files (more than --max-delete %s); if that is intended, run with a higher --max-delete (100%% allows everything)", count, total, e.cfg.MaxDelete))
		return
	}
	e.deleteRefused, e.refused = false, false
	for _, d := range valid {
		if ctx.Err() != nil {
			return
		}
		if d.onCluster {
			e.deleteCluster(ctx, d.rel, d.n)
		} else {
			e.deleteLocal(d.rel, d.n)
		}
	}
}

// Deletes of a burst (an rm -rf under way) wait until the changes stop,
// so --max-delete judges the whole burst in one round instead of letting
// it through a round's share at a time.
const (
	settle   = 2 * time.Second  // no change for this long: the burst is over
	maxDefer = 30 * time.Second // a folder that never settles is judged after this
)

// deferDeletes reports whether this round's deletes wait: more than
// MinDelete of them (or any while a burst is waiting, or after deletes
// were refused) and changes seen in the last settle. Only a full scan ends
// the wait: it finds every delete of the burst at once (the base still
// has them all), so the tail of a refused rm -rf does not slip through in
// small rounds either.
func (e *engine) deferDeletes(count int, full bool) bool {
	if e.cfg.Once {
		return false
	}
	if (e.deleteRefused || !e.deferring.IsZero()) && !full {
		return true // only a full scan judges them (one is scheduled)
	}
	if count <= MinDelete && e.deferring.IsZero() {
		return false
	}
	now := time.Now()
	recent := now.Sub(time.Unix(0, e.lastEvent.Load())) < settle
	if !recent || !e.deferring.IsZero() && now.Sub(e.deferring) > maxDefer {
		e.deferring = time.Time{}
		return false
	}
	if e.deferring.IsZero() {
		e.deferring = now
		e.log.Info("sync: many deletes while the folder is still changing; they wait until it settles", "deletes", count)
	}
	if _, ok := e.retries[""]; !ok {
		e.retries[""] = now.Add(settle) // then a full scan
	}
	return true
}

// under reports whether rel is dir or inside it.
func under(rel, dir string) bool {
	return rel == dir || dir == "" || strings.HasPrefix(rel, dir+"/")
}

// deleteCluster deletes rel in the cluster where it is still as recorded;
// what changed there meanwhile is kept (and copied back in a
// bidirectional pair). It reports whether anything was kept.
func (e *engine) deleteCluster(ctx context.Context, rel string, n *bnode) (kept bool) {
	c, err := e.cl.stat(ctx, rel)
	if err != nil {
		e.fail(rel, err)
		return true
	}
	switch {
	case c == nil:
	case c.kind == kindDir && n.rec.Kind == kindDir:
		cs, lerr := e.cl.list(ctx, rel)
		if lerr != nil {
			e.fail(rel, lerr)
			return true
		}
		for name := range cs {
			child := joinRel(rel, name)
			if e.ex.excluded(child, cs[name].kind == kindDir) {
				kept = true
			} else if k := n.kids[name]; k == nil || e.deleteCluster(ctx, child, k) {
				kept = true
			}
		}
		if !kept {
			err = e.cl.remove(ctx, rel, nil)
		}
	case sameCluster(c, &n.rec):
		err = e.cl.remove(ctx, rel, func(cur *entry) bool { return sameCluster(cur, &n.rec) })
	default:
		kept = true
	}
	return e.deleted(rel, n, kept, err)
}

// deleteLocal is deleteCluster for the local side.
func (e *engine) deleteLocal(rel string, n *bnode) (kept bool) {
	l, err := e.loc.stat(rel)
	if err != nil {
		e.fail(rel, err)
		return true
	}
	switch {
	case l == nil:
	case l.kind == kindDir && n.rec.Kind == kindDir:
		ls, lerr := e.loc.list(rel)
		if lerr != nil {
			e.fail(rel, lerr)
			return true
		}
		for name := range ls {
			child := joinRel(rel, name)
			if strings.HasPrefix(name, tmpPrefix) {
				e.loc.remove(child, nil)
			} else if e.ex.excluded(child, ls[name].kind == kindDir) {
				kept = true
			} else if k := n.kids[name]; k == nil || e.deleteLocal(child, k) {
				kept = true
			}
		}
		if !kept {
			err = e.loc.remove(rel, nil)
		}
	case sameLocal(l, &n.rec):
		err = e.loc.remove(rel, func(cur *entry) bool { return sameLocal(cur, &n.rec) })
	default:
		kept = true
	}
	return e.deleted(rel, n, kept, err)
}

func (e *engine) deleted(rel string, n *bnode, kept bool, err error) bool {
	if err != nil {
		if errors.Is(err, errChanged) {
			kept = true
		} else {
			e.fail(rel, err)
			return true
		}
	}
	if n.parent != nil || n == e.st.root {
		e.st.remove(n)
	}
	if kept {
		e.round.again[rel] = true
	} else if n.rec.Kind != kindDir {
		e.stat.add(func(s *Status) { s.Deleted++ })
	}
	e.ok(rel)
	return kept
}
