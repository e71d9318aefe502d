// Command httpbench compares the REST API of a clusterf node with a plain
// net/http file server over the same disk, in the same run.
//
// Both servers are separate processes on loopback TCP: the clusterf binary
// (`clusterf serve`, or `clusterf mount` with -mount) and this program
// re-executed as the baseline server. The baseline stores each object as a
// file in a temporary directory: PUT = create a temporary file, write,
// fsync, rename (parent directories created on demand); GET =
// http.ServeFile. clusterf's PUT is durable on return too (README: data and
// metadata are on disk when the call returns).
//
// Cases: PUT and GET of 1 MiB and 4 KiB objects, -c concurrent clients,
// -n1m / -n4k requests per case. GETs read the objects the PUT case wrote.
// The payload is random (incompressible). Output: one table with req/s,
// MB/s, p50 and p99 latency per server and the clusterf/baseline ratios.
// Nothing is asserted; the numbers are printed.
//
//	go run ./bench/httpbench -clusterf bin/clusterf [-c 16] [-n1m 200] [-n4k 2000]
package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

func main() {
	if len(os.Args) == 4 && os.Args[1] == "-serve-baseline" {
		serveBaseline(os.Args[2], os.Args[3])
		return
	}
	var (
		bin     = flag.String("clusterf", "bin/clusterf", "clusterf binary")
		dir     = flag.String("dir", "", "work directory, on the disk under test (default: a new temp dir under $TMPDIR)")
		conc    = flag.Int("c", 16, "concurrent clients")
		n1m     = flag.Int("n1m", 200, "requests per 1 MiB case")
		n4k     = flag.Int("n4k", 2000, "requests per 4 KiB case")
		mount   = flag.Bool("mount", false, "run `clusterf mount` (with its FUSE mount) instead of `clusterf serve`")
		verbose = flag.Bool("v", false, "show the servers' logs on failure and progress")
	)
	flag.Parse()
	os.Exit(run(*bin, *dir, *conc, *n1m, *n4k, *mount, *verbose))
}

type server struct {
	name string
	base string // http://127.0.0.1:port
	cmd  *exec.Cmd
	log  *bytes.Buffer
	done chan struct{}
	mnt  string
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func start(name string, argv []string, port int, mnt string) (*server, error) {
	s := &server{name: name, base: fmt.Sprintf("http://127.0.0.1:%d", port), log: &bytes.Buffer{}, done: make(chan struct{}), mnt: mnt}
	s.cmd = exec.Command(argv[0], argv[1:]...)
	s.cmd.Stdout, s.cmd.Stderr = s.log, s.log
	s.cmd.WaitDelay = 5 * time.Second
	// If this program dies, the servers go too.
	s.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "CLUSTERF_") {
			env = append(env, kv)
		}
	}
	s.cmd.Env = env
	if err := s.cmd.Start(); err != nil {
		return nil, err
	}
	go func() { s.cmd.Wait(); close(s.done) }()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-s.done:
			return s, fmt.Errorf("%s exited during startup:\n%s", name, s.log)
		default:
		}
		resp, err := http.Get(s.base + "/status")
		if err == nil {
			resp.Body.Close()
			return s, nil
		}
		time.Sleep(50 * time.Millisecond)
	}
	return s, fmt.Errorf("%s did not answer on %s within 20s:\n%s", name, s.base, s.log)
}

func (s *server) stop() {
	if s == nil || s.cmd.Process == nil {
		return
	}
	s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.done:
	case <-time.After(20 * time.Second):
		s.cmd.Process.Kill()
		<-s.done
	}
	if s.mnt != "" {
		for i := 0; i < 10 && isMounted(s.mnt); i++ {
			exec.Command("fusermount3", "-u", "-z", s.mnt).Run()
			time.Sleep(50 * time.Millisecond)
		}
		if isMounted(s.mnt) {
			exec.Command("umount", "-l", s.mnt).Run()
		}
	}
}

func isMounted(dir string) bool {
	data, _ := os.ReadFile("/proc/self/mountinfo")
	for _, line := range strings.Split(string(data), "\n") {
		if f := strings.Fields(line); len(f) > 4 && f[4] == dir {
			return true
		}
	}
	return false
}

func run(bin, dir string, conc, n1m, n4k int, mount, verbose bool) int {
	if dir == "" {
		d, err := os.MkdirTemp("", "clusterf-httpbench-")
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		dir = d
	} else {
		d, err := os.MkdirTemp(dir, "httpbench-")
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		dir = d
	}
	var servers []*server
	cleanup := sync.OnceFunc(func() {
		for _, s := range servers {
			s.stop()
		}
		for _, s := range servers {
			if s.mnt != "" && isMounted(s.mnt) {
				fmt.Fprintf(os.Stderr, "httpbench: %s still mounted; leaving %s in place\n", s.mnt, dir)
				return
			}
		}
		os.RemoveAll(dir)
	})
	defer cleanup()
	sigc := make(chan os.Signal, 1)
	signal.Notify(sigc, os.Interrupt, syscall.SIGTERM)
	go func() {
		<-sigc
		cleanup()
		os.Exit(130)
	}()

	self, err := os.Executable()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	if bin, err = filepath.Abs(bin); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	bport, err := freePort()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	os.MkdirAll(filepath.Join(dir, "baseline"), 0o755)
	b, err := start("baseline", []string{self, "-serve-baseline", filepath.Join(dir, "baseline"), fmt.Sprintf("127.0.0.1:%d", bport)}, bport, "")
	if b != nil {
		servers = append(servers, b)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	cport, err := freePort()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	argv := []string{bin, "serve"}
	mnt := ""
	if mount {
		mnt = filepath.Join(dir, "mnt")
		os.MkdirAll(mnt, 0o755)
		argv = []string{bin, "mount", mnt}
	}
	argv = append(argv, "--data-dir", filepath.Join(dir, "clusterf"), "--node-id", "bench",
		"--discovery-port", "0", "--http-port", strconv.Itoa(cport), "--no-desktop")
	c, err := start("clusterf", argv, cport, mnt)
	if c != nil {
		servers = append(servers, c)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}

	client := &http.Client{Transport: &http.Transport{
		MaxIdleConns:        2 * conc,
		MaxIdleConnsPerHost: 2 * conc,
		DisableCompression:  true,
	}, Timeout: 2 * time.Minute}

	type tcase struct {
		name   string
		method string
		size   int
		n      int
		prefix string
	}
	cases := []tcase{
		{"PUT 1MiB", http.MethodPut, 1 << 20, n1m, "m"},
		{"GET 1MiB", http.MethodGet, 1 << 20, n1m, "m"},
		{"PUT 4KiB", http.MethodPut, 4 << 10, n4k, "k"},
		{"GET 4KiB", http.MethodGet, 4 << 10, n4k, "k"},
	}
	type row struct {
		c    tcase
		b, o result
	}
	var rows []row
	for _, tc := range cases {
		payload := make([]byte, tc.size)
		rand.Read(payload)
		var res [2]result
		// Baseline first, then clusterf; a few warm-up requests each (not counted).
		for i, s := range []*server{b, c} {
			warm := min(conc, tc.n)
			if tc.method == http.MethodPut {
				load(client, s.base, tc.method, "warm-"+tc.prefix, payload, warm, conc)
			} else {
				load(client, s.base, tc.method, tc.prefix, payload, warm, conc)
			}
			r := load(client, s.base, tc.method, tc.prefix, payload, tc.n, conc)
			if r.errs > 0 {
				fmt.Fprintf(os.Stderr, "httpbench: %s on %s: %d of %d requests failed; first: %v\n", tc.name, s.name, r.errs, tc.n, r.firstErr)
				if verbose {
					fmt.Fprintf(os.Stderr, "%s log:\n%s\n", s.name, s.log)
				}
			}
			res[i] = r
			if verbose {
				fmt.Fprintf(os.Stderr, "%s %s: %.0f req/s\n", tc.name, s.name, r.rps())
			}
		}
		rows = append(rows, row{tc, res[0], res[1]})
	}

	mode := "serve"
	if mount {
		mode = "mount"
	}
	fmt.Printf("== HTTP: clusterf REST (%s) vs net/http file server (temp+fsync+rename / ServeFile), %d clients ==\n", mode, conc)
	fmt.Printf("%-9s %6s | %9s %9s %8s %8s | %9s %9s %8s %8s | %7s %7s\n",
		"case", "n", "cf req/s", "cf MB/s", "cf p50", "cf p99", "nh req/s", "nh MB/s", "nh p50", "nh p99", "ratio", "p99 x")
	failed := false
	for _, r := range rows {
		fmt.Printf("%-9s %6d | %9.0f %9.1f %8s %8s | %9.0f %9.1f %8s %8s | %7.2f %7.2f\n",
			r.c.name, r.c.n,
			r.o.rps(), r.o.mbps(r.c.size), ms(r.o.pct(50)), ms(r.o.pct(99)),
			r.b.rps(), r.b.mbps(r.c.size), ms(r.b.pct(50)), ms(r.b.pct(99)),
			r.o.rps()/r.b.rps(), float64(r.o.pct(99))/float64(r.b.pct(99)))
		if r.o.errs > 0 || r.b.errs > 0 {
			failed = true
		}
	}
	fmt.Println("(cf = clusterf, nh = net/http baseline; ratio = cf req/s / nh req/s, >1 is faster; p99 x = cf p99 / nh p99, >1 is slower)")
	if failed {
		fmt.Println("WARNING: some requests failed (see stderr); their numbers are not comparable")
		return 1
	}
	return 0
}

func ms(d time.Duration) string {
	return strconv.FormatFloat(float64(d)/1e6, 'f', 2, 64) + "ms"
}

type result struct {
	lat      []time.Duration
	wall     time.Duration
	errs     int
	firstErr error
}

func (r result) rps() float64 { return float64(len(r.lat)) / r.wall.Seconds() }
func (r result) mbps(size int) float64 {
	return float64(len(r.lat)) * float64(size) / 1e6 / r.wall.Seconds()
}
func (r result) pct(p float64) time.Duration {
	if len(r.lat) == 0 {
		return 0
	}
	s := slices.Clone(r.lat)
	slices.Sort(s)
	i := int(float64(len(s))*p/100+0.5) - 1
	return s[max(0, min(i, len(s)-1))]
}

// load runs n requests with conc workers. PUTs write prefix/<i>; GETs read
// prefix/<i mod n> and check the length.
func load(client *http.Client, base, method, prefix string, payload []byte, n, conc int) result {
	var next atomic.Int64
	var mu sync.Mutex
	res := result{}
	var wg sync.WaitGroup
	t0 := time.Now()
	for w := 0; w < conc; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var lat []time.Duration
			var errs int
			var firstErr error
			for {
				i := next.Add(1) - 1
				if i >= int64(n) {
					break
				}
				url := fmt.Sprintf("%s/api/files/bench/%s/%d", base, prefix, i)
				s := time.Now()
				err := do(client, method, url, payload)
				if err != nil {
					errs++
					if firstErr == nil {
						firstErr = err
					}
					continue
				}
				lat = append(lat, time.Since(s))
			}
			mu.Lock()
			res.lat = append(res.lat, lat...)
			res.errs += errs
			if res.firstErr == nil {
				res.firstErr = firstErr
			}
			mu.Unlock()
		}()
	}
	wg.Wait()
	res.wall = time.Since(t0)
	return res
}

func do(client *http.Client, method, url string, payload []byte) error {
	var body io.Reader
	if method == http.MethodPut {
		body = bytes.NewReader(payload)
	}
	req, err := http.NewRequest(method, url, body)
	if err != nil {
		return err
	}
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	n, err := io.Copy(io.Discard, resp.Body)
	if err != nil {
		return err
	}
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("%s %s: %s", method, url, resp.Status)
	}
	if method == http.MethodGet && n != int64(len(payload)) {
		return fmt.Errorf("GET %s: %d bytes, want %d", url, n, len(payload))
	}
	return nil
}

// serveBaseline is the baseline server: files under root.
func serveBaseline(root, addr string) {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /status", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok\n") })
	mux.HandleFunc("/api/files/", func(w http.ResponseWriter, r *http.Request) {
		rel := filepath.Clean("/" + strings.TrimPrefix(r.URL.Path, "/api/files/"))
		p := filepath.Join(root, rel)
		switch r.Method {
		case http.MethodGet, http.MethodHead:
			http.ServeFile(w, r, p)
		case http.MethodPut:
			if err := putFile(p, r.Body); err != nil {
				http.Error(w, err.Error(), http.StatusInternalServerError)
				return
			}
			w.WriteHeader(http.StatusCreated)
		default:
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		}
	})
	srv := &http.Server{Addr: addr, Handler: mux}
	go func() {
		sigc := make(chan os.Signal, 1)
		signal.Notify(sigc, os.Interrupt, syscall.SIGTERM)
		<-sigc
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
	}()
	if err := srv.ListenAndServe(); err != nil && !errors.Is(err, http.ErrServerClosed) {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

func putFile(p string, body io.Reader) error {
	d := filepath.Dir(p)
	if err := os.MkdirAll(d, 0o755); err != nil {
		return err
	}
	f, err := os.CreateTemp(d, ".put-*")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name()) // no-op after the rename
	if _, err := io.Copy(f, body); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(f.Name(), p)
}
