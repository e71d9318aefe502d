package integration

// Jepsen-style fault injection (issue 8): a cluster of real clusterf
// processes, each in its own network namespace; a nemesis that injects
// faults on a seeded schedule; clients that write through FUSE and REST and
// record every acknowledged operation; a checker that heals everything,
// waits for convergence and proves that nothing acknowledged was lost.
//
//	res := integration.RunFaults(t, integration.DefaultFaultConfig(seed))
//	t.Log(res.Line())
//
// The schedule (which fault, on which node, for how long, and every
// client's operations) is a pure function of the seed; real timing is not,
// so a replay exercises the same schedule under slightly different
// interleavings.

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/clusterf/clusterf/chunk"
)

// Fault kinds, in the order the verdict line prints them.
var FaultKinds = []string{"kill", "pause", "partition", "netem", "clock", "corrupt", "disk"}

const (
	faultClusterKey = "faults-test-key"
	faultChunkSize  = 64 << 10
	faultInlineMax  = 4 << 10 // replica.DefaultInlineMax: smaller files have no chunks
)

// FaultConfig configures [RunFaults].
type FaultConfig struct {
	Seed            uint64
	Nodes           int           // storage nodes (5)
	RF              int           // replication factor (3); at most RF-1 nodes are impaired at once
	FaultPhase      time.Duration // the nemesis runs at least this long…
	MinEvents       int           // …and until it injected this many faults
	FuseClients     int           // clients writing through FUSE mounts (node i%Nodes)
	RESTClients     int           // clients writing through REST (node (FuseClients+i)%Nodes)
	FilesPerClient  int
	ConvergeTimeout time.Duration
	TmpfsMB         int // >0: the last node's data dir is a tmpfs of this size ("disk" faults fill it)
}

// DefaultFaultConfig is the short (CI) configuration.
func DefaultFaultConfig(seed uint64) FaultConfig {
	return FaultConfig{
		Seed: seed, Nodes: 5, RF: 3,
		FaultPhase: 50 * time.Second, MinEvents: 22,
		FuseClients: 5, RESTClients: 3, FilesPerClient: 5,
		ConvergeTimeout: 90 * time.Second,
		TmpfsMB:         128,
	}
}

// FaultResult is the checker's verdict.
type FaultResult struct {
	Seed        uint64
	Events      map[string]int
	OpsAcked    int
	OpsUnknown  int
	Verified    int
	Lost        int
	Corrupt     int
	Resurrected int
	Unexpected  int
	Crashes     int // nodes that exited without being killed
	Partial     int // files holding a prefix left by a failed (unacknowledged) write
	UploadTemps int // leftover .clusterf-upload-* temporaries of interrupted REST PUTs
	Converged   bool
	ConvergedIn time.Duration
	Problems    []string // one line per violation or anomaly
}

// TotalEvents is the number of faults injected.
func (r FaultResult) TotalEvents() int {
	n := 0
	for _, c := range r.Events {
		n += c
	}
	return n
}

// OK reports whether every guarantee held.
func (r FaultResult) OK() bool {
	return r.Converged && r.Lost == 0 && r.Corrupt == 0 && r.Resurrected == 0 && r.Unexpected == 0 && r.Crashes == 0
}

// Line is the one-line verdict.
func (r FaultResult) Line() string {
	var kinds []string
	for _, k := range FaultKinds {
		kinds = append(kinds, fmt.Sprintf("%s=%d", k, r.Events[k]))
	}
	conv := r.ConvergedIn.Round(100 * time.Millisecond).String()
	if !r.Converged {
		conv = "TIMEOUT"
	}
	return fmt.Sprintf("faults: seed=%d events=%d (%s) ops_acked=%d ops_unknown=%d verified=%d lost=%d corrupt=%d resurrected=%d unexpected=%d crashes=%d partial=%d upload_temps=%d converged_in=%s",
		r.Seed, r.TotalEvents(), strings.Join(kinds, " "), r.OpsAcked, r.OpsUnknown, r.Verified, r.Lost, r.Corrupt, r.Resurrected, r.Unexpected, r.Crashes, r.Partial, r.UploadTemps, conv)
}

// faultCluster is the system under test.
type faultCluster struct {
	t        *testing.T
	cfg      FaultConfig
	start    time.Time
	net      *Net
	nodes    []*Node
	baseArgs [][]string
	down     []atomic.Bool // killed or restarting: clients hold off
	tmpfs    string        // data dir of the tmpfs node ("" = none)

	mu        sync.Mutex
	corrupted map[string]string // node/chunk -> sha256 of the bytes we left there ("" = deleted)
	crashed   []string
}

func (c *faultCluster) logf(format string, args ...any) {
	c.t.Helper()
	c.t.Logf("[%6.1fs] "+format, append([]any{time.Since(c.start).Seconds()}, args...)...)
}

func startFaultCluster(t *testing.T, cfg FaultConfig) *faultCluster {
	t.Helper()
	c := &faultCluster{t: t, cfg: cfg, start: time.Now(), corrupted: map[string]string{}}
	c.net = NewNet(t, cfg.Nodes)
	c.down = make([]atomic.Bool, cfg.Nodes)
	for i, h := range c.net.Hosts {
		args := []string{"--discovery-port", "9999", "--cluster-key", faultClusterKey,
			"--http-port", "8080", "--chunk-size", fmt.Sprint(faultChunkSize)}
		opts := NodeOptions{NodeID: fmt.Sprintf("f%d", i), Wrap: h.Wrap(), ExtraArgs: args}
		if cfg.TmpfsMB > 0 && i == cfg.Nodes-1 {
			dir := t.TempDir()
			if out, err := runCmd("mount", "-t", "tmpfs", "-o", fmt.Sprintf("size=%dm", cfg.TmpfsMB), "tmpfs", dir); err != nil {
				t.Fatalf("mount tmpfs: %v\n%s", err, out)
			}
			// Registered before StartNode: runs after the node's cleanup.
			t.Cleanup(func() { runCmd("umount", "-l", dir) })
			opts.DataDir = dir
			c.tmpfs = dir
		}
		c.baseArgs = append(c.baseArgs, args)
		c.nodes = append(c.nodes, StartNode(t, opts))
	}
	h0 := c.net.Hosts[0]
	c.mustAPI(h0, "PUT", "/api/partition-sync-interval", `{"partition_sync_interval_seconds": 1}`)
	c.mustAPI(h0, "PUT", "/api/replication-factor", fmt.Sprintf(`{"replication_factor": %d}`, cfg.RF))
	return c
}

func (c *faultCluster) mustAPI(h *Host, method, path, body string) string {
	c.t.Helper()
	var out string
	var err error
	for range 20 { // the HTTP server may still be starting
		if out, err = h.API(c.t, method, path, body); err == nil {
			return out
		}
		time.Sleep(250 * time.Millisecond)
	}
	c.t.Fatalf("%s %s on %s: %v", method, path, h.Name, err)
	return ""
}

// ---------------------------------------------------------------- clients

type clientOp struct {
	at   time.Duration
	desc string
	ok   bool
}

type faultClient struct {
	c     *faultCluster
	id    int
	dir   string // directory name at the root, owned by this client alone
	rest  bool
	node  int
	rng   *rand.Rand
	files []string
	tmp   string // scratch dir for REST bodies

	// Model, touched only by the client's goroutine until it stops.
	state    map[string]map[string]bool // name -> possible content sha ("" = absent)
	floating map[string]map[string]bool // name -> effects of timed-out REST ops that may land later
	known    map[string][]byte          // name -> exact content, when state is one present version
	history  map[string]bool            // every content sha this client ever tried to write
	partial  map[string][]partialWrite  // name -> failed writes that may have left a prefix
	acked    int
	unknown  int
	ops      []clientOp
}

func newFaultClient(c *faultCluster, id int, rest bool, node int) *faultClient {
	fc := &faultClient{c: c, id: id, rest: rest, node: node,
		rng:   rand.New(rand.NewPCG(c.cfg.Seed, uint64(1000+id))),
		state: map[string]map[string]bool{}, floating: map[string]map[string]bool{},
		known: map[string][]byte{}, history: map[string]bool{}, partial: map[string][]partialWrite{}, tmp: c.t.TempDir()}
	kind := "fuse"
	if rest {
		kind = "rest"
	}
	fc.dir = fmt.Sprintf("%s%d", kind, id)
	for i := range c.cfg.FilesPerClient {
		name := fmt.Sprintf("f%d.bin", i)
		fc.files = append(fc.files, name)
		fc.state[name] = map[string]bool{"": true}
	}
	return fc
}

func shaHex(b []byte) string { s := sha256.Sum256(b); return hex.EncodeToString(s[:]) }

// content makes a unique payload: mostly chunked sizes, sometimes inline.
func (fc *faultClient) content(seq int) []byte {
	var n int
	switch r := fc.rng.IntN(10); {
	case r == 0:
		n = 1 + fc.rng.IntN(faultInlineMax-1)
	case r < 8:
		n = 8<<10 + fc.rng.IntN(120<<10)
	default:
		n = 128<<10 + fc.rng.IntN(200<<10)
	}
	b := make([]byte, n)
	var key [32]byte
	for i := range key {
		key[i] = byte(fc.rng.Uint32())
	}
	rand.NewChaCha8(key).Read(b)
	copy(b, fmt.Sprintf("client %d op %d\n", fc.id, seq))
	return b
}

func (fc *faultClient) record(desc string, ok bool) {
	fc.ops = append(fc.ops, clientOp{at: time.Since(fc.c.start), desc: desc, ok: ok})
	if ok {
		fc.acked++
	} else {
		fc.unknown++
	}
}

func one(sha string) map[string]bool { return map[string]bool{sha: true} }

// partialWrite: a FUSE write that failed (not acknowledged) may have left
// any prefix of full at least minLen long — O_TRUNC at open, then a crash
// before the data was committed, leaves an empty file, as on a local disk.
type partialWrite struct {
	full   []byte
	minLen int
}

// applied updates the model after an op on name that set content sha ("" =
// delete): acknowledged -> exactly that; unknown -> either.
func (fc *faultClient) applied(name, sha string, data []byte, ok bool) {
	if sha != "" {
		fc.history[sha] = true
	}
	if ok {
		fc.state[name] = one(sha)
		if sha != "" {
			fc.known[name] = data
		} else {
			delete(fc.known, name)
		}
		return
	}
	fc.state[name][sha] = true
	delete(fc.known, name)
}

func (fc *faultClient) run(stop <-chan struct{}) {
	mount := fc.c.nodes[fc.node].Mountpoint()
	for seq := 0; ; seq++ {
		select {
		case <-stop:
			return
		case <-time.After(time.Duration(50+fc.rng.IntN(250)) * time.Millisecond):
		}
		// Decide first (so the schedule only depends on the seed), then wait
		// while the node is down (killed/restarting).
		name := fc.files[fc.rng.IntN(len(fc.files))]
		other := fc.files[fc.rng.IntN(len(fc.files))]
		r := fc.rng.IntN(100)
		data := fc.content(seq)
		for fc.c.down[fc.node].Load() {
			select {
			case <-stop:
				return
			case <-time.After(100 * time.Millisecond):
			}
		}
		if fc.rest {
			fc.restOp(r, name, data)
		} else {
			fc.fuseOp(mount, r, name, other, data)
		}
	}
}

func (fc *faultClient) fuseOp(mount string, r int, name, other string, data []byte) {
	p := filepath.Join(mount, fc.dir, name)
	_, isKnown := fc.known[name]
	switch {
	case r < 15 && isKnown: // append
		suffix := data[:min(len(data), 1+r*4096)]
		want := append(slices.Clone(fc.known[name]), suffix...)
		base := len(fc.known[name])
		err := fuseWrite(p, suffix, os.O_WRONLY|os.O_APPEND)
		fc.record(fmt.Sprintf("append %s +%d -> %.12s: %v", name, len(suffix), shaHex(want), err), err == nil)
		fc.applied(name, shaHex(want), want, err == nil)
		if err != nil {
			fc.partial[name] = append(fc.partial[name], partialWrite{want, base})
		} else {
			delete(fc.partial, name)
		}
	case r < 30 && name != other && !fc.state[name][""]: // rename over another owned file
		err := childFS(nil, "mv", "-f", "-T", p, filepath.Join(mount, fc.dir, other))
		fc.record(fmt.Sprintf("rename %s -> %s: %v", name, other, err), err == nil)
		src := fc.state[name]
		fc.partial[other] = append(fc.partial[other], fc.partial[name]...)
		if err == nil {
			delete(fc.partial, name)
			fc.state[other] = src
			fc.state[name] = one("")
			if k, ok := fc.known[name]; ok {
				fc.known[other] = k
			} else {
				delete(fc.known, other)
			}
			delete(fc.known, name)
		} else {
			for s := range src {
				fc.state[other][s] = true
			}
			fc.state[name][""] = true
			delete(fc.known, name)
			delete(fc.known, other)
		}
	case r < 45: // delete
		err := childFS(nil, "rm", p)
		fc.record(fmt.Sprintf("delete %s: %v", name, err), err == nil)
		fc.applied(name, "", nil, err == nil)
		if err == nil {
			delete(fc.partial, name)
		}
	default: // create or overwrite
		err := fuseWrite(p, data, os.O_WRONLY|os.O_CREATE|os.O_TRUNC)
		fc.record(fmt.Sprintf("write %s %d bytes %.12s: %v", name, len(data), shaHex(data), err), err == nil)
		fc.applied(name, shaHex(data), data, err == nil)
		if err != nil {
			fc.partial[name] = append(fc.partial[name], partialWrite{data, 0})
		} else {
			delete(fc.partial, name)
		}
	}
}

// fuseWrite writes, fsyncs and closes (dd conv=fsync): acknowledged only if
// all succeed.
//
// Every FUSE access of the clients runs in a child process, never in the
// test process: a file the test process holds open on a mount is inherited
// by every child it forks (curl, ip, clusterf), and the child's close at
// exec sends FUSE FLUSH to that mount's server. With the server paused
// (SIGSTOP) the exec, and with it the nemesis that would resume the
// server, blocks for ever (seen with seed 20260801 before this rule).
func fuseWrite(p string, data []byte, flag int) error {
	args := []string{"of=" + p, "bs=1M", "iflag=fullblock", "conv=fsync", "status=none"}
	if flag&os.O_APPEND != 0 {
		args = []string{"of=" + p, "bs=1M", "iflag=fullblock", "oflag=append", "conv=notrunc,fsync", "status=none"}
	}
	return childFS(data, "dd", args...)
}

func childFS(stdin []byte, name string, args ...string) error {
	cmd := exec.Command(name, args...)
	if stdin != nil {
		cmd.Stdin = bytes.NewReader(stdin)
	}
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s: %w: %s", name, err, strings.TrimSpace(string(out)))
	}
	return nil
}

func (fc *faultClient) restOp(r int, name string, data []byte) {
	h := fc.c.net.Hosts[fc.node]
	url := "http://127.0.0.1:8080/api/files/" + fc.dir + "/" + name
	args := []string{"-sS", "-o", "/dev/null", "-w", "%{http_code}", "--max-time", "30"}
	var sha string
	if r < 25 {
		args = append(args, "-X", "DELETE", url)
	} else {
		body := filepath.Join(fc.tmp, "body")
		if err := os.WriteFile(body, data, 0o644); err != nil {
			return // the test is ending (its temp dir is gone)
		}
		sha = shaHex(data)
		args = append(args, "-X", "PUT", "--data-binary", "@"+body, url)
	}
	out, err := h.Curl(40*time.Second, args...)
	code := strings.TrimSpace(out)
	ok := err == nil && (code == "201" || code == "204" || code == "200")
	what := "put"
	if sha == "" {
		what = "delete"
	}
	fc.record(fmt.Sprintf("rest %s %s %.12s: code=%q err=%v", what, name, sha, code, err), ok)
	if sha != "" {
		fc.history[sha] = true
	}
	if err != nil || code == "000" {
		// No answer (timeout, connection reset): the request may still be
		// applied later, after this client's next operations.
		if fc.floating[name] == nil {
			fc.floating[name] = map[string]bool{}
		}
		fc.floating[name][sha] = true
		fc.state[name][sha] = true
		delete(fc.known, name)
		return
	}
	fc.applied(name, sha, data, ok)
}

// ---------------------------------------------------------------- nemesis

type activeFault struct {
	kind  string
	nodes []int
	until time.Time
	heal  func()
	desc  string
}

type nemesis struct {
	c        *faultCluster
	rng      *rand.Rand
	active   []*activeFault
	events   map[string]int
	offsets  []time.Duration
	filler   string
	netemOn  map[int]bool
	impaired map[int]string
	noNetem  bool
}

func (nm *nemesis) impairedCount() int { return len(nm.impaired) }

func (nm *nemesis) dur(lo, hi float64) time.Duration {
	return time.Duration((lo + nm.rng.Float64()*(hi-lo)) * float64(time.Second))
}

// healthyNodes lists nodes with no impairment.
func (nm *nemesis) healthyNodes() []int {
	var out []int
	for i := range nm.c.nodes {
		if _, ok := nm.impaired[i]; !ok {
			out = append(out, i)
		}
	}
	return out
}

func (nm *nemesis) pick(from []int, k int) []int {
	from = slices.Clone(from)
	nm.rng.Shuffle(len(from), func(i, j int) { from[i], from[j] = from[j], from[i] })
	return from[:k]
}

func (nm *nemesis) add(f *activeFault) {
	nm.active = append(nm.active, f)
	for _, n := range f.nodes {
		if f.kind != "netem" {
			nm.impaired[n] = f.kind
		}
	}
	nm.events[f.kind]++
	nm.c.logf("nemesis: %s (until +%.1fs)", f.desc, time.Until(f.until).Seconds())
}

func (nm *nemesis) healExpired(all bool) {
	var keep []*activeFault
	for _, f := range nm.active {
		if all || time.Now().After(f.until) {
			f.heal()
			for _, n := range f.nodes {
				if nm.impaired[n] == f.kind {
					delete(nm.impaired, n)
				}
			}
			nm.c.logf("nemesis: healed %s", f.desc)
			continue
		}
		keep = append(keep, f)
	}
	nm.active = keep
}

// step injects one fault; false if none fit the budget right now.
func (nm *nemesis) step() bool {
	c := nm.c
	budget := c.cfg.RF - 1 - nm.impairedCount()
	type choice struct {
		kind   string
		weight int
	}
	choices := []choice{{"kill", 3}, {"pause", 2}, {"partition", 3}, {"netem", 2}, {"clock", 2}, {"corrupt", 2}}
	if c.tmpfs != "" {
		choices = append(choices, choice{"disk", 1})
	}
	total := 0
	for _, ch := range choices {
		total += ch.weight
	}
	r := nm.rng.IntN(total)
	kind := ""
	for _, ch := range choices {
		if r < ch.weight {
			kind = ch.kind
			break
		}
		r -= ch.weight
	}
	healthy := nm.healthyNodes()
	// Random draws happen before the budget check, so the schedule stays a
	// function of the seed as far as possible.
	d := nm.dur(0, 1)
	k := 1 + nm.rng.IntN(2)
	victims := nm.pick(healthy, min(len(healthy), 2))
	sub := nm.rng.IntN(4)
	switch kind {
	case "kill":
		if budget < 1 || len(victims) < 1 {
			return false
		}
		v := victims[0]
		n := c.nodes[v]
		n.Kill9()
		c.down[v].Store(true)
		nm.add(&activeFault{kind: kind, nodes: []int{v}, until: time.Now().Add(time.Second + 3*d),
			desc: "kill -9 " + n.NodeID(), heal: func() {
				c.restart(v, "after kill -9")
			}})
	case "pause":
		if budget < 1 || len(victims) < 1 {
			return false
		}
		v := victims[0]
		n := c.nodes[v]
		if err := n.Signal(syscall.SIGSTOP); err != nil {
			return false
		}
		pauseFor := 2*time.Second + 5*d
		// Resumed by a timer too: SIGCONT needs no fork, so nothing that
		// blocks on the paused mount can keep the node stopped.
		timer := time.AfterFunc(pauseFor, func() { n.Signal(syscall.SIGCONT) })
		nm.add(&activeFault{kind: kind, nodes: []int{v}, until: time.Now().Add(pauseFor),
			desc: "SIGSTOP " + n.NodeID(), heal: func() { timer.Stop(); n.Signal(syscall.SIGCONT) }})
	case "partition":
		k = min(k, budget, len(victims))
		if k < 1 {
			return false
		}
		vs := victims[:k]
		var names []string
		for _, v := range vs {
			names = append(names, c.nodes[v].NodeID())
		}
		until := time.Now().Add(4*time.Second + 10*d)
		if k == 1 || sub == 0 {
			// Each victim is cut off alone.
			for _, v := range vs {
				c.net.Hosts[v].Disconnect()
			}
			nm.add(&activeFault{kind: kind, nodes: vs, until: until,
				desc: "isolate " + strings.Join(names, ","), heal: func() {
					for _, v := range vs {
						c.net.Hosts[v].Reconnect()
					}
				}})
		} else {
			// Minority {victims} | majority {the rest}: both sides live.
			var hs []*Host
			for _, v := range vs {
				hs = append(hs, c.net.Hosts[v])
			}
			c.net.Split(hs...)
			nm.add(&activeFault{kind: kind, nodes: vs, until: until,
				desc: "split {" + strings.Join(names, ",") + "} | rest", heal: func() { c.net.Unsplit() }})
		}
	case "netem":
		var free []int
		for i := range c.nodes {
			if !nm.netemOn[i] {
				free = append(free, i)
			}
		}
		if len(free) == 0 || len(nm.netemOn) >= 2 {
			return false
		}
		v := free[int(d/time.Millisecond)%len(free)]
		opts := [][]string{
			{"netem", "delay", "100ms", "50ms"},
			{"netem", "loss", "15%"},
			{"netem", "delay", "20ms", "reorder", "25%", "50%"},
			{"netem", "duplicate", "10%"},
		}[sub]
		h := c.net.Hosts[v]
		if !nm.noNetem {
			if err := h.Qdisc(opts...); err != nil {
				// Kernels without sch_netem (e.g. minimal VM kernels): shape
				// with tbf instead — queueing delay and tail drops.
				c.logf("nemesis: netem unavailable (%v); degrading links with tbf instead", err)
				nm.noNetem = true
			}
		}
		if nm.noNetem {
			opts = [][]string{
				{"tbf", "rate", "2mbit", "burst", "32kb", "latency", "300ms"},
				{"tbf", "rate", "1mbit", "burst", "8kb", "latency", "20ms"},
				{"tbf", "rate", "8mbit", "burst", "64kb", "latency", "800ms"},
				{"tbf", "rate", "512kbit", "burst", "16kb", "latency", "100ms"},
			}[sub]
			if err := h.Qdisc(opts...); err != nil {
				c.logf("nemesis: %v", err)
				return false
			}
		}
		nm.netemOn[v] = true
		nm.add(&activeFault{kind: kind, nodes: []int{v}, until: time.Now().Add(3*time.Second + 8*d),
			desc: fmt.Sprintf("%v on %s", opts, c.nodes[v].NodeID()), heal: func() {
				h.Qdisc()
				delete(nm.netemOn, v)
			}})
	case "clock":
		if budget < 1 || len(victims) < 1 {
			return false
		}
		v := victims[0]
		off := time.Duration(20+nm.rng.IntN(91)) * time.Second
		if sub%2 == 0 {
			off = -off
		}
		nm.offsets[v] = off
		c.down[v].Store(true)
		n := c.nodes[v]
		n.Stop() // SIGTERM: must exit 0 within StopTimeout, even under faults
		n.opts.ExtraArgs = append(slices.Clone(c.baseArgs[v]), "--test-clock-offset", off.String())
		c.restart(v, "after a clock change")
		nm.events[kind]++
		c.logf("nemesis: clock of %s now off by %v (restarted)", n.NodeID(), off)
	case "corrupt":
		if len(victims) < 1 {
			return false
		}
		v := victims[0]
		did := nm.corrupt(v, 1+sub, d < time.Second/2)
		if did == "" {
			return false
		}
		nm.events[kind]++
		c.logf("nemesis: %s", did)
	case "disk":
		v := len(c.nodes) - 1
		if budget < 1 || nm.impaired[v] != "" {
			return false
		}
		var st unix.Statfs_t
		if err := unix.Statfs(c.tmpfs, &st); err != nil {
			c.t.Fatalf("statfs %s: %v", c.tmpfs, err)
		}
		free := int64(st.Bavail) * st.Bsize
		nm.filler = filepath.Join(c.tmpfs, "filler")
		f, err := os.Create(nm.filler)
		if err != nil {
			c.t.Fatalf("filler: %v", err)
		}
		if free > 0 {
			if err := unix.Fallocate(int(f.Fd()), 0, 0, free); err != nil {
				c.logf("nemesis: fallocate %d: %v", free, err)
			}
		}
		f.Close()
		filler := nm.filler
		nm.add(&activeFault{kind: kind, nodes: []int{v}, until: time.Now().Add(3*time.Second + 6*d),
			desc: fmt.Sprintf("disk full on %s (%d MiB filler)", c.nodes[v].NodeID(), free>>20), heal: func() { os.Remove(filler) }})
	}
	return true
}

// intactCopies counts, per chunk, the copies on disk that we have not
// damaged (a damaged copy whose bytes changed since counts again: repaired).
func (c *faultCluster) intactCopies() map[string]int {
	c.mu.Lock()
	defer c.mu.Unlock()
	copies := map[string]int{}
	for _, n := range c.nodes {
		filepath.WalkDir(filepath.Join(n.NodeDir(), "chunks"), func(p string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() || len(d.Name()) != 64 || strings.Contains(d.Name(), ".") {
				return nil
			}
			if bad, ok := c.corrupted[n.NodeID()+"/"+d.Name()]; ok && bad != "" {
				if b, err := os.ReadFile(p); err != nil || shaHex(b) == bad {
					return nil
				}
			}
			copies[d.Name()]++
			return nil
		})
	}
	return copies
}

// corrupt damages (flips a byte) or deletes up to k chunk files on node v,
// only ones that keep at least RF-1 intact copies elsewhere.
func (nm *nemesis) corrupt(v, k int, del bool) string {
	c := nm.c
	n := c.nodes[v]
	copies := c.intactCopies()
	var cands []string
	filepath.WalkDir(filepath.Join(n.NodeDir(), "chunks"), func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() && len(d.Name()) == 64 && !strings.Contains(d.Name(), ".") {
			cands = append(cands, p)
		}
		return nil
	})
	sort.Strings(cands)
	nm.rng.Shuffle(len(cands), func(i, j int) { cands[i], cands[j] = cands[j], cands[i] })
	var done []string
	for _, p := range cands {
		if len(done) == k {
			break
		}
		id := filepath.Base(p)
		c.mu.Lock()
		_, mine := c.corrupted[n.NodeID()+"/"+id]
		c.mu.Unlock()
		others := copies[id]
		if !mine {
			others-- // our own intact copy
		}
		if others < c.cfg.RF-1 {
			continue
		}
		if del {
			if os.Remove(p) != nil {
				continue
			}
			c.mu.Lock()
			c.corrupted[n.NodeID()+"/"+id] = ""
			c.mu.Unlock()
			done = append(done, "deleted "+id[:12])
			continue
		}
		b, err := os.ReadFile(p)
		if err != nil || len(b) < 2 {
			continue
		}
		b[len(b)/2] ^= 0xff
		if os.WriteFile(p, b, 0o644) != nil {
			continue
		}
		c.mu.Lock()
		c.corrupted[n.NodeID()+"/"+id] = shaHex(b)
		c.mu.Unlock()
		done = append(done, "corrupted "+id[:12])
	}
	if len(done) == 0 {
		return ""
	}
	return fmt.Sprintf("on %s: %s", n.NodeID(), strings.Join(done, ", "))
}

// ---------------------------------------------------------------- checker

// fileEntry is one path of a node's tree.
type fileEntry struct {
	dir  bool
	size int64
	sha  string // "" for dirs; "ERR: ..." when unreadable
	data []byte
}

func walkTree(root string, keepData bool) (map[string]fileEntry, error) {
	tree := map[string]fileEntry{}
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if p == root {
			return nil
		}
		rel, _ := filepath.Rel(root, p)
		if d.IsDir() {
			tree[rel] = fileEntry{dir: true}
			return nil
		}
		b, err := os.ReadFile(p)
		if err != nil {
			tree[rel] = fileEntry{sha: "ERR: " + err.Error()}
			return nil
		}
		e := fileEntry{size: int64(len(b)), sha: shaHex(b)}
		if keepData {
			e.data = b
		}
		tree[rel] = e
		return nil
	})
	return tree, err
}

// treeHash hashes path+type+size+content hash of every entry.
func treeHash(tree map[string]fileEntry) string {
	h := sha256.New()
	for _, p := range sortedKeys(tree) {
		e := tree[p]
		fmt.Fprintf(h, "%s\x00%v\x00%d\x00%s\n", p, e.dir, e.size, e.sha)
	}
	return hex.EncodeToString(h.Sum(nil))
}

func mapsKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out
}

// convergence reports "" when every node shows the same tree, no entry is
// unreadable, every referenced chunk has RF intact copies on disk and node
// 0 reports no under-replicated partition.
func (c *faultCluster) convergence() (string, map[string]fileEntry) {
	var first map[string]fileEntry
	var firstHash string
	for i, n := range c.nodes {
		tree, err := walkTree(n.Mountpoint(), i == 0)
		if err != nil {
			return fmt.Sprintf("walk %s: %v", n.NodeID(), err), nil
		}
		for p, e := range tree {
			if strings.HasPrefix(e.sha, "ERR") {
				return fmt.Sprintf("%s: %s unreadable: %s", n.NodeID(), p, e.sha), nil
			}
		}
		h := treeHash(tree)
		if i == 0 {
			first, firstHash = tree, h
			continue
		}
		if h != firstHash {
			var diffs []string
			for _, p := range sortedKeys(first) {
				if g, ok := tree[p]; !ok {
					diffs = append(diffs, p+" missing")
				} else if g.sha != first[p].sha || g.dir != first[p].dir {
					diffs = append(diffs, p+" differs")
				}
			}
			for p := range tree {
				if _, ok := first[p]; !ok {
					diffs = append(diffs, p+" extra")
				}
			}
			sort.Strings(diffs)
			return fmt.Sprintf("%s's tree differs from %s's: %s", n.NodeID(), c.nodes[0].NodeID(), strings.Join(diffs[:min(5, len(diffs))], "; ")), nil
		}
	}
	copies := c.intactCopies()
	short := 0
	var example string
	for p, e := range first {
		if e.dir || e.size < faultInlineMax {
			continue
		}
		for off := 0; off < len(e.data); off += faultChunkSize {
			id := chunk.Sum(e.data[off:min(off+faultChunkSize, len(e.data))]).String()
			if copies[id] < c.cfg.RF {
				short++
				example = fmt.Sprintf("%s chunk %d (%.12s) has %d intact copies", p, off/faultChunkSize, id, copies[id])
			}
		}
	}
	if short > 0 {
		return fmt.Sprintf("%d referenced chunks below RF=%d, e.g. %s", short, c.cfg.RF, example), nil
	}
	out, err := c.net.Hosts[0].API(c.t, "GET", "/api/under-replicated", "")
	if err != nil {
		return "under-replicated: " + err.Error(), nil
	}
	var ur struct {
		Partitions []struct {
			PartitionID string `json:"partition_id"`
			Reason      string `json:"reason"`
		} `json:"partitions"`
	}
	if err := json.Unmarshal([]byte(out), &ur); err != nil {
		return "under-replicated: " + err.Error(), nil
	}
	if len(ur.Partitions) > 0 {
		return fmt.Sprintf("%d partitions under-replicated, e.g. %s: %s", len(ur.Partitions), ur.Partitions[0].PartitionID, ur.Partitions[0].Reason), nil
	}
	return "", first
}

// conflictOf reports whether name is a conflict copy of base
// ("f1.bin" -> "f1.conflict-<node>-<time>.bin").
func conflictOf(name, base string) bool {
	ext := filepath.Ext(base)
	stem := strings.TrimSuffix(base, ext)
	return strings.HasPrefix(name, stem+".conflict-") && strings.HasSuffix(name, ext)
}

// check compares the converged tree with every client's model.
func (c *faultCluster) check(res *FaultResult, clients []*faultClient, tree map[string]fileEntry) {
	for _, fc := range clients {
		res.OpsAcked += fc.acked
		res.OpsUnknown += fc.unknown
		listing := map[string]fileEntry{}
		for p, e := range tree {
			if filepath.Dir(p) == fc.dir {
				listing[filepath.Base(p)] = e
			}
		}
		problem := func(counter *int, format string, args ...any) {
			*counter++
			msg := fmt.Sprintf("%s: ", fc.dir) + fmt.Sprintf(format, args...)
			res.Problems = append(res.Problems, msg)
		}
		for _, name := range fc.files {
			want := fc.state[name]
			accept := maps2(want, fc.floating[name])
			e, present := listing[name]
			got := ""
			if present {
				got = e.sha
			}
			if accept[got] {
				res.Verified++
				continue
			}
			if present && slices.ContainsFunc(fc.partial[name], func(pw partialWrite) bool {
				return len(e.data) >= pw.minLen && bytes.HasPrefix(pw.full, e.data)
			}) {
				res.Verified++
				res.Partial++
				continue
			}
			// The expected version may survive as a conflict copy.
			copyFound := false
			for cn, ce := range listing {
				if conflictOf(cn, name) && accept[ce.sha] {
					copyFound = true
				}
			}
			switch {
			case copyFound && (!present || fc.history[got]):
				res.Verified++
			case present && want[""] && len(want) == 1 && fc.history[got]:
				problem(&res.Resurrected, "%s: acknowledged delete resurrected (content %.12s)", name, got)
			case present && !fc.history[got]:
				problem(&res.Corrupt, "%s: content %.12s (%d bytes) was never written; want one of %v", name, got, e.size, shortSet(accept))
			case present:
				problem(&res.Lost, "%s: holds an older version %.12s; acknowledged %v lost", name, got, shortSet(accept))
			default:
				problem(&res.Lost, "%s: missing; acknowledged content %v lost", name, shortSet(accept))
			}
		}
		for name, e := range listing {
			if slices.Contains(fc.files, name) {
				continue
			}
			isCopy := false
			for _, f := range fc.files {
				isCopy = isCopy || conflictOf(name, f)
			}
			switch {
			case isCopy && fc.history[e.sha]:
				c.logf("checker: conflict copy %s/%s (content %.12s) — owner ops are sequential, so this is unexpected but loses nothing", fc.dir, name, e.sha)
			case isCopy:
				problem(&res.Corrupt, "conflict copy %s holds content %.12s that was never written", name, e.sha)
			case strings.HasPrefix(name, ".clusterf-upload-"):
				res.UploadTemps++
				res.Problems = append(res.Problems, fmt.Sprintf("%s: leftover REST upload temporary %s (%d bytes) visible in the tree (product finding; not data loss)", fc.dir, name, e.size))
			default:
				problem(&res.Unexpected, "unexpected entry %s (%d bytes, %.12s)", name, e.size, e.sha)
			}
		}
	}
	for p := range tree {
		top := strings.SplitN(p, string(filepath.Separator), 2)[0]
		if !slices.ContainsFunc(clients, func(fc *faultClient) bool { return fc.dir == top }) {
			res.Unexpected++
			res.Problems = append(res.Problems, "unexpected entry at the root: "+p)
		}
	}
}

func maps2(a, b map[string]bool) map[string]bool {
	out := map[string]bool{}
	for k := range a {
		out[k] = true
	}
	for k := range b {
		out[k] = true
	}
	return out
}

func shortSet(s map[string]bool) []string {
	var out []string
	for k := range s {
		if k == "" {
			out = append(out, "<absent>")
		} else {
			out = append(out, k[:12])
		}
	}
	sort.Strings(out)
	return out
}

func runCmd(name string, args ...string) (string, error) {
	out, err := exec.Command(name, args...).CombinedOutput()
	return string(out), err
}

// ---------------------------------------------------------------- driver

// RunFaults builds a cluster, runs clients under the nemesis, heals, waits
// for convergence and checks. It fails t when a guarantee is violated.
func RunFaults(t *testing.T, cfg FaultConfig) FaultResult {
	t.Helper()
	t.Logf("faults: seed=%d (replay with FAULTS_SEED=%d)", cfg.Seed, cfg.Seed)
	c := startFaultCluster(t, cfg)
	res := FaultResult{Seed: cfg.Seed}

	var clients []*faultClient
	for i := range cfg.FuseClients {
		clients = append(clients, newFaultClient(c, i, false, i%cfg.Nodes))
	}
	for i := range cfg.RESTClients {
		clients = append(clients, newFaultClient(c, cfg.FuseClients+i, true, (cfg.FuseClients+i)%cfg.Nodes))
	}
	m0 := c.nodes[0].Mountpoint()
	for _, fc := range clients {
		if err := os.Mkdir(filepath.Join(m0, fc.dir), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	// Every node sees every client directory before the faults start.
	for _, n := range c.nodes {
		for _, fc := range clients {
			deadline := time.Now().Add(60 * time.Second)
			for {
				if st, err := os.Stat(filepath.Join(n.Mountpoint(), fc.dir)); err == nil && st.IsDir() {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("%s does not see /%s after 60s", n.NodeID(), fc.dir)
				}
				time.Sleep(100 * time.Millisecond)
			}
		}
	}
	c.logf("cluster of %d nodes ready, %d clients", cfg.Nodes, len(clients))

	stop := make(chan struct{})
	var wg sync.WaitGroup
	for _, fc := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			fc.run(stop)
		}()
	}

	nm := &nemesis{c: c, rng: rand.New(rand.NewPCG(cfg.Seed, 1)), events: map[string]int{},
		offsets: make([]time.Duration, cfg.Nodes), netemOn: map[int]bool{}, impaired: map[int]string{}}
	phaseEnd := time.Now().Add(cfg.FaultPhase)
	for time.Now().Before(phaseEnd) || nm.totalEvents() < cfg.MinEvents {
		time.Sleep(nm.dur(0.4, 1.6))
		nm.healExpired(false)
		nm.step()
		c.noteCrashes(nm)
		if time.Since(phaseEnd) > 3*cfg.FaultPhase {
			break
		}
	}
	res.Events = nm.events

	// Heal everything; restart crashed nodes; let clients finish.
	nm.healExpired(true)
	c.net.Unsplit()
	for i, h := range c.net.Hosts {
		h.Reconnect()
		h.Qdisc()
		c.nodes[i].Signal(syscall.SIGCONT)
	}
	c.noteCrashes(nm)
	close(stop)
	clientsDone := make(chan struct{})
	go func() { wg.Wait(); close(clientsDone) }()
	select {
	case <-clientsDone:
	case <-time.After(2 * time.Minute):
		t.Fatalf("clients still blocked 2 minutes after every fault was healed (a hung FUSE or REST operation)")
	}
	c.logf("healed; clients stopped; waiting for convergence")
	healed := time.Now()
	// Corrupt copies are found by the integrity check (reads fail over and
	// repair them too, but only for what is read).
	c.mu.Lock()
	damaged := map[string]bool{}
	for k := range c.corrupted {
		damaged[strings.SplitN(k, "/", 2)[0]] = true
	}
	c.mu.Unlock()
	for i, n := range c.nodes {
		if damaged[n.NodeID()] {
			out, err := c.net.Hosts[i].API(t, "POST", "/api/integrity-check", "")
			c.logf("checker: integrity check on %s: %.300s %v", n.NodeID(), strings.TrimSpace(out), err)
		}
	}

	var last string
	var tree map[string]fileEntry
	for {
		last, tree = c.convergence()
		if last == "" {
			res.Converged = true
			res.ConvergedIn = time.Since(healed)
			break
		}
		if time.Since(healed) > cfg.ConvergeTimeout {
			res.ConvergedIn = time.Since(healed)
			res.Problems = append(res.Problems, "no convergence: "+last)
			res.Problems = append(res.Problems, c.diagnose()...)
			break
		}
		time.Sleep(time.Second)
	}
	if res.Converged {
		c.check(&res, clients, tree)
	} else {
		for _, fc := range clients {
			res.OpsAcked += fc.acked
			res.OpsUnknown += fc.unknown
		}
	}
	c.mu.Lock()
	res.Problems = append(res.Problems, c.crashed...)
	res.Crashes = len(c.crashed)
	c.mu.Unlock()

	t.Log(res.Line())
	fmt.Println(res.Line())
	if !res.OK() {
		for _, p := range res.Problems {
			t.Errorf("faults (seed %d): %s", cfg.Seed, p)
		}
		for _, fc := range clients {
			var lines []string
			for _, op := range fc.ops[max(0, len(fc.ops)-40):] {
				lines = append(lines, fmt.Sprintf("  [%6.1fs] ok=%v %s", op.at.Seconds(), op.ok, op.desc))
			}
			t.Logf("client %s on %s (last ops):\n%s", fc.dir, c.nodes[fc.node].NodeID(), strings.Join(lines, "\n"))
		}
	} else if len(res.Problems) > 0 {
		for _, p := range res.Problems {
			t.Logf("faults (seed %d): note: %s", cfg.Seed, p)
		}
	}
	return res
}

func (nm *nemesis) totalEvents() int {
	n := 0
	for _, c := range nm.events {
		n += c
	}
	return n
}

// noteCrashes restarts nodes that exited without being killed by the
// nemesis and records it: a crash under faults is a finding.
func (c *faultCluster) noteCrashes(nm *nemesis) {
	for i, n := range c.nodes {
		if nm.impaired[i] == "kill" || n.Running() {
			continue
		}
		msg := fmt.Sprintf("node %s exited on its own (not killed by the nemesis); stderr tail:\n%s", n.NodeID(), tail(n.Stderr(), 3000))
		c.logf("%s", msg)
		c.mu.Lock()
		c.crashed = append(c.crashed, msg)
		c.mu.Unlock()
		c.restart(i, "after a crash")
	}
}

// restart starts node i again; a restart that does not come up is a
// finding (recorded with the goroutine dump), retried once with more time.
func (c *faultCluster) restart(i int, why string) {
	n := c.nodes[i]
	c.down[i].Store(true)
	defer c.down[i].Store(false)
	err := n.StartAgain(30 * time.Second)
	if err == nil {
		return
	}
	msg := fmt.Sprintf("node %s did not come back %s: %v", n.NodeID(), why, err)
	c.logf("%s", msg)
	c.mu.Lock()
	c.crashed = append(c.crashed, msg)
	c.mu.Unlock()
	if err := n.StartAgain(90 * time.Second); err != nil {
		c.t.Fatalf("node %s did not come back on a second attempt either: %v", n.NodeID(), err)
	}
}

func sortedKeys[V any](m map[string]V) []string {
	out := mapsKeys(m)
	sort.Strings(out)
	return out
}

// diagnose explains a convergence failure: for every file some node cannot
// read, where each of its chunks is on disk (intact copies per node), as
// computed from the first node that can read it.
func (c *faultCluster) diagnose() []string {
	trees := make([]map[string]fileEntry, len(c.nodes))
	for i, n := range c.nodes {
		trees[i], _ = walkTree(n.Mountpoint(), true)
	}
	var out []string
	for i := range c.nodes {
		for p, e := range trees[i] {
			if !strings.HasPrefix(e.sha, "ERR") {
				continue
			}
			line := fmt.Sprintf("%s cannot read %s (%s);", c.nodes[i].NodeID(), p, e.sha)
			for j := range c.nodes {
				good, ok := trees[j][p]
				if !ok || good.dir || strings.HasPrefix(good.sha, "ERR") {
					continue
				}
				line += fmt.Sprintf(" %s reads it (%d bytes); chunks:", c.nodes[j].NodeID(), good.size)
				for off := 0; off < len(good.data) && good.size >= faultInlineMax; off += faultChunkSize {
					id := chunk.Sum(good.data[off:min(off+faultChunkSize, len(good.data))]).String()
					var on []string
					for _, n := range c.nodes {
						if _, err := os.Stat(filepath.Join(n.NodeDir(), "chunks", id[0:2], id[2:4], id)); err == nil {
							on = append(on, n.NodeID())
						}
					}
					line += fmt.Sprintf(" %.12s on %v;", id, on)
				}
				break
			}
			out = append(out, line)
		}
	}
	return out
}
