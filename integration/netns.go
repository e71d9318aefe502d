package integration

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os/exec"
	"strings"
	"testing"
)

// Net is a private test network: a bridge in a namespace of its own and one
// network namespace per host, joined by veth pairs. UDP broadcasts and all
// cluster traffic stay on the bridge; nothing touches the machine's real
// interfaces. Everything is removed at cleanup.
type Net struct {
	t      testing.TB
	prefix string
	sw     string // namespace holding the bridge
	Hosts  []*Host
}

// Host is one network namespace on a Net.
type Host struct {
	Name string // namespace name
	IP   string // address on the bridge
	link string // the veth end on the bridge (in the switch namespace)
	net  *Net
}

// ip runs `ip args...` and fails the test on error.
func ip(t testing.TB, args ...string) {
	t.Helper()
	out, err := exec.Command("ip", args...).CombinedOutput()
	if err != nil {
		t.Fatalf("ip %s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

// NewNet creates a network of n hosts with addresses 10.99.0.1, 10.99.0.2, …
// Each host has a default route on its link, so 255.255.255.255 reaches the
// bridge.
func NewNet(t testing.TB, n int) *Net {
	t.Helper()
	if _, err := exec.LookPath("ip"); err != nil {
		t.Fatalf("network tests need iproute2 (apt-get install iproute2): %v", err)
	}
	var r [3]byte
	rand.Read(r[:])
	nt := &Net{t: t, prefix: "cf" + hex.EncodeToString(r[:])}
	nt.sw = nt.prefix + "-sw"
	ip(t, "netns", "add", nt.sw)
	t.Cleanup(nt.destroy)
	ip(t, "-n", nt.sw, "link", "add", "br0", "type", "bridge")
	ip(t, "-n", nt.sw, "link", "set", "br0", "up")
	for i := range n {
		nt.AddHost()
		_ = i
	}
	return nt
}

// AddHost adds one more host to the network.
func (nt *Net) AddHost() *Host {
	t := nt.t
	t.Helper()
	i := len(nt.Hosts)
	h := &Host{
		Name: fmt.Sprintf("%s-h%d", nt.prefix, i),
		IP:   fmt.Sprintf("10.99.0.%d", i+1),
		link: fmt.Sprintf("h%d", i),
		net:  nt,
	}
	ip(t, "netns", "add", h.Name)
	ip(t, "-n", nt.sw, "link", "add", h.link, "type", "veth", "peer", "name", "eth0", "netns", h.Name)
	ip(t, "-n", nt.sw, "link", "set", h.link, "master", "br0", "up")
	ip(t, "-n", h.Name, "addr", "add", h.IP+"/24", "dev", "eth0")
	ip(t, "-n", h.Name, "link", "set", "eth0", "up")
	ip(t, "-n", h.Name, "link", "set", "lo", "up")
	ip(t, "-n", h.Name, "route", "add", "default", "dev", "eth0")
	nt.Hosts = append(nt.Hosts, h)
	return h
}

func (nt *Net) destroy() {
	for _, h := range nt.Hosts {
		exec.Command("ip", "netns", "del", h.Name).Run()
	}
	exec.Command("ip", "netns", "del", nt.sw).Run()
}

// Wrap returns the command prefix that runs a program in the host's network
// namespace, keeping the mount namespace (so its FUSE mount is visible to
// the test).
func (h *Host) Wrap() []string {
	return []string{"nsenter", "--net=/run/netns/" + h.Name, "--"}
}

// Disconnect takes the host's link to the bridge down (a partition).
func (h *Host) Disconnect() { ip(h.net.t, "-n", h.net.sw, "link", "set", h.link, "down") }

// Reconnect brings the host's link back up.
func (h *Host) Reconnect() { ip(h.net.t, "-n", h.net.sw, "link", "set", h.link, "up") }

// Netem applies tc netem options (e.g. "delay", "50ms", "loss", "5%") to the
// host's link; no options removes them.
func (h *Host) Netem(opts ...string) {
	t := h.net.t
	t.Helper()
	if len(opts) == 0 {
		exec.Command("ip", "netns", "exec", h.Name, "tc", "qdisc", "del", "dev", "eth0", "root").Run()
		return
	}
	args := append([]string{"netns", "exec", h.Name, "tc", "qdisc", "replace", "dev", "eth0", "root", "netem"}, opts...)
	if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
		t.Fatalf("tc netem %v: %v\n%s", opts, err, out)
	}
}
