package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	bolt "go.etcd.io/bbolt"
	"golang.org/x/term"

	"github.com/clusterf/clusterf/filesync"
	"github.com/clusterf/clusterf/node"
)

// Import and export: the original clusterF's --import-dir, --export-dir,
// --cluster-dir and --exclude-dirs (continuous pairs run by the node), and
// the one-shot commands `clusterf import` and `clusterf export`.

type syncFlags struct {
	importDir  string
	exportDir  string
	clusterDir string
	excludes   []string
	maxDelete  string
	rescan     time.Duration
}

func (f *syncFlags) register(fs *pflag.FlagSet) {
	fs.StringVar(&f.importDir, "import-dir", "", "import this local folder into --cluster-dir and keep importing its changes")
	fs.StringVar(&f.exportDir, "export-dir", "", "mirror --cluster-dir into this local folder and keep it current (the same folder as --import-dir: sync both ways)")
	fs.StringVar(&f.clusterDir, "cluster-dir", "/", "cluster folder of --import-dir/--export-dir")
	fs.StringSliceVar(&f.excludes, "exclude-dirs", nil, "names or globs left out of import and export, both ways (name,*.tmp,sub/dir); see also .clusterfignore")
	fs.StringVar(&f.maxDelete, "max-delete", "50%", "refuse a sync round that would delete more than this share of the synced files (100% allows all)")
	fs.DurationVar(&f.rescan, "rescan-interval", filesync.DefaultRescan, "full rescan of --import-dir, the backstop for changes the watcher missed")
}

// options returns the shared pair settings.
func (f *syncFlags) options() (filesync.PairConfig, error) {
	md, err := filesync.ParseMaxDelete(f.maxDelete)
	if err != nil {
		return filesync.PairConfig{}, usageError{err}
	}
	if f.rescan <= 0 {
		return filesync.PairConfig{}, usageError{fmt.Errorf("--rescan-interval %v: must be positive", f.rescan)}
	}
	return filesync.PairConfig{Cluster: f.clusterDir, Excludes: f.excludes, MaxDelete: md, Rescan: f.rescan}, nil
}

// pairs returns the continuous pairs the flags ask for.
func (f *syncFlags) pairs() ([]filesync.PairConfig, error) {
	base, err := f.options()
	if err != nil {
		return nil, err
	}
	abs := func(p string) string { a, _ := filepath.Abs(p); return filepath.Clean(a) }
	var out []filesync.PairConfig
	switch {
	case f.importDir != "" && f.exportDir != "" && abs(f.importDir) == abs(f.exportDir):
		base.Local, base.Mode = f.importDir, filesync.Both
		out = append(out, base)
	default:
		if f.importDir != "" {
			p := base
			p.Local, p.Mode = f.importDir, filesync.Import
			out = append(out, p)
		}
		if f.exportDir != "" {
			p := base
			p.Local, p.Mode = f.exportDir, filesync.Export
			out = append(out, p)
		}
	}
	return out, nil
}

func (f *syncFlags) validate() error {
	_, err := f.pairs()
	return err
}

func newImportCmd(nf *nodeFlags, stdout, stderr io.Writer) *cobra.Command {
	return &cobra.Command{
		Use:   "import LOCAL CLUSTERPATH",
		Short: "Copy a local folder into the cluster once (again: only what changed), with progress",
		Long: `import copies LOCAL into the cluster folder CLUSTERPATH and exits when
everything is copied (exit 0) or says which files were not (exit 1).
A second run copies only what changed since, and applies renames and
deletes (up to --max-delete). With --http-port it asks the node running
there (on this machine; the token is read from its data dir); otherwise it
runs as a node on --data-dir itself.`,
		Args: usageArgs(cobra.ExactArgs(2)),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runOneShot(cmd, nf, filesync.Import, args[0], args[1], stdout, stderr)
		},
	}
}

func newExportCmd(nf *nodeFlags, stdout, stderr io.Writer) *cobra.Command {
	return &cobra.Command{
		Use:   "export CLUSTERPATH LOCAL",
		Short: "Copy a cluster folder into a local folder once (again: only what changed), with progress",
		Long: `export copies the cluster folder CLUSTERPATH into LOCAL (files written
atomically, mode and mtime kept) and exits 0 when everything is copied, 1
otherwise. --http-port asks a running node; otherwise it runs as a node.`,
		Args: usageArgs(cobra.ExactArgs(2)),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runOneShot(cmd, nf, filesync.Export, args[1], args[0], stdout, stderr)
		},
	}
}

func runOneShot(cmd *cobra.Command, nf *nodeFlags, mode filesync.Mode, local, cluster string, stdout, stderr io.Writer) error {
	cfg, err := nf.sync.options()
	if err != nil {
		return err
	}
	if cfg.Local, err = filepath.Abs(local); err != nil {
		return usageError{err}
	}
	cfg.Cluster, cfg.Mode = cluster, mode
	ctx, stop, log := setup(cmd.Context(), nf, slog.LevelWarn, stderr)
	defer stop()
	show := newProgress(mode, stderr)
	var st filesync.Status
	if cmd.Flags().Changed("http-port") || os.Getenv("CLUSTERF_HTTP_PORT") != "" {
		st, err = oneShotAPI(ctx, nf, cfg, show.update)
	} else {
		st, err = oneShotNode(ctx, nf, cfg, log, show.update)
	}
	show.finish(st)
	if err != nil && st.ID == "" {
		return err
	}
	summary(stdout, stderr, mode, st)
	if st.State != filesync.StateDone {
		return errSyncIncomplete
	}
	return nil
}

// errSyncIncomplete: the summary said what was not copied (exit 1).
var errSyncIncomplete = errors.New("not everything was copied")

// oneShotNode runs the pass as a node on --data-dir (no node may be
// running there).
func oneShotNode(ctx context.Context, nf *nodeFlags, cfg filesync.PairConfig, log *slog.Logger, progress func(filesync.Status)) (filesync.Status, error) {
	if err := dataDirFree(nf); err != nil {
		return filesync.Status{}, err
	}
	n, err := node.New(nf.nodeConfig("", log))
	if err != nil {
		return filesync.Status{}, err
	}
	if err := n.Start(ctx); err != nil {
		n.Close()
		return filesync.Status{}, err
	}
	st, err := n.Sync.RunOnce(ctx, cfg, progress)
	return st, errors.Join(err, n.Close())
}

// dataDirFree fails when a node runs on the data dir (its meta.db is
// locked): then the pass must go through that node's API.
func dataDirFree(nf *nodeFlags) error {
	id := nf.nodeID
	if id == "" {
		b, err := os.ReadFile(filepath.Join(nf.dataDir, ".node-id"))
		if err != nil {
			return nil
		}
		id = strings.TrimSpace(string(b))
	}
	meta := filepath.Join(nf.dataDir, id, "meta.db")
	if _, err := os.Stat(meta); err != nil {
		return nil
	}
	db, err := bolt.Open(meta, 0o600, &bolt.Options{Timeout: time.Second, ReadOnly: true})
	if err != nil {
		return fmt.Errorf("a node is running on --data-dir %s (%v): give its --http-port to import/export through it", nf.dataDir, err)
	}
	return db.Close()
}

// oneShotAPI runs the pass in the node at --http-addr:--http-port.
func oneShotAPI(ctx context.Context, nf *nodeFlags, cfg filesync.PairConfig, progress func(filesync.Status)) (filesync.Status, error) {
	base := "http://" + net.JoinHostPort(nf.httpAddr, strconv.Itoa(nf.httpPort)) + "/api/sync"
	body, _ := json.Marshal(map[string]any{"local": cfg.Local, "cluster": cfg.Cluster, "mode": cfg.Mode.String(),
		"exclude_dirs": cfg.Excludes, "max_delete": cfg.MaxDelete.String()})
	var st filesync.Status
	if err := apiCall(ctx, nf, http.MethodPost, base, body, &st); err != nil {
		return st, err
	}
	for {
		progress(st)
		if st.State == filesync.StateDone || st.State == filesync.StateFailed {
			return st, nil
		}
		select {
		case <-ctx.Done():
			var last filesync.Status
			apiCall(context.Background(), nf, http.MethodDelete, base+"/"+st.ID, nil, &last)
			if last.ID != "" {
				st = last
			}
			return st, fmt.Errorf("cancelled: %w", ctx.Err())
		case <-time.After(200 * time.Millisecond):
		}
		if err := apiCall(ctx, nf, http.MethodGet, base+"/"+st.ID, nil, &st); err != nil && ctx.Err() == nil {
			return st, err
		}
	}
}

func apiCall(ctx context.Context, nf *nodeFlags, method, url string, body []byte, out any) error {
	req, err := http.NewRequestWithContext(ctx, method, url, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	if tok := nodeToken(nf); tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	resp, err := (&http.Client{Timeout: 30 * time.Second}).Do(req)
	if err != nil {
		return fmt.Errorf("is a node running on %s? %w", url, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	if resp.StatusCode/100 != 2 {
		var e struct {
			Error string `json:"error"`
		}
		hint := ""
		if resp.StatusCode == http.StatusUnauthorized {
			hint = "; the token is read from the node's data dir: give its --data-dir (and --node-id), or --http-token"
		}
		if json.Unmarshal(raw, &e) == nil && e.Error != "" {
			return fmt.Errorf("%s %s: %s (HTTP %d)%s", method, url, e.Error, resp.StatusCode, hint)
		}
		return fmt.Errorf("%s %s: HTTP %d", method, url, resp.StatusCode)
	}
	return json.Unmarshal(raw, out)
}

// progress shows a pass: a bar on a terminal, a line every 2 s otherwise.
type progress struct {
	mode  filesync.Mode
	w     io.Writer
	bar   *progressbar.ProgressBar
	last  time.Time
	start time.Time
}

func newProgress(mode filesync.Mode, w io.Writer) *progress {
	p := &progress{mode: mode, w: w, start: time.Now()}
	if f, ok := w.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		p.bar = progressbar.NewOptions64(-1, progressbar.OptionSetWriter(w), progressbar.OptionShowBytes(true),
			progressbar.OptionShowCount(), progressbar.OptionSetWidth(30), progressbar.OptionThrottle(100*time.Millisecond),
			progressbar.OptionSetPredictTime(true), progressbar.OptionClearOnFinish())
	}
	return p
}

func (p *progress) update(st filesync.Status) {
	total := st.BytesDone + st.BytesPending
	files := fmt.Sprintf("%d/%d files", st.FilesDone, st.FilesDone+st.FilesPending)
	if p.bar != nil {
		if total > 0 {
			p.bar.ChangeMax64(total)
		}
		p.bar.Describe(fmt.Sprintf("%s %s (%s)", p.mode, files, st.State))
		p.bar.Set64(st.BytesDone)
		return
	}
	if time.Since(p.last) < 2*time.Second {
		return
	}
	p.last = time.Now()
	rate := float64(st.BytesDone) / max(time.Since(p.start).Seconds(), 0.001)
	eta := "?"
	if rate > 0 && st.BytesPending > 0 {
		eta = (time.Duration(float64(st.BytesPending)/rate) * time.Second / time.Second).Round(time.Second).String()
	}
	fmt.Fprintf(p.w, "%s: %s, %s of %s, %s/s, ETA %s (%s)\n", p.mode, files, mib(st.BytesDone), mib(total), mib(int64(rate)), eta, st.State)
}

func (p *progress) finish(filesync.Status) {
	if p.bar != nil {
		p.bar.Finish()
	}
}

func mib(n int64) string { return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20)) }

func summary(stdout, stderr io.Writer, mode filesync.Mode, st filesync.Status) {
	fmt.Fprintf(stdout, "%s %s: %d files copied (%s), %d renamed, %d deleted, %d conflicts kept as copies, %d special files skipped; %d files in step\n",
		mode, st.State, st.FilesDone, mib(st.BytesDone), st.Renamed, st.Deleted, st.Conflicts, st.Skipped, st.Files)
	if st.Reason != "" {
		fmt.Fprintf(stderr, "%s: %s\n", mode, st.Reason)
	}
	for _, e := range st.Errors {
		fmt.Fprintf(stderr, "  not copied: %s: %s\n", e.Path, e.Error)
	}
}
