package integration

import (
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/network"
	cdruntime "github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
	"golang.org/x/sys/unix"
)

// Browser tests drive the web dashboard in a real headless Chromium
// (github.com/chromedp/chromedp). The browser runs in the test's own
// network namespace; a node's HTTP port listens on 127.0.0.1 inside its
// host's namespace, so NSProxy forwards a loopback port of ours to it.

// NSDialer dials from inside a network namespace: the socket is created
// on an OS thread that joined the namespace, and the thread goes back to
// its own namespace before it is unlocked (it must never exit while
// locked: a child started with Pdeathsig from that thread, every node of
// the harness, would be killed with it).
func NSDialer(nsPath string) func(ctx context.Context, network, addr string) (net.Conn, error) {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		runtime.LockOSThread()
		self, err := unix.Open(fmt.Sprintf("/proc/self/task/%d/ns/net", unix.Gettid()), unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			runtime.UnlockOSThread()
			return nil, err
		}
		defer unix.Close(self)
		fd, err := unix.Open(nsPath, unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			runtime.UnlockOSThread()
			return nil, err
		}
		defer unix.Close(fd)
		if err := unix.Setns(fd, unix.CLONE_NEWNET); err != nil {
			runtime.UnlockOSThread()
			return nil, fmt.Errorf("setns %s: %w", nsPath, err)
		}
		var d net.Dialer
		c, err := d.DialContext(ctx, network, addr)
		if rerr := unix.Setns(self, unix.CLONE_NEWNET); rerr != nil {
			panic(fmt.Sprintf("integration: setns back to the own network namespace: %v", rerr))
		}
		runtime.UnlockOSThread()
		return c, err
	}
}

// NSProxy forwards a fresh 127.0.0.1 port of the test's namespace to addr
// inside h's namespace until cleanup, and returns "http://127.0.0.1:port".
func NSProxy(t testing.TB, h *Host, addr string) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dial := NSDialer("/run/netns/" + h.Name)
	var wg sync.WaitGroup
	var mu sync.Mutex
	conns := map[net.Conn]bool{}
	track := func(c net.Conn, on bool) {
		mu.Lock()
		defer mu.Unlock()
		if on {
			conns[c] = true
		} else {
			delete(conns, c)
		}
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.Close()
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				up, err := dial(ctx, "tcp", addr)
				cancel()
				if err != nil {
					return
				}
				defer up.Close()
				track(c, true)
				track(up, true)
				done := make(chan struct{}, 2)
				go func() { io.Copy(up, c); up.(*net.TCPConn).CloseWrite(); done <- struct{}{} }()
				go func() { io.Copy(c, up); c.(*net.TCPConn).CloseWrite(); done <- struct{}{} }()
				<-done
				<-done
				track(c, false)
				track(up, false)
			}()
		}
	}()
	t.Cleanup(func() {
		l.Close()
		mu.Lock()
		for c := range conns {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	return "http://" + l.Addr().String()
}

// chromiumFlags are added to chromedp's defaults (which are headless and
// turn background networking, sync and extensions off): without those
// Chromium opens many connections of its own, which the machine refuses.
var chromiumFlags = []chromedp.ExecAllocatorOption{
	chromedp.NoSandbox,
	chromedp.DisableGPU,
	chromedp.Flag("disable-quic", true),
	chromedp.Flag("disable-background-networking", true),
	chromedp.Flag("disable-component-update", true),
	chromedp.Flag("disable-sync", true),
	chromedp.Flag("mute-audio", true),
	chromedp.Flag("hide-scrollbars", true),
}

// NewBrowser starts headless Chromium (a fresh profile in a temporary
// directory) and returns its context; it is closed at cleanup. It fails
// the test when Chromium is missing (deps/deps.txt lists it).
func NewBrowser(t testing.TB) context.Context {
	t.Helper()
	path, err := exec.LookPath("chromium")
	if err != nil {
		t.Fatalf("browser tests need Chromium (apt-get install chromium; deps/deps.txt): %v", err)
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(path), chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1280, 800))
	opts = append(opts, chromiumFlags...)
	actx, cancelA := chromedp.NewExecAllocator(context.Background(), opts...)
	bctx, cancelB := chromedp.NewContext(actx)
	if err := chromedp.Do(bctx); err != nil { // starts the browser
		cancelB()
		cancelA()
		t.Fatalf("start chromium: %v", err)
	}
	t.Cleanup(func() { cancelB(); cancelA() })
	return bctx
}

// Tab is one browser tab that records what went wrong on its pages: console
// errors, uncaught exceptions, browser log errors (CSP violations among
// them), failed requests and answers with status >= 400.
type Tab struct {
	Ctx    context.Context
	mu     sync.Mutex
	issues []string
	// Allow are substrings of issues the test expects (a request it makes
	// fail on purpose).
	Allow []string
	close context.CancelFunc
}

// Close closes the tab now (it closes at cleanup anyway).
func (tab *Tab) Close() { tab.close() }

// NewTab opens a tab in the browser of bctx; it closes at cleanup.
func NewTab(t testing.TB, bctx context.Context) *Tab {
	t.Helper()
	ctx, cancel := chromedp.NewContext(bctx)
	tab := &Tab{Ctx: ctx, close: cancel}
	if err := chromedp.Do(ctx); err != nil {
		cancel()
		t.Fatalf("open tab: %v", err)
	}
	if err := chromedp.Listen(ctx, tab.listen); err != nil {
		cancel()
		t.Fatalf("listen to the tab: %v", err)
	}
	t.Cleanup(cancel)
	return tab
}

func (tab *Tab) note(format string, args ...any) {
	s := fmt.Sprintf(format, args...)
	tab.mu.Lock()
	defer tab.mu.Unlock()
	for _, a := range tab.Allow {
		if strings.Contains(s, a) {
			return
		}
	}
	tab.issues = append(tab.issues, s)
}

func (tab *Tab) listen(ev any) {
	switch e := ev.(type) {
	case *cdruntime.EventConsoleAPICalled:
		if e.Type == cdruntime.ConsoleAPICalledTypeError || e.Type == cdruntime.ConsoleAPICalledTypeAssert {
			var parts []string
			for _, a := range e.Args {
				parts = append(parts, strings.Trim(string(a.Value), `"`)+a.Description)
			}
			tab.note("console %s: %s", e.Type, strings.Join(parts, " "))
		}
	case *cdruntime.EventExceptionThrown:
		d := e.ExceptionDetails
		msg := d.Text
		if d.Exception != nil {
			msg += " " + d.Exception.Description
		}
		tab.note("uncaught exception: %s (%s:%d)", msg, d.URL, d.LineNumber)
	case *log.EventEntryAdded:
		if e.Entry.Level == log.EntryLevelError {
			tab.note("browser log (%s): %s %s", e.Entry.Source, e.Entry.Text, e.Entry.URL)
		}
	case *network.EventLoadingFailed:
		if !e.Canceled {
			tab.note("request failed: %s (%s)", e.ErrorText, e.RequestID)
		}
	case *network.EventResponseReceived:
		if e.Response.Status >= 400 {
			tab.note("HTTP %d for %s", e.Response.Status, e.Response.URL)
		}
	}
}

// Issues returns what went wrong so far and forgets it.
func (tab *Tab) Issues() []string {
	tab.mu.Lock()
	defer tab.mu.Unlock()
	out := tab.issues
	tab.issues = nil
	return out
}

// Check fails t with every issue recorded so far.
func (tab *Tab) Check(t testing.TB) {
	t.Helper()
	for _, s := range tab.Issues() {
		t.Errorf("page problem: %s", s)
	}
}

// Do runs chromedp actions in the tab with a deadline.
func (tab *Tab) Do(t testing.TB, timeout time.Duration, actions ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	ctx, cancel := context.WithTimeout(tab.Ctx, timeout)
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		t.Fatalf("browser: %v (page problems so far: %v)", err, tab.Issues())
	}
}

func awaitPromise(p *cdruntime.EvaluateParams) {
	yes := true
	p.AwaitPromise = &yes
}

// EvalJS evaluates a JavaScript expression (promises are awaited) in the
// tab and decodes its value.
func EvalJS[T any](t testing.TB, tab *Tab, expr string) T {
	t.Helper()
	ctx, cancel := context.WithTimeout(tab.Ctx, 60*time.Second)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](expr, awaitPromise))
	if err != nil {
		t.Fatalf("evaluate %.200s: %v (page problems so far: %v)", expr, err, tab.Issues())
	}
	return v
}

// WaitJS polls a JavaScript expression until it is true or within passes,
// and returns how long it took.
func (tab *Tab) WaitJS(t testing.TB, within time.Duration, what, expr string) time.Duration {
	t.Helper()
	start := time.Now()
	var last string
	for time.Since(start) < within {
		ctx, cancel := context.WithTimeout(tab.Ctx, 10*time.Second)
		ok, err := chromedp.Run(ctx, chromedp.Evaluate[bool]("!!("+expr+")"))
		cancel()
		if err == nil && ok {
			return time.Since(start)
		}
		if err != nil {
			last = err.Error()
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("%s: not true after %v (%s): %s; page problems: %v", what, within, expr, last, tab.Issues())
	return 0
}

// Screenshot saves a PNG of the viewport at width×height as name.png in
// dir, then goes back to 1280×800.
func (tab *Tab) Screenshot(t testing.TB, dir, name string, width, height int64) {
	t.Helper()
	tab.Do(t, 30*time.Second, chromedp.EmulateViewport(width, height), chromedp.Sleep(500*time.Millisecond))
	ctx, cancel := context.WithTimeout(tab.Ctx, 30*time.Second)
	buf, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
	cancel()
	if err != nil {
		t.Fatalf("screenshot %s: %v", name, err)
	}
	tab.Do(t, 30*time.Second, chromedp.EmulateViewport(1280, 800))
	if len(buf) < 8 || string(buf[1:4]) != "PNG" {
		t.Fatalf("screenshot %s is not a PNG", name)
	}
	if err := os.WriteFile(filepath.Join(dir, name+".png"), buf, 0o644); err != nil {
		t.Fatal(err)
	}
}

// ScreenshotDir is where browser tests put their screenshots:
// CLUSTERF_SCREENSHOTS (`make screenshots` refreshes docs/screenshots),
// else a temporary directory.
func ScreenshotDir(t testing.TB) string {
	if d := os.Getenv("CLUSTERF_SCREENSHOTS"); d != "" {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
		return d
	}
	return t.TempDir()
}
