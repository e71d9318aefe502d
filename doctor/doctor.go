package doctor

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"time"
)

// Level is the outcome of one check.
type Level int

// Levels, from good to bad. Only Fail makes the report fail.
const (
	OK Level = iota
	Info
	Warn
	Fail
)

func (l Level) String() string {
	return [...]string{"ok", "info", "warn", "FAIL"}[l]
}

// Result is one check's outcome.
type Result struct {
	Name   string
	Level  Level
	Detail string // what was found
	Fix    string // what to do ("" when nothing)
}

// Config is what the checks look at. Zero fields get the defaults of a
// real node.
type Config struct {
	DataDir       string // the node's --data-dir
	Mount         string // mount point to check ("" = none)
	DiscoveryPort int    // 0 = broadcast discovery off (check skipped)
	// BroadcastAddr is where the one test packet goes (default
	// 255.255.255.255; tests use 127.0.0.1) and ListenHost what the
	// receiving socket binds ("" = all IPv4, as discovery does).
	BroadcastAddr string
	ListenHost    string
	// BroadcastWait is how long the packet may take to come back.
	BroadcastWait time.Duration
	FuseDevice    string                       // default /dev/fuse
	LookPath      func(string) (string, error) // default exec.LookPath with sbin added
	Root          bool                         // running as root (allow_other, direct mounts)
	Reserve       int64                        // free bytes below which writes fail
	MaxSkew       time.Duration                // discovery's accepted clock skew
	ClockSynced   func() (synced, known bool)  // default adjtimex
	Features      []Feature                    // programs of later features
	Now           func() time.Time             // default time.Now
}

// Feature is a program a feature needs (deps.txt "feature" lines).
type Feature struct{ Command, Package, NeededBy string }

// withDefaults fills the zero fields.
func (c Config) withDefaults() Config {
	if c.DataDir == "" {
		c.DataDir = "./data"
	}
	if c.BroadcastAddr == "" {
		c.BroadcastAddr = "255.255.255.255"
	}
	if c.BroadcastWait <= 0 {
		c.BroadcastWait = time.Second
	}
	if c.FuseDevice == "" {
		c.FuseDevice = "/dev/fuse"
	}
	if c.LookPath == nil {
		c.LookPath = lookPath
	}
	if c.ClockSynced == nil {
		c.ClockSynced = clockSynced
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	return c
}

// lookPath is exec.LookPath that also searches sbin, which is not on
// every user's PATH.
func lookPath(name string) (string, error) {
	if p, err := exec.LookPath(name); err == nil {
		return p, nil
	}
	for _, d := range []string{"/usr/sbin", "/sbin"} {
		p := d + "/" + name
		if st, err := os.Stat(p); err == nil && st.Mode().IsRegular() && st.Mode()&0o111 != 0 {
			return p, nil
		}
	}
	return "", fmt.Errorf("%s: not found on PATH", name)
}

// Check runs every check in order and returns the results.
func Check(ctx context.Context, c Config) []Result {
	c = c.withDefaults()
	var out []Result
	out = append(out, checkFuseDevice(c), checkFusermount(c))
	out = append(out, checkDataDir(c)...)
	if c.Mount != "" {
		out = append(out, checkMount(c))
	}
	out = append(out, checkBroadcast(ctx, c), checkClock(c))
	for _, f := range c.Features {
		out = append(out, checkFeature(c, f))
	}
	return out
}

// Failed reports whether any result is a failure.
func Failed(rs []Result) bool {
	for _, r := range rs {
		if r.Level == Fail {
			return true
		}
	}
	return false
}

// Print writes the report: one line per check, its fix below it, and a
// closing verdict line.
func Print(w io.Writer, rs []Result) {
	counts := map[Level]int{}
	for _, r := range rs {
		counts[r.Level]++
		fmt.Fprintf(w, "  %-4s  %-18s %s\n", r.Level, r.Name, r.Detail)
		if r.Fix != "" {
			fmt.Fprintf(w, "        %-18s fix: %s\n", "", r.Fix)
		}
	}
	var notes []string
	if n := counts[Warn]; n > 0 {
		notes = append(notes, plural(n, "warning"))
	}
	if n := counts[Fail]; n > 0 {
		fmt.Fprintf(w, "%s failed: fix %s above, then run 'clusterf doctor' again\n", plural(n, "required check"), map[bool]string{true: "it", false: "them"}[n == 1])
		return
	}
	verdict := "all required checks passed"
	if len(notes) > 0 {
		verdict += " (" + strings.Join(notes, ", ") + ")"
	}
	fmt.Fprintln(w, verdict)
}

func plural(n int, s string) string {
	if n == 1 {
		return "1 " + s
	}
	return fmt.Sprintf("%d %ss", n, s)
}
