package media

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/clusterf/clusterf/atrest"
	"github.com/clusterf/clusterf/replica"
)

// Defaults of Config's zero fields.
const (
	DefaultCacheSize     = 4 << 30 // bytes
	DefaultViewerTimeout = 30 * time.Second
	DefaultAutoInterval  = 10 * time.Minute
	DefaultSegmentWait   = 60 * time.Second
)

// Programs are the external programs the package runs (deps/deps.txt,
// clusterf doctor).
var Programs = []string{"ffmpeg", "ffprobe"}

// Config builds a Service.
type Config struct {
	// FS is the filesystem core every source is read through. Required.
	FS *replica.FS
	// CacheDir holds the node-local cache of segments, thumbnails and
	// keyframe indexes (created if missing). Required.
	CacheDir string
	// CacheSize is the cache's hard cap in bytes (0: DefaultCacheSize).
	CacheSize int64
	// Keys, when not nil, seal the cache at rest (the node's keys with
	// --encryption-key): every entry is an authenticated record under the
	// cache's own subkey, file names are keyed hashes. An entry that fails
	// to open is dropped and made again, never served.
	Keys *atrest.Keys
	// MaxTranscodes bounds concurrent ffmpeg runs for streams (0: the
	// number of cores); beyond it a new stream is refused with BusyError.
	MaxTranscodes int
	// FFmpeg and FFprobe are the programs ("": looked up on PATH). When
	// either is missing the service answers ErrUnavailable (image
	// thumbnails still work: they are decoded in Go).
	FFmpeg, FFprobe string
	// Auto lists cluster paths whose new audio and video files are
	// prepared in the background (probe, thumbnail, keyframe index, and a
	// full transcode when the file cannot be remuxed).
	Auto []string
	// AutoInterval is the period of the backstop walk of Auto (new files
	// are found through the change feed; 0: DefaultAutoInterval).
	AutoInterval time.Duration
	// ViewerTimeout: a viewer that asked for nothing this long has left
	// (0: DefaultViewerTimeout). A transcode without viewers is killed.
	ViewerTimeout time.Duration
	// SegmentWait bounds how long a request waits for its segment
	// (0: DefaultSegmentWait).
	SegmentWait time.Duration
	// Registry receives the media metrics (nil: none).
	Registry prometheus.Registerer
	Logger   *slog.Logger
}

// Service streams, probes and thumbnails the cluster's media files. It is
// safe for concurrent use. Close stops every ffmpeg it started and waits.
type Service struct {
	cfg     Config
	fs      *replica.FS
	log     *slog.Logger
	ffmpeg  string // "" when unavailable
	ffprobe string
	cache   *cache
	metrics *metrics

	ctx     context.Context // ends at Close; every child process dies with it
	cancel  context.CancelFunc
	wg      sync.WaitGroup
	wgMu    sync.Mutex // orders goFunc's Add before Close's Wait
	stopped bool       // Close began waiting: goFunc starts nothing

	src   sourceServer
	slots chan struct{} // one token per running stream transcode
	thumb chan struct{} // bounds concurrent thumbnail decodes
	procs atomic.Int64  // running child processes

	mu     sync.Mutex
	jobs   map[string]*job // by version key + "/" + rendition
	probes *probeCache
	flight map[string]*flight // thumbnails being made, by cache name
	closed bool

	stats   Stats
	seekGap int // tests: a fixed gapLocked (0: estimated from the run's speed)
}

// Stats counts what the service did (tests observe these; metrics export
// them).
type Stats struct {
	RunsStarted  atomic.Int64 // stream ffmpeg runs (remux and encode)
	EncodeRuns   atomic.Int64 // runs that ran a video or audio encoder
	RemuxRuns    atomic.Int64 // runs that copied the video
	Restarts     atomic.Int64 // runs stopped to start again elsewhere (seeks)
	Pauses       atomic.Int64 // times a run paused, far enough ahead of its viewers
	Probes       atomic.Int64 // ffprobe runs
	Thumbnails   atomic.Int64 // thumbnails made (not served from cache)
	AutoPrepared atomic.Int64 // files the background scan prepared
	AutoWakes    atomic.Int64 // background walks the change feed started
}

// New opens the cache and returns the service. It starts one janitor
// goroutine (viewer timeouts) and, with Config.Auto, the background scan.
func New(cfg Config) (*Service, error) {
	if cfg.FS == nil || cfg.CacheDir == "" {
		return nil, errors.New("media: Config.FS and Config.CacheDir are required")
	}
	if cfg.CacheSize < 0 || cfg.MaxTranscodes < 0 {
		return nil, errors.New("media: negative CacheSize or MaxTranscodes")
	}
	if cfg.CacheSize == 0 {
		cfg.CacheSize = DefaultCacheSize
	}
	if cfg.MaxTranscodes == 0 {
		cfg.MaxTranscodes = runtime.NumCPU()
	}
	if cfg.ViewerTimeout <= 0 {
		cfg.ViewerTimeout = DefaultViewerTimeout
	}
	if cfg.AutoInterval <= 0 {
		cfg.AutoInterval = DefaultAutoInterval
	}
	if cfg.SegmentWait <= 0 {
		cfg.SegmentWait = DefaultSegmentWait
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	c, err := openCache(cfg.CacheDir, cfg.CacheSize, log, cfg.Keys)
	if err != nil {
		return nil, err
	}
	s := &Service{
		cfg: cfg, fs: cfg.FS, log: log.With("component", "media"), cache: c,
		slots:  make(chan struct{}, cfg.MaxTranscodes),
		thumb:  make(chan struct{}, runtime.NumCPU()),
		jobs:   map[string]*job{},
		probes: newProbeCache(512),
		flight: map[string]*flight{},
	}
	s.ffmpeg, s.ffprobe = findProgram(cfg.FFmpeg, "ffmpeg"), findProgram(cfg.FFprobe, "ffprobe")
	if s.ffmpeg == "" || s.ffprobe == "" {
		s.ffmpeg, s.ffprobe = "", ""
		s.log.Info("media streaming unavailable: ffmpeg/ffprobe not found (Debian: apt-get install ffmpeg); image thumbnails still work")
	}
	if s.metrics, err = newMetrics(cfg.Registry, s); err != nil {
		return nil, err
	}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	s.src.svc = s
	s.goFunc(s.janitor)
	if len(cfg.Auto) > 0 && s.Available() {
		s.goFunc(s.autoLoop)
	}
	return s, nil
}

// findProgram returns the configured program (an executable file) or
// the one named name on PATH, "" when there is none.
func findProgram(configured, name string) string {
	if configured != "" {
		if st, err := os.Stat(configured); err == nil && st.Mode().IsRegular() && st.Mode()&0o111 != 0 {
			return configured
		}
		return ""
	}
	var p string
	var err error
	if name == "ffprobe" {
		p, err = exec.LookPath("ffprobe")
	} else {
		p, err = exec.LookPath("ffmpeg")
	}
	if err != nil {
		return ""
	}
	return p
}

// goFunc runs f in a goroutine Close waits for; after Close it runs
// nothing and returns false.
func (s *Service) goFunc(f func()) bool {
	s.wgMu.Lock()
	defer s.wgMu.Unlock()
	if s.stopped {
		return false
	}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		f()
	}()
	return true
}

// Available reports whether ffmpeg and ffprobe were found.
func (s *Service) Available() bool { return s.ffmpeg != "" }

// Stats returns the service's counters.
func (s *Service) Stats() *Stats { return &s.stats }

// Processes returns the number of ffmpeg/ffprobe processes running now.
func (s *Service) Processes() int { return int(s.procs.Load()) }

// Close stops every transcode, probe and thumbnail process and the
// background work, and waits for them.
func (s *Service) Close() error {
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
	s.cancel()
	s.src.close()
	s.wgMu.Lock()
	s.stopped = true
	s.wgMu.Unlock()
	s.wg.Wait()
	return nil
}

// Status is the media part of a node's /status.
type Status struct {
	Available      bool     `json:"available"`
	Reason         string   `json:"reason,omitempty"` // why not available
	FFmpeg         string   `json:"ffmpeg,omitempty"`
	CacheDir       string   `json:"cache_dir"`
	CacheBytes     int64    `json:"cache_bytes"`
	CacheCapBytes  int64    `json:"cache_cap_bytes"`
	CacheEntries   int      `json:"cache_entries"`
	Transcodes     int      `json:"transcodes"`
	MaxTranscodes  int      `json:"max_transcodes"`
	Processes      int      `json:"processes"`
	AutoPaths      []string `json:"auto_paths,omitempty"`
	AutoScanMethod string   `json:"auto_scan,omitempty"`
}

// Status describes the service.
func (s *Service) Status() Status {
	used, n := s.cache.usage()
	st := Status{
		Available: s.Available(), FFmpeg: s.ffmpeg,
		CacheDir: s.cache.dir, CacheBytes: used, CacheCapBytes: s.cache.cap, CacheEntries: n,
		Transcodes: len(s.slots), MaxTranscodes: cap(s.slots), Processes: s.Processes(),
		AutoPaths: s.cfg.Auto,
	}
	if !st.Available {
		st.Reason = ErrUnavailable.Error()
	}
	if len(s.cfg.Auto) > 0 {
		st.AutoScanMethod = fmt.Sprintf("change feed, and a full scan every %s", s.cfg.AutoInterval)
	}
	return st
}

// janitor ends viewers that went quiet, stops transcodes nobody watches
// and forgets idle jobs.
func (s *Service) janitor() {
	tick := max(s.cfg.ViewerTimeout/4, 100*time.Millisecond)
	t := time.NewTicker(tick)
	defer t.Stop()
	for {
		select {
		case <-s.ctx.Done():
			return
		case <-t.C:
		}
		now := time.Now()
		s.mu.Lock()
		jobs := make([]*job, 0, len(s.jobs))
		for _, j := range s.jobs {
			jobs = append(jobs, j)
		}
		s.mu.Unlock()
		for _, j := range jobs {
			if j.sweep(now) {
				s.mu.Lock()
				if s.jobs[j.key] == j && j.idle() {
					delete(s.jobs, j.key)
				}
				s.mu.Unlock()
			}
		}
	}
}

// acquireSlot takes a transcode slot. When all are busy it stops a
// background (auto) run to make room and waits a moment (a run that was
// just stopped gives its slot back when its ffmpeg was reaped), else it
// returns a BusyError.
func (s *Service) acquireSlot(ctx context.Context, auto bool) error {
	select {
	case s.slots <- struct{}{}:
		return nil
	default:
	}
	busy := &BusyError{Limit: cap(s.slots), RetryAfter: 10 * time.Second}
	if auto {
		return busy
	}
	s.preemptAuto()
	t := time.NewTimer(slotWait)
	defer t.Stop()
	select {
	case s.slots <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return busy
	}
}

// slotWait is how long a new stream waits for a slot before its 503.
const slotWait = 2 * time.Second

func (s *Service) releaseSlot() { <-s.slots }

// preemptAuto stops one background run (it is resumed by a later scan).
func (s *Service) preemptAuto() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, j := range s.jobs {
		if j.stopAuto() {
			return true
		}
	}
	return false
}
