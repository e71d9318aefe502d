package replica

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/clusterf/clusterf/chunk"
	"github.com/clusterf/clusterf/chunk/lifecycle"
	"github.com/clusterf/clusterf/crdt"
)

// Durability follows POSIX (docs/core.md, "Write-back and durability"):
//
//   - Every change (a commit at close, mkdir, rename, ...) returns once it
//     is committed on this node in a form that survives kill -9: its
//     chunks are stored (written to the OS, not fsynced) and its metadata
//     op is journaled (crdt.Replica.UpdateAsync). The replica's committer
//     makes it durable within milliseconds (it syncs the chunks, then the
//     journal), and a background job pushes the new chunks to their
//     holders at once.
//   - Fsync of a file (and Sync) returns once everything committed so far
//     is durable here and the file's chunks are on min(RF, 2) holders.
//
// Pins of a commit are released only once its metadata op is durable:
// before that the op is not served to peers (crdt: only durable ops leave
// a node), so only the pin tells their garbage collection that the chunks
// are needed.

// replJobs are the background replications of committed chunks, by inode.
type replJobs struct {
	mu      sync.Mutex
	byInode map[crdt.InodeID][]*replJob
	wg      sync.WaitGroup
	ctx     context.Context
	cancel  context.CancelFunc
	sem     chan struct{} // bounds the pushes under way
}

// maxReplJobs bounds the background replications running at once (each
// pushes up to 4 chunks in parallel, cluster.Replicate).
const maxReplJobs = 4

type replJob struct {
	done chan struct{}
	err  error
}

func (j *replJobs) init() {
	j.byInode = map[crdt.InodeID][]*replJob{}
	j.ctx, j.cancel = context.WithCancel(context.Background())
	j.sem = make(chan struct{}, maxReplJobs)
}

// replicateLater pushes ids (the new chunks of a commit of ino) to their
// holders in the background; Fsync of ino waits for it.
func (f *FS) replicateLater(ino crdt.InodeID, ids []chunk.ID) {
	if f.repl == nil || len(ids) == 0 {
		return
	}
	j := &f.jobs
	job := &replJob{done: make(chan struct{})}
	j.mu.Lock()
	if j.ctx.Err() != nil { // closed: repair brings the copies
		j.mu.Unlock()
		return
	}
	j.byInode[ino] = append(j.byInode[ino], job)
	j.wg.Add(1)
	j.mu.Unlock()
	go func() {
		defer j.wg.Done()
		select {
		case j.sem <- struct{}{}:
			job.err = f.repl.Replicate(j.ctx, ids)
			<-j.sem
		case <-j.ctx.Done():
			job.err = j.ctx.Err()
		}
		if job.err != nil {
			f.log.Warn("background replication failed; repair will copy the chunks", "inode", ino, "err", job.err)
		}
		close(job.done)
		j.mu.Lock()
		jobs := j.byInode[ino]
		for i, x := range jobs {
			if x == job {
				jobs = append(jobs[:i], jobs[i+1:]...)
				break
			}
		}
		if len(jobs) == 0 {
			delete(j.byInode, ino)
		} else {
			j.byInode[ino] = jobs
		}
		j.mu.Unlock()
	}()
}

// waitReplicated waits for the background replications of ino started so
// far and returns the first error.
func (f *FS) waitReplicated(ctx context.Context, ino crdt.InodeID) error {
	j := &f.jobs
	j.mu.Lock()
	jobs := append([]*replJob(nil), j.byInode[ino]...)
	j.mu.Unlock()
	var errs []error
	for _, job := range jobs {
		select {
		case <-job.done:
			if job.err != nil {
				errs = append(errs, job.err)
			}
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("replicate: %w", err)
	}
	return nil
}

// waitDurable is the end of an fsync of ino: its chunks are on their
// holders (min(RF, 2)) and every change committed so far is durable.
func (f *FS) waitDurable(ctx context.Context, ino crdt.InodeID) error {
	if err := f.waitReplicated(ctx, ino); err != nil {
		return err
	}
	return f.Sync(ctx)
}

// Sync makes every change committed so far durable on this node (the
// chunks, then the metadata): fsync of a directory, and the end of every
// REST and WebDAV change, which are acknowledged as durable.
func (f *FS) Sync(ctx context.Context) error {
	if err := f.meta.Sync(ctx); err != nil {
		return fmt.Errorf("sync: %w", err)
	}
	return nil
}

// releaseWhenDurable releases p once every change committed so far is
// durable (at once if it is).
func (f *FS) releaseWhenDurable(p *lifecycle.Pin) {
	if p == nil {
		return
	}
	f.meta.AfterDurable(f.meta.Pos(), p.Release)
}

// repin makes of.pin pin ids; the chunks pinned before stay pinned until
// the change that replaced them is durable.
func (of *openFile) repin(ids []chunk.ID) {
	old := of.pin
	of.pin = of.fs.chunks.Pin(ids...)
	of.fs.releaseWhenDurable(old)
}

// closeJobs cancels the background replications and waits for them.
func (j *replJobs) close() {
	j.mu.Lock()
	j.cancel()
	j.mu.Unlock()
	j.wg.Wait()
}
