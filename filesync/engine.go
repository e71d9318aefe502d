package filesync

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/fsnotify/fsnotify"

	"github.com/clusterf/clusterf/crdt"
	"github.com/clusterf/clusterf/replica"
)

// Timing of the run loop.
const (
	debounce    = 100 * time.Millisecond // gather events this long after the first
	debounceMax = time.Second
	retryMin    = 2 * time.Second
	retryMax    = 5 * time.Minute
	// onceAttempts: a one-shot pass gives up on a path after this many errors.
	onceAttempts = 3
)

// engine runs one pair. Its goroutine (run) owns the state, the sides
// and the round; watchers and the feed follower only mark paths dirty.
type engine struct {
	cfg   PairConfig
	id    string
	log   *slog.Logger
	fs    *replica.FS
	self  crdt.NodeID
	runID string
	dir   string // state file
	seal  Sealer

	st    *state
	loc   *localSide
	cl    *clusterSide
	ex    *excluder
	stat  statusBox
	round *round

	mu       sync.Mutex
	dirty    map[string]bool // rel -> deep
	inodes   map[crdt.InodeID]bool
	wake     chan struct{}
	markSeq  atomic.Uint64 // feed events up to here are marked
	watcher  *fsnotify.Watcher
	watchErr bool

	retries map[string]time.Time // rel -> when to look again
	refused bool
	ignore  string // what the ignore file looked like when last read (ignoreStamp)

	lastEvent atomic.Int64 // unix ns of the last local or cluster change event
	deferring time.Time    // since when a burst's deletes wait (deferDeletes)
	// deleteRefused: the last full judgement of deletes refused them; until
	// a full scan judges again, no round deletes anything.
	deleteRefused bool
	refusedWhy    string
}

func newEngine(cfg PairConfig, fs *replica.FS, self crdt.NodeID, runID, stateFile string, seal Sealer, log *slog.Logger) *engine {
	e := &engine{cfg: cfg, id: cfg.ID(), fs: fs, self: self, runID: runID, dir: stateFile, seal: seal,
		dirty: map[string]bool{}, inodes: map[crdt.InodeID]bool{}, wake: make(chan struct{}, 1),
		retries: map[string]time.Time{}}
	e.log = log.With("pair", e.id)
	e.cl = &clusterSide{fs: fs, root: cfg.Cluster}
	e.stat.s = Status{ID: e.id, Local: cfg.Local, Cluster: cfg.Cluster, Mode: cfg.Mode.String(), Once: cfg.Once,
		State: StateStarting, StartedAt: time.Now()}
	return e
}

// mark asks for rel to be reconciled (deep: everything under it too).
func (e *engine) mark(rel string, deep bool) {
	e.mu.Lock()
	e.dirty[rel] = e.dirty[rel] || deep
	e.mu.Unlock()
	select {
	case e.wake <- struct{}{}:
	default:
	}
}

func (e *engine) markInode(id crdt.InodeID) {
	e.mu.Lock()
	e.inodes[id] = true
	e.mu.Unlock()
	select {
	case e.wake <- struct{}{}:
	default:
	}
}

// take returns and clears the dirty paths (inodes resolved through the base).
func (e *engine) take() map[string]bool {
	e.mu.Lock()
	d, ids := e.dirty, e.inodes
	e.dirty, e.inodes = map[string]bool{}, map[crdt.InodeID]bool{}
	e.mu.Unlock()
	for id := range ids {
		if n := e.st.byInode[id]; n != nil {
			d[n.rel()] = d[n.rel()] || false
		}
	}
	var list []crdt.InodeID
	for id := range ids {
		list = append(list, id)
	}
	for _, rel := range e.cl.paths(list) {
		d[rel] = d[rel] || false
	}
	return d
}

// run syncs until ctx ends (or, once, until the pass is complete).
func (e *engine) run(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	defer func() { cancel(); wg.Wait() }()
	if err := e.open(ctx); err != nil {
		e.setState(StateError, err.Error())
		return err
	}
	defer e.closeSides()
	if !e.cfg.Once {
		e.log.Info("sync started", "mode", e.cfg.Mode.String(), "local", e.cfg.Local, "cluster", e.cfg.Cluster, "in_step", e.st.files)
	}
	if e.cfg.Mode.pull() {
		after, scan := e.feedStart()
		if scan || e.cfg.Once {
			e.mark("", true)
		}
		wg.Add(1)
		go func() { defer wg.Done(); e.followFeed(ctx, after) }()
	}
	if e.cfg.Mode.push() {
		e.mark("", true)
		if !e.cfg.Once {
			if err := e.startWatcher(ctx, &wg); err != nil {
				e.warn("no live watching of the local folder (" + err.Error() + "); changes are found by the rescan every " + e.cfg.Rescan.String())
			}
		}
	}
	return e.loop(ctx)
}

func (e *engine) loop(ctx context.Context) error {
	rescan := time.NewTicker(e.cfg.Rescan)
	defer rescan.Stop()
	for {
		if e.cfg.Once && e.onceDone() {
			return e.finishOnce()
		}
		var retryC <-chan time.Time
		var timer *time.Timer
		if at, ok := e.nextRetry(); ok {
			timer = time.NewTimer(time.Until(at))
			retryC = timer.C
		}
		select {
		case <-ctx.Done():
			e.setState(StateStopped, "")
			return nil
		case <-e.wake:
			if !e.cfg.Once { // a one-shot pass has no events to gather
				e.gather(ctx)
			}
		case <-retryC:
		case <-rescan.C:
			if e.cfg.Mode.push() || e.refused {
				e.mark("", true)
			}
		}
		if timer != nil {
			timer.Stop()
		}
		e.dueRetries()
		e.runRound(ctx)
	}
}

// gather waits a moment for more events (a burst becomes one round).
func (e *engine) gather(ctx context.Context) {
	deadline := time.NewTimer(debounceMax)
	defer deadline.Stop()
	for {
		select {
		case <-e.wake:
		case <-time.After(debounce):
			return
		case <-deadline.C:
			return
		case <-ctx.Done():
			return
		}
	}
}

// runRound reconciles the dirty paths, then copies and deletes.
func (e *engine) runRound(ctx context.Context) {
	seq := e.markSeq.Load()
	started := time.Now()
	dirty := e.take()
	if len(dirty) == 0 || ctx.Err() != nil {
		return
	}
	reason := ""
	if err := e.loc.reopen(); err != nil {
		reason = fmt.Sprintf("local folder %s is missing or not a directory (unmounted?)", e.cfg.Local)
	} else {
		defer e.loc.close()
		reason = e.checkRoots(ctx)
	}
	if reason != "" {
		e.refuse(reason)
		e.mu.Lock()
		for rel, deep := range dirty {
			e.dirty[rel] = e.dirty[rel] || deep
		}
		e.mu.Unlock()
		return
	}
	e.refused = e.deleteRefused // refused deletes stay refused until a full scan judges them again
	_, full := dirty[""]
	full = full && dirty[""]
	if e.ignoreChanged() {
		dirty[""], full = true, true // newly included paths are found by a full scan
	}
	e.working(map[bool]string{true: StateScanning, false: StateSyncing}[full])
	e.round = &round{again: map[string]bool{}}
	rels := make([]string, 0, len(dirty))
	for rel := range dirty {
		rels = append(rels, rel)
	}
	sort.Strings(rels) // parents first
	if full {
		rels = []string{""}
	}
	for _, rel := range rels {
		e.syncPath(ctx, rel, dirty[rel])
	}
	e.working(StateSyncing)
	e.execTransfers(ctx, e.round.transfers)
	e.execDeletes(ctx, e.round.deletes, full)
	e.feedDone(seq)
	e.flush(ctx)
	for rel := range e.round.again {
		e.mark(rel, false)
	}
	e.round = nil
	if full {
		e.stat.add(func(s *Status) { s.Scans++ })
		if !e.cfg.Once {
			st := e.stat.get()
			e.log.Info("sync scan done", "mode", e.cfg.Mode.String(), "local", e.cfg.Local, "files_in_step", e.st.files,
				"copied", st.FilesDone, "errors", len(st.Errors), "took", time.Since(started).Round(time.Millisecond))
		}
	}
	if !e.refused {
		e.stat.add(func(s *Status) { s.LastSync = time.Now(); s.State = StateIdle; s.Reason = ""; s.Files = e.st.files })
	} else if e.deleteRefused {
		e.setState(StateRefused, e.refusedWhy)
	}
}

// flush makes the cluster's changes and the local renames durable, then
// writes the base: the base never says "in step" about a change a power
// loss could still take back.
func (e *engine) flush(ctx context.Context) {
	if err := e.fs.Sync(context.WithoutCancel(ctx)); err != nil {
		e.log.Warn("sync: making cluster changes durable failed", "err", err)
		return
	}
	if err := e.loc.syncDirs(); err != nil {
		e.log.Warn("sync: fsync of local folders failed", "err", err)
		return // not recorded: looked at again next round
	}
	if err := e.st.flush(); err != nil {
		e.log.Error("sync: writing the sync state failed", "err", err)
	}
}

// checkRoots refuses a round whose source folder is missing, unmounted
// or emptied ("" when all is well).
func (e *engine) checkRoots(ctx context.Context) string {
	l, err := e.loc.stat("")
	if err != nil || l == nil || l.kind != kindDir {
		return fmt.Sprintf("local folder %s is missing or not a directory (unmounted?)", e.cfg.Local)
	}
	if dev := e.st.getMeta("root-dev"); len(dev) == 8 && binary.BigEndian.Uint64(dev) != l.dev {
		return fmt.Sprintf("local folder %s is on another filesystem than at the last sync (unmounted, or a different disk?); refusing to sync it", e.cfg.Local)
	} else if len(dev) != 8 {
		e.st.setMeta("root-dev", binary.BigEndian.AppendUint64(nil, l.dev))
	}
	c, err := e.cl.stat(ctx, "")
	if err == nil && c == nil && e.st.files == 0 {
		_, err = e.cl.mkdir(ctx, "", &entry{kind: kindDir, mode: 0o755})
		c, _ = e.cl.stat(ctx, "")
	}
	if err != nil || c == nil || c.kind != kindDir {
		return fmt.Sprintf("cluster folder %s is missing or not a directory", e.cfg.Cluster)
	}
	if e.st.files == 0 || e.cfg.MaxDelete.Percent >= 100 {
		return ""
	}
	if e.cfg.Mode.push() && e.emptyLocal() {
		return fmt.Sprintf("local folder %s is empty but %d files were in step: not deleting them everywhere (unmounted disk?); --max-delete 100%% allows it", e.cfg.Local, e.st.files)
	}
	if e.cfg.Mode.pull() && e.emptyCluster(ctx) {
		return fmt.Sprintf("cluster folder %s is empty but %d files were in step: not deleting them in %s; --max-delete 100%% allows it", e.cfg.Cluster, e.st.files, e.cfg.Local)
	}
	return ""
}

func (e *engine) emptyLocal() bool {
	ls, err := e.loc.list("")
	if err != nil {
		return false
	}
	for name, x := range ls {
		if !e.ex.excluded(name, x.kind == kindDir) {
			return false
		}
	}
	return true
}

func (e *engine) emptyCluster(ctx context.Context) bool {
	cs, err := e.cl.list(ctx, "")
	if err != nil {
		return false
	}
	for name, x := range cs {
		if !e.ex.excluded(name, x.kind == kindDir) {
			return false
		}
	}
	return true
}

// open opens the state and the local folder (an export creates it).
func (e *engine) open(ctx context.Context) error {
	st, err := openState(e.dir, e.seal)
	if err != nil {
		return err
	}
	e.st = st
	if e.cfg.Mode == Export && st.files == 0 {
		if err := os.MkdirAll(e.cfg.Local, 0o755); err != nil {
			return fmt.Errorf("create export folder: %w", err)
		}
	}
	if e.loc, err = openLocal(e.cfg.Local); err != nil {
		st.close()
		e.st = nil
		return fmt.Errorf("local folder %s is missing or not a directory (unmounted?): %w", e.cfg.Local, err)
	}
	e.loc.close() // rounds open it while they run
	e.ignore = ignoreStamp(e.cfg.Local)
	if e.ex, err = newExcluder(e.cfg.Excludes, e.cfg.Local); err != nil {
		e.closeSides()
		return fmt.Errorf("read %s: %w", filepath.Join(e.cfg.Local, IgnoreFile), err)
	}
	return nil
}

func (e *engine) closeSides() {
	if e.watcher != nil {
		e.watcher.Close()
	}
	if e.loc != nil {
		e.loc.close()
	}
	if e.st != nil {
		if err := e.st.close(); err != nil {
			e.log.Error("sync: closing the sync state", "err", err)
		}
	}
}

// fail records a per-path error and schedules a retry.
func (e *engine) fail(rel string, err error) {
	attempts := e.stat.setError(rel, err)
	e.log.Warn("sync: path failed; will retry", "path", rel, "err", err, "attempts", attempts)
	if e.cfg.Once && attempts >= onceAttempts {
		delete(e.retries, rel)
		return
	}
	backoff := retryMin << min(attempts-1, 8)
	e.retries[rel] = time.Now().Add(min(backoff, retryMax))
}

// retryLater looks at rel again soon without counting an error.
func (e *engine) retryLater(rel string, _ error, after time.Duration) {
	e.retries[rel] = time.Now().Add(after)
}

// ok clears rel's error.
func (e *engine) ok(rel string) {
	e.stat.clearError(rel)
	delete(e.retries, rel)
}

func (e *engine) nextRetry() (time.Time, bool) {
	var at time.Time
	for _, t := range e.retries {
		if at.IsZero() || t.Before(at) {
			at = t
		}
	}
	return at, !at.IsZero()
}

func (e *engine) dueRetries() {
	now := time.Now()
	for rel, at := range e.retries {
		if !at.After(now) {
			delete(e.retries, rel)
			e.mark(rel, rel == "")
		}
	}
}

func (e *engine) refuse(reason string) {
	if !e.refused || e.stat.get().Reason != reason {
		e.log.Warn("sync refused", "reason", reason)
	}
	e.refused, e.refusedWhy = true, reason
	e.setState(StateRefused, reason)
	e.retries[""] = time.Now().Add(10 * time.Second) // look again: a remount or a restore lifts it
}

// working shows a round at work, unless refused deletes wait: the pair
// stays "refused" with its reason meanwhile (its other changes go on).
func (e *engine) working(state string) {
	if !e.deleteRefused {
		e.setState(state, "")
	}
}

func (e *engine) setState(state, reason string) {
	e.stat.add(func(s *Status) { s.State, s.Reason = state, reason })
}

func (e *engine) warn(msg string) {
	e.log.Warn("sync: " + msg)
	e.stat.add(func(s *Status) { s.Warnings = append(s.Warnings, msg) })
}

// onceDone: a one-shot pass has nothing left to look at.
func (e *engine) onceDone() bool {
	if e.refused {
		return true
	}
	e.mu.Lock()
	busy := len(e.dirty) > 0 || len(e.inodes) > 0
	e.mu.Unlock()
	return !busy && len(e.retries) == 0 && e.stat.get().Scans > 0
}

func (e *engine) finishOnce() error {
	if e.refused {
		e.setState(StateFailed, e.stat.get().Reason)
		return errors.New(e.stat.get().Reason)
	}
	if n := e.stat.errorCount(); n > 0 {
		e.setState(StateFailed, fmt.Sprintf("%d paths could not be synced", n))
		return fmt.Errorf("%d paths could not be synced", n)
	}
	e.setState(StateDone, "")
	return nil
}
