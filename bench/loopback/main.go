// Command loopback is the FUSE baseline of bench/fio.sh: go-fuse's
// fs.NewLoopbackRoot over a directory, mounted with the options of
// go-fuse's example loopback (1 s entry and attribute timeouts), and
// nothing else tuned.
//
//	loopback [-passthrough] MOUNTPOINT ORIGINAL
//
// Without -passthrough the kernel's FUSE passthrough capability is
// disabled (DisabledCapabilities: CAP_PASSTHROUGH), so every read and
// write goes through this process: the ceiling of a Go FUSE daemon. With
// it (go-fuse's default as root on kernels that support it) the kernel
// reads and writes the backing files itself. SIGTERM or SIGINT unmounts.
package main

import (
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"
)

func main() {
	passthrough := flag.Bool("passthrough", false, "let the kernel read and write the backing files (FUSE passthrough)")
	flag.Parse()
	if flag.NArg() != 2 {
		fmt.Fprintln(os.Stderr, "usage: loopback [-passthrough] MOUNTPOINT ORIGINAL")
		os.Exit(2)
	}
	root, err := fs.NewLoopbackRoot(flag.Arg(1))
	if err != nil {
		fmt.Fprintln(os.Stderr, "loopback:", err)
		os.Exit(1)
	}
	sec := time.Second
	opts := &fs.Options{
		AttrTimeout:     &sec,
		EntryTimeout:    &sec,
		NullPermissions: true,
		MountOptions: fuse.MountOptions{
			FsName: flag.Arg(1),
			Name:   "loopback",
		},
	}
	if !*passthrough {
		opts.MountOptions.DisabledCapabilities = fuse.CAP_PASSTHROUGH
	}
	srv, err := fs.Mount(flag.Arg(0), root, opts)
	if err != nil {
		fmt.Fprintln(os.Stderr, "loopback: mount:", err)
		os.Exit(1)
	}
	c := make(chan os.Signal, 1)
	signal.Notify(c, os.Interrupt, syscall.SIGTERM)
	go func() {
		<-c
		srv.Unmount()
	}()
	srv.Wait()
}
