package main

import (
	"crypto/rand"
	"fmt"
	"io"
	"log"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// fuseBench writes and reads *fuseSize bytes through a fresh mount, plain
// and encrypted, and prints the ratio.
func fuseBench(bin string) {
	fmt.Printf("\n== FUSE sequential, %d MiB, engine %s: encrypted vs plain ==\n", *fuseSize>>20, *fuseEng)
	// Alternate the modes and keep each one's best of -fuse-rounds, so a
	// disk still flushing the previous run does not decide the ratio. The
	// node's CPU time per GiB (user + system, from /proc) moves far less
	// with the load of a shared machine than MB/s do: keep each mode's
	// least too.
	best := map[bool][2]float64{}
	cpu := map[bool][2]float64{false: {1e9, 1e9}, true: {1e9, 1e9}}
	for round := range *fuseRounds {
		for _, enc := range []bool{false, true} {
			dropCaches()
			m := fuseRun(bin, enc)
			fmt.Printf("round %d %-10s write %8.1f MB/s %6.2f cpu-s/GiB   read %8.1f MB/s %6.2f cpu-s/GiB\n",
				round+1, modeName(enc), m.write, m.writeCPU, m.read, m.readCPU)
			b, c := best[enc], cpu[enc]
			best[enc] = [2]float64{max(b[0], m.write), max(b[1], m.read)}
			cpu[enc] = [2]float64{min(c[0], m.writeCPU), min(c[1], m.readCPU)}
		}
	}
	p, e := best[false], best[true]
	pc, ec := cpu[false], cpu[true]
	fmt.Printf("%-10s write %8.1f MB/s   read %8.1f MB/s   node cpu-s/GiB write %.2f read %.2f\n", "plain", p[0], p[1], pc[0], pc[1])
	fmt.Printf("%-10s write %8.1f MB/s   read %8.1f MB/s   node cpu-s/GiB write %.2f read %.2f\n", "encrypted", e[0], e[1], ec[0], ec[1])
	fmt.Printf("ratio write %.3f read %.3f   cpu ratio write %.3f read %.3f\n", e[0]/p[0], e[1]/p[1], ec[0]/pc[0], ec[1]/pc[1])
	fmt.Println("(ratio = encrypted / plain MB/s, best of the rounds; the goal is >= 0.9; cpu ratio = encrypted / plain node CPU per GiB, least of the rounds)")
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
