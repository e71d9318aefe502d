package main

import (
	"crypto/rand"
	"fmt"
	"io"
	"log"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// fuseBench writes and reads *fuseSize bytes through a fresh mount, plain
// and encrypted, and prints the ratio.
func fuseBench(bin string) {
	fmt.Printf("\n== FUSE sequential, %d MiB, engine %s: encrypted vs plain ==\n", *fuseSize>>20, *fuseEng)
	// Alternate the modes and keep each one's best of -fuse-rounds, so a
	// disk still flushing the previous run does not decide the ratio.
	best := map[bool][2]float64{}
	for range *fuseRounds {
		for _, enc := range []bool{false, true} {
			syscall.Sync()
			w, r := fuseRun(bin, enc)
			b := best[enc]
			best[enc] = [2]float64{max(b[0], w), max(b[1], r)}
		}
	}
	p, e := best[false], best[true]
	fmt.Printf("%-10s write %8.1f MB/s   read %8.1f MB/s\n", "plain", p[0], p[1])
	fmt.Printf("%-10s write %8.1f MB/s   read %8.1f MB/s   ratio write %.3f read %.3f\n", "encrypted", e[0], e[1], e[0]/p[0], e[1]/p[1])
	fmt.Println("(ratio = encrypted / plain MB/s; the goal is >= 0.9)")
}

func fuseRun(bin string, enc bool) (write, read float64) {
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
	write = float64(*fuseSize) / time.Since(start).Seconds() / 1e6
	f, err = os.Open(path)
	if err != nil {
		log.Fatal(err)
	}
	start = time.Now()
	n, err := io.CopyBuffer(io.Discard, f, buf)
	if err != nil || n != *fuseSize {
		log.Fatalf("read %d: %v", n, err)
	}
	read = float64(n) / time.Since(start).Seconds() / 1e6
	f.Close()
	return write, read
}

func mounted(dir string) bool {
	b, _ := os.ReadFile("/proc/self/mountinfo")
	return strings.Contains(string(b), " "+dir+" ")
}
