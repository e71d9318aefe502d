package integration

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Small extensions of Node, Net and Host for fault injection (kept in a
// file of their own so harness.go and netns.go stay untouched).

// Pid returns the process id of the node's current clusterf process (0 when
// it never started). Host.Wrap's nsenter execs the binary without forking,
// so this is clusterf itself, not a wrapper.
func (n *Node) Pid() int {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.proc == nil || n.proc.cmd.Process == nil {
		return 0
	}
	return n.proc.cmd.Process.Pid
}

// Signal sends sig to the current process (e.g. SIGSTOP/SIGCONT to pause
// and resume the node).
func (n *Node) Signal(sig syscall.Signal) error {
	n.mu.Lock()
	p := n.proc
	n.mu.Unlock()
	if p == nil || p.exited() {
		return fmt.Errorf("node %s is not running", n.opts.NodeID)
	}
	return p.cmd.Process.Signal(sig)
}

// RestartWithArgs stops the node (SIGTERM; skipped when it is not running)
// and starts it again with ExtraArgs replaced by extra (same data dir, node
// id and mountpoint). Must be called from the test goroutine.
func (n *Node) RestartWithArgs(extra []string) {
	n.t.Helper()
	if n.Running() {
		n.Stop()
	}
	n.opts.ExtraArgs = append([]string(nil), extra...)
	n.start()
}

// StartAgain starts the node after Kill9 (same options); the stale mount is
// replaced as on a real restart. Unlike Restart it does not fail the test
// when the mount does not come up within timeout: it sends SIGQUIT (the
// goroutine dump lands in Stderr), kills the process and returns an error,
// so a fault-injection run can report it as a finding.
func (n *Node) StartAgain(timeout time.Duration) error {
	p, err := n.spawn()
	if err != nil {
		return err
	}
	deadline := time.Now().Add(timeout)
	ready := make(chan error, 1)
	go func() {
		for {
			if p.exited() {
				ready <- fmt.Errorf("exited before mounting: %v", p.err)
				return
			}
			if MountFSType(n.opts.Mountpoint) == FuseType {
				if _, err := os.ReadDir(n.opts.Mountpoint); err == nil {
					ready <- nil
					return
				}
			}
			if time.Now().After(deadline) {
				ready <- fmt.Errorf("no live mount within %v", timeout)
				return
			}
			time.Sleep(50 * time.Millisecond)
		}
	}()
	select {
	case err := <-ready:
		if err == nil {
			return nil
		}
		if !p.exited() {
			p.cmd.Process.Signal(syscall.SIGQUIT)
			select {
			case <-p.done:
			case <-time.After(3 * time.Second):
				p.cmd.Process.Kill()
				<-p.done
			}
		}
		return fmt.Errorf("restart %s: %w\nstderr:\n%s", n.opts.NodeID, err, tail(p.stderr.String(), 20000))
	case <-time.After(timeout + 30*time.Second): // ReadDir hung on a mount
		p.cmd.Process.Signal(syscall.SIGQUIT)
		time.Sleep(3 * time.Second)
		p.cmd.Process.Kill()
		return fmt.Errorf("restart %s: mount hangs\nstderr:\n%s", n.opts.NodeID, tail(p.stderr.String(), 20000))
	}
}

// Qdisc replaces the root qdisc of the host's link (e.g. "netem", "delay",
// "100ms", or "tbf", "rate", "1mbit", ...); no args removes it.
func (h *Host) Qdisc(args ...string) error {
	if len(args) == 0 {
		exec.Command("ip", "netns", "exec", h.Name, "tc", "qdisc", "del", "dev", "eth0", "root").Run()
		return nil
	}
	argv := append([]string{"netns", "exec", h.Name, "tc", "qdisc", "replace", "dev", "eth0", "root"}, args...)
	if out, err := exec.Command("ip", argv...).CombinedOutput(); err != nil {
		return fmt.Errorf("tc qdisc %v: %v: %s", args, err, strings.TrimSpace(string(out)))
	}
	return nil
}

// Split moves the given hosts' links onto a second bridge, so they reach
// each other but not the rest (a minority/majority split). Heal with Unsplit.
func (nt *Net) Split(hosts ...*Host) {
	t := nt.t
	t.Helper()
	if err := exec.Command("ip", "-n", nt.sw, "link", "show", "br1").Run(); err != nil {
		ip(t, "-n", nt.sw, "link", "add", "br1", "type", "bridge")
		ip(t, "-n", nt.sw, "link", "set", "br1", "up")
	}
	for _, h := range hosts {
		ip(t, "-n", nt.sw, "link", "set", h.link, "master", "br1")
	}
}

// Unsplit puts every host's link back on the main bridge.
func (nt *Net) Unsplit() {
	t := nt.t
	t.Helper()
	for _, h := range nt.Hosts {
		ip(t, "-n", nt.sw, "link", "set", h.link, "master", "br0")
	}
}

// Curl runs curl with args in the host's namespace (bounded by timeout) and
// returns its stdout and error.
func (h *Host) Curl(timeout time.Duration, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	argv := append(h.Wrap(), "curl")
	argv = append(argv, args...)
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.WaitDelay = 2 * time.Second
	var out, errb strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	if err != nil {
		return out.String(), fmt.Errorf("curl %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(errb.String()))
	}
	return out.String(), nil
}

// API calls the node's REST API on 127.0.0.1:8080 inside the host's
// namespace and returns the body; non-2xx is an error.
func (h *Host) API(t testing.TB, method, path, body string) (string, error) {
	args := []string{"-sS", "-f", "--max-time", "30", "-X", method, "-H", "Content-Type: application/json"}
	if body != "" {
		args = append(args, "-d", body)
	}
	args = append(args, "http://127.0.0.1:8080"+path)
	return h.Curl(40*time.Second, args...)
}

// AllStderr returns what every process of the node wrote to stderr, in
// start order, each under a header line.
func (n *Node) AllStderr() string {
	n.mu.Lock()
	procs := append([]*process(nil), n.procs...)
	n.mu.Unlock()
	var b strings.Builder
	for i, p := range procs {
		fmt.Fprintf(&b, "==== process %d/%d (%s)\n%s\n", i+1, len(procs), exitDesc(p), p.stderr.String())
	}
	return b.String()
}
