package integration

import (
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

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
	kind := nm.drawKind()
	healthy := nm.healthyNodes()
	// Random draws happen before the budget check, so the schedule stays a
	// function of the seed as far as possible.
	dr := faultDraw{budget: c.cfg.RF - 1 - nm.impairedCount()}
	dr.d = nm.dur(0, 1)
	dr.k = 1 + nm.rng.IntN(2)
	dr.victims = nm.pick(healthy, min(len(healthy), 2))
	dr.sub = nm.rng.IntN(4)
	switch kind {
	case "kill":
		return nm.kill(dr)
	case "pause":
		return nm.pause(dr)
	case "partition":
		return nm.partition(dr)
	case "netem":
		return nm.netem(dr)
	case "clock":
		return nm.clock(dr)
	case "corrupt":
		return nm.corruptSome(dr)
	case "disk":
		return nm.diskFull(dr)
	}
	return true
}

// faultDraw holds the random draws of one step, made before the kind's
// budget check.
type faultDraw struct {
	budget  int           // more nodes that may be impaired now
	d       time.Duration // 0..1 s: scales the fault's duration
	k       int           // 1 or 2 victims (partitions)
	victims []int         // up to two healthy nodes, shuffled
	sub     int           // 0..3: variant of the fault
}

// drawKind picks the next fault kind by weight.
func (nm *nemesis) drawKind() string {
	type choice struct {
		kind   string
		weight int
	}
	choices := []choice{{"kill", 3}, {"pause", 2}, {"partition", 3}, {"netem", 2}, {"clock", 2}, {"corrupt", 2}}
	if nm.c.tmpfs != "" {
		choices = append(choices, choice{"disk", 1})
	}
	total := 0
	for _, ch := range choices {
		total += ch.weight
	}
	r := nm.rng.IntN(total)
	for _, ch := range choices {
		if r < ch.weight {
			return ch.kind
		}
		r -= ch.weight
	}
	return ""
}

func (nm *nemesis) kill(dr faultDraw) bool {
	c := nm.c
	if dr.budget < 1 || len(dr.victims) < 1 {
		return false
	}
	v := dr.victims[0]
	n := c.nodes[v]
	n.Kill9()
	c.down[v].Store(true)
	nm.add(&activeFault{kind: "kill", nodes: []int{v}, until: time.Now().Add(time.Second + 3*dr.d),
		desc: "kill -9 " + n.NodeID(), heal: func() {
			c.restart(v, "after kill -9")
		}})
	return true
}

func (nm *nemesis) pause(dr faultDraw) bool {
	if dr.budget < 1 || len(dr.victims) < 1 {
		return false
	}
	v := dr.victims[0]
	n := nm.c.nodes[v]
	if err := n.Signal(syscall.SIGSTOP); err != nil {
		return false
	}
	pauseFor := 2*time.Second + 5*dr.d
	// Resumed by a timer too: SIGCONT needs no fork, so nothing that
	// blocks on the paused mount can keep the node stopped.
	timer := time.AfterFunc(pauseFor, func() { n.Signal(syscall.SIGCONT) })
	nm.add(&activeFault{kind: "pause", nodes: []int{v}, until: time.Now().Add(pauseFor),
		desc: "SIGSTOP " + n.NodeID(), heal: func() { timer.Stop(); n.Signal(syscall.SIGCONT) }})
	return true
}

func (nm *nemesis) partition(dr faultDraw) bool {
	c := nm.c
	k := min(dr.k, dr.budget, len(dr.victims))
	if k < 1 {
		return false
	}
	vs := dr.victims[:k]
	var names []string
	for _, v := range vs {
		names = append(names, c.nodes[v].NodeID())
	}
	until := time.Now().Add(4*time.Second + 10*dr.d)
	if k == 1 || dr.sub == 0 {
		// Each victim is cut off alone.
		for _, v := range vs {
			c.net.Hosts[v].Disconnect()
		}
		nm.add(&activeFault{kind: "partition", nodes: vs, until: until,
			desc: "isolate " + strings.Join(names, ","), heal: func() {
				for _, v := range vs {
					c.net.Hosts[v].Reconnect()
				}
			}})
		return true
	}
	// Minority {victims} | majority {the rest}: both sides live.
	var hs []*Host
	for _, v := range vs {
		hs = append(hs, c.net.Hosts[v])
	}
	c.net.Split(hs...)
	nm.add(&activeFault{kind: "partition", nodes: vs, until: until,
		desc: "split {" + strings.Join(names, ",") + "} | rest", heal: func() { c.net.Unsplit() }})
	return true
}

func (nm *nemesis) netem(dr faultDraw) bool {
	c := nm.c
	var free []int
	for i := range c.nodes {
		if !nm.netemOn[i] {
			free = append(free, i)
		}
	}
	if len(free) == 0 || len(nm.netemOn) >= 2 {
		return false
	}
	v := free[int(dr.d/time.Millisecond)%len(free)]
	opts := [][]string{
		{"netem", "delay", "100ms", "50ms"},
		{"netem", "loss", "15%"},
		{"netem", "delay", "20ms", "reorder", "25%", "50%"},
		{"netem", "duplicate", "10%"},
	}[dr.sub]
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
		}[dr.sub]
		if err := h.Qdisc(opts...); err != nil {
			c.logf("nemesis: %v", err)
			return false
		}
	}
	nm.netemOn[v] = true
	nm.add(&activeFault{kind: "netem", nodes: []int{v}, until: time.Now().Add(3*time.Second + 8*dr.d),
		desc: fmt.Sprintf("%v on %s", opts, c.nodes[v].NodeID()), heal: func() {
			h.Qdisc()
			delete(nm.netemOn, v)
		}})
	return true
}

func (nm *nemesis) clock(dr faultDraw) bool {
	c := nm.c
	if dr.budget < 1 || len(dr.victims) < 1 {
		return false
	}
	v := dr.victims[0]
	off := time.Duration(20+nm.rng.IntN(91)) * time.Second
	if dr.sub%2 == 0 {
		off = -off
	}
	nm.offsets[v] = off
	c.down[v].Store(true)
	n := c.nodes[v]
	n.Stop() // SIGTERM: must exit 0 within StopTimeout, even under faults
	n.opts.ExtraArgs = append(slices.Clone(c.baseArgs[v]), "--test-clock-offset", off.String())
	c.restart(v, "after a clock change")
	nm.events["clock"]++
	c.logf("nemesis: clock of %s now off by %v (restarted)", n.NodeID(), off)
	return true
}

func (nm *nemesis) corruptSome(dr faultDraw) bool {
	if len(dr.victims) < 1 {
		return false
	}
	did := nm.corrupt(dr.victims[0], 1+dr.sub, dr.d < time.Second/2)
	if did == "" {
		return false
	}
	nm.events["corrupt"]++
	nm.c.logf("nemesis: %s", did)
	return true
}

func (nm *nemesis) diskFull(dr faultDraw) bool {
	c := nm.c
	v := len(c.nodes) - 1
	if dr.budget < 1 || nm.impaired[v] != "" {
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
	nm.add(&activeFault{kind: "disk", nodes: []int{v}, until: time.Now().Add(3*time.Second + 6*dr.d),
		desc: fmt.Sprintf("disk full on %s (%d MiB filler)", c.nodes[v].NodeID(), free>>20), heal: func() { os.Remove(filler) }})
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

func (nm *nemesis) totalEvents() int {
	n := 0
	for _, c := range nm.events {
		n += c
	}
	return n
}
