package cluster

import (
	"context"
	"sync"

	"github.com/clusterf/clusterf/chunk"
)

// forwarder passes chunks on along a replication chain in the background
// (the put that brought them was answered already): a bounded queue and
// a few workers that run under the cluster's context. When the queue is
// full the put forwards before answering, so a slow next holder slows the
// chain down instead of piling up chunks in memory.
type forwarder struct {
	once sync.Once
	jobs chan forwardJob
}

type forwardJob struct {
	id      chunk.ID
	blob    []byte
	targets []string
}

const (
	forwardQueue   = 16 // chunks waiting (at most 16 × MaxChunkSize of memory)
	forwardWorkers = 4
)

func (f *forwarder) queue() chan forwardJob {
	f.once.Do(func() { f.jobs = make(chan forwardJob, forwardQueue) })
	return f.jobs
}

// start runs the workers until ctx ends (Cluster.Run owns them).
func (f *forwarder) start(c *Cluster, ctx context.Context) {
	jobs := f.queue()
	for range forwardWorkers {
		c.wg.Add(1)
		go func() {
			defer c.wg.Done()
			for {
				select {
				case <-ctx.Done():
					return
				case j := <-jobs:
					c.forwardNow(ctx, j)
				}
			}
		}()
	}
}

// later queues a chunk to pass on, or passes it on now when the queue is
// full or the workers are not running (then under reqCtx, the put's own
// context, without its cancellation: the put is answered meanwhile).
func (f *forwarder) later(c *Cluster, reqCtx context.Context, id chunk.ID, blob []byte, targets []string) {
	j := forwardJob{id: id, blob: blob, targets: targets}
	c.mu.Lock()
	ctx := c.ctx
	c.mu.Unlock()
	if ctx == nil { // not running: tests, or before Run
		c.forwardNow(context.WithoutCancel(reqCtx), j)
		return
	}
	select {
	case f.queue() <- j:
	default:
		c.forwardNow(ctx, j)
	}
}

func (c *Cluster) forwardNow(ctx context.Context, j forwardJob) {
	if n, err := c.pushChain(ctx, j.id, j.blob, j.targets, 1); n == 0 && err != nil {
		c.log.Debug("passing a chunk on along its chain failed; repair will copy it", "chunk", j.id, "err", err)
	}
}
