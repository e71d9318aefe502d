// Command clusterf runs a clusterf node, optionally with its FUSE mount.
//
//	clusterf [flags]              run a node (same as `clusterf serve`)
//	clusterf mount DIR [flags]    run a node and mount the cluster at DIR
//	clusterf version              print the version
//	clusterf doctor [MOUNTDIR]    check this machine and say what to fix
//
// Every flag can also be given as an environment variable CLUSTERF_<NAME>
// (upper case, dashes as underscores): --data-dir is CLUSTERF_DATA_DIR.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/clusterf/clusterf/atrest"
	"github.com/clusterf/clusterf/chunk/engines"
	"github.com/clusterf/clusterf/media"
	"github.com/clusterf/clusterf/node"
	"github.com/clusterf/clusterf/replica"
	"github.com/clusterf/clusterf/sim"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "0.1.0-dev"

// usageError marks a command-line mistake: exit code 2.
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// run executes the command line and returns the exit code.
func run(args []string, stdout, stderr io.Writer) int {
	root := newRootCmd(stdout, stderr)
	root.SetArgs(args)
	err := root.Execute()
	if err == nil {
		return 0
	}
	if errors.Is(err, errDoctorFailed) { // the report said what failed
		return 1
	}
	fmt.Fprintf(stderr, "clusterf: %v\n", err)
	if errors.Is(err, atrest.ErrKey) { // wrong, missing or extra key: nothing was touched
		return 2
	}
	var ue usageError
	if errors.As(err, &ue) {
		fmt.Fprintln(stderr, "Run 'clusterf --help' for usage.")
		return 2
	}
	return 1
}

// nodeFlags are the flags of every command that runs a node.
type nodeFlags struct {
	nodeID        string
	dataDir       string
	httpPort      int
	discoveryPort int
	storageMajor  string
	storageMinor  string
	chunkSize     int
	quicPort      int
	noStore       bool
	cacheSize     int64
	gcGrace       time.Duration
	forgetAfter   time.Duration
	searchMaxText int64
	clockOffset   time.Duration
	cacheTimeout  time.Duration
	httpAddr      string
	httpToken     string
	httpInsecure  bool
	httpHosts     []string
	webdav        string
	clusterKey    string
	encKey        string
	encKeyFile    string
	peers         []string
	debug         bool
	noDesktop     bool
	profiling     bool
	showVersion   bool
	simNodes      int
	basePort      int
	sync          syncFlags // --import-dir, --export-dir, ... (sync.go)
	mediaCache    byteSize
	stagingMem    byteSize
	mediaJobs     int
	mediaAuto     []string

	// Flags of the original clusterF whose features have not landed yet:
	// accepted by name so scripts get a clear message instead of "unknown flag".
	pending map[string]*string
}

// pendingFlags lists the original clusterF's flags not implemented yet,
// with the issue that brings them.
var pendingFlags = []struct{ name, usage string }{}

func (f *nodeFlags) register(fs *pflag.FlagSet) {
	fs.StringVar(&f.nodeID, "node-id", "", "node identifier (generated at first start if empty)")
	fs.StringVar(&f.dataDir, "data-dir", "./data", "base data directory; node data lives in <data-dir>/<node-id>")
	fs.IntVar(&f.httpPort, "http-port", 0, "HTTP API port (0 = random in 30000-60000)")
	fs.IntVar(&f.discoveryPort, "discovery-port", 9999, "UDP discovery port (0 = broadcast discovery off)")
	fs.StringVar(&f.storageMajor, "storage-major", "", "chunk storage engine: rawfile|bolt (locked after first start; default rawfile)")
	fs.StringVar(&f.storageMinor, "storage-minor", "", "storage format minor version")
	fs.StringVar(&f.httpAddr, "http-addr", "127.0.0.1", "HTTP listen address; anything but loopback requires the token (see --http-token, --http-insecure)")
	fs.StringVar(&f.httpToken, "http-token", "", "HTTP access token (default: generated into the data dir at first start)")
	fs.BoolVar(&f.httpInsecure, "http-insecure", false, "allow --http-addr beyond loopback WITHOUT a token (anyone who reaches it can read and write)")
	fs.StringSliceVar(&f.httpHosts, "http-allowed-hosts", nil, "host names the HTTP API answers without the token besides localhost and IP addresses (name,*.domain,...; DNS-rebinding protection)")
	fs.StringVar(&f.webdav, "webdav", "", "serve this cluster path over WebDAV at the HTTP root (always also at /webdav/)")
	fs.BoolVar(&f.noStore, "no-store", false, "client mode: hold no partitions, write to holders, keep a bounded read cache")
	fs.Int64Var(&f.cacheSize, "cache-size", 256<<20, "client mode read cache size in bytes")
	fs.DurationVar(&f.gcGrace, "gc-grace", 10*time.Minute, "collect chunks no file references after this long")
	fs.DurationVar(&f.forgetAfter, "forget-after", 0, "forget members not seen for this long, so garbage collection stops waiting for them (0 = never; see clusterf forget-node)")
	fs.Int64Var(&f.searchMaxText, "search-max-text", 1<<20, "most text the search index keeps per file, in bytes (0 = names and metadata only)")
	fs.IntVar(&f.simNodes, "sim-nodes", 0, "simulation: run this many nodes in one process on loopback (see 'clusterf sim')")
	fs.IntVar(&f.basePort, "base-port", 30000, "simulation: HTTP port of the first node (node i listens on base+i)")
	fs.DurationVar(&f.clockOffset, "test-clock-offset", 0, "TESTING ONLY: skew this node's metadata clock by this much")
	fs.Lookup("test-clock-offset").Hidden = true
	fs.DurationVar(&f.cacheTimeout, "test-cache-timeout", 0, "TESTING ONLY: kernel entry/attribute cache timeout of the mount (0 = 1s)")
	fs.Lookup("test-cache-timeout").Hidden = true
	fs.IntVar(&f.quicPort, "quic-port", 0, "QUIC port for cluster traffic (0 = random; give a fixed one for --peers)")
	fs.StringVar(&f.clusterKey, "cluster-key", "", "shared secret: only nodes with the same key join (empty = open LAN mode)")
	fs.StringVar(&f.encKey, "encryption-key", "", "passphrase of encryption at rest: everything the node writes to its data dir is sealed (locked at first start; prefer --encryption-key-file or CLUSTERF_ENCRYPTION_KEY, which a process listing does not show)")
	fs.StringVar(&f.encKeyFile, "encryption-key-file", "", "read the --encryption-key passphrase from this file (one trailing newline is dropped)")
	fs.StringSliceVar(&f.peers, "peers", nil, "static peers' QUIC addresses host:port,... (for networks without broadcast)")
	fs.IntVar(&f.chunkSize, "chunk-size", 0, "chunk size in bytes for new content (0 = 4 MiB)")
	fs.BoolVar(&f.debug, "debug", false, "verbose debug logging (every FUSE request)")
	fs.BoolVar(&f.noDesktop, "no-desktop", false, "don't open the web dashboard in the desktop's browser at the first start")
	fs.BoolVar(&f.profiling, "profiling", false, "record a CPU profile from the start (stop and view it on the dashboard's /profiling page)")
	f.stagingMem = replica.DefaultStagingMemory
	fs.Var(&f.stagingMem, "staging-memory", "memory that files being written may use for chunks not stored yet, before they go to staging files in the data dir (bytes or with K, M, G; 0 = none)")
	f.mediaCache = media.DefaultCacheSize
	fs.Var(&f.mediaCache, "media-cache-size", "hard cap of the node-local media cache (transcoded segments, thumbnails), bytes or with K, M, G, T")
	fs.IntVar(&f.mediaJobs, "media-transcodes", 0, "concurrent ffmpeg stream transcodes (0 = number of cores); more viewers of other files get 503")
	fs.StringSliceVar(&f.mediaAuto, "media-auto", nil, "cluster paths whose new audio and video files are prepared in the background at low priority (path,...)")
	f.sync.register(fs)
	f.pending = map[string]*string{}
	for _, p := range pendingFlags {
		f.pending[p.name] = fs.String(p.name, "", p.usage)
		fs.Lookup(p.name).Hidden = true
	}
}

// validate checks flag values after parsing (and after the environment).
func (f *nodeFlags) validate(fs *pflag.FlagSet) error {
	for _, p := range pendingFlags {
		if fs.Changed(p.name) {
			return usageError{fmt.Errorf("--%s: this feature is not implemented in clusterf %s yet", p.name, version)}
		}
	}
	if fs.Changed("encryption-key") && fs.Changed("encryption-key-file") {
		return usageError{fmt.Errorf("--encryption-key and --encryption-key-file: give one of them")}
	}
	if f.encKeyFile != "" {
		k, err := readKeyFile(f.encKeyFile, "--encryption-key-file")
		if err != nil {
			return err
		}
		f.encKey = k
	}
	if err := f.sync.validate(); err != nil {
		return err
	}
	if f.httpPort < 0 || f.httpPort > 65535 {
		return usageError{fmt.Errorf("--http-port %d: must be 0-65535", f.httpPort)}
	}
	if f.discoveryPort < 0 || f.discoveryPort > 65535 {
		return usageError{fmt.Errorf("--discovery-port %d: must be 0-65535", f.discoveryPort)}
	}
	if f.storageMajor != "" && !slices.Contains(engines.Names(), f.storageMajor) {
		return usageError{fmt.Errorf("--storage-major %q: unknown engine (valid: %s)", f.storageMajor, strings.Join(engines.Names(), ", "))}
	}
	if f.quicPort < 0 || f.quicPort > 65535 {
		return usageError{fmt.Errorf("--quic-port %d: must be 0-65535", f.quicPort)}
	}
	if f.mediaJobs < 0 {
		return usageError{fmt.Errorf("--media-transcodes %d: must be 0 or more", f.mediaJobs)}
	}
	if f.chunkSize < 0 || f.chunkSize > 16<<20 || f.chunkSize != 0 && f.chunkSize < 4096 {
		return usageError{fmt.Errorf("--chunk-size %d: must be 0 or 4096-16777216", f.chunkSize)}
	}
	return nil
}

// applyEnv sets every flag not given on the command line from
// CLUSTERF_<NAME>, if that variable is set.
func applyEnv(fs *pflag.FlagSet) error {
	var err error
	fs.VisitAll(func(fl *pflag.Flag) {
		if err != nil || fl.Changed || fl.Name == "help" {
			return
		}
		env := "CLUSTERF_" + strings.ToUpper(strings.ReplaceAll(fl.Name, "-", "_"))
		if v, ok := os.LookupEnv(env); ok {
			if serr := fs.Set(fl.Name, v); serr != nil {
				err = usageError{fmt.Errorf("%s=%q: %w", env, v, serr)}
			}
		}
	})
	return err
}

func newRootCmd(stdout, stderr io.Writer) *cobra.Command {
	var nf nodeFlags
	root := &cobra.Command{
		Use:   "clusterf",
		Short: "clusterf: a self-organizing peer-to-peer filesystem cluster (the F stands for frog)",
		Long: `clusterf runs a node of a peer-to-peer filesystem cluster.

  clusterf mount /mnt/frog    run a node and mount the cluster at /mnt/frog
  clusterf                    run a node without a mount (same as 'clusterf serve')

Every flag can also be set as CLUSTERF_<FLAG_NAME>, e.g. CLUSTERF_DATA_DIR.`,
		Args:          cobra.NoArgs,
		SilenceUsage:  true,
		SilenceErrors: true,
		RunE: func(cmd *cobra.Command, args []string) error {
			if nf.showVersion {
				fmt.Fprintln(stdout, "clusterf", version)
				return nil
			}
			if nf.simNodes > 0 {
				return runSim(cmd.Context(), &nf, stdout, stderr)
			}
			return runNode(cmd.Context(), &nf, "", stdout, stderr)
		},
	}
	root.SetOut(stdout)
	root.SetErr(stderr)
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageError{err} })
	nf.register(root.PersistentFlags())
	root.Flags().BoolVar(&nf.showVersion, "version", false, "print the version and exit")
	root.PersistentPreRunE = func(cmd *cobra.Command, args []string) error {
		if err := applyEnv(cmd.Flags()); err != nil {
			return err
		}
		return nf.validate(cmd.Flags())
	}

	serve := &cobra.Command{
		Use:   "serve",
		Short: "Run a node without a mount",
		Args:  usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runNode(cmd.Context(), &nf, "", stdout, stderr)
		},
	}
	mount := &cobra.Command{
		Use:   "mount DIR",
		Short: "Run a node and mount the cluster at DIR (unmounts on SIGINT/SIGTERM)",
		Args:  usageArgs(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runNode(cmd.Context(), &nf, args[0], stdout, stderr)
		},
	}
	versionCmd := &cobra.Command{
		Use:   "version",
		Short: "Print the version",
		Args:  usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, args []string) error {
			fmt.Fprintln(stdout, "clusterf", version)
			return nil
		},
	}
	simCmd := &cobra.Command{
		Use:   "sim",
		Short: "Run --sim-nodes full nodes in one process on loopback (no broadcast leaves the machine)",
		Args:  usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, args []string) error {
			if nf.simNodes < 1 {
				return usageError{fmt.Errorf("sim needs --sim-nodes N (N >= 1)")}
			}
			return runSim(cmd.Context(), &nf, stdout, stderr)
		},
	}
	root.AddCommand(serve, mount, versionCmd, simCmd, newDoctorCmd(&nf, stdout), newForgetCmd(&nf, stdout), newSearchCmd(&nf, stdout), newImportCmd(&nf, stdout, stderr), newExportCmd(&nf, stdout, stderr), newRekeyCmd(&nf, stdout))
	root.Args = usageArgs(cobra.NoArgs)
	return root
}

// usageArgs makes an argument-count error a usage error (exit 2).
func usageArgs(check cobra.PositionalArgs) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if err := check(cmd, args); err != nil {
			return usageError{err}
		}
		return nil
	}
}

// setup returns a context that ends on SIGINT/SIGTERM and the logger
// (level, or debug with --debug).
func setup(ctx context.Context, nf *nodeFlags, level slog.Level, stderr io.Writer) (context.Context, context.CancelFunc, *slog.Logger) {
	if nf.debug {
		level = slog.LevelDebug
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))
	if ctx == nil {
		ctx = context.Background()
	}
	ctx, stop := signal.NotifyContext(ctx, syscall.SIGINT, syscall.SIGTERM)
	return ctx, stop, log
}

// runSim runs a simulated cluster until SIGINT/SIGTERM.
func runSim(ctx context.Context, nf *nodeFlags, stdout, stderr io.Writer) error {
	ctx, stop, log := setup(ctx, nf, slog.LevelWarn, stderr)
	defer stop()
	c, err := sim.Start(ctx, sim.Config{
		Nodes:      nf.simNodes,
		BasePort:   nf.basePort,
		DataDir:    nf.dataDir,
		ClusterKey: nf.clusterKey,
		ChunkSize:  nf.chunkSize,
		Logger:     log,
		Version:    version,
	})
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "clusterf %s simulation: %d nodes on loopback, data in %s\n", version, nf.simNodes, nf.dataDir)
	for i, n := range c.Live() {
		fmt.Fprintf(stdout, "  %-10s %s/status\n", n.ID, n.HTTPURL())
		if i == 9 && nf.simNodes > 10 {
			fmt.Fprintf(stdout, "  ... nodes sim-10..sim-%d on ports %d..%d\n", nf.simNodes-1, nf.basePort+10, nf.basePort+nf.simNodes-1)
			break
		}
	}
	<-ctx.Done()
	return c.Close()
}

// runNode runs one node until SIGINT/SIGTERM (or until its mount is
// unmounted from outside), then shuts it down cleanly.
func runNode(ctx context.Context, nf *nodeFlags, mountDir string, stdout, stderr io.Writer) error {
	ctx, stop, log := setup(ctx, nf, slog.LevelInfo, stderr)
	defer stop()
	startProfiling(nf, log) // before anything starts: --profiling is for the start-up too

	n, err := node.New(nf.nodeConfig(mountDir, log))
	if err != nil {
		return err
	}
	if err := n.Start(ctx); err != nil {
		n.Close()
		return err
	}
	b := nodeBanner(n, nf)
	printBanner(stdout, b)
	openDashboard(n, nf, stdout, log) // desktop.go
	peersCtx, stopPeers := context.WithCancel(ctx)
	peersDone := make(chan struct{})
	go func() {
		defer close(peersDone)
		reportPeers(peersCtx, stdout, b, n.Cluster.Peers)
	}()
	defer func() { stopPeers(); <-peersDone }()
	select {
	case <-ctx.Done():
		log.Info("shutting down", "reason", "signal")
	case <-n.Done():
		log.Info("shutting down", "reason", "mount went away")
	}
	return n.Close()
}

// nodeConfig is the node's configuration from the flags (validated).
func (nf *nodeFlags) nodeConfig(mountDir string, log *slog.Logger) node.Config {
	c := node.Config{
		NodeID:        nf.nodeID,
		DataDir:       nf.dataDir,
		HTTPPort:      nf.httpPort,
		DiscoveryPort: nf.discoveryPort,
		StorageMajor:  nf.storageMajor,
		StorageMinor:  nf.storageMinor,
		Mount:         mountDir,
		ChunkSize:     nf.chunkSize,
		QUICPort:      nf.quicPort,
		NoStore:       nf.noStore,
		CacheSize:     nf.cacheSize,
		GCGrace:       nf.gcGrace,
		ForgetAfter:   nf.forgetAfter,
		SearchMaxText: searchMaxText(nf.searchMaxText),
		ClockOffset:   nf.clockOffset,
		CacheTimeout:  nf.cacheTimeout,
		StagingMemory: stagingMemory(nf.stagingMem),
		HTTPAddr:      nf.httpAddr,
		HTTPToken:     nf.httpToken,
		HTTPInsecure:  nf.httpInsecure,
		HTTPHosts:     nf.httpHosts,
		WebDAV:        nf.webdav,
		Version:       version,
		ClusterKey:    nf.clusterKey,
		EncryptionKey: nf.encKey,
		Peers:         nf.peers,
		Debug:         nf.debug,
		Logger:        log,

		MediaCacheSize:  int64(nf.mediaCache),
		MediaTranscodes: nf.mediaJobs,
		MediaAuto:       nf.mediaAuto,
	}
	c.Sync, _ = nf.sync.pairs()
	return c
}

// stagingMemory maps --staging-memory to node.Config (0 there is the
// default; none is negative).
func stagingMemory(v byteSize) int64 {
	if v <= 0 {
		return -1
	}
	return int64(v)
}
