package search

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/blevesearch/bleve/v2"
	index "github.com/blevesearch/bleve_index_api"

	"github.com/clusterf/clusterf/crdt"
	"github.com/clusterf/clusterf/replica"
)

// Config configures an Index.
type Config struct {
	FS *replica.FS
	// Dir holds the index (<node dir>/search).
	Dir string
	// MemoryOnly keeps the index in memory and writes nothing to Dir
	// (a node with encryption at rest: the index holds names and text in
	// the clear). It is rebuilt from the namespace at every start.
	MemoryOnly bool
	Logger     *slog.Logger
	Limits     Limits
	// Remote extracts the content of files whose first chunk this node
	// does not hold, on a member that does (nil: read through the core).
	Remote Remote
	// RetryAfter is how long a file whose content no holder could extract
	// waits before the next try (default 30 s).
	RetryAfter time.Duration
}

// Index is a node's search index: every name of the namespace with its
// attributes and the metadata and text extracted from its content. It
// follows the core's change feed (Run) and answers queries (Search).
type Index struct {
	cfg     Config
	log     *slog.Logger
	fs      *replica.FS
	idx     bleve.Index
	rebuilt string

	// writeMu orders index writes that derive documents from the state
	// (feed batches, extraction results): a write never replaces a
	// document with one built from an older state.
	writeMu sync.Mutex
	mu      sync.Mutex
	mark    feedMark // what is applied (guarded by mu; persisted with each batch)
	waiters chan struct{}
	queue   *jobQueue

	stats counters
	wg    sync.WaitGroup
}

// feedMark is the feed position the index reflects.
type feedMark struct {
	Epoch, Seq uint64
}

func (m feedMark) encode() []byte {
	b := make([]byte, 16)
	binary.BigEndian.PutUint64(b, m.Epoch)
	binary.BigEndian.PutUint64(b[8:], m.Seq)
	return b
}

func decodeMark(b []byte) feedMark {
	if len(b) != 16 {
		return feedMark{}
	}
	return feedMark{binary.BigEndian.Uint64(b), binary.BigEndian.Uint64(b[8:])}
}

// Open opens (or builds anew: missing, corrupt, older format) the index
// in cfg.Dir. Run keeps it current.
func Open(cfg Config) (*Index, error) {
	if cfg.FS == nil || cfg.Dir == "" {
		return nil, errors.New("search: Config.FS and Config.Dir are required")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.RetryAfter <= 0 {
		cfg.RetryAfter = 30 * time.Second
	}
	cfg.Limits = cfg.Limits.withDefaults()
	open := func() (bleve.Index, string, error) { return openStore(cfg.Dir, cfg.Logger) }
	if cfg.MemoryOnly {
		open = openMemStore
	}
	idx, rebuilt, err := open()
	if err != nil {
		return nil, err
	}
	x := &Index{cfg: cfg, log: cfg.Logger, fs: cfg.FS, idx: idx, rebuilt: rebuilt,
		waiters: make(chan struct{}), queue: newJobQueue()}
	if b, err := idx.GetInternal(keyFeed); err == nil {
		x.mark = decodeMark(b)
	}
	if rebuilt != "" && rebuilt != "missing" && !cfg.MemoryOnly {
		x.stats.rebuilds.Add(1)
	}
	return x, nil
}

// Rebuilt says why Open built the index anew ("" if it opened one).
func (x *Index) Rebuilt() string { return x.rebuilt }

// Close closes the index files. Call it after Run returned.
func (x *Index) Close() error { return closeStore(x.idx, x.log) }

// Run keeps the index current until ctx ends: it catches up with what
// changed while the node was down (a scan of the namespace diffed against
// the index, the only scan there is), then applies the change feed as it
// comes; a worker extracts content. It returns ctx.Err() or the error
// that stopped it.
func (x *Index) Run(ctx context.Context) error {
	feed := x.fs.Changes()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	x.wg.Add(1)
	go func() {
		defer x.wg.Done()
		x.extractLoop(ctx)
	}()
	defer x.wg.Wait()
	x.mu.Lock()
	mark := x.mark
	x.mu.Unlock()
	after := mark.Seq
	if mark.Epoch != feed.Epoch() || mark.Seq > feed.Last() {
		// From an earlier run (or a new index): what changed meanwhile is
		// not in the feed.
		start := feed.Last()
		if err := x.resync(ctx, start); err != nil {
			return err
		}
		after = start
	}
	// The feed's loop (replica.Feed.Follow), with a pause before each
	// batch in which what comes meanwhile gathers (pace.go).
	var pace pacer
	for {
		if err := pace.wait(ctx); err != nil {
			return err
		}
		if err := feed.Wait(ctx, after); err != nil {
			return err
		}
		cs, missed := feed.Since(after, 4096)
		if len(cs) > 0 {
			after = cs[len(cs)-1].Seq
		}
		pace.began()
		err := x.applyFeed(ctx, cs, missed)
		pace.ended()
		if err != nil {
			return err
		}
	}
}

// applyFeed indexes one batch of the change feed.
func (x *Index) applyFeed(ctx context.Context, cs []replica.Change, missed bool) error {
	if missed {
		x.log.Info("search index fell behind the change feed; resynchronising")
		if err := x.resync(ctx, 0); err != nil {
			return err
		}
	}
	return x.apply(ctx, cs)
}

// setMark records (in b, persisted with it) and publishes the position.
func (x *Index) commit(b *bleve.Batch, seq uint64) error {
	mark := feedMark{x.fs.Changes().Epoch(), seq}
	x.mu.Lock()
	if seq == 0 && x.mark.Epoch == mark.Epoch {
		mark.Seq = x.mark.Seq // a batch within a larger step
	}
	x.mu.Unlock()
	b.SetInternal(keyFeed, mark.encode())
	if err := x.idx.Batch(b); err != nil {
		return fmt.Errorf("search index write: %w", err)
	}
	x.mu.Lock()
	x.mark = mark
	close(x.waiters)
	x.waiters = make(chan struct{})
	x.mu.Unlock()
	return nil
}

// wake tells Sync waiters that something progressed.
func (x *Index) wake() {
	x.mu.Lock()
	close(x.waiters)
	x.waiters = make(chan struct{})
	x.mu.Unlock()
}

// Sync waits until every change published before the call is indexed
// and no content extraction is pending, except files waiting for a
// holder to come back (tests, and callers that want read-your-writes).
func (x *Index) Sync(ctx context.Context) error {
	feed := x.fs.Changes()
	target := feedMark{feed.Epoch(), feed.Last()}
	for {
		x.mu.Lock()
		done := x.mark.Epoch == target.Epoch && x.mark.Seq >= target.Seq && x.queue.idle()
		w := x.waiters
		x.mu.Unlock()
		if done {
			return nil
		}
		select {
		case <-w:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// existing reads what an indexed document carries over (false: none).
func (x *Index) existing(id string) (stored, bool) {
	doc, err := x.idx.Document(id)
	if err != nil || doc == nil {
		return stored{}, false
	}
	var s stored
	doc.VisitFields(func(f index.Field) {
		switch f.Name() {
		case fFP:
			s.fp = string(f.Value())
		case fVer:
			s.ver = string(f.Value())
		case fExtract:
			_ = json.Unmarshal(f.Value(), &s.x)
		case fText:
			s.text = string(f.Value())
		}
	})
	return s, true
}

// contentMode says what put does with content still to be read.
type contentMode int

const (
	// queueContent: the extraction queue reads it (resync: names first).
	queueContent contentMode = iota
	// extractSmall: a file of at most extractNowMax bytes held here is
	// extracted in the same batch (the change feed, quiet namespace).
	extractSmall
	// extractSmallUntexted: the same, but a file with text is queued (the
	// feed while the namespace takes a stream of writes: text analysis
	// waits for the writers, pace.go).
	extractSmallUntexted
)

// put adds e's document to b: unchanged documents are skipped, the
// extraction of the same content version is carried over, small files
// may be extracted at once (mode), and files whose content is still to
// be read are queued.
func (x *Index) put(ctx context.Context, b *bleve.Batch, e *entryDoc, mode contentMode) error {
	fp := e.fingerprint()
	old, had := x.existing(e.id)
	if had && old.fp == fp {
		return nil
	}
	ver := versionString(e.version)
	var ex *Extracted
	switch {
	case e.kind != crdt.KindFile || !wantsContent(e.name, e.size, x.cfg.Limits):
	case had && old.ver == ver && ver != "":
		c := old.x
		c.Text = old.text
		ex = &c
	default:
		if extractsNow(e, mode) {
			// Not held here, or the read failed: the queue takes it,
			// with its retries; text during a stream waits there too.
			c, held, err := x.extractHeld(ctx, e)
			if held && err == nil && (mode == extractSmall || c.Text == "") {
				x.noteParseFailure(e.path, c)
				x.queue.drop(e.id)
				ex = &c
				break
			}
		}
		x.queue.add(job{doc: *e})
		fp = fpPending // a resync before it is done does it again
	}
	x.stats.indexed.Add(1)
	return b.Index(e.id, e.fields(ex, fp))
}

// extractNowMax is the largest file the feed's path extracts in its own
// batch instead of queueing it. Queued, a new file is indexed twice (its
// name now, its content in a later batch that replaces the document):
// for a small file the second document costs more than reading it
// (bleve analyses every field again, and the merger rewrites and deletes
// the first). Issue 13: 3,000 creates of 4 KiB (no text) into a fresh
// node took 3.5 CPU-s instead of 5.0-5.7.
const extractNowMax = 64 << 10

// extractsNow says whether put reads e's content in its own batch: a
// small file, unless the namespace takes a stream and its name says it
// has text (which would wait anyway).
func extractsNow(e *entryDoc, mode contentMode) bool {
	switch {
	case mode == queueContent || e.size > extractNowMax:
		return false
	case mode == extractSmallUntexted:
		k := kindOfType(typeByName(e.name))
		return k != kindText && k != kindHTML && k != kindPDF
	}
	return true
}

// counters are the index's statistics.
type counters struct {
	indexed, deleted, resyncs, rebuilds           atomic.Int64
	extractedLocal, extractedRemote, served       atomic.Int64
	parseFailures, remoteFailures, resyncExamined atomic.Int64
	lastResyncMs                                  atomic.Int64
	extractDeferrals                              atomic.Int64
}

// Stats describes the index (GET /api/search/status).
type Stats struct {
	Documents uint64 `json:"documents"`
	// AppliedSeq is the last change-feed sequence number indexed, FeedSeq
	// the feed's newest.
	AppliedSeq uint64 `json:"applied_seq"`
	FeedSeq    uint64 `json:"feed_seq"`
	// Pending files wait for content extraction; Retrying ones wait for
	// a holder of their content to answer.
	Pending  int `json:"pending_extractions"`
	Retrying int `json:"retrying_extractions"`
	// Deferrals counts the waits of content extraction for the
	// namespace to go quiet (pace.go).
	Deferrals int64 `json:"extraction_deferrals"`
	// Indexed and Deleted count document writes since start.
	Indexed int64 `json:"documents_indexed"`
	Deleted int64 `json:"documents_deleted"`
	// ExtractedLocal / ExtractedRemote: contents parsed here / by a
	// holder for us; Served: extractions this node did for others.
	ExtractedLocal  int64 `json:"extracted_local"`
	ExtractedRemote int64 `json:"extracted_remote"`
	Served          int64 `json:"extractions_served"`
	// ParseFailures counts files whose metadata or text parser failed
	// (they are indexed by name); RemoteFailures failed remote requests.
	ParseFailures  int64 `json:"parse_failures"`
	RemoteFailures int64 `json:"remote_failures"`
	// Resyncs counts namespace scans (start-up catch-up, lagging, reset);
	// ResyncExamined the entries they looked at.
	Resyncs        int64 `json:"resyncs"`
	ResyncExamined int64 `json:"resync_examined"`
	LastResyncMs   int64 `json:"last_resync_ms"`
	// Rebuilds counts indexes built anew because they were corrupt or
	// of an older format; RebuildReason says why the last one was.
	Rebuilds      int64  `json:"rebuilds"`
	RebuildReason string `json:"rebuild_reason,omitempty"`
	DiskBytes     int64  `json:"disk_bytes"`
	Format        string `json:"format"`
}

// Stats returns the index's statistics.
func (x *Index) Stats() Stats {
	n, _ := x.idx.DocCount()
	x.mu.Lock()
	applied := x.mark.Seq
	x.mu.Unlock()
	pending, retrying := x.queue.sizes()
	return Stats{
		Documents: n, AppliedSeq: applied, FeedSeq: x.fs.Changes().Last(), Pending: pending, Retrying: retrying,
		Deferrals: x.stats.extractDeferrals.Load(),
		Indexed:   x.stats.indexed.Load(), Deleted: x.stats.deleted.Load(),
		ExtractedLocal: x.stats.extractedLocal.Load(), ExtractedRemote: x.stats.extractedRemote.Load(),
		Served: x.stats.served.Load(), ParseFailures: x.stats.parseFailures.Load(),
		RemoteFailures: x.stats.remoteFailures.Load(), Resyncs: x.stats.resyncs.Load(),
		ResyncExamined: x.stats.resyncExamined.Load(), LastResyncMs: x.stats.lastResyncMs.Load(),
		Rebuilds: x.stats.rebuilds.Load(), RebuildReason: x.rebuilt, DiskBytes: dirSize(x.cfg.Dir), Format: FormatVersion,
	}
}

// Applied returns the last change-feed sequence number indexed (cheap;
// Stats also measures the index on disk).
func (x *Index) Applied() uint64 {
	x.mu.Lock()
	defer x.mu.Unlock()
	return x.mark.Seq
}

// EngineStats returns the storage engine's own counters (bleve scorch's
// StatsMap: segments at the root, merges, persister progress), for
// benchmarks and diagnosis.
func (x *Index) EngineStats() map[string]any {
	m, _ := x.idx.StatsMap()["index"].(map[string]any)
	return m
}

func dirSize(dir string) int64 {
	var n int64
	_ = filepath.WalkDir(dir, func(_ string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			if info, err := d.Info(); err == nil {
				n += info.Size()
			}
		}
		return nil
	})
	return n
}
