package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"slices"

	"github.com/spf13/cobra"

	"github.com/clusterf/clusterf/deps"
	"github.com/clusterf/clusterf/discovery"
	"github.com/clusterf/clusterf/doctor"
	"github.com/clusterf/clusterf/media"
	"github.com/clusterf/clusterf/replica"
)

// errDoctorFailed is the exit-1 error of a doctor run whose report says
// what failed (nothing more to print).
var errDoctorFailed = errors.New("doctor: required checks failed")

// newDoctorCmd is `clusterf doctor [MOUNTDIR]`: checks this machine for
// running a node with the node flags given (--data-dir, --discovery-port).
func newDoctorCmd(nf *nodeFlags, stdout io.Writer) *cobra.Command {
	var broadcastAddr, listenHost string
	cmd := &cobra.Command{
		Use:   "doctor [MOUNTDIR]",
		Short: "Check this machine for running a node and say what to fix",
		Long: `doctor checks /dev/fuse, fusermount3, the data dir (writable, free space),
the mount point (if given), UDP broadcast on the discovery port, the clock,
and the programs later features need. It sends one UDP packet to the
broadcast address on the discovery port (nodes on the LAN drop it) and
exits 1 when a required check fails.`,
		Args: usageArgs(cobra.MaximumNArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			c := doctor.Config{
				DataDir:       nf.dataDir,
				DiscoveryPort: nf.discoveryPort,
				BroadcastAddr: broadcastAddr,
				ListenHost:    listenHost,
				Root:          os.Geteuid() == 0,
				Reserve:       replica.DefaultReserve,
				MaxSkew:       discovery.MaxSkew,
			}
			if len(args) == 1 {
				c.Mount = args[0]
			}
			for _, d := range deps.List() {
				if d.Scope == deps.Feature || slices.Contains(media.Programs, d.Command) {
					c.Features = append(c.Features, doctor.Feature{Command: d.Command, Package: d.Package, NeededBy: d.NeededBy})
				}
			}
			fmt.Fprintf(stdout, "clusterf %s doctor: data dir %s, discovery port %d\n", version, nf.dataDir, nf.discoveryPort)
			rs := doctor.Check(cmd.Context(), c)
			doctor.Print(stdout, rs)
			if doctor.Failed(rs) {
				return errDoctorFailed
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&broadcastAddr, "broadcast-addr", "255.255.255.255", "where the one test packet goes (on the discovery port)")
	cmd.Flags().StringVar(&listenHost, "listen-host", "", "address the receiving socket binds (default: all IPv4, as discovery)")
	return cmd
}
