package media_test

import (
	"context"
	"os/exec"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/clusterf/clusterf/media"
)

// TestPlayerInChromium plays streams in the player page in a real
// headless Chromium (hls.js over Media Source Extensions): a remuxed and
// an encoded one, each until the <video>'s currentTime has advanced, and
// a seek to 80% that plays on from there; then the dashboard's file
// browser: the video's thumbnail, and its preview playing in the player.
func TestPlayerInChromium(t *testing.T) {
	chrome, err := exec.LookPath("chromium")
	if err != nil {
		t.Fatalf("chromium is not installed (deps/deps.txt lists it; make test installs it): %v", err)
	}
	e := newEnv(t, media.Config{})
	e.put("h264-long", "v/film.mkv")
	e.put("mpeg4-long", "v/old home video.avi")

	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	defer cancel()
	alloc, cancelAlloc := chromedp.NewExecAllocator(ctx,
		chromedp.ExecPath(chrome), chromedp.UserDataDir(t.TempDir()),
		chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU, chromedp.NoFirstRun, chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-background-networking", true), chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true), chromedp.Flag("autoplay-policy", "no-user-gesture-required"),
		chromedp.Flag("mute-audio", true))
	defer cancelAlloc()
	browser, cancelBrowser := chromedp.NewContext(alloc)
	defer cancelBrowser()

	type state struct {
		Time     float64 `json:"time"`
		Mode     string  `json:"mode"`
		Error    string  `json:"error"`
		Duration float64 `json:"duration"`
	}
	// page is the JS expression of the player's window: the page itself,
	// or the dashboard's iframe.
	page := "window"
	read := func() state {
		st, err := chromedp.Run(browser, chromedp.Evaluate[state](`(() => {
			const w = `+page+`, v = w && w.document.getElementById("video"), p = (w && w.clusterfPlayer) || {};
			return {time: v ? v.currentTime : 0, duration: (v && v.duration) || 0, mode: p.mode || "", error: p.error || ""};
		})()`))
		if err != nil {
			t.Fatalf("evaluate: %v", err)
		}
		return st
	}
	playsPast := func(what string, at float64) {
		t.Helper()
		var st state
		deadline := time.Now().Add(90 * time.Second)
		for st = read(); st.Time < at && st.Error == "" && time.Now().Before(deadline); st = read() {
			time.Sleep(100 * time.Millisecond)
		}
		if st.Error != "" || st.Time < at {
			t.Fatalf("%s: currentTime %.2f (want past %.2f), mode %q, error %q", what, st.Time, at, st.Mode, st.Error)
		}
		if st.Mode != "hls.js" {
			t.Errorf("%s: played with %q, want hls.js", what, st.Mode)
		}
		t.Logf("%s: currentTime %.2f of %.2f s", what, st.Time, st.Duration)
	}
	for _, p := range []string{"/v/film.mkv", "/v/old home video.avi"} {
		url := e.ts.URL + media.PlayerPath + "?mode=hls&autoplay=1&path=" + p
		if _, err := chromedp.Run(browser, chromedp.Navigate(url)); err != nil {
			t.Fatalf("navigate: %v", err)
		}
		start := time.Now()
		playsPast(p, 1.5)
		t.Logf("%s: playing 1.5 s after %s", p, time.Since(start).Round(10*time.Millisecond))
		if _, err := chromedp.Run(browser, chromedp.Evaluate[chromedp.Void](`document.getElementById("video").currentTime = 16`)); err != nil {
			t.Fatal(err)
		}
		playsPast(p+" after a seek to 80%", 16.5)
	}

	// The dashboard: the file browser shows the video's thumbnail, and its
	// preview opens the player page in an iframe that streams the file.
	if _, err := chromedp.Run(browser, chromedp.Navigate(e.ts.URL+"/files/v/")); err != nil {
		t.Fatalf("navigate: %v", err)
	}
	row := `#files tr[data-name="film.mkv"]`
	waitJS(t, browser, "the thumbnail in the file browser", `(() => { const i = document.querySelector('`+row+` img.thumb');
		return !!i && i.complete && i.naturalWidth > 0 && i.src.includes('/api/thumbnail/'); })()`)
	if _, err := chromedp.Run(browser, chromedp.Click(chromedp.CSS(row+` th button`))); err != nil {
		t.Fatalf("click the video: %v", err)
	}
	page = `(() => { const f = document.querySelector('.modal iframe.player'), w = f && f.contentWindow;
		const v = w && w.document.getElementById("video");
		if (v && v.paused && w.clusterfPlayer && w.clusterfPlayer.mode) v.play().catch(() => {});
		return w; })()`
	playsPast("/v/film.mkv in the dashboard", 1.5)
}

// waitJS polls the boolean expression js in the browser for up to 60 s.
func waitJS(t *testing.T, browser context.Context, what, js string) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		ok, err := chromedp.Run(browser, chromedp.Evaluate[bool](js))
		if err != nil {
			t.Fatalf("%s: evaluate: %v", what, err)
		}
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("not within 60 s: %s", what)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
