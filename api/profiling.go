package api

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/http/pprof"
	"net/url"
	runtimepprof "runtime/pprof"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/google/pprof/driver"
	"github.com/google/pprof/profile"
	"github.com/labstack/echo/v4"
)

// Profiling bounds.
const (
	defaultFlameSeconds = 5
	maxFlameSeconds     = 60
)

// renderMu serializes flame graph rendering. The pprof driver sets a
// package-level variable of its own on every web-UI run, and CPU profiling
// is process-wide anyway: this lock guards process-wide state, not ours.
var renderMu sync.Mutex

// registerProfiling wires net/http/pprof explicitly (nothing is served
// from http.DefaultServeMux) and the flame graph pages.
func (s *Server) registerProfiling() {
	e := s.echo
	e.GET("/debug/pprof/*", echo.WrapHandler(http.HandlerFunc(pprof.Index)))
	e.GET("/debug/pprof/cmdline", echo.WrapHandler(http.HandlerFunc(pprof.Cmdline)))
	e.GET("/debug/pprof/profile", echo.WrapHandler(http.HandlerFunc(pprof.Profile)))
	e.GET("/debug/pprof/symbol", echo.WrapHandler(http.HandlerFunc(pprof.Symbol)))
	e.POST("/debug/pprof/symbol", echo.WrapHandler(http.HandlerFunc(pprof.Symbol)))
	e.GET("/debug/pprof/trace", echo.WrapHandler(http.HandlerFunc(pprof.Trace)))
	e.GET("/flamegraph", s.getFlamegraph)
	e.GET("/memorygraph", s.getMemorygraph)
}

// getFlamegraph records a CPU profile for ?seconds= (default 5, max 60)
// and answers the pprof web UI's flame graph page of it (HTML, no graphviz
// needed). 409 when another CPU profile is running.
func (s *Server) getFlamegraph(c echo.Context) error {
	if c.QueryParam("source") == "last" { // the last profile stopped on /profiling
		b := lastCPUProfile()
		if b == nil {
			return httpErr(http.StatusNotFound, "no CPU profile recorded yet: start and stop one on /profiling first")
		}
		return s.renderProfile(c, bytes.NewReader(b), "cpu")
	}
	secs := defaultFlameSeconds
	if v := c.QueryParam("seconds"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > maxFlameSeconds {
			return httpErr(http.StatusBadRequest, "seconds must be 1.."+strconv.Itoa(maxFlameSeconds))
		}
		secs = n
	}
	ctx := c.Request().Context()
	var buf bytes.Buffer
	if err := runtimepprof.StartCPUProfile(&buf); err != nil {
		return httpErr(http.StatusConflict, "CPU profiling already running: "+err.Error())
	}
	t := time.NewTimer(time.Duration(secs) * time.Second)
	select {
	case <-t.C:
	case <-ctx.Done():
		t.Stop()
	}
	runtimepprof.StopCPUProfile()
	if err := ctx.Err(); err != nil {
		return err
	}
	return s.renderProfile(c, &buf, "cpu")
}

// getMemorygraph answers the flame graph of the current heap profile
// (?si=inuse_space by default; alloc_space, inuse_objects, alloc_objects).
func (s *Server) getMemorygraph(c echo.Context) error {
	var buf bytes.Buffer
	if err := runtimepprof.Lookup("heap").WriteTo(&buf, 0); err != nil {
		return err
	}
	return s.renderProfile(c, &buf, "heap")
}

func (s *Server) renderProfile(c echo.Context, data io.Reader, kind string) error {
	p, err := profile.Parse(data)
	if err != nil {
		return fmt.Errorf("parse %s profile: %w", kind, err)
	}
	// The page's Focus/Ignore/Hide/sample links come back here with pprof
	// report parameters (f, i, h, s, si, ...): pass them on.
	q := url.Values{}
	for k, v := range c.QueryParams() {
		if k != "seconds" && k != "source" {
			q[k] = v
		}
	}
	page, err := renderFlameGraph(c.Request().Context(), p, q)
	if err != nil {
		return fmt.Errorf("render %s flame graph: %w", kind, err)
	}
	c.Response().Header().Set("Cache-Control", "no-store")
	return c.HTMLBlob(http.StatusOK, page)
}

// renderFlameGraph runs the pprof driver over p in web-UI mode with an
// HTTPServer hook that keeps the UI's handlers instead of listening, then
// calls the flame graph handler in memory.
func renderFlameGraph(ctx context.Context, p *profile.Profile, q url.Values) ([]byte, error) {
	renderMu.Lock()
	defer renderMu.Unlock()
	var handlers map[string]http.Handler
	ui := &quietUI{}
	err := driver.PProf(&driver.Options{
		Flagset: &pprofFlags{args: []string{"-http=localhost:0", "-no_browser", "-symbolize=none", "profile"}},
		Fetch:   fixedFetcher{p},
		UI:      ui,
		Writer:  noWriter{},
		HTTPServer: func(a *driver.HTTPServerArgs) error {
			handlers = a.Handlers
			return nil
		},
	})
	if err != nil {
		return nil, err
	}
	h := handlers["/flamegraph"]
	if h == nil {
		return nil, errors.New("pprof web UI has no /flamegraph handler")
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "/flamegraph?"+q.Encode(), nil)
	if err != nil {
		return nil, err
	}
	rec := &bufferResponse{header: http.Header{}, status: http.StatusOK}
	h.ServeHTTP(rec, req)
	if rec.status != http.StatusOK {
		return nil, fmt.Errorf("pprof flame graph: status %d: %s %s", rec.status, strings.TrimSpace(rec.body.String()), strings.Join(ui.errs, "; "))
	}
	return rec.body.Bytes(), nil
}

// fixedFetcher hands the driver an already collected profile.
type fixedFetcher struct{ p *profile.Profile }

func (f fixedFetcher) Fetch(src string, _, _ time.Duration) (*profile.Profile, string, error) {
	return f.p.Copy(), "", nil
}

// noWriter refuses file output (web mode writes none).
type noWriter struct{}

func (noWriter) Open(name string) (io.WriteCloser, error) {
	return nil, fmt.Errorf("pprof output to %q not supported", name)
}

// quietUI is a non-interactive driver UI that keeps error messages.
type quietUI struct {
	mu   sync.Mutex
	errs []string
}

func (*quietUI) ReadLine(string) (string, error) { return "", io.EOF }
func (*quietUI) Print(...any)                    {}
func (u *quietUI) PrintErr(a ...any) {
	u.mu.Lock()
	u.errs = append(u.errs, strings.TrimSpace(fmt.Sprint(a...)))
	u.mu.Unlock()
}
func (*quietUI) IsTerminal() bool                    { return false }
func (*quietUI) WantBrowser() bool                   { return false }
func (*quietUI) SetAutoComplete(func(string) string) {}

// pprofFlags is a driver.FlagSet over a private flag.FlagSet with fixed
// arguments (the driver's default reads os.Args).
type pprofFlags struct {
	fs    *flag.FlagSet
	args  []string
	extra []string
}

func (f *pprofFlags) set() *flag.FlagSet {
	if f.fs == nil {
		f.fs = flag.NewFlagSet("pprof", flag.ContinueOnError)
		f.fs.SetOutput(io.Discard)
	}
	return f.fs
}

func (f *pprofFlags) Bool(n string, d bool, u string) *bool { return f.set().Bool(n, d, u) }
func (f *pprofFlags) Int(n string, d int, u string) *int    { return f.set().Int(n, d, u) }
func (f *pprofFlags) Float64(n string, d float64, u string) *float64 {
	return f.set().Float64(n, d, u)
}
func (f *pprofFlags) String(n, d, u string) *string { return f.set().String(n, d, u) }
func (f *pprofFlags) StringList(n, d, u string) *[]*string {
	return &[]*string{f.set().String(n, d, u)}
}
func (f *pprofFlags) ExtraUsage() string      { return strings.Join(f.extra, "\n") }
func (f *pprofFlags) AddExtraUsage(eu string) { f.extra = append(f.extra, eu) }
func (f *pprofFlags) Parse(usage func()) []string {
	if err := f.set().Parse(f.args); err != nil {
		usage()
		return nil
	}
	return f.set().Args()
}

// bufferResponse is an in-memory http.ResponseWriter.
type bufferResponse struct {
	header http.Header
	status int
	wrote  bool
	body   bytes.Buffer
}

func (b *bufferResponse) Header() http.Header { return b.header }
func (b *bufferResponse) WriteHeader(code int) {
	if !b.wrote {
		b.status, b.wrote = code, true
	}
}
func (b *bufferResponse) Write(p []byte) (int, error) {
	b.wrote = true
	return b.body.Write(p)
}
