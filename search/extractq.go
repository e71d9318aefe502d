package search

import (
	"context"
	"errors"
	"os"
	"sync"
	"time"

	"github.com/clusterf/clusterf/chunk"
	"github.com/clusterf/clusterf/crdt"
	"github.com/clusterf/clusterf/replica"
)

// Content extraction runs beside the feed: a file is searchable by name
// as soon as its event is applied, and by content once a worker has read
// it. Jobs are keyed by document id (a newer job replaces an older one).

type job struct {
	doc   entryDoc
	tries int
	due   time.Time // retries: not before
}

type jobQueue struct {
	mu    sync.Mutex
	jobs  map[string]job
	order []string
	busy  int
	retry map[string]job
	kickc chan struct{}
}

func newJobQueue() *jobQueue {
	return &jobQueue{jobs: map[string]job{}, retry: map[string]job{}, kickc: make(chan struct{}, 1)}
}

func (q *jobQueue) add(j job) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if _, ok := q.jobs[j.doc.id]; !ok {
		q.order = append(q.order, j.doc.id)
	}
	q.jobs[j.doc.id] = j
	delete(q.retry, j.doc.id)
}

// drop forgets a queued or parked job (its document was extracted
// meanwhile); one already running indexes the same extraction again or,
// for an older version, nothing (runJobs).
func (q *jobQueue) drop(id string) {
	q.mu.Lock()
	defer q.mu.Unlock()
	delete(q.jobs, id) // q.order skips ids without a job (take)
	delete(q.retry, id)
}

func (q *jobQueue) kick() {
	select {
	case q.kickc <- struct{}{}:
	default:
	}
}

// take removes up to n jobs and counts them busy until done.
func (q *jobQueue) take(n int) []job {
	q.mu.Lock()
	defer q.mu.Unlock()
	var out []job
	for len(out) < n && len(q.order) > 0 {
		id := q.order[0]
		q.order = q.order[1:]
		if j, ok := q.jobs[id]; ok {
			delete(q.jobs, id)
			out = append(out, j)
		}
	}
	q.busy += len(out)
	return out
}

func (q *jobQueue) done(n int) {
	q.mu.Lock()
	q.busy -= n
	q.mu.Unlock()
}

// later parks a job until due (no holder answered).
func (q *jobQueue) later(j job) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if _, newer := q.jobs[j.doc.id]; !newer {
		q.retry[j.doc.id] = j
	}
}

// promote moves due retries back into the queue.
func (q *jobQueue) promote(now time.Time) {
	q.mu.Lock()
	var due []job
	for id, j := range q.retry {
		if !now.Before(j.due) {
			due = append(due, j)
			delete(q.retry, id)
		}
	}
	q.mu.Unlock()
	for _, j := range due {
		q.add(j)
	}
	if len(due) > 0 {
		q.kick()
	}
}

func (q *jobQueue) idle() bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.jobs) == 0 && q.busy == 0
}

func (q *jobQueue) sizes() (pending, retrying int) {
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.jobs) + q.busy, len(q.retry)
}

// jobsPerBatch is how many extractions one index write carries.
const jobsPerBatch = 64

func (x *Index) extractLoop(ctx context.Context) {
	tick := time.NewTicker(min(x.cfg.RetryAfter, 5*time.Second))
	defer tick.Stop()
	var pace pacer // batches spaced like the feed's (pace.go)
	for {
		for ctx.Err() == nil {
			if err := pace.wait(ctx); err != nil {
				return
			}
			if err := x.awaitQuiet(ctx); err != nil {
				return
			}
			js := x.queue.take(jobsPerBatch)
			if len(js) == 0 {
				break
			}
			pace.began()
			x.runJobs(ctx, js)
			pace.ended()
			x.queue.done(len(js))
			x.wake()
		}
		select {
		case <-ctx.Done():
			return
		case <-x.queue.kickc:
		case now := <-tick.C:
			x.queue.promote(now)
		}
	}
}

type extracted struct {
	j  job
	ex Extracted
}

func (x *Index) runJobs(ctx context.Context, js []job) {
	var res []extracted
	for _, j := range js {
		if ctx.Err() != nil {
			return
		}
		ex, err := x.extractDoc(ctx, &j.doc)
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			j.tries++
			j.due = time.Now().Add(x.cfg.RetryAfter)
			x.queue.later(j)
			x.log.Debug("content extraction deferred", "path", j.doc.path, "err", err)
			continue
		}
		x.noteParseFailure(j.doc.path, ex)
		res = append(res, extracted{j, ex})
	}
	if len(res) == 0 {
		return
	}
	x.writeMu.Lock()
	defer x.writeMu.Unlock()
	b := x.idx.NewBatch()
	_ = x.fs.Meta().View(func(v *crdt.View) error {
		for _, r := range res {
			for _, d := range docsOfDentry(v, r.j.doc.dentry) {
				if d.id == r.j.doc.id && d.version == r.j.doc.version {
					ex := r.ex
					_ = b.Index(d.id, d.fields(&ex, d.fingerprint()))
				}
			}
		}
		return nil
	})
	if err := x.commit(b, 0); err != nil {
		x.log.Error("search index write failed", "err", err)
	}
}

// firstChunk is the chunk holding a content's first bytes (false: the
// content is inline or empty).
func firstChunk(c crdt.Content) (crdt.ChunkID, bool) {
	if len(c.Inline) > 0 || c.Size == 0 {
		return crdt.ChunkID{}, false
	}
	for _, id := range c.Chunks {
		if !id.IsZero() {
			return id, true
		}
	}
	if len(c.Sparse) > 0 {
		return c.Sparse[0].ID, true
	}
	return crdt.ChunkID{}, false
}

// heldHere reports whether this node can read a content's beginning
// without the network.
func (x *Index) heldHere(ctx context.Context, c crdt.Content) bool {
	id, ok := firstChunk(c)
	if !ok {
		return true
	}
	has, err := x.fs.Chunks().StoredUnverified(ctx, chunk.ID(id))
	return err == nil && has
}

var errNoHolder = errors.New("no member holding the content answered")

// extractDoc reads a file's content where it is: here when this node
// holds its first chunk (or has no Remote), else on a holder.
func (x *Index) extractDoc(ctx context.Context, d *entryDoc) (Extracted, error) {
	if ex, held, err := x.extractHeld(ctx, d); held {
		return ex, err
	}
	return x.extractRemote(ctx, d)
}

// extractHeld extracts d's content here when this node holds it (or has
// no Remote to ask); held is false when it does not.
func (x *Index) extractHeld(ctx context.Context, d *entryDoc) (ex Extracted, held bool, err error) {
	if x.cfg.Remote != nil && !x.heldHere(ctx, d.content) {
		return Extracted{}, false, nil
	}
	ex, err = x.extractLocal(ctx, d.inode, d.version, d.name, x.cfg.Limits)
	if err == nil {
		x.stats.extractedLocal.Add(1)
	}
	return ex, true, err
}

// noteParseFailure counts (and logs) a file whose parser failed.
func (x *Index) noteParseFailure(path string, ex Extracted) {
	if ex.Failed != "" {
		x.stats.parseFailures.Add(1)
		x.log.Debug("metadata parser failed; the file is indexed by name", "path", path, "err", ex.Failed)
	}
}

// extractLocal reads content version ver of inode through the core.
func (x *Index) extractLocal(ctx context.Context, inode crdt.InodeID, ver crdt.OpID, name string, l Limits) (Extracted, error) {
	h, err := x.fs.Open(ctx, crdt.Ref{Inode: inode, Version: ver}, os.O_RDONLY)
	if err != nil {
		return Extracted{}, err
	}
	defer h.Release()
	return extract(name, replica.NewReader(ctx, h), h.Size(), l), nil
}
