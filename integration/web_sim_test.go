package integration

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// BenchmarkDashboard100Nodes measures how long the visualizer and the
// monitor take to first render a 100-member cluster (`clusterf sim
// --sim-nodes 100` on loopback), and the longest main-thread task while
// they do (a frozen page shows as one long task). A measurement, never a
// threshold:
//
//	go test -run '^$' -bench BenchmarkDashboard100Nodes -benchtime 3x ./integration/
func BenchmarkDashboard100Nodes(b *testing.B) {
	const nodes, basePort = 100, 41000
	cmd := exec.Command(Binary(b), "sim", "--sim-nodes", fmt.Sprint(nodes), "--base-port", fmt.Sprint(basePort), "--data-dir", b.TempDir())
	cmd.Env = ChildEnv()
	// Pdeathsig is sent when the forking OS thread ends, not the process:
	// keep this goroutine on its thread until the benchmark is over (a
	// sim found dead after a minute, with the benchmark still waiting).
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
	var stderr syncBuffer
	cmd.Stderr = &stderr
	cmd.Stdout = io.Discard // the banner
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	exited := make(chan struct{})
	var exitErr error
	go func() { exitErr = cmd.Wait(); close(exited) }()
	b.Cleanup(func() { cmd.Process.Signal(syscall.SIGTERM); <-exited })
	base := fmt.Sprintf("http://127.0.0.1:%d", basePort)
	client := &http.Client{Timeout: time.Minute}
	start := time.Now()
	// Every member known to node 0; how many are up depends on the
	// machine (100 full nodes in one process): it is logged. On a busy
	// machine that takes long: CLUSTERF_SIM_WAIT (default 10m) bounds it.
	wait := 10 * time.Minute
	if d, err := time.ParseDuration(os.Getenv("CLUSTERF_SIM_WAIT")); err == nil {
		wait = d
	}
	up, known := 0, 0
	for time.Since(start) < wait {
		select {
		case <-exited:
			b.Fatalf("the sim exited after %v (%v):\n%s", time.Since(start).Round(time.Second), exitErr, tail(stderr.String(), 4000))
		default:
		}
		var rep struct {
			Members []struct{ State string } `json:"members"`
		}
		if resp, err := client.Get(base + "/api/members"); err == nil {
			json.NewDecoder(resp.Body).Decode(&rep)
			resp.Body.Close()
		}
		up, known = 0, len(rep.Members)
		for _, m := range rep.Members {
			if m.State == "up" {
				up++
			}
		}
		if known == nodes {
			break
		}
		time.Sleep(2 * time.Second)
	}
	b.Logf("%d members known to sim-0, %d of them up, after %v", known, up, time.Since(start).Round(time.Second))
	if known < nodes {
		b.Fatalf("sim-0 knows only %d of %d simulated members after %v (a busy machine? CLUSTERF_SIM_WAIT=30m)", known, nodes, wait)
	}
	browser := NewBrowser(b)
	b.ResetTimer()
	var viz, mon, longest float64
	for range b.N {
		v, lv := firstRender(b, browser, base+"/cluster-visualizer.html",
			`document.getElementById('topology') && document.getElementById('topology').dataset.renderedNodes === '100'`)
		m, lm := firstRender(b, browser, base+"/monitor", `document.querySelectorAll('#members tbody tr').length === 100`)
		viz, mon, longest = viz+v, mon+m, max(longest, lv, lm)
	}
	b.ReportMetric(viz/float64(b.N), "visualizer-ms")
	b.ReportMetric(mon/float64(b.N), "monitor-ms")
	b.ReportMetric(longest, "longest-task-ms")
	b.Logf("100 members: visualizer first render %.0f ms, monitor %.0f ms (from navigation start, mean of %d); longest main-thread task %.0f ms",
		viz/float64(b.N), mon/float64(b.N), b.N, longest)
}

// firstRender opens url in a fresh tab and returns the milliseconds from
// navigation start until cond held, and the longest task seen meanwhile.
func firstRender(b *testing.B, browser context.Context, url, cond string) (ms, longest float64) {
	tab := NewTab(b, browser)
	defer tab.Close() // a live page left open would keep loading the cores in the next rounds
	tab.Do(b, 60*time.Second, chromedp.Navigate(url))
	// Long tasks since the document started (buffered).
	EvalJS[bool](b, tab, `(() => { window.__longest = 0; try { new PerformanceObserver((l) => { for (const e of l.getEntries()) window.__longest = Math.max(window.__longest, e.duration); }).observe({type: 'longtask', buffered: true}); } catch (_) {} return true; })()`)
	deadline := time.Now().Add(2 * time.Minute)
	for time.Now().Before(deadline) {
		ok := EvalJS[bool](b, tab, "!!("+cond+")")
		if ok {
			ms = EvalJS[float64](b, tab, `performance.now()`)
			if strings.Contains(url, "visualizer") {
				ms = EvalJS[float64](b, tab, `Number(document.getElementById('topology').dataset.renderedAt)`)
			}
			longest = EvalJS[float64](b, tab, `window.__longest`)
			tab.Check(b)
			return ms, longest
		}
		time.Sleep(20 * time.Millisecond)
	}
	b.Fatalf("%s did not render 100 members within 2 min: %v", url, tab.Issues())
	return 0, 0
}
