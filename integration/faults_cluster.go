package integration

import (
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

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
		if cfg.GCGrace > 0 {
			args = append(args, "--gc-grace", cfg.GCGrace.String())
		}
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
	// The repair round (and with it garbage collection and compaction)
	// runs every partition sync interval.
	c.mustAPI(h0, "PUT", "/api/partition-sync-interval", fmt.Sprintf(`{"partition_sync_interval_seconds": %d}`, max(1, int(cfg.RepairInterval/time.Second))))
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

func runCmd(name string, args ...string) (string, error) {
	out, err := exec.Command(name, args...).CombinedOutput()
	return string(out), err
}

// RunFaults builds a cluster, runs clients under the nemesis, heals, waits
// for convergence and checks. It fails t when a guarantee is violated.
func RunFaults(t *testing.T, cfg FaultConfig) FaultResult {
	t.Helper()
	t.Logf("faults: seed=%d (replay with FAULTS_SEED=%d)", cfg.Seed, cfg.Seed)
	c := startFaultCluster(t, cfg)
	res := FaultResult{Seed: cfg.Seed}
	meter := startGCMeter(c)
	clients := c.makeClients()
	c.logf("cluster of %d nodes ready, %d clients (gc grace %v, repair every %v)", cfg.Nodes, len(clients), cfg.GCGrace, cfg.RepairInterval)

	stop := make(chan struct{})
	var wg sync.WaitGroup
	for _, fc := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			fc.run(stop)
		}()
	}
	nm := c.runNemesis()
	res.Events = nm.events

	// Heal everything; restart crashed nodes; let clients finish.
	c.healAll(nm)
	res.GC.DuringFaults = meter.totals().Reclaimed
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
	c.checkIntegrity()
	tree := c.awaitConvergence(&res, healed)
	if res.Converged {
		c.check(&res, clients, tree)
		c.awaitGCDrain(&res, tree)
	} else {
		for _, fc := range clients {
			res.OpsAcked += fc.acked
			res.CloseAcked += fc.closed
			res.OpsUnknown += fc.unknown
		}
	}
	c.gcVerdict(&res, meter.stopAndTotal())
	c.mu.Lock()
	res.Problems = append(res.Problems, c.crashed...)
	res.Crashes = len(c.crashed)
	c.mu.Unlock()
	c.report(res, clients)
	return res
}

// makeClients creates the clients and their directories, and waits until
// every node sees every client directory.
func (c *faultCluster) makeClients() []*faultClient {
	t, cfg := c.t, c.cfg
	var clients []*faultClient
	for i := range cfg.FuseClients {
		clients = append(clients, newFaultClient(c, i, false, i%cfg.Nodes))
	}
	for i := range cfg.RESTClients {
		clients = append(clients, newFaultClient(c, cfg.FuseClients+i, true, (cfg.FuseClients+i)%cfg.Nodes))
	}
	for i := range cfg.HeavyFuseClients + cfg.HeavyRESTClients {
		id := cfg.FuseClients + cfg.RESTClients + i
		clients = append(clients, newHeavyClient(c, id, i >= cfg.HeavyFuseClients, id%cfg.Nodes))
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
	return clients
}

// runNemesis injects faults for the fault phase (and until MinEvents).
func (c *faultCluster) runNemesis() *nemesis {
	cfg := c.cfg
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
	return nm
}

// healAll ends every fault and restarts crashed nodes.
func (c *faultCluster) healAll(nm *nemesis) {
	nm.healExpired(true)
	c.net.Unsplit()
	for i, h := range c.net.Hosts {
		h.Reconnect()
		h.Qdisc()
		c.nodes[i].Signal(syscall.SIGCONT)
	}
	c.noteCrashes(nm)
}

// checkIntegrity runs the integrity check on every node we damaged:
// corrupt copies are found by it (reads fail over and repair them too, but
// only for what is read).
func (c *faultCluster) checkIntegrity() {
	c.mu.Lock()
	damaged := map[string]bool{}
	for k := range c.corrupted {
		damaged[strings.SplitN(k, "/", 2)[0]] = true
	}
	c.mu.Unlock()
	for i, n := range c.nodes {
		if damaged[n.NodeID()] {
			out, err := c.net.Hosts[i].API(c.t, "POST", "/api/integrity-check", "")
			c.logf("checker: integrity check on %s: %.300s %v", n.NodeID(), strings.TrimSpace(out), err)
		}
	}
}

// awaitConvergence polls until the cluster converged or the timeout
// passed, and returns the converged tree (nil on timeout).
func (c *faultCluster) awaitConvergence(res *FaultResult, healed time.Time) map[string]fileEntry {
	for {
		last, tree := c.convergence()
		if last == "" {
			res.Converged = true
			res.ConvergedIn = time.Since(healed)
			return tree
		}
		if time.Since(healed) > c.cfg.ConvergeTimeout {
			res.ConvergedIn = time.Since(healed)
			res.Problems = append(res.Problems, "no convergence: "+last)
			res.Problems = append(res.Problems, c.diagnose()...)
			return nil
		}
		time.Sleep(time.Second)
	}
}

// report prints the verdict line and fails the test on a violation, with
// every client's last operations.
func (c *faultCluster) report(res FaultResult, clients []*faultClient) {
	t, cfg := c.t, c.cfg
	t.Log(res.Line())
	fmt.Println(res.Line())
	c.saveLogs()
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
}

// saveLogs writes every node's full log (all its processes) to
// $FAULTS_LOGDIR/seed-<seed>-<node>.log when FAULTS_LOGDIR is set (the
// test's own temp dirs are removed at its end).
func (c *faultCluster) saveLogs() {
	dir := os.Getenv("FAULTS_LOGDIR")
	if dir == "" {
		return
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		c.t.Logf("FAULTS_LOGDIR: %v", err)
		return
	}
	for _, n := range c.nodes {
		p := filepath.Join(dir, fmt.Sprintf("seed-%d-%s.log", c.cfg.Seed, n.NodeID()))
		if err := os.WriteFile(p, []byte(n.AllStderr()), 0o644); err != nil {
			c.t.Logf("FAULTS_LOGDIR: %v", err)
		}
	}
	c.t.Logf("node logs in %s/seed-%d-*.log", dir, c.cfg.Seed)
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
