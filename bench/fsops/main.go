// Command fsops runs the small-file and re-read workloads of bench/fio.sh
// against one directory and prints "n=<ops> bytes=<bytes> ns=<elapsed>"
// (one line, for the script to turn into rates):
//
//	fsops create -dir D -n 10000 [-size 4096] [-fsync]   create+write[+fsync]+close
//	fsops stat -dir D -n 10000                           stat the files create made
//	fsops read -dir D -file F [-bs 1M]                   read F to its end
//
// Files are named D/f<i>; the payload is random (incompressible) and
// different per file. The clock covers the operations only.
package main

import (
	"crypto/rand"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: fsops create|stat|read [flags]")
		os.Exit(2)
	}
	fl := flag.NewFlagSet(os.Args[1], flag.ExitOnError)
	dir := fl.String("dir", ".", "directory")
	n := fl.Int("n", 10000, "files")
	size := fl.Int("size", 4096, "bytes per file (create)")
	fsync := fl.Bool("fsync", false, "fsync each file before close (create)")
	file := fl.String("file", "", "file to read (read)")
	bs := fl.Int("bs", 1<<20, "read size (read)")
	fl.Parse(os.Args[2:])
	var (
		ops, bytes int64
		took       time.Duration
		err        error
	)
	switch os.Args[1] {
	case "create":
		ops, bytes, took, err = create(*dir, *n, *size, *fsync)
	case "stat":
		ops, took, err = stat(*dir, *n)
	case "read":
		ops, bytes, took, err = read(*file, *bs)
	default:
		err = fmt.Errorf("unknown workload %q", os.Args[1])
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "fsops:", err)
		os.Exit(1)
	}
	fmt.Printf("n=%d bytes=%d ns=%d\n", ops, bytes, took.Nanoseconds())
}

func create(dir string, n, size int, fsync bool) (int64, int64, time.Duration, error) {
	payload := make([]byte, size*n)
	rand.Read(payload)
	start := time.Now()
	for i := 0; i < n; i++ {
		f, err := os.OpenFile(filepath.Join(dir, fmt.Sprintf("f%d", i)), os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o644)
		if err != nil {
			return 0, 0, 0, err
		}
		if _, err := f.Write(payload[i*size : (i+1)*size]); err != nil {
			f.Close()
			return 0, 0, 0, err
		}
		if fsync {
			if err := f.Sync(); err != nil {
				f.Close()
				return 0, 0, 0, err
			}
		}
		if err := f.Close(); err != nil {
			return 0, 0, 0, err
		}
	}
	return int64(n), int64(n) * int64(size), time.Since(start), nil
}

func stat(dir string, n int) (int64, time.Duration, error) {
	start := time.Now()
	for i := 0; i < n; i++ {
		if _, err := os.Lstat(filepath.Join(dir, fmt.Sprintf("f%d", i))); err != nil {
			return 0, 0, err
		}
	}
	return int64(n), time.Since(start), nil
}

func read(file string, bs int) (int64, int64, time.Duration, error) {
	f, err := os.Open(file)
	if err != nil {
		return 0, 0, 0, err
	}
	defer f.Close()
	buf := make([]byte, bs)
	var total, ops int64
	start := time.Now()
	for {
		m, err := f.Read(buf)
		total += int64(m)
		ops++
		if err == io.EOF {
			break
		}
		if err != nil {
			return 0, 0, 0, err
		}
	}
	return ops, total, time.Since(start), nil
}
