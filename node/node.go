package node

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/clusterf/clusterf/atrest"
	"github.com/clusterf/clusterf/chunk"
	"github.com/clusterf/clusterf/chunk/engines"
	"github.com/clusterf/clusterf/chunk/lifecycle"
	"github.com/clusterf/clusterf/cluster"
	"github.com/clusterf/clusterf/crdt"
	"github.com/clusterf/clusterf/discovery"
	"github.com/clusterf/clusterf/filesync"
	"github.com/clusterf/clusterf/fusefs"
	"github.com/clusterf/clusterf/media"
	"github.com/clusterf/clusterf/replica"
	"github.com/clusterf/clusterf/search"
	"github.com/clusterf/clusterf/transport"
)

// Node is one running clusterf node.
type Node struct {
	ID   crdt.NodeID
	Dir  string // DataDir/<node-id>
	Meta *crdt.Replica
	// Chunks is the chunk keeper over the node's store: every store, pin
	// and delete goes through it (chunk/lifecycle).
	Chunks *lifecycle.Keeper
	FS     *replica.FS
	// Sync runs the import/export pairs and jobs (filesync).
	Sync *filesync.Manager

	Transport *transport.Transport
	Cluster   *cluster.Cluster
	Discovery *discovery.Discovery

	// Registry holds the node's Prometheus metrics (after Start).
	Registry *prometheus.Registry
	// FirstToken is the HTTP token generated at this start, to print once
	// ("" if it existed or none is needed).
	FirstToken string

	// pushTo is the cluster once it exists: the metadata committer tells
	// it when local ops became durable (node/meta.go).
	pushTo atomic.Pointer[cluster.Cluster]

	cfg      Config
	store    chunk.Store  // the engine under Chunks (sealed when encrypted); closed by the node
	keys     *atrest.Keys // encryption at rest; nil when off
	log      *slog.Logger
	mount    *fusefs.Server
	media    *media.Service // nil before Start
	httpPort int
	started  time.Time
	warnings []string

	dash     *dashState    // the web dashboard's event log and metric history (dashboard.go)
	search   *search.Index // the search index (search.go); nil before Start
	reportMu sync.Mutex    // a cached replication report for the status pages
	reportAt time.Time
	report   []cluster.PartitionState

	cancel context.CancelFunc
	wg     sync.WaitGroup
	done   chan struct{} // closed when the mount goes away
	once   sync.Once
}

// New opens the node's data dir: the storage format lock, the metadata
// replica (meta.db), the chunk store and the filesystem core.
func New(cfg Config) (_ *Node, err error) {
	if cfg.DataDir == "" {
		cfg.DataDir = "data"
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	id, err := resolveNodeID(cfg)
	if err != nil {
		return nil, err
	}
	dir, err := filepath.Abs(filepath.Join(cfg.DataDir, string(id)))
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("create node dir: %w", err)
	}
	keys, err := resolveKeys(dir, cfg) // first: a key error touches nothing (atrest.go)
	if err != nil {
		return nil, err
	}
	major, minor, err := engines.ResolveFormat(dir, cfg.StorageMajor, cfg.StorageMinor)
	if err != nil {
		return nil, err
	}
	n := &Node{ID: id, Dir: dir, cfg: cfg, keys: keys, log: log.With("node", string(id)), done: make(chan struct{})}
	defer func() {
		if err != nil {
			n.closeStores()
		}
	}()
	n.store, err = engines.Open(major, filepath.Join(dir, "chunks"))
	if err != nil {
		return nil, fmt.Errorf("open chunk store: %w", err)
	}
	n.store = n.sealStore(n.store)
	n.Chunks = lifecycle.New(n.store, log.With("node", string(id), "component", "chunks"))
	if err := engines.LockFormat(dir, major, minor); err != nil {
		return nil, err
	}
	offset := cfg.ClockOffset
	clock := crdt.NewClock(id, func() time.Time { return time.Now().Add(offset) })
	if n.Meta, err = n.openMeta(clock); err != nil {
		return nil, err
	}
	if err := n.openCluster(); err != nil {
		return nil, err
	}
	n.pushTo.Store(n.Cluster)
	n.Registry = prometheus.NewRegistry()
	n.Registry.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		(*nodeCollector)(n),
	)
	n.FS, err = replica.New(replica.Config{
		Meta:          n.Meta,
		Chunks:        n.Chunks,
		Fetcher:       n.Cluster,
		Replicator:    n.Cluster,
		OnCommit:      n.Cluster.Changed,
		StagingDir:    filepath.Join(dir, "staging"),
		OpenStaging:   n.openStaging(),
		StagingMemory: cfg.StagingMemory,
		StatfsDir:     dir,
		ChunkSize:     cfg.ChunkSize,
		Logger:        n.log,
	})
	if err != nil {
		return nil, err
	}
	if removed, err := n.FS.RemoveStaleUploads(context.Background()); err != nil {
		return nil, fmt.Errorf("remove interrupted uploads: %w", err)
	} else if removed > 0 {
		n.log.Info("removed temporaries of uploads interrupted by the last stop", "count", removed)
	}
	if err := n.openSync(); err != nil {
		return nil, err
	}
	n.log.Debug("node opened", "data_dir", dir, "storage", major) // the banner shows it
	return n, nil
}

// Start starts the node's background work; it stops when ctx ends or Close
// is called.
func (n *Node) Start(ctx context.Context) error {
	ctx, n.cancel = context.WithCancel(ctx)
	n.started = time.Now()
	// HTTP listens before the mount appears, so a script (or a test) that
	// waits for the mount can use the API at once.
	if err := n.startSearch(ctx); err != nil { // search.go
		n.Close()
		return err
	}
	if err := n.startHTTP(ctx); err != nil {
		n.Close()
		return err
	}
	if n.cfg.Mount != "" {
		srv, err := fusefs.Mount(n.cfg.Mount, n.FS, fusefs.Options{
			EntryTimeout: n.cfg.CacheTimeout,
			AttrTimeout:  n.cfg.CacheTimeout,
			Debug:        n.cfg.Debug,
			Logger:       n.log,
			Metrics:      fusefs.NewMetrics(n.Registry),
			AllowOther:   os.Geteuid() == 0,
		})
		if err != nil {
			n.Close()
			return err
		}
		n.mount = srv
		n.log.Debug("mounted", "mountpoint", srv.Dir()) // the banner shows it
		n.wg.Add(1)
		go func() {
			defer n.wg.Done()
			srv.Wait()
			n.once.Do(func() { close(n.done) })
		}()
	}
	// The cluster starts after the mount exists: remote changes invalidate
	// its kernel caches.
	if err := n.startCluster(ctx); err != nil {
		n.Close()
		return err
	}
	n.Sync.Start(ctx) // after the cluster: an export sees remote changes
	return nil
}

// Mountpoint returns the mount point ("" without a mount).
func (n *Node) Mountpoint() string {
	if n.mount == nil {
		return ""
	}
	return n.mount.Dir()
}

// Done is closed when the node's mount goes away (for example an external
// `fusermount3 -u`). Without a mount it is never closed.
func (n *Node) Done() <-chan struct{} { return n.done }

// Close unmounts, stops everything Start started, waits for it and closes
// the stores.
func (n *Node) Close() error {
	var errs []error
	if n.cancel != nil {
		n.cancel()
	}
	if n.mount != nil {
		if err := n.mount.Unmount(); err != nil {
			errs = append(errs, err)
		} else {
			n.log.Info("unmounted", "mountpoint", n.mount.Dir())
		}
	}
	n.wg.Wait()
	if n.Sync != nil {
		n.Sync.Close() // its pairs stop with ctx; before the core closes
	}
	if n.media != nil {
		errs = append(errs, n.media.Close()) // its ffmpeg processes read through FS
	}
	errs = append(errs, n.closeStores())
	return errors.Join(errs...)
}

func (n *Node) closeStores() error {
	var errs []error
	if n.Transport != nil {
		errs = append(errs, n.Transport.Close())
	}
	if n.FS != nil {
		errs = append(errs, n.FS.Close())
	}
	if n.Meta != nil {
		errs = append(errs, n.Meta.Close())
	}
	if n.store != nil {
		errs = append(errs, n.store.Close())
	}
	return errors.Join(errs...)
}

// openSync builds the import/export manager and its pairs; state lives in
// <node dir>/sync, sealed like meta.db when the node is encrypted.
func (n *Node) openSync() error {
	var seal filesync.Sealer
	if n.keys != nil {
		seal = n.keys.Sealer("sync")
	}
	n.Sync = filesync.NewManager(filesync.Options{FS: n.FS, Dir: filepath.Join(n.Dir, "sync"), Self: n.ID, Sealer: seal, Logger: n.log})
	for _, p := range n.cfg.Sync {
		if err := n.Sync.Add(p); err != nil {
			return err
		}
	}
	return nil
}
