package main

import (
	"crypto/rand"
	"fmt"
	"io"
	"log"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// fuseBench writes and reads *fuseSize bytes through a fresh mount, plain
// and encrypted, and prints the ratio.
//
// Each round runs both modes on fresh nodes, the order swapped every
// round (so neither mode always follows the other's disk flush), and the
// round's ratio is encrypted/plain of that pair. The verdict is the
// median of the rounds' ratios: on a virtual disk whose throughput moves
// by half between identical runs, the best of each mode (also printed) is
// decided by the luckiest round, not by the cipher. The node's CPU
// seconds per GiB (user + system, from /proc) move far less with the
// machine's load; their medians are printed too.
func fuseBench(bin string) {
	fmt.Printf("\n== FUSE sequential, %d MiB, engine %s: encrypted vs plain ==\n", *fuseSize>>20, *fuseEng)
	var runs [2][]fuseMeasure // by mode: 0 plain, 1 encrypted
	var wRatio, rRatio, wCPU, rCPU []float64
	for round := range *fuseRounds {
		var pair [2]fuseMeasure
		for i := range 2 {
			enc := (round+i)%2 == 1
			dropCaches()
			m := fuseRun(bin, enc)
			fmt.Printf("round %d %-10s write %8.1f MB/s %6.2f cpu-s/GiB   read %8.1f MB/s %6.2f cpu-s/GiB\n",
				round+1, modeName(enc), m.write, m.writeCPU, m.read, m.readCPU)
			pair[btoi(enc)] = m
			runs[btoi(enc)] = append(runs[btoi(enc)], m)
		}
		p, e := pair[0], pair[1]
		wRatio, rRatio = append(wRatio, e.write/p.write), append(rRatio, e.read/p.read)
		wCPU, rCPU = append(wCPU, e.writeCPU/p.writeCPU), append(rCPU, e.readCPU/p.readCPU)
	}
	for _, enc := range []bool{false, true} {
		r := runs[btoi(enc)]
		fmt.Printf("%-10s median write %8.1f MB/s   read %8.1f MB/s   node cpu-s/GiB write %.2f read %.2f   (best write %.1f read %.1f)\n",
			modeName(enc), medianOf(r, func(m fuseMeasure) float64 { return m.write }),
			medianOf(r, func(m fuseMeasure) float64 { return m.read }),
			medianOf(r, func(m fuseMeasure) float64 { return m.writeCPU }),
			medianOf(r, func(m fuseMeasure) float64 { return m.readCPU }),
			maxOf(r, func(m fuseMeasure) float64 { return m.write }),
			maxOf(r, func(m fuseMeasure) float64 { return m.read }))
	}
	fmt.Printf("rounds' write ratios %s\nrounds' read ratios  %s\n", listRatios(wRatio), listRatios(rRatio))
	fmt.Printf("ratio write %.3f read %.3f   cpu ratio write %.3f read %.3f   (medians of %d rounds)\n",
		median(wRatio), median(rRatio), median(wCPU), median(rCPU), len(wRatio))
	p, e := runs[0], runs[1]
	fmt.Printf("best-of ratio write %.3f read %.3f\n",
		maxOf(e, func(m fuseMeasure) float64 { return m.write })/maxOf(p, func(m fuseMeasure) float64 { return m.write }),
		maxOf(e, func(m fuseMeasure) float64 { return m.read })/maxOf(p, func(m fuseMeasure) float64 { return m.read }))
	fmt.Println("(ratio = encrypted / plain MB/s of each round's pair; the goal is >= 0.9; cpu ratio = encrypted / plain node CPU per GiB)")
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	if n := len(s); n%2 == 1 {
		return s[n/2]
	} else {
		return (s[n/2-1] + s[n/2]) / 2
	}
}

func medianOf(ms []fuseMeasure, f func(fuseMeasure) float64) float64 {
	xs := make([]float64, len(ms))
	for i, m := range ms {
		xs[i] = f(m)
	}
	return median(xs)
}

func maxOf(ms []fuseMeasure, f func(fuseMeasure) float64) float64 {
	var x float64
	for _, m := range ms {
		x = max(x, f(m))
	}
	return x
}

func listRatios(xs []float64) string {
	parts := make([]string, len(xs))
	for i, x := range xs {
		parts[i] = fmt.Sprintf("%.2f", x)
	}
	return strings.Join(parts, " ")
}

// dropCaches syncs and, when /proc/sys/vm/drop_caches is writable (root),
// drops the page cache: on a VM, writing into guest memory never touched
// since boot costs about 5x the CPU of memory freed before (docs/perf.md),
// so without it whichever mode wrote first would pay more.
func dropCaches() {
	syscall.Sync()
	_ = os.WriteFile("/proc/sys/vm/drop_caches", []byte("3"), 0)
}

func modeName(enc bool) string {
	if enc {
		return "encrypted"
	}
	return "plain"
}

// fuseMeasure is one round of one mode.
type fuseMeasure struct {
	write, read       float64 // MB/s
	writeCPU, readCPU float64 // node CPU seconds per GiB
}

// cpuSeconds is the user + system time of process pid so far.
func cpuSeconds(pid int) float64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		log.Fatal(err)
	}
	// Fields after the command name (which may hold spaces) in ")".
	f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+1:]))
	ut, _ := strconv.ParseFloat(f[11], 64)
	st, _ := strconv.ParseFloat(f[12], 64)
	return (ut + st) / clockTicks
}

// clockTicks is USER_HZ, 100 on Linux.
const clockTicks = 100

func fuseRun(bin string, enc bool) fuseMeasure {
	work, _ := os.MkdirTemp(*dirFlag, "atrestbench-fuse-")
	defer os.RemoveAll(work)
	mnt := filepath.Join(work, "mnt")
	os.Mkdir(mnt, 0o755)
	cmd := exec.Command(bin, "mount", mnt, "--data-dir", filepath.Join(work, "data"), "--node-id", "b",
		"--discovery-port", "0", "--storage-major", *fuseEng)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH")}
	if enc {
		cmd.Env = append(cmd.Env, "CLUSTERF_ENCRYPTION_KEY=bench passphrase")
	}
	cmd.Stdout, cmd.Stderr = io.Discard, io.Discard
	if err := cmd.Start(); err != nil {
		log.Fatal(err)
	}
	defer func() {
		cmd.Process.Signal(syscall.SIGTERM)
		cmd.Wait()
	}()
	for deadline := time.Now().Add(30 * time.Second); !mounted(mnt); time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			log.Fatal("mount did not appear")
		}
	}
	buf := make([]byte, 1<<20)
	rand.Read(buf) // incompressible: every byte goes through the cipher
	path := filepath.Join(mnt, "seq.bin")
	f, err := os.Create(path)
	if err != nil {
		log.Fatal(err)
	}
	gib := float64(*fuseSize) / (1 << 30)
	pid := cmd.Process.Pid
	cpu0 := cpuSeconds(pid)
	start := time.Now()
	for off := int64(0); off < *fuseSize; off += int64(len(buf)) {
		buf[0], buf[1], buf[2] = byte(off>>20), byte(off>>28), byte(off>>36) // distinct chunks
		if _, err := f.Write(buf); err != nil {
			log.Fatal(err)
		}
	}
	if err := f.Sync(); err != nil {
		log.Fatal(err)
	}
	f.Close()
	var m fuseMeasure
	m.write = float64(*fuseSize) / time.Since(start).Seconds() / 1e6
	cpu1 := cpuSeconds(pid)
	m.writeCPU = (cpu1 - cpu0) / gib
	f, err = os.Open(path)
	if err != nil {
		log.Fatal(err)
	}
	start = time.Now()
	n, err := io.CopyBuffer(io.Discard, f, buf)
	if err != nil || n != *fuseSize {
		log.Fatalf("read %d: %v", n, err)
	}
	m.read = float64(n) / time.Since(start).Seconds() / 1e6
	m.readCPU = (cpuSeconds(pid) - cpu1) / gib
	f.Close()
	return m
}

func mounted(dir string) bool {
	b, _ := os.ReadFile("/proc/self/mountinfo")
	return strings.Contains(string(b), " "+dir+" ")
}
