// Package integration holds tests that run the real clusterf binary and
// access its FUSE mount from the test process.
//
// Serving and accessing a FUSE mount in one process can deadlock around
// fork/exec (see the go-fuse fs package doc), so the FUSE server is always a
// child process started by [StartNode]; tests only access the mount.
//
// The harness is exported so that later multi-node tests (other files, or
// other packages) can reuse it:
//
//	n := integration.StartNode(t, integration.NodeOptions{})
//	os.WriteFile(filepath.Join(n.Mountpoint(), "f"), data, 0o644)
//	n.Stop() // SIGTERM, exit 0, unmounted
//
// Every node registers a t.Cleanup that stops the process and always removes
// the mount (lazily, with fusermount3 -u -z as a last resort), so a failed
// test never leaves a mount behind.
package integration

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// FuseType is the fstype a clusterf mount shows in /proc/self/mountinfo.
const FuseType = "fuse.clusterf"

// Default timeouts of the harness.
const (
	ReadyTimeout = 20 * time.Second // mount must appear within this
	StopTimeout  = 30 * time.Second // SIGTERM to exit
)

var (
	buildOnce sync.Once
	buildDir  string
	buildPath string
	buildErr  error
)

// BuildBinary builds ./cmd/clusterf of the enclosing module once per test
// process and returns the path of the binary. Later calls return the same
// result. Call [CleanupBinary] from TestMain to remove it.
func BuildBinary() (string, error) {
	buildOnce.Do(func() {
		buildPath, buildErr = buildBinary()
	})
	return buildPath, buildErr
}

func buildBinary() (string, error) {
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMOD: %w", err)
	}
	gomod := strings.TrimSpace(string(out))
	if gomod == "" || gomod == os.DevNull {
		return "", errors.New("go env GOMOD: not inside a module")
	}
	root := filepath.Dir(gomod)
	buildDir, err = os.MkdirTemp("", "clusterf-it-bin-")
	if err != nil {
		return "", err
	}
	bin := filepath.Join(buildDir, "clusterf")
	cmd := exec.Command("go", "build", "-o", bin, "./cmd/clusterf")
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build ./cmd/clusterf in %s: %w\n%s", root, err, out)
	}
	return bin, nil
}

// CleanupBinary removes the binary built by [BuildBinary].
func CleanupBinary() {
	if buildDir != "" {
		os.RemoveAll(buildDir)
	}
}

// Binary returns the built binary or fails t.
func Binary(t testing.TB) string {
	t.Helper()
	bin, err := BuildBinary()
	if err != nil {
		t.Fatalf("building clusterf: %v", err)
	}
	return bin
}

// RequireFUSE fails t with a clear message when FUSE cannot be used here:
// /dev/fuse cannot be opened or fusermount3 is missing. FUSE tests mount for
// real; a missing FUSE is a failure, never a skip (DESIGN.md §8).
func RequireFUSE(t testing.TB) {
	t.Helper()
	f, err := os.OpenFile("/dev/fuse", os.O_RDWR, 0)
	if err != nil {
		t.Fatalf("FUSE is required for integration tests: cannot open /dev/fuse: %v "+
			"(load the fuse module, or run the container with --device /dev/fuse --cap-add SYS_ADMIN)", err)
	}
	f.Close()
	if _, err := exec.LookPath("fusermount3"); err != nil {
		t.Fatalf("FUSE is required for integration tests: fusermount3 not found in PATH (install fuse3): %v", err)
	}
}

// NodeOptions configures [StartNode]. Zero values pick fresh temporary
// directories and the binary's defaults.
type NodeOptions struct {
	NodeID       string   // default "node1"
	DataDir      string   // default t.TempDir()
	Mountpoint   string   // default t.TempDir()
	StorageMajor string   // --storage-major; "" leaves the binary's default
	Debug        bool     // --debug (verbose FUSE logs)
	ExtraArgs    []string // appended to the command line
	Env          []string // added to the environment (CLUSTERF_* of the test's env are dropped)
	// Wrap is a command prefix, e.g. Host.Wrap() to run the node in a
	// network namespace.
	Wrap []string
}

// Node is one running (or stopped) clusterf process serving a FUSE mount.
type Node struct {
	t    testing.TB
	bin  string
	opts NodeOptions

	mu    sync.Mutex
	proc  *process   // current process, nil before the first start
	procs []*process // every process started, for failure dumps
}

type process struct {
	cmd    *exec.Cmd
	stderr *syncBuffer
	done   chan struct{} // closed when cmd.Wait returned
	err    error         // cmd.Wait result, valid after done
}

func (p *process) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// StartNode starts `clusterf mount` and waits until the mount is ready. The
// node is stopped and unmounted in t.Cleanup.
func StartNode(t testing.TB, opts NodeOptions) *Node {
	t.Helper()
	RequireFUSE(t)
	bin := Binary(t)
	if opts.NodeID == "" {
		opts.NodeID = "node1"
	}
	if opts.DataDir == "" {
		opts.DataDir = t.TempDir()
	}
	if opts.Mountpoint == "" {
		opts.Mountpoint = t.TempDir()
	}
	n := &Node{t: t, bin: bin, opts: opts}
	registerMount(opts.Mountpoint)
	// Registered after the t.TempDir calls above, so it runs before their
	// removal (cleanups run last-in first-out): never RemoveAll a live mount.
	t.Cleanup(n.cleanup)
	n.start()
	return n
}

// Mountpoint is the directory where the node mounts the filesystem.
func (n *Node) Mountpoint() string { return n.opts.Mountpoint }

// DataDir is the --data-dir of the node.
func (n *Node) DataDir() string { return n.opts.DataDir }

// NodeDir is DataDir/NodeID, where the node keeps meta.db, chunks/ and the
// storage-format file.
func (n *Node) NodeDir() string { return filepath.Join(n.opts.DataDir, n.opts.NodeID) }

// NodeID is the --node-id of the node.
func (n *Node) NodeID() string { return n.opts.NodeID }

// Options returns the options the node runs with (after defaults).
func (n *Node) Options() NodeOptions { return n.opts }

// Args returns the command line (without the binary) the node runs with.
func (n *Node) Args() []string { return nodeArgs(n.opts) }

// Stderr returns what the current (latest) process wrote to stderr so far.
func (n *Node) Stderr() string {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.proc == nil {
		return ""
	}
	return n.proc.stderr.String()
}

// Running reports whether the current process has not exited.
func (n *Node) Running() bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.proc != nil && !n.proc.exited()
}

func nodeArgs(o NodeOptions) []string {
	args := []string{"mount", o.Mountpoint,
		"--data-dir", o.DataDir,
		"--node-id", o.NodeID,
		"--discovery-port", "0",
		"--http-port", "0",
	}
	if o.StorageMajor != "" {
		args = append(args, "--storage-major", o.StorageMajor)
	}
	if o.Debug {
		args = append(args, "--debug")
	}
	return append(args, o.ExtraArgs...)
}

// ChildEnv is the environment for a clusterf child: the test's environment
// without CLUSTERF_* variables (every flag reads one, so they would leak into
// the test), plus extra.
func ChildEnv(extra ...string) []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "CLUSTERF_") {
			env = append(env, kv)
		}
	}
	return append(env, extra...)
}

// spawn starts the node's process and makes it the current one; it does
// not wait for the mount.
func (n *Node) spawn() (*process, error) {
	argv := append(append(append([]string{}, n.opts.Wrap...), n.bin), nodeArgs(n.opts)...)
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Env = ChildEnv(n.opts.Env...)
	cmd.Dir = n.opts.DataDir
	p := &process{cmd: cmd, stderr: &syncBuffer{}, done: make(chan struct{})}
	cmd.Stdout = p.stderr // startup banner etc.; keep it with the logs
	cmd.Stderr = p.stderr
	// A grandchild (fusermount3) may hold stderr open; don't wait forever.
	cmd.WaitDelay = 5 * time.Second
	// If the test binary dies, ask the server to unmount and exit.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	go func() {
		p.err = cmd.Wait()
		close(p.done)
	}()
	n.watchdog(p)
	n.mu.Lock()
	n.proc = p
	n.procs = append(n.procs, p)
	n.mu.Unlock()
	return p, nil
}

func (n *Node) start() {
	t := n.t
	t.Helper()
	p, err := n.spawn()
	if err != nil {
		t.Fatalf("start %s: %v", n.bin, err)
	}

	// Ready when the topmost mount at the mountpoint is ours and answers
	// stat. Mount ids and device numbers are recycled, so a stale mount left
	// by a killed process is told apart by stat failing (ENOTCONN); and the
	// stat must have come from that mount (its st_dev), not from the bare
	// directory while the new process swaps the stale mount out.
	deadline := time.Now().Add(ReadyTimeout)
	type statResult struct {
		st  syscall.Stat_t
		err error
	}
	var statc chan statResult // one stat in flight at a time; it may block
	lastStat := error(nil)
	for {
		if p.exited() {
			t.Fatalf("clusterf %s exited before mounting: %v\nstderr:\n%s",
				strings.Join(nodeArgs(n.opts), " "), p.err, p.stderr.String())
		}
		if m, ok := topMount(t, n.opts.Mountpoint); ok && m.fstype == FuseType {
			if statc == nil {
				statc = make(chan statResult, 1)
				go func(c chan statResult) {
					var r statResult
					// stat alone may be answered from the kernel's attribute
					// cache of a dead mount; opening the directory always
					// reaches the server.
					if _, r.err = os.ReadDir(n.opts.Mountpoint); r.err == nil {
						r.err = syscall.Stat(n.opts.Mountpoint, &r.st)
					}
					c <- r
				}(statc)
			}
			select {
			case r := <-statc:
				statc = nil
				if r.err != nil {
					lastStat = r.err
					break
				}
				if m, ok := topMount(t, n.opts.Mountpoint); ok && m.fstype == FuseType &&
					m.major == unix.Major(uint64(r.st.Dev)) && m.minor == unix.Minor(uint64(r.st.Dev)) {
					return
				}
			case <-time.After(20 * time.Millisecond):
			}
		} else {
			time.Sleep(20 * time.Millisecond)
		}
		if time.Now().After(deadline) {
			t.Fatalf("clusterf did not mount %s (fstype %s, answering stat) within %v; last stat error: %v\nstderr:\n%s",
				n.opts.Mountpoint, FuseType, ReadyTimeout, lastStat, p.stderr.String())
		}
	}
}

// watchdog: shortly before the test binary's -timeout, a hung server gets
// SIGQUIT so its goroutine dump lands in the logs, and the hung accesses to
// the mount fail (ENOTCONN) instead of the whole run panicking without
// cleanups.
func (n *Node) watchdog(p *process) {
	dl, ok := n.t.(interface{ Deadline() (time.Time, bool) })
	if !ok {
		return
	}
	deadline, ok := dl.Deadline()
	if !ok {
		return
	}
	timer := time.AfterFunc(time.Until(deadline)-15*time.Second, func() {
		if p.exited() {
			return
		}
		p.cmd.Process.Signal(syscall.SIGQUIT)
		select {
		case <-p.done:
		case <-time.After(5 * time.Second):
		}
		fmt.Fprintf(os.Stderr, "integration: clusterf on %s still running near the test deadline; sent SIGQUIT. stderr:\n%s\n",
			n.opts.Mountpoint, tail(p.stderr.String(), 256<<10))
	})
	go func() {
		<-p.done
		timer.Stop()
	}()
}

// Stop sends SIGTERM, waits for the process to exit, and fails the test
// unless it exited 0 and the mount is gone.
func (n *Node) Stop() {
	t := n.t
	t.Helper()
	n.mu.Lock()
	p := n.proc
	n.mu.Unlock()
	if p == nil || p.exited() {
		t.Fatalf("Stop: node is not running")
	}
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatalf("SIGTERM: %v", err)
	}
	select {
	case <-p.done:
	case <-time.After(StopTimeout):
		p.cmd.Process.Kill()
		<-p.done
		t.Fatalf("clusterf did not exit within %v of SIGTERM\nstderr:\n%s", StopTimeout, p.stderr.String())
	}
	if code := p.cmd.ProcessState.ExitCode(); code != 0 {
		t.Fatalf("clusterf exited with %v after SIGTERM, want exit 0\nstderr:\n%s", p.err, p.stderr.String())
	}
	if m, ok := topMount(t, n.opts.Mountpoint); ok {
		t.Fatalf("after a clean exit %s is still mounted (fstype %s)\nstderr:\n%s",
			n.opts.Mountpoint, m.fstype, p.stderr.String())
	}
}

// Kill9 kills the process with SIGKILL and waits for it. The mount is left
// behind stale ("transport endpoint is not connected").
func (n *Node) Kill9() {
	t := n.t
	t.Helper()
	n.mu.Lock()
	p := n.proc
	n.mu.Unlock()
	if p == nil || p.exited() {
		t.Fatalf("Kill9: node is not running")
	}
	if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatalf("SIGKILL: %v", err)
	}
	<-p.done
}

// Restart starts the node again with the same options (same data dir and
// mountpoint). A running node is stopped first; after Kill9 the stale mount
// is left for the new process to handle, as a real restart would.
func (n *Node) Restart() {
	n.t.Helper()
	if n.Running() {
		n.Stop()
	}
	n.start()
}

// cleanup always leaves the mountpoint unmounted and the process gone.
func (n *Node) cleanup() {
	t := n.t
	n.mu.Lock()
	p := n.proc
	procs := n.procs
	n.mu.Unlock()
	if p != nil && !p.exited() {
		p.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-p.done:
		case <-time.After(StopTimeout):
			t.Errorf("cleanup: clusterf did not exit within %v of SIGTERM; killing it", StopTimeout)
			p.cmd.Process.Kill()
			<-p.done
		}
	}
	if err := ForceUnmount(n.opts.Mountpoint); err != nil {
		t.Errorf("cleanup: %v", err)
	}
	if t.Failed() {
		for i, p := range procs {
			t.Logf("clusterf process %d/%d (%s) stderr:\n%s", i+1, len(procs), exitDesc(p), tail(p.stderr.String(), 64<<10))
		}
	}
}

func exitDesc(p *process) string {
	if !p.exited() {
		return "running"
	}
	if p.err == nil {
		return "exit 0"
	}
	return p.err.Error()
}

func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return "[...]\n" + s[len(s)-n:]
}

// ForceUnmount removes every mount stacked on dir: fusermount3 -u, then
// fusermount3 -u -z, then umount -l. It returns an error only if dir is still
// mounted at the end.
func ForceUnmount(dir string) error {
	for i := 0; i < 20; i++ {
		if !IsMounted(dir) {
			return nil
		}
		var cmd *exec.Cmd
		switch {
		case i < 3:
			cmd = exec.Command("fusermount3", "-u", dir)
		case i < 6:
			cmd = exec.Command("fusermount3", "-u", "-z", dir)
		default:
			cmd = exec.Command("umount", "-l", dir)
		}
		cmd.Run()
		time.Sleep(50 * time.Millisecond)
	}
	if IsMounted(dir) {
		return fmt.Errorf("%s is still mounted after fusermount3 -u -z and umount -l", dir)
	}
	return nil
}

// IsMounted reports whether anything is mounted at dir.
func IsMounted(dir string) bool {
	ms, err := readMountinfo()
	if err != nil {
		return false
	}
	dir = filepath.Clean(dir)
	for _, m := range ms {
		if m.mountpoint == dir {
			return true
		}
	}
	return false
}

// RunResult is the outcome of [RunBinary].
type RunResult struct {
	Stdout, Stderr string
	ExitCode       int // -1 when killed by a signal or timed out
	TimedOut       bool
}

// Combined returns stdout and stderr together.
func (r RunResult) Combined() string { return r.Stdout + r.Stderr }

// RunBinary runs the clusterf binary with args until it exits or timeout
// passes (then it is killed). Use it for short-lived invocations (version,
// bad flags, refused starts); pass any mountpoint in args to
// [EnsureUnmountedAtCleanup] in case the binary mounts unexpectedly.
func RunBinary(t testing.TB, timeout time.Duration, args ...string) RunResult {
	t.Helper()
	bin := Binary(t)
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGTERM) }
	cmd.WaitDelay = 10 * time.Second
	cmd.Env = ChildEnv()
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	r := RunResult{Stdout: stdout.String(), Stderr: stderr.String(), ExitCode: -1}
	if ctx.Err() != nil {
		r.TimedOut = true
	}
	var ee *exec.ExitError
	switch {
	case r.TimedOut:
		if errors.As(err, &ee) {
			r.ExitCode = ee.ExitCode()
		}
	case err == nil:
		r.ExitCode = 0
	case errors.As(err, &ee):
		r.ExitCode = ee.ExitCode()
	default:
		t.Fatalf("run clusterf %s: %v", strings.Join(args, " "), err)
	}
	return r
}

// EnsureUnmountedAtCleanup registers a cleanup that unmounts dir if anything
// got mounted there.
func EnsureUnmountedAtCleanup(t testing.TB, dir string) {
	registerMount(dir)
	t.Cleanup(func() {
		if IsMounted(dir) {
			t.Errorf("%s was left mounted", dir)
		}
		if err := ForceUnmount(dir); err != nil {
			t.Error(err)
		}
	})
}

// syncBuffer is a bytes.Buffer safe for concurrent writes and reads.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
