package integration

import (
	"math/rand/v2"
	"os"
	"strconv"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// TestPosixDiff runs every scripted case (posixdiff_cases*_test.go) on a
// tmpfs and on a clusterf mount, as root and as an unprivileged user with
// a supplementary group, and requires the same results (docs/posix.md).
func TestPosixDiff(t *testing.T) {
	e := NewDiffEnv(t)
	cases := diffCases()
	for i := range cases {
		cases[i] = WithFinalState(cases[i])
	}
	steps := 0
	for _, c := range cases {
		for _, p := range c.Phases {
			steps += len(p.Steps)
		}
	}
	for _, v := range []struct {
		name         string
		unprivileged bool
	}{{"root", false}, {"user", true}} {
		t.Run(v.name, func(t *testing.T) {
			start := time.Now()
			n := e.Diff(t, v.name, cases, v.unprivileged, 60)
			t.Logf("%d cases, %d steps, as %s: %d differences (%v)", len(cases), steps, v.name, n, time.Since(start).Round(time.Millisecond))
		})
	}
}

// TestPosixDiffRandom hunts for syscall sequences on which clusterf and
// tmpfs disagree: POSIXDIFF_CASES random sequences (default 12) of
// POSIXDIFF_STEPS steps (default 60) from the seed POSIXDIFF_SEED (default:
// the time), as root and as the user. The seed is logged; a failure
// replays with POSIXDIFF_SEED=<seed> (POSIXDIFF_ONLY=<case> runs one case
// and logs its steps).
func TestPosixDiffRandom(t *testing.T) {
	seed := uint64(time.Now().UnixNano())
	if s := os.Getenv("POSIXDIFF_SEED"); s != "" {
		v, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			t.Fatalf("POSIXDIFF_SEED=%q: %v", s, err)
		}
		seed = v
	}
	ncases, nsteps := envInt(t, "POSIXDIFF_CASES", 12), envInt(t, "POSIXDIFF_STEPS", 60)
	t.Logf("seed %d (replay: POSIXDIFF_SEED=%d go test -run TestPosixDiffRandom ./integration/), %d cases of %d steps", seed, seed, ncases, nsteps)
	e := NewDiffEnv(t)
	rng := rand.New(rand.NewPCG(seed, seed>>32|1))
	cases := make([]Case, ncases)
	for i := range cases {
		cases[i] = WithFinalState(randomCase(rng, i, nsteps))
	}
	if only := os.Getenv("POSIXDIFF_ONLY"); only != "" { // one case, with its steps logged
		i, err := strconv.Atoi(only)
		if err != nil || i < 0 || i >= len(cases) {
			t.Fatalf("POSIXDIFF_ONLY=%q: want a case number below %d", only, len(cases))
		}
		cases = cases[i : i+1]
		for ph, p := range cases[0].Phases {
			for k, s := range p.Steps {
				t.Logf("phase %d (root %v) step %d: %s", ph, p.Root, k, stepString(s))
			}
		}
	}
	for _, v := range []struct {
		name         string
		unprivileged bool
	}{{"root", false}, {"user", true}} {
		t.Run(v.name, func(t *testing.T) {
			if n := e.Diff(t, v.name, cases, v.unprivileged, 20); n > 0 {
				t.Errorf("seed %d: %d differences", seed, n)
			}
		})
	}
}

func envInt(t *testing.T, name string, def int) int {
	s := os.Getenv(name)
	if s == "" {
		return def
	}
	v, err := strconv.Atoi(s)
	if err != nil || v <= 0 {
		t.Fatalf("%s=%q: want a positive number", name, s)
	}
	return v
}

// TestPosixDiffExt4 compares the mount with ext4 where tmpfs, the
// reference of TestPosixDiff, answers differently and clusterf follows
// ext4 (docs/posix.md).
func TestPosixDiffExt4(t *testing.T) {
	e := NewDiffEnv(t)
	ext4 := e.MountExt4(t)
	cases := []Case{
		{Name: "truncate(2) of an empty file to 0", Phases: []Phase{P(sOpen(0, "f", unix.O_CREAT|unix.O_WRONLY, 0o644), sClose(0),
			watch(sStat("f"), "f"), watch(sTrunc("f", 0), "f"), sOpen(0, "f", unix.O_WRONLY, 0), watch(sFtrunc(0, 0), "f"))}},
		{Name: "truncate(2) to the same size", Phases: []Phase{P(sFile("f", "data", 0o644), watch(sStat("f"), "f"), watch(sTrunc("f", 4), "f"))}},
	}
	for i := range cases {
		cases[i] = WithFinalState(cases[i])
	}
	for _, v := range []struct {
		name         string
		unprivileged bool
	}{{"root", false}, {"user", true}} {
		t.Run(v.name, func(t *testing.T) {
			if n := e.DiffWith(t, ext4, v.name, cases, v.unprivileged, 20); n > 0 {
				t.Errorf("%d differences from ext4", n)
			}
		})
	}
}
