package integration

import (
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"
)

// The accessibility basics the issue asks of every page, checked in the
// browser on what the page shows: every control has a name a screen
// reader can say, every image an alt attribute, no positive tabindex
// (it breaks the keyboard order), and every visible text meets WCAG AA
// contrast against the background it is drawn on (4.5:1; 3:1 for large
// text; disabled controls are exempt, as in WCAG).
const a11yJS = `(() => {
  const out = [];
  const visible = (el) => el.getClientRects().length > 0 && getComputedStyle(el).visibility !== 'hidden';
  const desc = (el) => el.tagName.toLowerCase() + (el.id ? '#' + el.id : '') +
    (el.className && typeof el.className === 'string' ? '.' + el.className.trim().split(/\s+/).join('.') : '') +
    ' "' + (el.textContent || '').trim().slice(0, 40) + '"';
  const named = (el) => (el.getAttribute('aria-label') || '').trim() || el.getAttribute('aria-labelledby') ||
    (el.getAttribute('title') || '').trim() || (el.labels && el.labels.length > 0) ||
    (!['INPUT', 'SELECT', 'TEXTAREA'].includes(el.tagName) && (el.textContent || '').trim());
  for (const el of document.querySelectorAll('button, a[href], input:not([type=hidden]), select, textarea, [role=button]')) {
    if (!named(el)) out.push('control without an accessible name: ' + desc(el));
  }
  for (const el of document.querySelectorAll('img:not([alt])')) out.push('image without alt: ' + el.src);
  for (const el of document.querySelectorAll('[tabindex]')) {
    if (Number(el.getAttribute('tabindex')) > 0) out.push('positive tabindex: ' + desc(el));
  }
  const rgba = (s) => { const m = s.match(/rgba?\(([^)]+)\)/); if (!m) return null; const p = m[1].split(/[,\s/]+/).filter(Boolean).map(Number); return [p[0], p[1], p[2], p.length > 3 ? p[3] : 1]; };
  const over = (top, under) => { const a = top[3]; return [0, 1, 2].map((i) => top[i] * a + under[i] * (1 - a)).concat(1); };
  const lum = (c) => { const f = (v) => { v /= 255; return v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4); }; return 0.2126 * f(c[0]) + 0.7152 * f(c[1]) + 0.0722 * f(c[2]); };
  const background = (el) => {
    const layers = [];
    for (let e = el; e; e = e.parentElement) { const c = rgba(getComputedStyle(e).backgroundColor); if (c && c[3] > 0) { layers.push(c); if (c[3] >= 1) break; } }
    let bg = [255, 255, 255, 1];
    for (let i = layers.length - 1; i >= 0; i--) bg = over(layers[i], bg);
    return bg;
  };
  const opacity = (el) => { let o = 1; for (let e = el; e; e = e.parentElement) o *= Number(getComputedStyle(e).opacity); return o; };
  const seen = new Set();
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  for (let n = walker.nextNode(); n; n = walker.nextNode()) {
    const el = n.parentElement;
    if (!el || seen.has(el) || !n.textContent.trim() || !visible(el) || el.closest('[disabled], canvas, noscript, .skip, .sr-only')) continue;
    seen.add(el);
    const st = getComputedStyle(el);
    const bg = background(el);
    const fg0 = rgba(st.color);
    const fg = over([fg0[0], fg0[1], fg0[2], fg0[3] * opacity(el)], bg);
    const [l1, l2] = [lum(fg), lum(bg)].sort((a, b) => b - a);
    const ratio = (l1 + 0.05) / (l2 + 0.05);
    const px = parseFloat(st.fontSize);
    const large = px >= 24 || (px >= 18.66 && Number(st.fontWeight) >= 700);
    if (ratio < (large ? 3 : 4.5)) out.push('contrast ' + ratio.toFixed(2) + ':1 (' + st.color + ' on rgb(' + bg.slice(0, 3).map(Math.round).join(',') + ')): ' + desc(el));
  }
  return out;
})()`

// checkA11y fails t with every accessibility problem of the page shown in
// tab (name says which page), at 1280 px and at a phone's 390 px.
func checkA11y(t *testing.T, tab *Tab, name string) {
	t.Helper()
	for _, width := range []int64{1280, 390} {
		tab.Do(t, 10*time.Second, chromedp.EmulateViewport(width, 844))
		problems := EvalJS[[]string](t, tab, a11yJS)
		for _, p := range problems {
			t.Errorf("%s at %d px: %s", name, width, p)
		}
	}
	tab.Do(t, 10*time.Second, chromedp.EmulateViewport(1280, 800))
}

// focused describes the element that has the keyboard focus.
func focused(t *testing.T, tab *Tab) string {
	return EvalJS[string](t, tab, `(() => { const e = document.activeElement; return e ? e.tagName.toLowerCase() + (e.id ? '#' + e.id : '') + ' ' + (e.getAttribute('aria-label') || e.textContent || '').trim().slice(0, 40) : ''; })()`)
}

// tabTo presses Tab until the focused element's description contains
// want (at most limit presses) and fails if it never does.
func tabTo(t *testing.T, tab *Tab, want string, limit int) {
	t.Helper()
	var seen []string
	for range limit {
		tab.Do(t, 10*time.Second, chromedp.KeyEvent(kb.Tab))
		f := focused(t, tab)
		if strings.Contains(f, want) {
			return
		}
		seen = append(seen, f)
	}
	t.Fatalf("Tab never reached %q in %d presses; focus went: %s", want, limit, strings.Join(seen, " | "))
}

// sidewaysJS measures how far the page scrolls sideways and names the
// innermost elements that stick out of the viewport.
const sidewaysJS = `(() => {
  const w = window.innerWidth;
  const out = (e) => e.getBoundingClientRect().right > w + 1;
  const desc = (e) => e.tagName.toLowerCase() + (e.id ? '#' + e.id : '') + (e.className && typeof e.className === 'string' ? '.' + e.className.trim().split(/\s+/).join('.') : '') + ' (' + Math.round(e.getBoundingClientRect().right) + ' px)';
  const leaves = [...document.querySelectorAll('body *')].filter((e) => out(e) && !e.closest('.table-wrap') && ![...e.children].some(out));
  return { over: document.documentElement.scrollWidth - w, culprits: leaves.slice(0, 6).map(desc) };
})()`

// fitsWidth waits up to 3 s (charts and the graph follow a resize of the
// window asynchronously) for the page not to scroll sideways, and returns
// by how much it still does and what sticks out.
func fitsWidth(t *testing.T, tab *Tab) (float64, []string) {
	t.Helper()
	type res struct {
		Over     float64  `json:"over"`
		Culprits []string `json:"culprits"`
	}
	var r res
	for start := time.Now(); time.Since(start) < 3*time.Second; time.Sleep(100 * time.Millisecond) {
		if r = EvalJS[res](t, tab, sidewaysJS); r.Over <= 1 {
			break
		}
	}
	return r.Over, r.Culprits
}

// TestA11yCheck: the checks above find what they look for (a check that
// cannot fail proves nothing): a page with a nameless button, an
// unlabelled input, an image without alt, a positive tabindex, grey text
// on white and white text under a translucent dark layer (fine), and one
// that scrolls sideways.
func TestA11yCheck(t *testing.T) {
	tab := NewTab(t, NewBrowser(t))
	page := `<!doctype html><html lang="en"><body>
<button id="nameless"></button><button aria-label="Close">×</button><button>Save</button>
<input id="bare"><label for="named">Name</label><input id="named">
<img src="data:image/gif;base64,R0lGODlhAQABAAAAACw=" id="noalt"><img src="data:image/gif;base64,R0lGODlhAQABAAAAACw=" alt="">
<a href="#" tabindex="3">jump</a>
<p style="color:#aaa">faint words</p><p style="color:#57606a">muted but readable</p>
<div style="background:rgba(0,0,0,.8)"><span style="color:#fff">white on dark</span></div>
<button disabled style="color:#ccc">disabled is exempt</button>
<div style="width:900px">wide</div>
</body></html>`
	tab.Do(t, 30*time.Second, chromedp.EmulateViewport(390, 844), chromedp.Navigate("data:text/html,"+url.PathEscape(page)))
	got := strings.Join(EvalJS[[]string](t, tab, a11yJS), "\n")
	for _, want := range []string{
		`control without an accessible name: button#nameless`,
		`control without an accessible name: input#bare`,
		`image without alt`,
		`positive tabindex: a`,
		`contrast 2.32:1`, // #aaa on white
	} {
		if !strings.Contains(got, want) {
			t.Errorf("the check missed %q; it found:\n%s", want, got)
		}
	}
	for _, bad := range []string{"input#named", "Close", "Save", "muted but readable", "white on dark", "disabled is exempt"} {
		if strings.Contains(got, bad) {
			t.Errorf("the check flagged %q, which is fine; it found:\n%s", bad, got)
		}
	}
	if over, culprits := fitsWidth(t, tab); over < 500 || len(culprits) == 0 || !strings.Contains(culprits[0], "div") {
		t.Errorf("a 900 px box at 390 px: over %v, culprits %v", over, culprits)
	}
}
