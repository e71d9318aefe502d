package integration

import (
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"testing"
	"time"
)

// TestFaults runs the Jepsen-style fault-injection harness (faults_*.go).
//
//   - FAULTS_SEED=<n>: replay exactly that seed (one round).
//   - default (make test, CI): the fixed seed below; FAULTS_RANDOM=1 adds
//     one random seed.
//   - FAULTS_ROUNDS=n: n random seeds, each with a longer fault phase
//     (FAULTS_PHASE, default 3m): `make soak`.
//
// Every round prints the seed first and its verdict line last:
//
//	faults: seed=... events=N (kill=a pause=b ...) ops_acked=... lost=0 corrupt=0 ... converged_in=... reclaimed=<bytes> ... garbage_left=0 ...
func TestFaults(t *testing.T) {
	const fixedSeed = 20260801
	var seeds []uint64
	cfgFor := DefaultFaultConfig
	if s := os.Getenv("FAULTS_SEED"); s != "" {
		seed, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			t.Fatalf("FAULTS_SEED=%q: %v", s, err)
		}
		seeds = []uint64{seed}
	} else if os.Getenv("FAULTS_ROUNDS") == "" {
		// Short mode (make test, CI): the fixed seed, plus one random seed
		// with FAULTS_RANDOM=1.
		seeds = []uint64{fixedSeed}
		if os.Getenv("FAULTS_RANDOM") == "1" {
			seeds = append(seeds, rand.Uint64()%1e9)
		}
	} else {
		rounds := 1
		if s := os.Getenv("FAULTS_ROUNDS"); s != "" {
			rounds, _ = strconv.Atoi(s)
		}
		phase := 3 * time.Minute
		if s := os.Getenv("FAULTS_PHASE"); s != "" {
			d, err := time.ParseDuration(s)
			if err != nil {
				t.Fatalf("FAULTS_PHASE=%q: %v", s, err)
			}
			phase = d
		}
		for range rounds {
			seeds = append(seeds, rand.Uint64()%1e9)
		}
		cfgFor = func(seed uint64) FaultConfig {
			cfg := DefaultFaultConfig(seed)
			cfg.FaultPhase = phase
			cfg.MinEvents = int(phase.Seconds() / 3)
			cfg.ConvergeTimeout = 4 * time.Minute
			cfg.GCDrainTimeout = 4 * time.Minute
			return cfg
		}
	}
	t.Logf("faults: seeds %v", seeds)
	for _, seed := range seeds {
		t.Run(fmt.Sprintf("seed=%d", seed), func(t *testing.T) {
			start := time.Now()
			res := RunFaults(t, cfgFor(seed))
			t.Logf("round took %v", time.Since(start).Round(time.Second))
			if res.TotalEvents() < 20 {
				t.Errorf("only %d fault events injected, want at least 20", res.TotalEvents())
			}
		})
	}
}
