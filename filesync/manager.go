package filesync

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"sort"
	"sync"
	"time"

	"github.com/clusterf/clusterf/crdt"
	"github.com/clusterf/clusterf/replica"
)

// Options build a Manager.
type Options struct {
	FS     *replica.FS
	Dir    string      // where the pairs' state files live (<node dir>/sync)
	Self   crdt.NodeID // this node (conflict names of local versions)
	Sealer Sealer      // seals the state files (nil: plain)
	Logger *slog.Logger
}

// Manager runs a node's sync pairs: the configured continuous ones and
// one-shot jobs (clusterf import/export against a running node). Every
// pair runs in a goroutine the manager owns; Close waits for them.
type Manager struct {
	o     Options
	runID string

	mu       sync.Mutex
	ctx      context.Context
	pairs    []*engine
	jobs     map[string]*job
	finished []string // job ids, oldest first
	wg       sync.WaitGroup
}

type job struct {
	e      *engine
	cancel context.CancelFunc
	done   chan struct{}
}

// keepFinished is how many finished jobs stay listed.
const keepFinished = 20

// NewManager returns a manager; Add pairs, then Start.
func NewManager(o Options) *Manager {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	var r [8]byte
	rand.Read(r[:])
	return &Manager{o: o, runID: hex.EncodeToString(r[:]), jobs: map[string]*job{}}
}

func (m *Manager) engine(cfg PairConfig) *engine {
	file := filepath.Join(m.o.Dir, cfg.ID()+".db")
	return newEngine(cfg, m.o.FS, m.o.Self, m.runID, file, m.o.Sealer, m.o.Logger.With("component", "filesync"))
}

// Add adds a continuous pair (before Start).
func (m *Manager) Add(cfg PairConfig) error {
	cfg.Once = false
	if err := cfg.normalize(); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, p := range m.pairs {
		if p.id == cfg.ID() {
			return fmt.Errorf("%w: pair %s %s <-> %s given twice", ErrConfig, cfg.Mode, cfg.Local, cfg.Cluster)
		}
	}
	m.pairs = append(m.pairs, m.engine(cfg))
	return nil
}

// Start runs the continuous pairs until ctx ends. A pair that cannot run
// (its folder is missing) says why in its status and is retried.
func (m *Manager) Start(ctx context.Context) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.ctx = ctx
	for _, e := range m.pairs {
		m.wg.Add(1)
		go func() {
			defer m.wg.Done()
			for {
				err := e.run(ctx)
				if ctx.Err() != nil {
					return
				}
				e.log.Warn("sync pair cannot run; retrying in 10s", "err", err)
				select {
				case <-ctx.Done():
					return
				case <-time.After(10 * time.Second):
				}
			}
		}()
	}
}

// Close waits for every pair and job (their context must have ended, or
// jobs are cancelled here).
func (m *Manager) Close() {
	m.mu.Lock()
	for _, j := range m.jobs {
		j.cancel()
	}
	m.mu.Unlock()
	m.wg.Wait()
}

// ErrBusy: the pair is already running in this node.
var ErrBusy = errors.New("this sync pair is already running on the node")

// StartJob starts a one-shot pass (cfg.Once is set) and returns its
// status at once; follow it with Pair(id).
func (m *Manager) StartJob(cfg PairConfig) (Status, error) {
	cfg.Once = true
	if err := cfg.normalize(); err != nil {
		return Status{}, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.ctx == nil || m.ctx.Err() != nil {
		return Status{}, errors.New("the node's sync manager is not running")
	}
	id := cfg.ID()
	for _, p := range m.pairs {
		if p.id == id {
			return Status{}, fmt.Errorf("%w (continuously, from the node's flags)", ErrBusy)
		}
	}
	if j := m.jobs[id]; j != nil {
		select {
		case <-j.done:
		default:
			return Status{}, ErrBusy
		}
	}
	ctx, cancel := context.WithCancel(m.ctx)
	j := &job{e: m.engine(cfg), cancel: cancel, done: make(chan struct{})}
	m.jobs[id] = j
	m.wg.Add(1)
	go func() {
		defer m.wg.Done()
		defer close(j.done)
		defer cancel()
		if err := j.e.run(ctx); err != nil && ctx.Err() == nil {
			j.e.log.Warn("sync job finished with errors", "err", err)
		}
		if ctx.Err() != nil && j.e.stat.get().State == StateStopped {
			j.e.setState(StateFailed, "cancelled")
		}
		m.mu.Lock()
		m.finished = append(m.finished, id)
		if len(m.finished) > keepFinished {
			old := m.finished[0]
			m.finished = m.finished[1:]
			if oj := m.jobs[old]; oj != nil && oj != m.jobs[id] {
				delete(m.jobs, old)
			}
		}
		m.mu.Unlock()
	}()
	return j.e.stat.get(), nil
}

// CancelJob stops a one-shot job (false if there is none).
func (m *Manager) CancelJob(id string) bool {
	m.mu.Lock()
	j := m.jobs[id]
	m.mu.Unlock()
	if j == nil {
		return false
	}
	j.cancel()
	<-j.done
	return true
}

// RunOnce runs a one-shot pass in the caller's goroutine (clusterf
// import/export running as a node) and returns its final status.
func (m *Manager) RunOnce(ctx context.Context, cfg PairConfig, progress func(Status)) (Status, error) {
	cfg.Once = true
	if err := cfg.normalize(); err != nil {
		return Status{}, err
	}
	e := m.engine(cfg)
	done := make(chan struct{})
	var wg sync.WaitGroup
	if progress != nil {
		wg.Add(1)
		go func() {
			defer wg.Done()
			t := time.NewTicker(200 * time.Millisecond)
			defer t.Stop()
			for {
				select {
				case <-done:
					return
				case <-t.C:
					progress(e.stat.get())
				}
			}
		}()
	}
	err := e.run(ctx)
	close(done)
	wg.Wait()
	return e.stat.get(), err
}

// Pairs lists every pair and job, continuous pairs first.
func (m *Manager) Pairs() []Status {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]Status, 0, len(m.pairs)+len(m.jobs))
	for _, p := range m.pairs {
		out = append(out, p.stat.get())
	}
	var jobs []Status
	for _, j := range m.jobs {
		jobs = append(jobs, j.e.stat.get())
	}
	sort.Slice(jobs, func(i, k int) bool { return jobs[i].StartedAt.Before(jobs[k].StartedAt) })
	return append(out, jobs...)
}

// Pair returns one pair's status.
func (m *Manager) Pair(id string) (Status, bool) {
	for _, s := range m.Pairs() {
		if s.ID == id {
			return s, true
		}
	}
	return Status{}, false
}
