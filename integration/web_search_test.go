package integration

import (
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TestWebSearch drives the file browser's search box in headless
// Chromium against two real nodes in network namespaces: it queries the
// whole cluster as you type. A file written in the other member's mount
// is found by a word of its content with the match marked; a file
// written while the results are shown joins them without typing; a name
// with markup is shown as text; a bad query says why; Escape goes back to
// the listing. Screenshot: files-search.
func TestWebSearch(t *testing.T) {
	net := NewNet(t, 2)
	var nodes []*Node
	for i, h := range net.Hosts {
		nodes = append(nodes, startClusterNode(t, h, fmt.Sprintf("w%d", i), clusterKey, "--http-port", "8080"))
	}
	base := NSProxy(t, net.Hosts[0], "127.0.0.1:8080")
	w := &webEnv{t: t, base: base, nodes: nodes, net: net, shots: ScreenshotDir(t), client: &http.Client{Timeout: 30 * time.Second}}
	eventually(t, 30*time.Second, "two members up", w.membersUp(2))
	w.browser = NewBrowser(t)
	a, b := w.nodes[0], w.nodes[1]
	dir := filepath.Join(b.Mountpoint(), "field")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	writeFileSync(t, filepath.Join(dir, "Heron_Survey-2026.txt"), []byte("we counted seven kingfisher chicks by the weir"), 0o644)
	writeFileSync(t, filepath.Join(dir, "<img src=x onerror=alert(1)> kingfisher.md"), []byte("a name with markup"), 0o644)
	tab := w.open(t, "/files/")
	defer tab.Check(t)
	tab.WaitJS(t, 10*time.Second, "search box", `document.querySelector('#search-input')`)

	setInput(t, tab, "#search-input", "kingfisher")
	took := tab.WaitJS(t, 15*time.Second, "content match with its snippet marked",
		`[...document.querySelectorAll('#search-results tr[data-path="/field/Heron_Survey-2026.txt"] .snippet mark')].some(m => m.textContent.toLowerCase().startsWith('kingfisher'))`)
	t.Logf("typed query answered in the page after %v", took)
	tab.WaitJS(t, 5*time.Second, "a name with markup shown as text",
		`[...document.querySelectorAll('#search-results th.name')].some(th => th.textContent.includes('<img src=x onerror=alert(1)> kingfisher.md')) && !document.querySelector('#search-results th.name img')`)
	tab.WaitJS(t, 5*time.Second, "listing hidden while searching", `document.getElementById('dropzone').hidden`)

	// As you type: a prefix, then a word in a name (camelCase, separators).
	setInput(t, tab, "#search-input", "heron surv")
	tab.WaitJS(t, 15*time.Second, "prefix of a name", `document.querySelector('#search-results tr[data-path="/field/Heron_Survey-2026.txt"]') && document.getElementById('search-summary').textContent.startsWith('1 result')`)

	// Written on another member while the results are shown.
	writeFileSync(t, filepath.Join(a.Mountpoint(), "field", "heronSurveyNotes.md"), []byte("late entry"), 0o644)
	took = tab.WaitJS(t, 15*time.Second, "a file written meanwhile joins the results",
		`document.querySelector('#search-results tr[data-path="/field/heronSurveyNotes.md"]')`)
	t.Logf("a file written in %s's mount joined the results shown by %s's page after %v", a.NodeID(), a.NodeID(), took)
	tab.Screenshot(t, w.shots, "files-search", 1280, 800)

	// A bad query says why (its 400 is expected); Escape is back to the
	// folder.
	tab.Allow = append(tab.Allow, "/api/search?q=size")
	setInput(t, tab, "#search-input", "size:>lots")
	tab.WaitJS(t, 10*time.Second, "bad query explained", `document.body.innerText.includes('is not a size')`)
	EvalJS[bool](t, tab, `(document.querySelector('#search-input').dispatchEvent(new KeyboardEvent('keydown', {key: 'Escape', bubbles: true})), true)`)
	tab.WaitJS(t, 10*time.Second, "listing back", `!document.getElementById('dropzone').hidden && document.querySelector('#files tr[data-name="field"]') && !document.getElementById('search-results')`)
}
