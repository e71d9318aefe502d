package integration

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"
)

// TestWeb drives every page of the web dashboard in headless Chromium
// against one real 3-node cluster (real processes in network namespaces,
// real FUSE mounts). Every page must load without a console error, an
// uncaught exception or a failed request, and show real content: the
// monitor lists the three members and shows a stopped one down without a
// reload; a drag-and-drop upload lands byte-identical in the FUSE mounts;
// a rename in a mount shows in the browser; conflict copies can be kept;
// the visualizer draws one element per member; the inspector shows the
// version vector /status has. Screenshots go to CLUSTERF_SCREENSHOTS
// (make screenshots: docs/screenshots).
func TestWeb(t *testing.T) {
	net := NewNet(t, 3)
	var nodes []*Node
	for i, h := range net.Hosts {
		nodes = append(nodes, startClusterNode(t, h, fmt.Sprintf("n%d", i), clusterKey, "--http-port", "8080"))
	}
	base := NSProxy(t, net.Hosts[0], "127.0.0.1:8080")
	w := &webEnv{t: t, base: base, nodes: nodes, net: net, shots: ScreenshotDir(t), client: &http.Client{Timeout: 30 * time.Second}}
	eventually(t, 30*time.Second, "three members up", w.membersUp(3))
	w.browser = NewBrowser(t)

	t.Run("monitor", w.testMonitor)
	t.Run("files", w.testFiles)
	t.Run("conflicts", w.testConflicts)
	t.Run("visualizer", w.testVisualizer)
	t.Run("crdt", w.testCRDT)
	t.Run("metrics", w.testMetrics)
	t.Run("profiling", w.testProfiling)
	t.Run("stopped member shows down", w.testMemberDown) // last: stops n2
}

type webEnv struct {
	t       *testing.T
	base    string
	nodes   []*Node
	net     *Net
	shots   string
	client  *http.Client
	browser context.Context
}

// getJSON fetches base+path into v.
func (w *webEnv) getJSON(path string, v any) error {
	resp, err := w.client.Get(w.base + path)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		return fmt.Errorf("GET %s: %s", path, resp.Status)
	}
	return json.NewDecoder(resp.Body).Decode(v)
}

func (w *webEnv) membersUp(n int) func() string {
	return func() string {
		var rep struct {
			Members []struct {
				NodeID string `json:"node_id"`
				State  string `json:"state"`
			} `json:"members"`
		}
		if err := w.getJSON("/api/members", &rep); err != nil {
			return err.Error()
		}
		up := 0
		for _, m := range rep.Members {
			if m.State == "up" {
				up++
			}
		}
		if up != n {
			return fmt.Sprintf("%d of %d members up: %+v", up, n, rep.Members)
		}
		return ""
	}
}

// open opens path in a new tab and waits until the page's app rendered
// (its <main> has an <h1>).
func (w *webEnv) open(t *testing.T, path string) *Tab {
	tab := NewTab(t, w.browser)
	tab.Do(t, 30*time.Second, chromedp.EmulateViewport(1280, 800), chromedp.Navigate(w.base+path))
	tab.WaitJS(t, 15*time.Second, "page rendered", `document.querySelector('main h1')`)
	return tab
}

// phoneFits checks that the page does not scroll sideways at phone width
// (wide tables scroll inside their own box).
func (w *webEnv) phoneFits(t *testing.T, tab *Tab, name string) {
	tab.Screenshot(t, w.shots, name+"-phone", 390, 844)
	tab.Do(t, 10*time.Second, chromedp.EmulateViewport(390, 844))
	over, culprits := fitsWidth(t, tab)
	tab.Do(t, 10*time.Second, chromedp.EmulateViewport(1280, 800))
	if over > 1 {
		t.Errorf("%s at 390 px wide scrolls sideways by %.0f px: %s stick out", name, over, strings.Join(culprits, ", "))
	}
}

func (w *webEnv) testMonitor(t *testing.T) {
	tab := w.open(t, "/monitor")
	defer tab.Check(t)
	for _, n := range w.nodes {
		tab.WaitJS(t, 15*time.Second, "monitor lists "+n.NodeID(), fmt.Sprintf(`document.querySelector('#members tr[data-node=%q][data-state="up"]')`, n.NodeID()))
	}
	tab.WaitJS(t, 10*time.Second, "partition tiles", `document.querySelectorAll('#partition-states li').length === 5`)
	tab.WaitJS(t, 10*time.Second, "open-mode warning absent", `!document.body.innerText.includes('open LAN mode')`)
	checkA11y(t, tab, "monitor")
	// Change the replication factor from the keyboard (Tab to the field,
	// type, Enter); the event arrives live.
	tabTo(t, tab, "input#rf-input", 40)
	EvalJS[bool](t, tab, `(document.activeElement.select(), true)`)
	tab.Do(t, 10*time.Second, chromedp.KeyEvent("2"), chromedp.KeyEvent(kb.Enter))
	tab.WaitJS(t, 10*time.Second, "RF event in the list", `[...document.querySelectorAll('#events li')].some(li => li.textContent.includes('replication factor set to 2'))`)
	var rf struct {
		N int `json:"replication_factor"`
	}
	if err := w.getJSON("/api/replication-factor", &rf); err != nil || rf.N != 2 {
		t.Fatalf("replication factor after the page set it: %d, %v", rf.N, err)
	}
	setInput(t, tab, "#rf-input", "3")
	tab.Do(t, 20*time.Second, chromedp.Click(chromedp.CSS(`form.rf button`)))
	tab.WaitJS(t, 10*time.Second, "RF back to 3", `[...document.querySelectorAll('#events li')].some(li => li.textContent.includes('replication factor set to 3'))`)
	w.phoneFits(t, tab, "monitor")
}

// dropFiles drops files (name -> bytes) on the file browser's drop zone,
// as a drag and drop from the desktop does.
func dropFiles(t *testing.T, tab *Tab, files map[string][]byte) {
	var js strings.Builder
	js.WriteString(`(() => { const dt = new DataTransfer(); const b64 = (s) => Uint8Array.from(atob(s), c => c.charCodeAt(0));`)
	for name, data := range files {
		fmt.Fprintf(&js, `dt.items.add(new File([b64(%q)], %q, {type: 'application/octet-stream'}));`, base64.StdEncoding.EncodeToString(data), name)
	}
	js.WriteString(`const z = document.getElementById('dropzone');
		z.dispatchEvent(new DragEvent('dragover', {dataTransfer: dt, bubbles: true, cancelable: true}));
		z.dispatchEvent(new DragEvent('drop', {dataTransfer: dt, bubbles: true, cancelable: true})); return true; })()`)
	EvalJS[bool](t, tab, js.String())
}

func (w *webEnv) testFiles(t *testing.T) {
	a, b := w.nodes[0], w.nodes[1]
	if err := os.MkdirAll(filepath.Join(a.Mountpoint(), "photos"), 0o755); err != nil {
		t.Fatal(err)
	}
	writeFileSync(t, filepath.Join(a.Mountpoint(), "photos", "notes.txt"), []byte("frog notes\n"), 0o644)
	tab := w.open(t, "/files/photos/")
	defer tab.Check(t)
	tab.WaitJS(t, 10*time.Second, "listing shows notes.txt", `document.querySelector('#files tr[data-name="notes.txt"]')`)

	// Drag and drop two files (one of several chunks) into /photos.
	big := randomBytes(9<<20+4321, 3)
	small := randomBytes(70000, 4)
	dropFiles(t, tab, map[string][]byte{"big.bin": big, "small.bin": small})
	tab.WaitJS(t, 120*time.Second, "uploads done", `document.querySelectorAll('.uploads li.done').length === 2`)
	tab.WaitJS(t, 10*time.Second, "uploads listed", `document.querySelector('#files tr[data-name="big.bin"]') && document.querySelector('#files tr[data-name="small.bin"]')`)
	for _, n := range []*Node{a, b} {
		eventually(t, 20*time.Second, "big.bin byte-identical on "+n.NodeID(), contentIs(filepath.Join(n.Mountpoint(), "photos", "big.bin"), big))
		eventually(t, 20*time.Second, "small.bin byte-identical on "+n.NodeID(), contentIs(filepath.Join(n.Mountpoint(), "photos", "small.bin"), small))
	}

	// A rename in another member's mount shows in the browser, no reload.
	if err := os.Rename(filepath.Join(b.Mountpoint(), "photos", "notes.txt"), filepath.Join(b.Mountpoint(), "photos", "renamed.txt")); err != nil {
		t.Fatal(err)
	}
	took := tab.WaitJS(t, 10*time.Second, "rename on n1 shown", `document.querySelector('#files tr[data-name="renamed.txt"]') && !document.querySelector('#files tr[data-name="notes.txt"]')`)
	t.Logf("a rename in n1's mount showed in the browser (served by n0) after %v", took)

	// Details: chunks and their holders, replication state.
	tab.Do(t, 10*time.Second, chromedp.Click(chromedp.CSS(`#files tr[data-name="big.bin"] button[aria-label^="Details"]`)))
	tab.WaitJS(t, 15*time.Second, "details with chunks", `document.querySelectorAll('.chunks tbody tr').length === 3 && document.getElementById('replication-state')`)
	tab.Screenshot(t, w.shots, "files-details", 1280, 800)
	tab.Do(t, 10*time.Second, chromedp.Click(chromedp.CSS(`.modal button[aria-label="Close"]`)))

	// New folder, rename and delete through the page land in the mount.
	tab.Do(t, 10*time.Second, chromedp.Click(`//button[text()="New folder"]`))
	setInput(t, tab, "#pd-input", "albums")
	tab.Do(t, 10*time.Second, chromedp.Click(chromedp.CSS(`.modal button[type=submit]`)))
	eventually(t, 10*time.Second, "folder made in the page exists in the mount", func() string {
		if st, err := os.Stat(filepath.Join(b.Mountpoint(), "photos", "albums")); err != nil || !st.IsDir() {
			return fmt.Sprintf("albums: %v", err)
		}
		return ""
	})
	tab.Do(t, 10*time.Second, chromedp.Click(chromedp.CSS(`#files tr[data-name="small.bin"] button[aria-label^="Rename"]`)))
	setInput(t, tab, "#pd-input", "tiny.bin")
	tab.Do(t, 10*time.Second, chromedp.Click(chromedp.CSS(`.modal button[type=submit]`)))
	eventually(t, 10*time.Second, "rename in the page shows in the mount", contentIs(filepath.Join(b.Mountpoint(), "photos", "tiny.bin"), small))
	tab.Do(t, 10*time.Second, chromedp.Click(chromedp.CSS(`#files tr[data-name="tiny.bin"] button[aria-label^="Delete"]`)))
	tab.WaitJS(t, 5*time.Second, "confirmation asked", `document.querySelector('.modal') && document.querySelector('.modal').textContent.includes('Delete')`)
	tab.Do(t, 10*time.Second, chromedp.Click(chromedp.CSS(`.modal button.danger`)))
	eventually(t, 10*time.Second, "delete in the page removes the file from the mount", func() string {
		if _, err := os.Stat(filepath.Join(b.Mountpoint(), "photos", "tiny.bin")); err == nil {
			return "tiny.bin still there"
		}
		return ""
	})
	tab.WaitJS(t, 10*time.Second, "listing without tiny.bin", `!document.querySelector('#files tr[data-name="tiny.bin"]')`)

	// Details from the keyboard: Enter opens the dialog with the focus in
	// it, Escape closes it and gives the focus back.
	EvalJS[bool](t, tab, `(document.querySelector('#files tr[data-name="renamed.txt"] button[aria-label^="Details"]').focus(), true)`)
	tab.Do(t, 10*time.Second, chromedp.KeyEvent(kb.Enter))
	tab.WaitJS(t, 10*time.Second, "details dialog has the focus", `document.querySelector('.modal') && document.querySelector('.modal').contains(document.activeElement)`)
	checkA11y(t, tab, "files (details dialog)")
	tab.Do(t, 10*time.Second, chromedp.KeyEvent(kb.Escape))
	tab.WaitJS(t, 10*time.Second, "dialog closed, focus back", `!document.querySelector('.modal') && document.activeElement.getAttribute('aria-label') === 'Details of renamed.txt'`)

	// A text preview.
	tab.Do(t, 10*time.Second, chromedp.Click(chromedp.CSS(`#files tr[data-name="renamed.txt"] th button`)))
	tab.WaitJS(t, 10*time.Second, "text preview", `document.querySelector('.text-preview') && document.querySelector('.text-preview').textContent.includes('frog notes')`)
	tab.Do(t, 10*time.Second, chromedp.Click(chromedp.CSS(`.modal button[aria-label="Close"]`)))
	tab.Screenshot(t, w.shots, "files", 1280, 800)
	checkA11y(t, tab, "files")
	w.phoneFits(t, tab, "files")
}

// testConflicts makes a name conflict (both sides of a partition create
// one name), then keeps the conflict copy from the page.
func (w *webEnv) testConflicts(t *testing.T) {
	a, c := w.nodes[0], w.nodes[2]
	h := w.net.Hosts[2]
	h.Disconnect()
	writeFileSync(t, filepath.Join(a.Mountpoint(), "plan.txt"), []byte("plan A\n"), 0o644)
	time.Sleep(20 * time.Millisecond) // the other one is later: it wins the name
	writeFileSync(t, filepath.Join(c.Mountpoint(), "plan.txt"), []byte("plan C\n"), 0o644)
	h.Reconnect()
	eventually(t, 30*time.Second, "three members up again", w.membersUp(3))
	tab := w.open(t, "/files/")
	defer tab.Check(t)
	tab.WaitJS(t, 30*time.Second, "conflict copy marked", `[...document.querySelectorAll('#files tr.conflict')].some(r => r.textContent.includes('conflict copy of plan.txt'))`)
	tab.Screenshot(t, w.shots, "files-conflict", 1280, 800)
	loser := EvalJS[string](t, tab, `document.querySelector('#files tr.conflict').dataset.name`)
	want, err := os.ReadFile(filepath.Join(a.Mountpoint(), loser))
	if err != nil {
		t.Fatal(err)
	}
	tab.Do(t, 10*time.Second, chromedp.Click(chromedp.CSS(`#files tr.conflict button[aria-label^="Keep"]`)))
	tab.WaitJS(t, 10*time.Second, "conflict resolved in the page", `!document.querySelector('#files tr.conflict') && document.querySelector('#files tr[data-name="plan.txt"]')`)
	for _, n := range w.nodes {
		eventually(t, 15*time.Second, "kept version under the name on "+n.NodeID(), contentIs(filepath.Join(n.Mountpoint(), "plan.txt"), want))
		eventually(t, 15*time.Second, "no conflict copy on "+n.NodeID(), func() string {
			for _, name := range names(n.Mountpoint()) {
				if strings.Contains(name, ".conflict-") {
					return "still " + name
				}
			}
			return ""
		})
	}
}

func (w *webEnv) testVisualizer(t *testing.T) {
	tab := w.open(t, "/cluster-visualizer.html")
	defer tab.Check(t)
	tab.WaitJS(t, 15*time.Second, "one element per member", `document.getElementById('topology').dataset.renderedNodes === '3' && window.clusterfTopology.nodes().length === 3`)
	for _, n := range w.nodes {
		tab.WaitJS(t, 10*time.Second, n.NodeID()+" drawn up", fmt.Sprintf(`window.clusterfTopology.getElementById(%q).data('color') === '#2e8b57'`, n.NodeID()))
	}
	EvalJS[bool](t, tab, `(window.clusterfTopology.getElementById('n1').emit('tap'), true)`)
	tab.WaitJS(t, 10*time.Second, "details of n1", `document.querySelector('.node-panel h2') && document.querySelector('.node-panel h2').textContent.includes('n1')`)
	// The assets come gzipped: what the browser received of /ui/.
	sent := EvalJS[map[string]float64](t, tab, `(() => { let enc = 0, dec = 0; for (const e of performance.getEntriesByType('resource')) if (new URL(e.name).pathname.startsWith('/ui/')) { enc += e.encodedBodySize; dec += e.decodedBodySize; } return {enc, dec}; })()`)
	t.Logf("the visualizer's assets: %.0f KB received, %.0f KB decoded", sent["enc"]/1000, sent["dec"]/1000)
	if sent["dec"] == 0 || sent["enc"] >= sent["dec"]/2 {
		t.Errorf("the visualizer's assets came uncompressed: %v", sent)
	}
	// The same from the keyboard: the member list under the graph.
	EvalJS[bool](t, tab, `(document.querySelector('#node-list li[data-node="n2"] button').focus(), true)`)
	tab.Do(t, 10*time.Second, chromedp.KeyEvent(kb.Enter))
	tab.WaitJS(t, 10*time.Second, "details of n2 from the keyboard", `document.querySelector('.node-panel h2').textContent.includes('n2')`)
	tab.Screenshot(t, w.shots, "cluster-visualizer", 1280, 800)
	checkA11y(t, tab, "visualizer")
	// At a phone's width the graph is refitted into its smaller box.
	tab.Do(t, 10*time.Second, chromedp.EmulateViewport(390, 844))
	tab.WaitJS(t, 10*time.Second, "graph refitted at 390 px", `(() => { const cy = window.clusterfTopology, bb = cy.nodes().renderedBoundingBox(); return bb.x1 >= 0 && bb.x2 <= cy.width() + 1; })()`)
	w.phoneFits(t, tab, "cluster-visualizer")
}

func (w *webEnv) testCRDT(t *testing.T) {
	tab := w.open(t, "/crdt")
	defer tab.Check(t)
	tab.WaitJS(t, 15*time.Second, "vectors drawn", `document.querySelector('#vectors tr[data-node="n0"]')`)
	eventually(t, 20*time.Second, "inspector shows the version vector of /status", func() string {
		var st struct {
			VV map[string]uint64 `json:"version_vector"`
		}
		if err := w.getJSON("/status", &st); err != nil {
			return err.Error()
		}
		shown := EvalJS[map[string]float64](t, tab, `Object.fromEntries([...document.querySelectorAll('#vectors tr[data-node="n0"] td[data-origin]')].map(td => [td.dataset.origin, Number(td.textContent)]))`)
		for o, seq := range st.VV {
			if uint64(shown[o]) != seq {
				return fmt.Sprintf("origin %s: page %v, /status %d", o, shown[o], seq)
			}
		}
		if len(shown) < len(st.VV) || len(st.VV) < 3 {
			return fmt.Sprintf("page %v, /status %v", shown, st.VV)
		}
		return ""
	})
	tab.WaitJS(t, 10*time.Second, "op log page", `document.querySelectorAll('#oplog tbody tr').length > 0`)
	tab.WaitJS(t, 10*time.Second, "root registers", `document.getElementById('registers')`)
	tab.WaitJS(t, 10*time.Second, "settings", `document.querySelector('#settings').textContent.includes('replication_factor')`)
	tab.Screenshot(t, w.shots, "crdt", 1280, 800)
	checkA11y(t, tab, "crdt")
	w.phoneFits(t, tab, "crdt")
}

func (w *webEnv) testMetrics(t *testing.T) {
	tab := w.open(t, "/metrics")
	defer tab.Check(t)
	tab.WaitJS(t, 20*time.Second, "charts drawn", `document.querySelectorAll('#charts figure.chart canvas').length >= 8`)
	tab.WaitJS(t, 10*time.Second, "HTTP chart", `document.querySelector('figure[data-group="HTTP requests"]')`)
	tab.Screenshot(t, w.shots, "metrics", 1280, 800)
	checkA11y(t, tab, "metrics")
	w.phoneFits(t, tab, "metrics")
}

func (w *webEnv) testProfiling(t *testing.T) {
	tab := w.open(t, "/profiling")
	defer tab.Check(t)
	tab.Do(t, 10*time.Second, chromedp.Click(`//button[text()="Start CPU profile"]`))
	tab.WaitJS(t, 10*time.Second, "recording", `document.getElementById('cpu-state').textContent.includes('recording since')`)
	time.Sleep(time.Second)
	tab.Do(t, 10*time.Second, chromedp.Click(`//button[text()="Stop"]`))
	tab.WaitJS(t, 10*time.Second, "last profile offered", `document.querySelector('a[href="/flamegraph?source=last"]') && document.querySelector('a[href="/api/profiling/cpu.pprof"]')`)
	status := EvalJS[float64](t, tab, `fetch('/flamegraph?source=last').then(r => r.status)`)
	size := EvalJS[float64](t, tab, `fetch('/api/profiling/cpu.pprof').then(r => r.arrayBuffer()).then(b => b.byteLength)`)
	heap := EvalJS[float64](t, tab, `fetch('/debug/pprof/heap').then(r => r.arrayBuffer()).then(b => b.byteLength)`)
	if status != 200 || size == 0 || heap == 0 {
		t.Fatalf("flame graph of the last profile: %v; cpu.pprof %v bytes; heap profile %v bytes", status, size, heap)
	}
	tab.Screenshot(t, w.shots, "profiling", 1280, 800)
	checkA11y(t, tab, "profiling")
	w.phoneFits(t, tab, "profiling")
}

// testMemberDown stops n2 while the monitor is open: the page shows it
// not up within 10 s, without a reload.
func (w *webEnv) testMemberDown(t *testing.T) {
	tab := w.open(t, "/monitor")
	defer tab.Check(t)
	tab.WaitJS(t, 15*time.Second, "n2 up", `document.querySelector('#members tr[data-node="n2"][data-state="up"]')`)
	tab.Screenshot(t, w.shots, "monitor", 1280, 800) // with the files of the tests before
	EvalJS[bool](t, tab, `(window.__noReload = true, true)`)
	w.nodes[2].Stop()
	took := tab.WaitJS(t, 10*time.Second, "n2 shown not up", `document.querySelector('#members tr[data-node="n2"]:not([data-state="up"])')`)
	t.Logf("stopped n2 shown %s after %v", EvalJS[string](t, tab, `document.querySelector('#members tr[data-node="n2"]').dataset.state`), took)
	if !EvalJS[bool](t, tab, `window.__noReload === true`) {
		t.Fatal("the page reloaded")
	}
	tab.WaitJS(t, 15*time.Second, "n2 down", `document.querySelector('#members tr[data-node="n2"][data-state="down"]')`)
	tab.WaitJS(t, 10*time.Second, "peer down event", `[...document.querySelectorAll('#events li')].some(li => li.dataset.kind === 'peer_down' && li.textContent.includes('n2'))`)
	tab.Screenshot(t, w.shots, "monitor-member-down", 1280, 800)
}

// setInput types value into the input matched by sel (as a user would:
// the page sees an input event).
func setInput(t *testing.T, tab *Tab, sel, value string) {
	EvalJS[bool](t, tab, fmt.Sprintf(`(() => { const el = document.querySelector(%q); el.value = %q; el.dispatchEvent(new Event('input', {bubbles: true})); return true; })()`, sel, value))
}
